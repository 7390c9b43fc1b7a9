"""Accuracy against cost: the Pareto frontier, a printed frontier table, and a labelled scatter plot.

A point is a model with a published top-1 accuracy and a cost (MACs, parameters or latency). It is on the
frontier when no other point is at least as cheap *and* at least as accurate (one of them strictly): the
models worth choosing at their cost. Renderers only: costs come from the caller (counted by the engine or
typed from a paper/CSV), nothing is counted here.

One point per model: rows naming the same model (several sources quoting it) are merged by
:func:`merge_duplicates` under a stated rule, and the kept source is named in the table and the picture.

Labels are placed without overlap by a small greedy search (:func:`profiler.report.plots.place_labels`):
each label tries a ring of offsets around its point (nearest first) and takes the first whose box hits no
placed label, no marker, no frontier segment and stays inside the axes; when none is free it takes the
least-overlapping one with a leader line. Log-axis ticks are thinned until no two labels collide
(:func:`profiler.report.plots.fit_log_ticks`). Deterministic; no extra dependency.
"""
from __future__ import annotations

import csv
import math
import os
import re
import textwrap
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from profiler.errors import UsageError, file_error
from profiler.report.plots import fit_log_ticks, freeze_layout, place_labels, save_figure, si

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


# -- one point per model ------------------------------------------------------------------------------
MERGE_RULE = ("one point per model: rows naming the same model are merged, keeping the one whose cost was "
              "counted here over a typed one, then the authors' own table over a table quoting it over a zoo's "
              "weights metadata, then the first listed")


def _name_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


def _arch_key(p):
    """(architecture, kwargs, input) of a point built from a zoo model; zoo prefixes and build-origin words
    dropped, so torchvision's and the official code's ShuffleNet v2 1x are one architecture."""
    spec = str(p.extra.get("zoo") or "").strip()
    if not spec:
        return None
    arch = spec.rsplit(":", 1)[-1].lower()
    arch = re.sub(r"^(tv|tf|timm)_", "", arch).replace("_official", "")
    kwargs = tuple(sorted((k, str(v)) for k, v in dict(p.extra.get("kwargs") or {}).items() if k != "num_classes"))
    return arch, kwargs, tuple(p.extra.get("input") or ())


def source_label(p) -> str:
    """Short name of where a point comes from: the registry entry id, else its ``source`` cell, else 'given'."""
    label = str(p.extra.get("id") or p.source or "given")
    return label if len(label) <= 48 else label[:45] + "..."


def _precedence(p, index: int):
    counted = "macs_source" in p.extra and str(p.extra["macs_source"]).startswith("counted")
    return (not counted, p.extra.get("source_rank", 1), index)


def merge_duplicates(points) -> list:
    """One point per model. Two rows are the same model when they have the same name (case, spaces and
    underscores aside) or build the same zoo architecture (prefixes such as ``tv_``/``official`` aside) with
    the same kwargs and input. Of each group the kept row is chosen by :data:`MERGE_RULE`: cost counted here
    before cost typed, then ``extra['source_rank']`` (0 the authors' table, 1 a table quoting it, 2 a zoo's
    metadata; 1 when unset), then data order. The kept point is a copy whose ``extra['merged']`` lists the
    others' :func:`source_label`; the order of first appearance is kept. Already merged input comes back
    unchanged."""
    import copy

    pts = list(points)
    parent = list(range(len(pts)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict = {}
    for i, p in enumerate(pts):
        for key in (("name", _name_key(p.name)), ("arch", _arch_key(p))):
            if key[1] is None:
                continue
            if key in seen:
                parent[find(i)] = find(seen[key])
            else:
                seen[key] = i
    groups: dict = {}
    for i in range(len(pts)):
        groups.setdefault(find(i), []).append(i)
    out = []
    for root in sorted(groups, key=lambda r: min(groups[r])):
        members = groups[root]
        if len(members) == 1:
            out.append(pts[members[0]])
            continue
        keep = min(members, key=lambda i: _precedence(pts[i], i))
        kept = copy.copy(pts[keep])
        kept.extra = dict(kept.extra)
        kept.extra["merged"] = list(kept.extra.get("merged", [])) + [source_label(pts[i]) for i in members if i != keep]
        out.append(kept)
    return out


def merge_note(points, only=None) -> str:
    """Which source was kept for each merged model and which were folded into it, in one line; ``only``: the
    names to list (the others are counted)."""
    merged = [p for p in points if p.extra.get("merged")]
    if not merged:
        return ""
    rows = sum(1 + len(p.extra["merged"]) for p in merged)
    listed = [p for p in merged if only is None or p.name in only]
    text = f"{rows} rows of {len(merged)} models merged"
    if listed:
        text += ": " + "; ".join(f"{p.name} = {source_label(p)} (over {', '.join(p.extra['merged'])})"
                                 for p in listed)
    if len(listed) < len(merged):
        text += f"; {len(merged) - len(listed)} more not named here"
    return text


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


def frontier_table(points, axis: str = "macs", tablefmt: str = "simple", width: int | None = None) -> str:
    """The frontier as a table (cheapest first, one row per model: :func:`merge_duplicates`), with each step's
    extra cost per accuracy point and the source kept (how many rows were merged into it); ``width``: the text
    table's names and sources wrapped to fit that many columns (:func:`profiler.report.textfit.fit_table`)."""
    from profiler.report.textfit import fit_table

    front = pareto_front(merge_duplicates(points), axis)
    rows = []
    prev = None
    for p in front:
        step = ""
        if prev is not None and p.top1 > prev.top1:
            step = f"x{p.x(axis) / prev.x(axis):.2f} for +{p.top1 - prev.top1:.2f} pt"
        merged = len(p.extra.get("merged", ()))
        rows.append([p.name, p.family, f"{p.top1:.2f}", _fmt_x(p.x(axis), axis),
                     si(p.params) if p.params else "", step,
                     source_label(p) + (f" (+{merged} merged)" if merged else "")])
        prev = p
    label = X_AXES[axis][0]
    return fit_table(rows, ["frontier model", "family", "top-1 (%)", label, "params", "step", "source kept"],
                     width if tablefmt == "simple" else None, wrap=(6, 0, 1), tablefmt=tablefmt)


# -- plot -----------------------------------------------------------------------------------------------
_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
            "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p"]


def _x_formatter(axis: str):
    return (lambda v: f"{v:g}") if axis == "latency" else si


def plot_pareto(points, axis: str = "macs", title: str | None = None, xlabel: str | None = None,
                ylabel: str = "top-1 accuracy (%), ImageNet-1k val, as published", note: str | None = None,
                labels: str = "auto") -> Figure:
    """Top-1 against ``axis`` (log scale), families coloured, the frontier drawn and its points ringed; one
    point per model (:func:`merge_duplicates`, the kept sources said under the axes); the legend beside the
    axes, off the data.

    labels: ``all``, ``frontier`` (only frontier points named), or ``auto`` (all up to 40 points, else frontier).
    """
    label_mode = labels
    if label_mode not in ("auto", "all", "frontier"):
        raise UsageError(f"labels must be auto, all or frontier, got {labels!r}")
    pts, missing = usable(merge_duplicates(points), axis)
    if not pts:
        raise UsageError(f"no point has a {axis} value to plot")
    families = list(dict.fromkeys(p.family for p in pts))
    style = {f: (_PALETTE[i % len(_PALETTE)], _MARKERS[i % len(_MARKERS)]) for i, f in enumerate(families)}
    front = pareto_front(pts, axis)
    on_front = {id(p) for p in front}

    fig = Figure(figsize=(11, 6.5), layout="constrained")
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
    ax.set_xscale("log")
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
    fig.legend(handles=handles, fontsize=8, loc="outside right upper", title="family", title_fontsize=8,
               framealpha=0.9)
    ax.set_title(title or f"Top-1 accuracy vs {name}", fontsize=11)
    lines = [note] if note else []
    if label_mode == "auto":
        label_mode = "all" if len(pts) <= 40 else "frontier"
    named = {p.name for p in pts if label_mode == "all" or id(p) in on_front}
    if label_mode == "frontier":
        lines.append(f"{len(pts)} models; only the {len(front)} on the frontier are named (too many to label all)")
    merged = merge_note(pts, only=named)
    if merged:
        lines.append(f"{MERGE_RULE}; {merged}")
    if missing:
        lines.append(f"not shown (no {axis}): " + ", ".join(p.name for p in missing))
    if lines:
        text = "\n".join(w for line in lines for w in textwrap.wrap(line, 190))
        fig.text(0.01, 0.005, text, fontsize=7, color="#444444", va="bottom", ha="left")
        rows = text.count("\n") + 1
        fig.get_layout_engine().set(rect=(0, 0.018 * rows + 0.01, 1, 1 - 0.018 * rows - 0.01))
    unlabelled = []
    if label_mode == "frontier":
        keep = [i for i, p in enumerate(pts) if id(p) in on_front]
        unlabelled = [(xs[i], ys[i]) for i in range(len(pts)) if id(pts[i]) not in on_front]
        xs, ys, pts = [xs[i] for i in keep], [ys[i] for i in keep], [pts[i] for i in keep]
    freeze_layout(fig)  # the axes' final size, then ticks that fit it, then labels that miss everything
    fit_log_ticks(ax, "x", _x_formatter(axis))
    priority = [i for i, p in enumerate(pts) if id(p) in on_front]
    stairs = [(fx[0], fy[0])]
    for (x0, y0), (x1, y1) in zip(zip(fx, fy), zip(fx[1:], fy[1:])):
        stairs += [(x1, y0), (x1, y1)]
    place_labels(ax, xs, ys, [p.name for p in pts], priority=priority, lines=[stairs], points=unlabelled)
    return fig


def write_pareto(points, output: str, axis: str = "macs", **kw) -> str:
    fig = plot_pareto(points, axis, **kw)
    return save_figure(fig, output)
