"""Per-layer pictures of a Profile: cost and parameters per layer (or per stage), coloured by kind, and the
split by kind. Renderers only: every number is read off the Profile (``Layer.cost`` under a convention,
``Layer.params``); nothing is counted here.

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot state, no global backend change),
so they work in scripts, tests and notebooks alike; :func:`save_figure` writes PNG/SVG/PDF.

Made to stay readable for a 200-layer network: one thin bar per layer in execution order, the network's
stages shaded as bands and named along the top, the heaviest layers listed by name beside the split by kind.
"""
from __future__ import annotations

import math
import os
from collections import defaultdict

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from profiler.atomic import atomic_savefig
from profiler.conventions import get_convention
from profiler.errors import UsageError

# One fixed colour per kind, so every picture in the project reads the same way.
KIND_COLOURS = {
    "conv": "#1f77b4", "conv_pointwise": "#ff7f0e", "conv_depthwise": "#2ca02c", "conv_grouped": "#9467bd",
    "conv_transposed": "#8c564b", "linear": "#d62728", "attention": "#e377c2", "recurrent": "#7f7f7f",
    "norm": "#bcbd22", "activation": "#17becf", "pooling": "#aec7e8", "elementwise": "#ffbb78",
    "embedding": "#98df8a", "other": "#c7c7c7",
}
FORMATS = (".png", ".svg", ".pdf")


def kind_colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, KIND_COLOURS["other"])


# -- numbers ------------------------------------------------------------------------------------------
def si(x: float, digits: int = 3) -> str:
    """1234567 -> '1.23M' (k, M, G, T); the unit goes after it."""
    x = float(x)
    for div, p in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.{digits}g}{p}"
    return f"{x:.{digits}g}"


def _scale(max_value: float) -> tuple[float, str]:
    for div, p in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if max_value >= div:
            return div, p
    return 1.0, ""


# -- log-axis ticks that never collide ------------------------------------------------------------------
# Labelled mantissas per decade, densest first: the first set whose labels all fit is kept.
LOG_SUBS = ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,))


def renderer_of(fig):
    """The figure's renderer, attaching an Agg canvas to a bare :class:`Figure` (so that text can be measured)."""
    if not hasattr(fig.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()


def freeze_layout(fig):
    """Run the figure's layout engine once and switch it off, so that what is measured next (tick labels, text
    boxes) stays where it is when the figure is saved or shown."""
    engine = fig.get_layout_engine()
    if engine is not None:
        renderer_of(fig)
        engine.execute(fig)
        fig.set_layout_engine("none")


def visible_tick_labels(ax, which: str = "x", renderer=None) -> list:
    """Window extents of the non-empty tick labels (major and minor) inside the view limits of one axis."""
    renderer = renderer or renderer_of(ax.figure)
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = sorted(axis.get_view_interval())
    boxes = []
    for ticks in (axis.get_major_ticks(), axis.get_minor_ticks()):
        for t in ticks:
            label = t.label1
            if not (label.get_visible() and t.get_visible() and label.get_text()):
                continue
            if not lo * (1 - 1e-9) <= t.get_loc() <= hi * (1 + 1e-9):
                continue
            boxes.append(label.get_window_extent(renderer))
    return boxes


def boxes_collide(boxes, gap: float = 0.0) -> bool:
    """Whether any two boxes overlap (or come closer than ``gap`` pixels)."""
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if (min(a.x1, b.x1) - max(a.x0, b.x0) > -gap) and (min(a.y1, b.y1) - max(a.y0, b.y0) > -gap):
                return True
    return False


def fit_log_ticks(ax, which: str = "x", fmt=None, min_labels: int = 2) -> tuple:
    """Label a log axis (base 10) with the densest tick set of :data:`LOG_SUBS` whose labels do not collide
    (about two characters of white between two), unlabelled minor ticks on every other mantissa; then, when even one
    label per decade collides, every n-th decade. Call it once the axes have their final size (after
    :func:`freeze_layout`). ``fmt(value) -> str``: the label (default ``f"{v:g}"``). Returns the locator kept."""
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

    fmt = fmt or (lambda v: f"{v:g}")
    axis = ax.xaxis if which == "x" else ax.yaxis
    fig = ax.figure
    renderer = renderer_of(fig)
    getattr(ax, f"set_{which}scale")("log")
    axis.set_major_formatter(FuncFormatter(lambda v, _pos=None: fmt(v)))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10)), numticks=100))
    axis.set_minor_formatter(NullFormatter())
    size = axis.get_ticklabels()[0].get_fontsize() if axis.get_ticklabels() else 10
    gap = 1.2 * size * fig.dpi / 72  # about two characters of white between two labels
    lo, hi = sorted(axis.get_view_interval())
    decades = max(math.log10(hi) - math.log10(lo), 1e-9)
    def labels_with(locator):
        axis.set_major_locator(locator)
        fig.draw_without_rendering()
        return visible_tick_labels(ax, which, renderer)

    tries = [LogLocator(base=10, subs=subs, numticks=100) for subs in LOG_SUBS]
    tries += [LogLocator(base=10, subs=(1,), numticks=max(2, int(decades / n) + 1)) for n in (2, 3, 4, 6)]
    if len(labels_with(tries[0])) < min_labels:
        # under a decade with fewer than two mantissas in view: evenly spaced round values instead
        tries = [MaxNLocator(nbins=n, steps=[1, 2, 2.5, 5, 10]) for n in (6, 4, 3, 2)]
    chosen = tries[-1]
    for locator in tries:
        if not boxes_collide(labels_with(locator), gap):
            chosen = locator
            break
    axis.set_major_locator(chosen)
    return chosen


# -- labels that never collide --------------------------------------------------------------------------
def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(ax, xs, ys, texts, fontsize=8, priority=None, lines=(), points=(), boxes=(), marker_pt=6.5,
                 box_pad_pt=1.0):
    """Annotate each (x, y) with its text, choosing offsets so that no label overlaps another label, a marker
    (the labelled points and the unlabelled ``points``, radius ``marker_pt``), the legend when it is inside
    the axes, a segment of ``lines`` (polylines in data coordinates) or a rectangle of ``boxes``
    (``(x0, y0, x1, y1)`` in data coordinates, widened by ``box_pad_pt``: error bars, say), and stays inside the axes; returns the
    annotations. ``priority``: indices placed first (they get the best spots).

    A small greedy search, deterministic: each label tries a ring of offsets around its point (nearest first)
    and takes the first free one; when none is free it takes the least-overlapping one, with a leader line
    when it is far from its point. Runs the layout engine once and switches it off (what is measured stays
    where it is drawn)."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    renderer = renderer_of(fig)
    freeze_layout(fig)
    trans = ax.transData
    r = marker_pt * fig.dpi / 72
    placed = [Bbox.from_extents(px - r, py - r, px + r, py + r)
              for px, py in (trans.transform(pt) for pt in [*zip(xs, ys), *points])]
    legend = ax.get_legend()
    if legend is not None:  # labels keep off the legend too
        placed.append(legend.get_window_extent(renderer))
    for line in lines:  # and off drawn lines: each segment as a thin box
        d = [trans.transform(pt) for pt in line]
        for (x0, y0), (x1, y1) in zip(d, d[1:]):
            placed.append(Bbox.from_extents(min(x0, x1) - 2, min(y0, y1) - 2, max(x0, x1) + 2, max(y0, y1) + 2))
    pad = box_pad_pt * fig.dpi / 72
    for x0, y0, x1, y1 in boxes:
        (a0, b0), (a1, b1) = trans.transform((x0, y0)), trans.transform((x1, y1))
        placed.append(Bbox.from_extents(min(a0, a1) - pad, min(b0, b1) - pad, max(a0, a1) + pad, max(b0, b1) + pad))
    axbox = ax.get_window_extent(renderer)
    order = list(priority or []) + [i for i in range(len(xs)) if i not in set(priority or [])]
    # Candidate offsets (points): 8 directions at growing radii, right and above first.
    dirs = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]
    cands = [(dx * rad, dy * rad * 0.8) for rad in (8, 12, 20, 30, 42) for dx, dy in dirs]
    # Farther out, finer angles: crowded clusters fan their labels out with leader lines.
    cands += [(rad * math.cos(a * math.pi / 8), rad * math.sin(a * math.pi / 8))
              for rad in (56, 72, 90, 110, 135, 165) for a in range(16)]
    anns = [None] * len(xs)
    for i in order:
        best = None
        for dx, dy in cands:
            ha = "left" if dx > 1e-9 else ("right" if dx < -1e-9 else "center")
            va = "bottom" if dy > 1e-9 else ("top" if dy < -1e-9 else "center")
            ann = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points",
                              ha=ha, va=va, fontsize=fontsize)
            box = ann.get_window_extent(renderer).expanded(1.04, 1.1)
            inside = axbox.containsx(box.x0) and axbox.containsx(box.x1) and axbox.containsy(box.y0) and \
                axbox.containsy(box.y1)
            score = sum(_overlap(box, b) for b in placed) + (0 if inside else 1e9)
            score += math.hypot(dx, dy) * 1e-3  # prefer near among equals
            if best is None or score < best[0]:
                if best is not None:
                    best[1].remove()
                best = (score, ann, box, dx, dy)
            else:
                ann.remove()
            if score < 1:
                break
        score, ann, box, dx, dy = best
        if math.hypot(dx, dy) > 14:
            ann.remove()
            ann = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points",
                              ha=ann.get_ha(), va=ann.get_va(), fontsize=fontsize,
                              arrowprops=dict(arrowstyle="-", color="#888888", lw=0.6, shrinkA=0, shrinkB=4))
        placed.append(box)
        anns[i] = ann
    return anns


# -- what to draw ---------------------------------------------------------------------------------------
def _order_key(layer):
    # Modules never run (first_call -1) go last, in definition order.
    return (layer.first_call < 0, layer.first_call if layer.first_call >= 0 else 0)


def _layer_items(prof, conv):
    """Leaf modules with a cost or parameters, in execution order: (path, kind, cost, params)."""
    items = []
    for layer in sorted(prof.leaves(), key=_order_key):
        cost = layer.cost(conv)
        if cost or layer.params:
            items.append((layer.path, layer.kind, cost, layer.params))
    return items


def _frontier(prof, depth: int):
    """Modules at ``depth`` (and shallower leaves): each one's subtree is one bar."""
    out = []
    for layer in prof.layers:
        if layer.depth == depth or (layer.depth < depth and not layer.children) or (depth == 0 and not layer.path):
            if layer.depth <= depth:
                out.append(layer)
    if depth == 0:
        out = [prof.layer("")]
    return sorted(out, key=_order_key)


def _stage_items(prof, conv, depth: int):
    """Per module at ``depth``: (path, {kind: cost}, {kind: params}) over its subtree, in execution order."""
    items = []
    for top in _frontier(prof, depth):
        cost, params = defaultdict(float), defaultdict(int)
        for layer in prof.subtree(top.path):
            c = layer.cost(conv)
            if c:
                cost[layer.kind] += c
            if layer.params:
                params[layer.kind] += layer.params
        if cost or params:
            items.append((top.name, dict(cost), dict(params)))
    return items


def _bands(paths: list[str], max_groups: int = 40) -> tuple[int, list[tuple[str, int, int]]]:
    """Contiguous runs of items sharing an ancestor: the shallowest depth giving 3+ runs none of which holds
    more than half the items (the stages; a timm net's single ``blocks`` holds most of them, its ``blocks.N``
    are the stages), else the shallowest giving 3+ runs."""
    deepest = max((p.count(".") for p in paths), default=0)
    found: list = []  # (level, runs) at each level with at most max_groups runs
    for level in range(1, deepest + 1):
        runs: list[list] = []
        for i, p in enumerate(paths):
            key = ".".join(p.split(".")[:level]) if p.count(".") >= level else p
            if runs and runs[-1][0] == key:
                runs[-1][2] = i + 1
            else:
                runs.append([key, i, i + 1])
        if len(runs) > max_groups:
            break
        found.append((level, runs))
        if len(runs) >= 3 and max(e - s for _, s, e in runs) <= len(paths) / 2:
            break
    if not found:
        return 1, []
    level, best = next(((lv, r) for lv, r in found if len(r) >= 3 and max(e - s for _, s, e in r) <= len(paths) / 2),
                       next(((lv, r) for lv, r in found if len(r) >= 3), found[-1]))
    return level, [tuple(r) for r in best]


# -- figures --------------------------------------------------------------------------------------------
def _title(prof, conv, suffix: str) -> str:
    shape = "x".join(map(str, prof.inputs[0])) if prof.inputs else "?"
    return (f"{prof.model} - {suffix}\ninput {shape}: {si(prof.total(conv))} {conv.unit} "
            f"[convention '{conv.name}'], {si(prof.params)} parameters")


def _kind_panel(ax, prof, conv, kinds_used):
    """Horizontal bars: each kind's share of the cost and of the parameters (percent, with absolute values)."""
    split = prof.by_kind(conv)
    total_c = sum(v["macs"] for v in split.values()) or 1
    total_p = sum(v["params"] for v in split.values()) or 1
    kinds = [k for k in KIND_COLOURS if k in split and (split[k]["macs"] or split[k]["params"])]
    kinds += [k for k in split if k not in kinds and (split[k]["macs"] or split[k]["params"])]
    kinds.sort(key=lambda k: (split[k]["macs"], split[k]["params"]))
    y = range(len(kinds))
    h = 0.38
    cost_pct = [100 * split[k]["macs"] / total_c for k in kinds]
    par_pct = [100 * split[k]["params"] / total_p for k in kinds]
    ax.barh([i + h / 2 for i in y], cost_pct, height=h, color=[kind_colour(k) for k in kinds], edgecolor="black",
            linewidth=0.4)
    ax.barh([i - h / 2 for i in y], par_pct, height=h, color=[kind_colour(k) for k in kinds], hatch="///",
            edgecolor="black", linewidth=0.4, alpha=0.55)
    for i, k in enumerate(kinds):
        if split[k]["macs"]:
            ax.text(cost_pct[i] + 1, i + h / 2, f"{cost_pct[i]:.1f}% ({si(split[k]['macs'])})", va="center",
                    fontsize=7)
        if split[k]["params"]:
            ax.text(par_pct[i] + 1, i - h / 2, f"{par_pct[i]:.1f}% ({si(split[k]['params'])})", va="center",
                    fontsize=7, color="#444444")
    ax.set_yticks(list(y))
    ax.set_yticklabels(kinds, fontsize=8)
    ax.set_xlim(0, 135)  # room for the value labels
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("share of the model total (%)", fontsize=8)
    ax.set_title(f"By kind: share of {conv.unit} (solid)\nand of parameters (hatched)", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    kinds_used.update(kinds)


def _top_list(ax, items, conv, n=8):
    """The heaviest rows, by name, under the kind panel (a bar chart cannot show 200 names)."""
    top = sorted(items, key=lambda it: it[1], reverse=True)[:n]
    total = sum(it[1] for it in items) or 1
    lines = [f"Heaviest by {conv.unit}:"]
    for name, cost in top:
        short = name if len(name) <= 36 else "..." + name[-33:]
        lines.append(f"{si(cost):>6} {100 * cost / total:4.1f}%  {short}")
    ax.axis("off")
    ax.text(-0.45, 1.0, "\n".join(lines), va="top", ha="left", fontsize=7, family="monospace",
            transform=ax.transAxes)


#: Font size (points) of the stage names: readable at any saved dpi (8 pt = 17 px at 150 dpi).
BAND_FONT = 8


def _shade_bands(ax, bands, n_items: int, label: bool, width_in: float = 11.0):
    """Shade every other stage; name each stage above the axes, or (too narrow for its name) vertically at the
    top inside the axes, neighbours too close for two vertical names sharing one label."""
    per_item_in = width_in / max(n_items, 1)
    char_in = 0.62 * BAND_FONT / 72  # mean character width
    line_in = 1.35 * BAND_FONT / 72  # room a vertical label needs across
    upright: list[list] = []  # [centre, names] of the vertical labels, merged when they would touch
    for j, (name, start, end) in enumerate(bands):
        if j % 2:
            ax.axvspan(start - 0.5, end - 0.5, color="#000000", alpha=0.06, linewidth=0)
        if not label:
            continue
        short = name.rsplit(".", 1)[-1] if len(name) > 14 else name
        centre = (start + end - 1) / 2
        if (end - start) * per_item_in > char_in * len(short) + 0.1:
            ax.text(centre, 1.01, short, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    fontsize=BAND_FONT, color="#333333", clip_on=False)
        elif upright and (centre - upright[-1][0]) * per_item_in < line_in:
            upright[-1][1].append(short)
        else:
            upright.append([centre, [short]])
    for centre, names in upright:
        ax.text(centre, 0.985, " + ".join(names), transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontsize=BAND_FONT, rotation=90, color="#333333",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1})


def _value_axis(ax, values, what: str):
    div, p = _scale(max(values, default=0))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / div:g}"))
    ax.set_ylabel(f"{what}, {p}" if p else what, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.set_ylim(0, max(max(values, default=0) * 1.08, 1))
    ax.set_axisbelow(True)


def plot_layers(prof, depth: int | None = None, convention=None, title: str | None = None) -> Figure:
    """Cost and parameters per layer (``depth=None``: every leaf layer with a cost or parameters, in
    execution order, one bar each) or per module at ``depth`` (bars stacked by kind), plus the split by kind.

    The cost is the profile's convention unless ``convention`` is given; its name is on the axis.
    """
    conv = get_convention(convention or prof.convention)
    fig = Figure(figsize=(15, 8.5), layout="constrained")
    gs = fig.add_gridspec(3, 2, width_ratios=[3.3, 1], height_ratios=[1, 1, 0.05])
    ax_c = fig.add_subplot(gs[0, 0])
    ax_p = fig.add_subplot(gs[1, 0], sharex=ax_c)
    sub = gs[0:2, 1].subgridspec(3, 1, height_ratios=[1.5, 0.45, 0.75])
    ax_k = fig.add_subplot(sub[0])
    ax_l = fig.add_subplot(sub[1])
    ax_t = fig.add_subplot(sub[2])
    kinds_used: set = set()

    if depth is None:
        items = _layer_items(prof, conv)
        if not items:
            raise UsageError(f"{prof.model}: no layer has a cost or parameters to plot")
        x = list(range(len(items)))
        colours = [kind_colour(k) for _, k, _, _ in items]
        costs = [c for _, _, c, _ in items]
        params = [p for _, _, _, p in items]
        width = 0.85 if len(items) < 400 else 1.0
        ax_c.bar(x, costs, width=width, color=colours, linewidth=0)
        ax_p.bar(x, params, width=width, color=colours, linewidth=0)
        kinds_used.update(k for _, k, _, _ in items)
        level, bands = _bands([path for path, *_ in items])
        for ax in (ax_c, ax_p):
            _shade_bands(ax, bands, len(items), label=ax is ax_c)
            ax.set_xlim(-0.5, len(items) - 0.5)
        ax_p.set_xlabel(f"layer, in execution order ({len(items)} layers with {conv.unit} or parameters; "
                        f"shaded bands = modules at depth {level})", fontsize=8)
        ax_p.tick_params(axis="x", labelsize=7)
        _top_list(ax_t, [(path, c) for path, _, c, _ in items], conv)
        cost_vals, param_vals = costs, params
        suffix = "per layer"
    else:
        if depth < 0:
            raise UsageError(f"--depth must be >= 0, got {depth}")
        items = _stage_items(prof, conv, depth)
        if not items:
            raise UsageError(f"{prof.model}: nothing to plot at depth {depth}")
        x = list(range(len(items)))
        kinds = [k for k in KIND_COLOURS if any(k in c or k in p for _, c, p in items)]
        kinds += sorted({k for _, c, p in items for k in (*c, *p)} - set(kinds))
        for ax, idx in ((ax_c, 1), (ax_p, 2)):
            bottom = [0.0] * len(items)
            for k in kinds:
                vals = [it[idx].get(k, 0) for it in items]
                if any(vals):
                    ax.bar(x, vals, bottom=bottom, color=kind_colour(k), width=0.75, linewidth=0.3,
                           edgecolor="white")
                    bottom = [b + v for b, v in zip(bottom, vals)]
            ax.set_xlim(-0.6, len(items) - 0.4)
        kinds_used.update(kinds)
        names = [name for name, _, _ in items]
        ax_p.set_xticks(x)
        rot = 0 if len(items) <= 8 and max(map(len, names)) <= 12 else 60
        ax_p.set_xticklabels(names, rotation=rot, ha="right" if rot else "center",
                             fontsize=7 if len(items) <= 40 else 5)
        ax_p.set_xlabel(f"module at depth {depth}, in execution order (bars stacked by kind)", fontsize=8)
        cost_vals = [sum(c.values()) for _, c, _ in items]
        param_vals = [sum(p.values()) for _, _, p in items]
        _top_list(ax_t, list(zip(names, cost_vals)), conv)
        suffix = f"per module at depth {depth}"

    ax_c.tick_params(axis="x", labelbottom=False)
    per = "layer" if depth is None else "module"
    _value_axis(ax_c, cost_vals, f"{conv.unit} per {per} [convention '{conv.name}']")
    _value_axis(ax_p, param_vals, f"parameters per {per}")
    _kind_panel(ax_k, prof, conv, kinds_used)
    handles = [Patch(color=kind_colour(k), label=k) for k in KIND_COLOURS if k in kinds_used]
    ax_l.axis("off")
    ax_l.legend(handles=handles, fontsize=7, ncol=2, loc="center", frameon=False, title="layer kind (colour)",
                title_fontsize=8)
    fig.suptitle(title or _title(prof, conv, suffix), fontsize=11)
    return fig


def save_figure(fig: Figure, path: str, dpi: int = 150) -> str:
    """Write ``fig`` to ``path`` (.png, .svg or .pdf, chosen by the extension); returns the path."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in FORMATS:
        raise UsageError(f"cannot write a picture to {path!r}: give a file ending in {', '.join(FORMATS)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path!r}: folder {folder!r} does not exist")
    # Fixed metadata: regenerated pictures only change when their content does.
    meta = {"Software": None} if ext == ".png" else ({"Date": None} if ext == ".svg" else {})
    atomic_savefig(fig, path, dpi=dpi, metadata=meta)  # a failed save leaves the old picture
    return str(path)


# -- block-family study (profiler.studies.blocks) ------------------------------------------------------------
def _plain_tick(v, _pos=None) -> str:
    return f"{v:g}"


def _minor_tick(v, _pos=None) -> str:
    # label only the 2s and 5s of each decade, so that narrow and wide axes both stay readable
    import math

    if v <= 0:
        return ""
    mantissa = round(v / 10 ** math.floor(math.log10(v)), 6)
    return f"{v:g}" if mantissa in (2, 5) else ""


def plot_blocks(rows) -> Figure:
    """The block study's rows (:class:`profiler.studies.blocks.BlockRow`), one panel per dataset: latency
    (median, whiskers Q1..Q3) against MACs, one point per block type, CPU and (when measured) CUDA. Block
    names are placed clear of every point, whisker and other name; log ticks are thinned until none collide."""
    from profiler.report.sections import blocks_by_dataset

    if not rows or rows[0].cpu is None:
        raise UsageError("--plot needs latency measurements (--runs of at least 1)")
    groups = blocks_by_dataset(rows)
    fig = Figure(figsize=(5.2 * len(groups), 4.4))
    axes = fig.subplots(1, len(groups), squeeze=False)
    to_label = []
    for ax, (ds, group) in zip(axes[0], groups.items()):
        whiskers, others, names = [], [], None
        for dev, marker, color in (("cpu", "o", "tab:blue"), ("cuda", "s", "tab:orange")):
            pts = [(r.macs / 1e6, getattr(r, dev), r.block) for r in group if getattr(r, dev) is not None]
            if not pts:
                continue
            x = [p[0] for p in pts]
            y = [s.median_ms for _, s, _ in pts]
            err = [[s.median_ms - s.q1_ms for _, s, _ in pts], [s.q3_ms - s.median_ms for _, s, _ in pts]]
            ax.errorbar(x, y, yerr=err, fmt=marker, color=color, ms=5, capsize=3, label=dev.upper())
            whiskers += [(xi, s.q1_ms, xi, s.q3_ms) for xi, s, _ in pts]
            if dev == "cpu":
                names = (x, y, [b for _, _, b in pts])
            else:
                others += list(zip(x, y))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("MACs (millions, convention `macs`)")
        ax.set_ylabel("latency, batch 1 (ms; median, bars Q1-Q3)")
        ax.set_title(f"{ds} ({'x'.join(map(str, group[0].input[1:]))})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        # room around the points for their names
        xs = [w[0] for w in whiskers]
        ys = [v for w in whiskers for v in (w[1], w[3]) if v > 0]
        ax.set_xlim(min(xs) / 1.6, max(xs) * 2.2)
        ax.set_ylim(min(ys) / 1.5, max(ys) * 1.5)
        to_label.append((ax, names, others, whiskers))
    fig.tight_layout()
    for ax, *_ in to_label:
        for which in ("x", "y"):  # plain numbers (0.5, 2, 20) rather than 2x10^0 on log axes
            fit_log_ticks(ax, which, _plain_tick)
    fig.tight_layout()  # the tick labels chosen may be wider or narrower
    for ax, names, others, whiskers in to_label:
        if names:  # the whiskers' caps reach 3 pt either side of the bar
            place_labels(ax, *names, fontsize=7, points=others, boxes=whiskers, marker_pt=4, box_pad_pt=3.5)
    return fig


# -- cost of profiling (benchmarks/benchmark_report.py) -----------------------------------------------------
BASELINE = "plain forward"


def _ratio_tick(v, _pos=None) -> str:
    return f"{v:g}x"


def _ratio_panel(ax, ratios: dict, targets: dict, target_method: str | None, metric: str, methods: list[str]):
    models = list(ratios)
    n = len(methods)
    width = 0.8 / max(n, 1)
    lo = min([r for row in ratios.values() for r in row.values() if r and r > 0] + [1.0])
    hi = max([r for row in ratios.values() for r in row.values() if r and r > 0] + [1.0])
    for j, method in enumerate(methods):
        xs, tops = [], []
        for i, model in enumerate(models):
            r = ratios[model].get(method)
            x = i - 0.4 + width * (j + 0.5)
            if r is None or not r > 0:  # a peer that failed on this model: say so where its bar would be
                ax.text(x, 1.0, "n/a", ha="center", va="bottom", fontsize=6, rotation=90, color="#555555")
                continue
            xs.append(x)
            tops.append(r)
        # bars grow from the 1.0x line: up = dearer than the plain forward, down = cheaper
        ax.bar(xs, [t - 1.0 for t in tops], bottom=1.0, width=width * 0.92, color=f"C{j % 10}",
               edgecolor="black", linewidth=0.4, label=method)
        for x, t in zip(xs, tops):
            ax.text(x, t * (1.04 if t >= 1 else 0.96), f"{t:.2f}" if t >= 0.1 else f"{t:.2g}", ha="center", va="bottom" if t >= 1 else "top",
                    fontsize=6, rotation=90)
    ax.axhline(1.0, color="black", linewidth=1.2, label=f"{BASELINE} (1.0x)")
    who = f"target for {target_method}" if target_method else "target"
    first = True
    for i, model in enumerate(models):
        t = targets.get(model)
        if t is None:
            continue
        ax.hlines(t, i - 0.45, i + 0.45, colors="red", linestyles="--", linewidth=1.4,
                  label=who if first else None)
        # at the right end, above the mark: the group's first bars (the methods with targets) end near it and
        # carry their value below their end, where a label on the left would cover it
        ax.text(i + 0.45, t * 1.02, f"target {t:g}x", color="red", fontsize=7, ha="right", va="bottom",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 0.5})
        first = False
        hi = max(hi, t)
    ax.set_yscale("log")
    ax.set_ylim(lo / 1.6, hi * 1.8)
    ax.yaxis.set_major_formatter(FuncFormatter(_ratio_tick))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _p=None: _minor_tick(v) and f"{v:g}x"))
    ax.tick_params(axis="y", which="both", labelsize=7)
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(models, fontsize=8)
    ax.set_xlim(-0.5, len(models) - 0.5)
    ax.set_ylabel(f"{metric} / {BASELINE} (median, log scale)", fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.set_axisbelow(True)


def plot_profiling_cost(wall: dict, cpu: dict | None = None, targets: dict | None = None,
                        target_method: str | None = None, title: str | None = None) -> Figure:
    """The cost of profiling as ratios to the plain forward pass: grouped bars, one group per model and one bar
    per method, growing from a line at 1.0x (the plain forward itself), on a log axis; ``targets``
    (``{model: ratio}``) are drawn as red dashed marks over their model's group.

    ``wall`` (and ``cpu``, drawn as a second panel when given) map model -> method -> ratio; a method
    missing for a model (or ``None``) is written ``n/a`` there. The baseline method itself, if present, is
    not drawn as a bar.
    """
    if not wall or not any(wall.values()):
        raise UsageError("plot_profiling_cost: no ratios to plot")
    panels = [("wall time", wall)] + ([("CPU time", cpu)] if cpu else [])
    methods: list[str] = []
    for _, ratios in panels:
        for row in ratios.values():
            methods += [m for m in row if m != BASELINE and m not in methods]
    width = max(7.0, 1.1 + 0.32 * len(methods) * len(wall))
    fig = Figure(figsize=(width, 4.2 * len(panels) + 0.6), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (metric, ratios) in zip(axes, panels):
        _ratio_panel(ax, ratios, targets or {}, target_method, metric, methods)
        ax.set_title(f"{metric}: profiling cost relative to a plain forward", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, ncol=min(5, len(labels)), loc="outside lower center")
    fig.suptitle(title or "Cost of one profile per call (bars from the 1.0x line = plain forward)", fontsize=10)
    return fig


def plot_cost_vs_resolution(rows, name: str, methods=(BASELINE, "profiler (real pass)", "profiler (meta pass)")
                            ) -> Figure:
    """Wall time per call against the input resolution: ``rows`` is ``[(size, {method: seconds}), ...]``."""
    if not rows:
        raise UsageError("plot_cost_vs_resolution: no rows to plot")
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    sizes = [s for s, _ in rows]
    for j, method in enumerate(m for m in methods if all(m in r for _, r in rows)):
        style = "k-o" if method == BASELINE else f"C{j}-" + "s^vD"[j % 4]
        ax.plot(sizes, [r[method] * 1e3 for _, r in rows], style, label=method)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("input resolution (pixels, square, batch 1)")
    ax.set_ylabel("wall time per call (ms, median)")
    ax.set_title(f"{name}: cost against resolution (meta pass: shapes only)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig
