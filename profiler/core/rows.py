"""Rows of the breakdowns (per layer, per kind, per module type): plain data read off a Profile.

Nothing here counts: every number is a Layer's own cost under a convention (``Layer.cost``) or its own
parameters, summed. Each row carries the module's *own* share, so a column of rows always sums to the
model's total and percent columns to 100:

- without a depth limit every module is a row with what it owns (a container's own share is what its
  ``forward`` computes itself, e.g. a functional residual add; its parameters are those it registers);
- with ``depth=N`` the subtrees below depth N are folded into their depth-N ancestor, whose row then holds
  the inclusive total of its subtree (``folded`` says how many modules it absorbed);
- every row also carries its subtree's inclusive totals (``params_inclusive``, ``cost_inclusive``): the tables
  show them apart from the own share (in brackets on a container whose children are rows of their own), never
  in a column that sums to the total;
- ``top_rows`` keeps the N heaviest rows and folds the rest into one "other modules" row.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from profiler.conventions import Convention, get_convention


@dataclass
class Row:
    """One line of a per-layer breakdown. Costs are in the convention's unit (MACs for ``macs``)."""
    path: str  # module path, "" = the root; a label for synthetic rows ("(12 other modules)")
    type: str  # module class name
    kind: str  # one of profiler.core.kinds.KINDS
    depth: int  # 0 = the root
    config: dict = field(default_factory=dict)  # kernel_size/stride/groups ... of the module
    input_shapes: list = field(default_factory=list)  # shapes of the first call's tensor inputs
    output_shapes: list = field(default_factory=list)
    calls: int = 0
    params: int = 0  # own parameters (+ those of folded descendants)
    cost: float = 0.0  # own cost under the convention (+ folded descendants)
    params_inclusive: int = 0  # the whole subtree, whatever is shown
    cost_inclusive: float = 0.0
    counts: dict = field(default_factory=dict)  # raw counts per category behind ``cost`` (MACs or element ops)
    phase_cost: dict = field(default_factory=dict)  # a training step: phase -> cost (``cost`` is their sum)
    folded: int = 0  # descendant modules folded into this row (depth cut-off or "others" row)
    has_shown_children: bool = False  # its children appear as rows of their own
    synthetic: bool = False  # an "other modules" row, not a module

    @property
    def activations(self) -> int:
        """Elements of the output tensors of the first call."""
        total = 0
        for shape in self.output_shapes:
            n = 1
            for d in shape:
                n *= int(d)
            total += n
        return total

    @property
    def name(self) -> str:
        return self.path if (self.path or self.synthetic) else "(root)"


def layer_rows(profile, depth: int | None = None, convention: Convention | str | None = None) -> list[Row]:
    """Rows in module-tree order (the root first); ``depth`` folds deeper subtrees into their ancestor."""
    conv = get_convention(convention or profile.convention)
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    own_cost = {layer.path: layer.cost(conv) for layer in profile.layers}
    own_counts = {layer.path: layer.counts() for layer in profile.layers}
    step = profile.is_step
    own_phase = {layer.path: ({ph: layer.cost(conv, ph) for ph in profile.phases} if step else {})
                 for layer in profile.layers}

    # Inclusive sums bottom-up (layers are in pre-order: children come after their parent).
    inc_cost = dict(own_cost)
    inc_params = {layer.path: layer.params for layer in profile.layers}
    inc_counts = {path: dict(c) for path, c in own_counts.items()}
    inc_phase = {path: dict(c) for path, c in own_phase.items()}
    size = {layer.path: 1 for layer in profile.layers}
    for layer in reversed(profile.layers):
        for child in layer.children:
            inc_cost[layer.path] += inc_cost[child]
            inc_params[layer.path] += inc_params[child]
            _add_counts(inc_counts[layer.path], inc_counts[child])
            _add_counts(inc_phase[layer.path], inc_phase[child])
            size[layer.path] += size[child]

    rows = []
    for layer in profile.layers:
        if depth is not None and layer.depth > depth:
            continue
        cut = depth is not None and layer.depth == depth and bool(layer.children)
        rows.append(Row(
            path=layer.path, type=layer.type, kind=layer.kind, depth=layer.depth, config=dict(layer.config),
            input_shapes=list(layer.input_shapes), output_shapes=list(layer.output_shapes), calls=layer.calls,
            params=inc_params[layer.path] if cut else layer.params,
            cost=inc_cost[layer.path] if cut else own_cost[layer.path],
            params_inclusive=inc_params[layer.path], cost_inclusive=inc_cost[layer.path],
            counts=inc_counts[layer.path] if cut else own_counts[layer.path],
            phase_cost=inc_phase[layer.path] if cut else own_phase[layer.path],
            folded=size[layer.path] - 1 if cut else 0,
            has_shown_children=bool(layer.children) and not cut,
        ))
    return rows


#: Rows of the terminal's per-layer table when no depth is asked for (fvcore and torchinfo fold to depth 3).
AUTO_ROWS = 60


def auto_depth(profile, max_rows: int = AUTO_ROWS) -> int | None:
    """The deepest depth whose per-layer table (every module down to that depth, one row each) has at most
    ``max_rows`` rows, never less than 1; None when every module fits (no folding). Reads module depths only."""
    if len(profile.layers) <= max_rows:
        return None
    per_depth: dict[int, int] = {}
    for layer in profile.layers:
        per_depth[layer.depth] = per_depth.get(layer.depth, 0) + 1
    best, shown = 1, 0
    for d in range(max(per_depth) + 1):
        shown += per_depth.get(d, 0)
        if shown > max_rows:
            break
        best = max(best, d)
    return best


def folded_modules(rows: list[Row]) -> int:
    """Modules not shown as rows of their own: folded into an ancestor (depth) or an "other modules" row."""
    return sum(r.folded for r in rows)


def rows_for(profile, depth: int | None = None, top: int | None = None) -> list[Row]:
    """The per-layer rows a view shows: tree order folded at ``depth``, or the ``top`` heaviest plus the rest."""
    rows = layer_rows(profile, depth=depth)
    return top_rows(rows, top) if top else rows


def top_rows(rows: list[Row], n: int) -> list[Row]:
    """The ``n`` rows with the highest cost (then parameters), and one row holding all the others."""
    if n < 1:
        raise ValueError(f"top must be >= 1, got {n}")
    order = sorted(rows, key=lambda r: (r.cost, r.params), reverse=True)
    kept, rest = order[:n], order[n:]
    if rest:
        modules = sum(1 + r.folded for r in rest)
        counts: dict[str, int] = {}
        phase_cost: dict[str, float] = {}
        for r in rest:
            _add_counts(counts, r.counts)
            _add_counts(phase_cost, r.phase_cost)
        params, cost = sum(r.params for r in rest), sum(r.cost for r in rest)
        # Its "subtree" is the modules it holds: the inclusive figures are what it shows.
        kept.append(Row(path=f"({modules} other modules)", type="", kind="", depth=0,
                        params=params, cost=cost, params_inclusive=params, cost_inclusive=cost, counts=counts,
                        phase_cost=phase_cost,
                        folded=modules, synthetic=True))
    return kept


def _add_counts(into: dict, more: dict) -> None:
    for c, n in more.items():
        into[c] = into.get(c, 0) + n


@dataclass
class GroupRow:
    """Own cost and parameters of every module of one kind (or one class)."""
    name: str
    modules: int
    params: int
    cost: float


def group_rows(profile, by: str = "kind", convention: Convention | str | None = None) -> list[GroupRow]:
    """Totals per layer kind (fixed order of :data:`profiler.core.kinds.KINDS`) or per module class.

    Only groups with at least one module are returned; the sums equal the model's totals.
    """
    from profiler.core.kinds import KINDS

    conv = get_convention(convention or profile.convention)
    if by not in ("kind", "type"):
        raise ValueError(f"group by 'kind' or 'type', not {by!r}")
    groups: dict[str, GroupRow] = {}
    if by == "kind":
        for k in KINDS:
            groups[k] = GroupRow(k, 0, 0, 0.0)
    for layer in profile.layers:
        key = layer.kind if by == "kind" else layer.type
        g = groups.setdefault(key, GroupRow(key, 0, 0, 0.0))
        g.modules += 1
        g.params += layer.params
        g.cost += layer.cost(conv)
    out = [g for g in groups.values() if g.modules]
    if by == "type":
        out.sort(key=lambda g: (g.cost, g.params), reverse=True)
    return out


def percent(value: float, total: float) -> float | None:
    """``value`` as a percentage of ``total`` (None when the total is 0)."""
    return None if not total else 100.0 * value / total


def percent_strings(values: list[float], total: float, decimals: int = 2) -> list[str]:
    """Each value as a percentage of ``total``, rounded to the nearest printed digit ("-" when the total is 0).

    The unrounded shares add up to exactly 100 (rows hold own shares); the printed column can differ from
    100.00 by the rounding of its digits. Each cell is rounded on its own on purpose: forcing the printed
    column to 100.00 (largest remainder) would print some shares off by one digit, e.g. MobileNet's first
    conv as 1.90 % instead of its 1.9056 %.
    """
    if not total:
        return ["-" for _ in values]
    return [f"{100.0 * v / total:.{decimals}f}" for v in values]
