"""Accuracy against cost: the Pareto frontier, a printed frontier table, and a labelled scatter plot.

A point is a model with a published top-1 accuracy and a cost (MACs, parameters or latency). It is on the
frontier when no other point is at least as cheap *and* at least as accurate (one of them strictly): the
models worth choosing at their cost. Renderers only: costs come from the caller (counted by the engine or
typed from a paper/CSV), nothing is counted here.

Labels are placed without overlap by a small greedy search: each label tries a ring of offsets around its
point (nearest first) and takes the first whose box hits no placed label, no marker and stays inside the
axes; when none is free it takes the least-overlapping one with a leader line. Deterministic; no extra
dependency.
"""
from __future__ import annotations

import csv
import math
import os
import textwrap
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from profiler.errors import UsageError, file_error
from profiler.report.plots import save_figure, si

# What each x choice means, for axis labels and tables (the convention is always spelled out).
X_AXES = {
    "macs": ("MACs", "multiply-accumulates per image: conv + linear, bias not counted (what the papers call "
                     "FLOPs / Mult-Adds; 1 MAC = 2 FLOPs)"),
    "params": ("parameters", "unique parameters (tied weights once)"),
    "latency": ("latency (ms)", "milliseconds per batch-1 forward pass"),
}


@dataclass
class ParetoPoint:
    """One model. ``top1`` in percent; ``macs`` multiply-accumulates (count), ``params`` count, ``latency_ms``."""
    name: str
    family: str
    top1: float
    macs: float | None = None
    params: float | None = None
    latency_ms: float | None = None
    source: str = ""  # where top1 (and the published costs) come from
    extra: dict = field(default_factory=dict)

    def x(self, axis: str) -> float | None:
        return {"macs": self.macs, "params": self.params, "latency": self.latency_ms}[axis]


def _check_axis(axis: str) -> None:
    if axis not in X_AXES:
        raise UsageError(f"unknown x axis {axis!r}; choose one of: {', '.join(X_AXES)}")


def usable(points, axis: str) -> tuple[list, list]:
    """(points with a positive value on ``axis``, points without one)."""
    _check_axis(axis)
    ok, missing = [], []
    for p in points:
        v = p.x(axis)
        (ok if v is not None and v > 0 and p.top1 is not None else missing).append(p)
    return ok, missing


def pareto_front(points, axis: str = "macs") -> list:
    """The frontier points, cheapest first: no other point is as cheap and as accurate (one strictly)."""
    pts, _ = usable(points, axis)
    front = []
    for p in pts:
        px = p.x(axis)
        dominated = any(q is not p and q.x(axis) <= px and q.top1 >= p.top1 and (q.x(axis) < px or q.top1 > p.top1)
                        for q in pts)
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: (p.x(axis), -p.top1))


# -- data -----------------------------------------------------------------------------------------------
def _number(value: str, column: str, row: int, path: str) -> float | None:
    value = (value or "").strip().replace("_", "").replace(",", "")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"{path}: row {row}: column {column!r} is not a number: {value!r}") from None


def load_csv(path: str) -> list[ParetoPoint]:
    """Points from a CSV with columns ``model,family,top1,macs,params`` (optional ``latency_ms``, ``source``).

    top1 in percent (a value <= 1 is read as a fraction and multiplied by 100); macs = multiply-accumulates
    (a count, not millions); params = a count. Empty cells are allowed (that point is left out of plots on
    that axis); lines starting with ``#`` are comments.
    """
    if not os.path.exists(path):
        raise UsageError(f"no such CSV file {path!r}")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [line for line in f if line.strip() and not line.lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError) as exc:
        raise file_error(exc, path, "the CSV") from None
    reader = csv.DictReader(rows)
    need = {"model", "family", "top1"}
    cols = set(reader.fieldnames or [])
    if not need <= cols or not cols & {"macs", "params", "latency_ms"}:
        raise UsageError(f"{path}: need columns model,family,top1 and at least one of macs,params,latency_ms; "
                         f"found {','.join(reader.fieldnames or []) or 'none'}")
    points = []
    for i, row in enumerate(reader, start=2):
        name = (row.get("model") or "").strip()
        if not name:
            raise UsageError(f"{path}: row {i}: empty model name")
        top1 = _number(row.get("top1"), "top1", i, path)
        if top1 is None:
            raise UsageError(f"{path}: row {i} ({name}): no top1")
        if top1 <= 1:
            top1 *= 100
        known = {"model", "family", "top1", "macs", "params", "latency_ms", "source"}
        points.append(ParetoPoint(
            name=name, family=(row.get("family") or "").strip() or "other", top1=top1,
            macs=_number(row.get("macs"), "macs", i, path), params=_number(row.get("params"), "params", i, path),
            latency_ms=_number(row.get("latency_ms"), "latency_ms", i, path),
            source=(row.get("source") or "").strip(),
            extra={k: v for k, v in row.items() if k not in known and k is not None}))
    if not points:
        raise UsageError(f"{path}: no rows")
    return points


def filter_points(points, pattern: str | None):
    """Points whose name or family matches the glob ``pattern`` (comma-separated globs allowed)."""
    import fnmatch

    if not pattern:
        return list(points)
    pats = [p.strip() for p in pattern.split(",") if p.strip()]
    pats = [p if any(c in p for c in "*?[") else f"*{p}*" for p in pats]
    out = [p for p in points if any(fnmatch.fnmatch(p.name.lower(), q.lower()) or
                                    fnmatch.fnmatch(p.family.lower(), q.lower()) for q in pats)]
    if not out:
        raise UsageError(f"no model matches {pattern!r}; names: {', '.join(p.name for p in points[:12])}"
                         f"{' ...' if len(points) > 12 else ''}")
    return out


# -- table ----------------------------------------------------------------------------------------------
def _fmt_x(v: float, axis: str) -> str:
    if axis == "latency":
        return f"{v:.3g} ms"
    return f"{si(v)} {'MACs' if axis == 'macs' else 'params'}"


def frontier_table(points, axis: str = "macs", tablefmt: str = "simple") -> str:
    """The frontier as a table (cheapest first), with each step's extra cost per accuracy point."""
    from tabulate import tabulate

    front = pareto_front(points, axis)
    rows = []
    prev = None
    for p in front:
        step = ""
        if prev is not None and p.top1 > prev.top1:
            step = f"x{p.x(axis) / prev.x(axis):.2f} for +{p.top1 - prev.top1:.2f} pt"
        rows.append([p.name, p.family, f"{p.top1:.2f}", _fmt_x(p.x(axis), axis),
                     si(p.params) if p.params else "", step])
        prev = p
    label = X_AXES[axis][0]
    return tabulate(rows, headers=["frontier model", "family", "top-1 (%)", label, "params", "step"],
                    tablefmt=tablefmt, disable_numparse=True)


# -- plot -----------------------------------------------------------------------------------------------
_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
            "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p"]


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(ax, xs, ys, texts, fontsize=8, priority=None, lines=()):
    """Annotate each (x, y) with its text, choosing offsets so that no two labels (and no label and a
    marker, the legend or a segment of ``lines``, polylines in data coordinates) overlap; returns the
    annotations. ``priority``: indices placed first (they get the best spots)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else None
    if renderer is None:  # a Figure() without a canvas: attach Agg's, which can measure text
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
        renderer = fig.canvas.get_renderer()
    if fig.get_layout_engine() is not None:
        fig.get_layout_engine().execute(fig)  # final axes position before measuring
        fig.set_layout_engine("none")
    trans = ax.transData
    pts = [trans.transform((x, y)) for x, y in zip(xs, ys)]
    from matplotlib.transforms import Bbox
    marker_r = 6.5 * fig.dpi / 72
    placed = [Bbox.from_extents(px - marker_r, py - marker_r, px + marker_r, py + marker_r) for px, py in pts]
    if ax.get_legend() is not None:  # labels keep off the legend too
        placed.append(ax.get_legend().get_window_extent(renderer))
    for line in lines:  # and off drawn lines: each segment as a thin box
        d = [trans.transform(pt) for pt in line]
        for (x0, y0), (x1, y1) in zip(d, d[1:]):
            placed.append(Bbox.from_extents(min(x0, x1) - 2, min(y0, y1) - 2, max(x0, x1) + 2, max(y0, y1) + 2))
    axbox = ax.get_window_extent(renderer)
    order = list(priority or []) + [i for i in range(len(xs)) if i not in set(priority or [])]
    # Candidate offsets (points): 8 directions at growing radii, right and above first.
    dirs = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]
    cands = [(dx * r, dy * r * 0.8) for r in (6, 12, 20, 30, 42) for dx, dy in dirs]
    # Farther out, finer angles: crowded clusters fan their labels out with leader lines.
    cands += [(r * math.cos(a * math.pi / 8), r * math.sin(a * math.pi / 8))
              for r in (56, 72, 90, 110, 135) for a in range(16)]
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
            score = sum(_overlap(box, b) for j, b in enumerate(placed) if j != i) + (0 if inside else 1e9)
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
            ann.arrow_patch = None
            ann.remove()
            ann = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points",
                              ha=ann.get_ha(), va=ann.get_va(), fontsize=fontsize,
                              arrowprops=dict(arrowstyle="-", color="#888888", lw=0.6, shrinkA=0, shrinkB=4))
        placed.append(box)
        anns[i] = ann
    return anns


def _log_ticks(ax, axis: str, decades: float = 2.0):
    ax.set_xscale("log")
    # Under ~1.5 decades 1-2-5 ticks leave too few labels: label every integer multiple instead.
    subs = (1, 2, 5) if decades > 1.5 else (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if axis == "latency":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: si(v)))


def plot_pareto(points, axis: str = "macs", title: str | None = None, xlabel: str | None = None,
                ylabel: str = "top-1 accuracy (%), ImageNet-1k val, as published", note: str | None = None,
                labels: str = "auto") -> Figure:
    """Top-1 against ``axis`` (log scale), families coloured, the frontier drawn and its points ringed.

    labels: ``all``, ``frontier`` (only frontier points named), or ``auto`` (all up to 40 points, else frontier).
    """
    label_mode = labels
    if label_mode not in ("auto", "all", "frontier"):
        raise UsageError(f"labels must be auto, all or frontier, got {labels!r}")
    pts, missing = usable(points, axis)
    if not pts:
        raise UsageError(f"no point has a {axis} value to plot")
    families = list(dict.fromkeys(p.family for p in pts))
    style = {f: (_PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)]) for i, f in enumerate(families)}
    front = pareto_front(pts, axis)
    on_front = {id(p) for p in front}

    fig = Figure(figsize=(10, 6.5), layout="constrained")
    ax = fig.add_subplot()
    for f in families:
        fp = [p for p in pts if p.family == f]
        colour, marker = style[f]
        ax.scatter([p.x(axis) for p in fp], [p.top1 for p in fp], color=colour, marker=marker, s=42, zorder=3,
                   edgecolor="white", linewidth=0.6, label=f)
    ax.scatter([p.x(axis) for p in front], [p.top1 for p in front], s=120, facecolor="none", edgecolor="black",
               linewidth=1.0, zorder=4)
    # The frontier as a staircase: the best accuracy reachable at or below each cost.
    fx, fy = [p.x(axis) for p in front], [p.top1 for p in front]
    ax.plot(fx, fy, color="black", lw=1.0, ls="--", drawstyle="steps-post", zorder=2)

    xs, ys = [p.x(axis) for p in pts], [p.top1 for p in pts]
    lo, hi = math.log10(min(xs)), math.log10(max(xs))
    _log_ticks(ax, axis, hi - lo)
    pad = max((hi - lo) * 0.12, 0.08)
    ax.set_xlim(10 ** (lo - pad), 10 ** (hi + pad * 1.8))  # labels go right first: leave room
    ylo, yhi = min(ys), max(ys)
    ypad = max((yhi - ylo) * 0.1, 0.5)
    ax.set_ylim(ylo - ypad, yhi + ypad * 1.5)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_axisbelow(True)
    name, meaning = X_AXES[axis]
    ax.set_xlabel("\n".join(textwrap.wrap(xlabel or f"{name}, log scale - {meaning}", 120)), fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", ls="--", marker="o", markerfacecolor="none", markersize=9,
                          label="Pareto frontier"))
    ax.legend(handles=handles, fontsize=8, loc="lower right", title="family", title_fontsize=8, framealpha=0.9)
    ax.set_title(title or f"Top-1 accuracy vs {name}", fontsize=11)
    if note or missing:
        text = note or ""
        if missing:
            text += ("\n" if text else "") + f"not shown (no {axis}): " + ", ".join(p.name for p in missing)
        fig.text(0.01, 0.005, text, fontsize=7, color="#444444", va="bottom", ha="left")
        fig.get_layout_engine().set(rect=(0, 0.03 * (text.count("\n") + 1), 1, 1 - 0.03 * (text.count("\n") + 1)))
    if label_mode == "auto":
        label_mode = "all" if len(pts) <= 40 else "frontier"
    if label_mode == "frontier":
        keep = [i for i, p in enumerate(pts) if id(p) in on_front]
        ax.text(0.01, 0.99, f"{len(pts)} models; only the {len(keep)} on the frontier are named (too many to label all)",
                transform=ax.transAxes, fontsize=7, va="top", color="#444444")
        xs, ys, pts = [xs[i] for i in keep], [ys[i] for i in keep], [pts[i] for i in keep]
    priority = [i for i, p in enumerate(pts) if id(p) in on_front]
    stairs = [(fx[0], fy[0])]
    for (x0, y0), (x1, y1) in zip(zip(fx, fy), zip(fx[1:], fy[1:])):
        stairs += [(x1, y0), (x1, y1)]
    place_labels(ax, xs, ys, [p.name for p in pts], priority=priority, lines=[stairs])
    return fig


def write_pareto(points, output: str, axis: str = "macs", **kw) -> str:
    fig = plot_pareto(points, axis, **kw)
    return save_figure(fig, output)
