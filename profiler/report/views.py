"""The tables people read: per layer, per kind or module type, and a torchsummary-style summary.

Each builder returns a :class:`~profiler.report.tables.Table` (raw values + display strings); units and the
convention are in the headers. Nothing here counts: the numbers come from the Profile via ``rows``.
"""
from __future__ import annotations

from profiler.conventions import get_convention
from profiler.counters.registry import numel
from profiler.report import format as F
from profiler.report import comm as C
from profiler.core.rows import GroupRow, Row, group_rows, percent, percent_strings
from profiler.report.tables import INDENT, Column, Table

# torchsummary lists every module but the root and these containers (their outputs are their children's).
_SUMMARY_SKIPPED_TYPES = {"Sequential", "ModuleList", "ModuleDict"}
MB = 2 ** 20  # torchsummary's "MB" is MiB


def cost_header(profile) -> str:
    conv = get_convention(profile.convention)
    return f"{conv.unit} [{conv.name}]"


def _cost_key(profile) -> str:
    return get_convention(profile.convention).unit.lower()


def layer_table(profile, rows: list[Row], indent: bool = True) -> Table:
    """Module path (indented by depth), type, kind, kernel/stride/groups, shapes, params, MACs, activations.

    Percent columns are shares of the model's totals and, printed, add up to exactly 100.00 (see
    :func:`~profiler.core.rows.percent_strings`); a totals row closes the table. A container whose children
    are rows shows, beside its own params and cost, its subtree's in brackets (``[1.23G]``, same unit) and
    those as raw numbers in the hidden ``params_inclusive``/``<unit>_inclusive`` columns (CSV). A profile with
    collectives (a distributed pass) also has ``comm sent (bytes)``: each row's bytes sent (:mod:`.comm`),
    shown the same way, its subtree's raw total in the hidden ``comm_sent_inclusive``.
    """
    unit = get_convention(profile.convention).unit
    key = _cost_key(profile)
    # short: the headers of the text view fitted to a terminal (``tables.fit``; the page's legend explains
    # them); drop/tiny_at: the order in which a too wide one leaves columns out (see FIT_ORDER).
    cols = [
        Column("path", "module"), Column("depth", "depth", "right", visible=False),
        Column("type", "type", drop=FIT_ORDER["type"]), Column("kind", "kind", drop=FIT_ORDER["kind"]),
        Column("kernel_stride_groups", "kernel/stride/groups", short="kernel", drop=FIT_ORDER["kernel"]),
        Column("input_shape", "input shape", short="input", drop=FIT_ORDER["input"]),
        Column("output_shape", "output shape", short="output"),
        Column("params", "params", "right"), Column("params_pct", "% params", "right", short="%"),
        Column(key, cost_header(profile), "right", tiny=unit, tiny_at=FIT_ORDER["cost header"]),
        Column(f"{key}_pct", f"% {unit}", "right", short="%"),
    ]
    phases = [p for p in STEP_COLUMNS if p in profile.phases] if profile.is_step else []
    cols += [Column(f"{key}_{p}", f"{p} {unit}", "right", short=f"{STEP_SHORT[p]} {unit}", drop_zero=True,
                    drop=FIT_ORDER["phases"]) for p in phases]
    cols += [
        Column("activations", "output activations (elements)", "right", short="out elems",
               drop=FIT_ORDER["out elems"]),
        Column("folded", "folded modules", "right", visible=False),
        Column("convention", "convention", visible=False),
        # The subtree's inclusive totals as raw numbers, for CSV (the text shows them in brackets, see below).
        Column("params_inclusive", "params of the subtree", "right", visible=False),
        Column(f"{key}_inclusive", f"{unit} of the subtree", "right", visible=False),
    ]
    # A distributed pass's collectives: the bytes each row sends (report.comm). Only where some collective ran,
    # so every other profile's table, and its CSV header, stays as it was; the subtree's raw total goes last.
    sent = C.row_sent(profile, rows)
    if sent is not None:
        at = [c.key for c in cols].index("activations")  # beside the costs: before the output elements
        cols.insert(at, Column("comm_sent", C.SENT_HEADER, "right", short=C.SENT_SHORT, drop=FIT_ORDER["comm sent"]))
        cols.append(Column("comm_sent_inclusive", "comm sent of the subtree (bytes)", "right", visible=False))
    total_cost = profile.total(profile.convention)
    by_phase = profile.by_phase if phases else {}
    total_params = profile.params
    p_params = percent_strings([r.params for r in rows], total_params)
    p_cost = percent_strings([r.cost for r in rows], total_cost)
    t = Table(cols)
    for i, (r, pp, pc) in enumerate(zip(rows, p_params, p_cost)):
        label = r.name if r.synthetic else (INDENT * r.depth if indent else "") + r.name + (
            f" (+{r.folded})" if r.folded else "")
        # A container whose children are rows of their own shows what it owns (blank when 0, so nobody reads
        # a container's 0 as "this block is free"), then its subtree's total in brackets: apart from the own
        # share, so the column still sums to the total; its % cells stay the own share, adding up to 100.
        blank = r.has_shown_children
        step_raw = [int(round(_phase_cost(r, p))) for p in phases]
        sub_params = None if r.synthetic else r.params_inclusive
        sub_cost = None if r.synthetic else int(round(r.cost_inclusive))
        raw, shown = (
            [r.name, None if r.synthetic else r.depth, r.type, r.kind, F.kernel_stride_groups(r.config),
             F.shapes(r.input_shapes), F.shapes(r.output_shapes), r.params,
             _round(percent(r.params, total_params)), int(round(r.cost)), _round(percent(r.cost, total_cost)),
             *step_raw, None if r.synthetic else r.activations, r.folded, profile.convention, sub_params, sub_cost],
            [label, "" if r.synthetic else str(r.depth), r.type, r.kind, F.kernel_stride_groups(r.config),
             F.shapes(r.input_shapes), F.shapes(r.output_shapes),
             _with_subtree(r.params, r.params_inclusive) if blank else F.count(r.params),
             "" if blank and not r.params else pp,
             _with_subtree(r.cost, r.cost_inclusive) if blank else F.count(r.cost),
             "" if blank and not r.cost else pc,
             *("" if blank and not v else F.count(v) for v in step_raw),
             "" if r.synthetic or not r.output_shapes else F.count(r.activations), str(r.folded), profile.convention,
             "" if sub_params is None else F.count(sub_params), "" if sub_cost is None else F.count(sub_cost)])
        inclusive_cols = [("params", r.params, r.params_inclusive), (key, r.cost, r.cost_inclusive)]
        if sent is not None:  # shown as params and cost are: a container's own bytes, then its subtree's
            own_sent, sub_sent = sent[i]
            raw.insert(at, int(round(own_sent)))
            shown.insert(at, _with_subtree(own_sent, sub_sent) if blank else F.count(own_sent))
            raw.append(None if r.synthetic else int(round(sub_sent)))
            shown.append("" if r.synthetic else F.count(sub_sent))
            inclusive_cols.append(("comm_sent", own_sent, sub_sent))
        t.add(raw, shown)
        for col, own, inclusive in inclusive_cols:
            narrow = _with_subtree(own, inclusive, narrow=True) if blank else ""
            if blank and len(narrow) < len(_with_subtree(own, inclusive)):
                t.narrow.setdefault(col, {})[len(t.shown) - 1] = narrow
    step_totals = [by_phase[p] for p in phases]
    t.totals_raw = ["total", None, "", "", "", "", "", total_params, 100.0 if total_params else None,
                    total_cost, 100.0 if total_cost else None, *step_totals, None, None, profile.convention,
                    None, None]
    t.totals_shown = ["total", "", "", "", "", "", "", F.count(total_params), "100.00" if total_params else "-",
                      F.count(total_cost), "100.00" if total_cost else "-", *map(F.count, step_totals), "", "",
                      profile.convention, "", ""]
    if sent is not None:
        total_sent = C.sent_total(profile)
        t.totals_raw.insert(at, int(round(total_sent)))
        t.totals_shown.insert(at, F.count(total_sent))
        t.totals_raw.append(None)
        t.totals_shown.append("")
    return t


def subtree_total(n: float) -> str:
    """A subtree's inclusive total as the per-layer tables mark it: scaled, in brackets (``[1.23G]``), so it
    reads apart from the exact own counts of the same column (the column's unit is in its header)."""
    return f"[{F.scaled(n).replace(' ', '')}]"


def _with_subtree(own: float, inclusive: float, narrow: bool = False) -> str:
    """The cell of a container whose children are rows: its own count (none when 0), then the subtree's total
    (none when the children add nothing: the own count is the total). ``narrow``: the own count scaled too, the
    last resort of a table fitted to a terminal (``tables.fit``: ``134.22M [5.50G]`` for ``134,217,728 [5.50G]``)."""
    if round(own) == round(inclusive):
        return F.count(own) if own else ""  # blank, as its % cell: nothing to say beside its children's rows
    if not own:
        return subtree_total(inclusive)
    return f"{subtree_total(own)[1:-1] if narrow else F.count(own)} {subtree_total(inclusive)}"


#: Per-phase columns of a training step's per-layer table (the backward includes its checkpointed re-runs).
STEP_COLUMNS = ("forward", "loss", "backward", "optimizer")
STEP_SHORT = {"forward": "fwd", "loss": "loss", "backward": "bwd", "optimizer": "opt"}

#: The order in which the per-layer text table, fitted to a terminal, gives up columns (1 first): the input
#: shape (mostly the row above's output), the kind (type and kernel say most of it), the convention in the
#: cost header (the legend still names it), the output elements (the output shape's product), the kernel,
#: the type, the per-phase costs, last a distributed pass's bytes sent (what a run with --tp/--ep is for, so it
#: outlasts the rest). The module, output shape, params, cost and shares always stay; ``--wide`` shows everything.
FIT_ORDER = {"input": 1, "kind": 2, "cost header": 3, "out elems": 4, "kernel": 5, "type": 6, "phases": 7,
             "comm sent": 8}


def _phase_cost(r: Row, phase: str) -> float:
    cost = r.phase_cost.get(phase, 0.0)
    return cost + r.phase_cost.get("recompute", 0.0) if phase == "backward" else cost


def group_table(profile, by: str = "kind") -> Table:
    """Own cost and parameters summed per layer kind (or module class); shares add up to 100."""
    groups: list[GroupRow] = group_rows(profile, by)
    unit = get_convention(profile.convention).unit
    key = _cost_key(profile)
    cols = [Column(by, by), Column("modules", "modules", "right"), Column("params", "params", "right"),
            Column("params_pct", "% params", "right"), Column(key, cost_header(profile), "right"),
            Column(f"{key}_pct", f"% {unit}", "right"), Column("convention", "convention", visible=False)]
    total_cost = profile.total(profile.convention)
    total_params = profile.params
    p_params = percent_strings([g.params for g in groups], total_params)
    p_cost = percent_strings([g.cost for g in groups], total_cost)
    t = Table(cols)
    for g, pp, pc in zip(groups, p_params, p_cost):
        t.add([g.name, g.modules, g.params, _round(percent(g.params, total_params)), int(round(g.cost)),
               _round(percent(g.cost, total_cost)), profile.convention],
              [g.name, str(g.modules), F.count(g.params), pp, F.count(g.cost), pc, profile.convention])
    n = sum(g.modules for g in groups)
    t.totals_raw = ["total", n, total_params, 100.0 if total_params else None, total_cost,
                    100.0 if total_cost else None, profile.convention]
    t.totals_shown = ["total", str(n), F.count(total_params), "100.00" if total_params else "-",
                      F.count(total_cost), "100.00" if total_cost else "-", profile.convention]
    return t


def summary_layers(profile):
    """The modules torchsummary lists, in its order: every executed module but the root and plain
    containers, each after its children (torchsummary records a module when its forward *returns*);
    siblings in the order of their first call."""
    by_path = {layer.path: layer for layer in profile.layers}
    out = []

    def visit(layer):
        kids = sorted((by_path[c] for c in layer.children if c in by_path),
                      key=lambda c: getattr(c, "first_call", 0))
        for child in kids:
            visit(child)
        if layer.path and layer.calls and layer.type not in _SUMMARY_SKIPPED_TYPES:
            out.append(layer)

    if profile.layers:
        visit(profile.layers[0])
    return out


def summary_sizes(profile, bytes_per_element: int = 4) -> dict:
    """torchsummary's memory estimate, in MiB, float32 (4 bytes) as torchsummary assumes.

    input: elements of the inputs; forward/backward pass: 2 x (output elements of every listed module, each
    call) (the 2 is torchsummary's allowance for gradients); params: unique parameters.
    """
    inputs = sum(numel(s) for s in profile.inputs)
    acts = sum(sum(numel(s) for s in layer.output_shapes) * max(layer.calls, 1) for layer in summary_layers(profile))
    out = {
        "input_mb": inputs * bytes_per_element / MB,
        "forward_backward_mb": 2 * acts * bytes_per_element / MB,
        "params_mb": profile.params * bytes_per_element / MB,
    }
    out["total_mb"] = out["input_mb"] + out["forward_backward_mb"] + out["params_mb"]
    return out


def summary_table(profile) -> Table:
    """torchsummary's layer table (``Conv2d-1``, output shape, parameters) plus the module path and cost."""
    cols = [Column("layer", "Layer (type)"), Column("path", "module"), Column("output_shape", "Output Shape"),
            Column("params", "Param #", "right"), Column(_cost_key(profile), cost_header(profile), "right")]
    t = Table(cols)
    for i, layer in enumerate(summary_layers(profile), 1):
        shapes = ", ".join(str(list(s)) for s in layer.output_shapes)
        calls = f" x{layer.calls}" if layer.calls > 1 else ""
        cost = layer.cost(profile.convention)
        t.add([f"{layer.type}-{i}", layer.path, shapes, layer.params, int(round(cost))],
              [f"{layer.type}-{i}", layer.path + calls, shapes, F.count(layer.params), F.count(cost)])
    return t


def summary_footer(profile) -> list[tuple[str, str]]:
    s = summary_sizes(profile)
    return [("Total params", F.count(profile.params)),
            ("Trainable params", F.count(profile.params_trainable)),
            ("Non-trainable params", F.count(profile.params_frozen)),
            ("Input size (MB)", f"{s['input_mb']:.2f}"),
            ("Forward/backward pass size (MB)", f"{s['forward_backward_mb']:.2f}"),
            ("Params size (MB)", f"{s['params_mb']:.2f}"),
            ("Estimated Total Size (MB)", f"{s['total_mb']:.2f}")]


def _round(p: float | None) -> float | None:
    return None if p is None else round(p, 6)
