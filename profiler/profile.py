"""The result of profiling: plain data, no formatting.

A :class:`Profile` holds one :class:`Layer` per module (in ``named_modules`` order, the root first).
Each layer keeps its *own* ops (those run while it was the innermost running module) as raw counts per
(op, category); totals under a convention are computed from those on demand, so one pass serves every
convention. Counts are MACs for conv/linear/attention/recurrent and element ops for the other categories.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from profiler.conventions import Convention, get_convention
from profiler.counters import CATEGORIES, MAC_CATEGORIES


@dataclass
class OpStat:
    """One aten op inside one layer, summed over its calls."""
    calls: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # category -> MACs or element ops
    bytes_read: int = 0  # bytes of the tensor inputs
    bytes_written: int = 0  # bytes of the tensor outputs


@dataclass
class Layer:
    path: str  # "" for the root module
    type: str  # class name
    kind: str  # one of profiler.kinds.KINDS
    depth: int  # 0 for the root
    calls: int = 0
    input_shapes: list = field(default_factory=list)  # of the first call
    output_shapes: list = field(default_factory=list)
    config: dict = field(default_factory=dict)  # kernel/stride/groups ...
    params: int = 0  # parameters this module owns directly (each tensor counted once model-wide)
    params_trainable: int = 0
    buffers: int = 0  # buffer elements owned directly
    ops: dict[str, OpStat] = field(default_factory=dict)  # own ops: "aten.name" -> OpStat
    children: list[str] = field(default_factory=list)
    first_call: int = -1  # rank of the first call in execution order (0 = first module run; -1 = never run)

    @property
    def name(self) -> str:
        return self.path or "(root)"

    def counts(self) -> dict[str, int]:
        """Own raw counts per category."""
        out: dict[str, int] = {}
        for st in self.ops.values():
            for c, n in st.counts.items():
                out[c] = out.get(c, 0) + n
        return out

    def cost(self, convention: Convention | str) -> float:
        """Own cost under ``convention``."""
        conv = get_convention(convention)
        return sum(conv.cost(self, op, c, n) for op, st in self.ops.items() for c, n in st.counts.items())

    @property
    def macs(self) -> int:
        """Own multiply-accumulates (conv + linear + attention + recurrent, no bias)."""
        counts = self.counts()
        return sum(counts.get(c, 0) for c in MAC_CATEGORIES)


@dataclass
class UncoveredOp:
    """An op met during the pass that has no counting rule (its cost is unknown, not zero)."""
    op: str
    calls: int
    modules: list[str]
    error: str = ""  # set when a rule exists but failed on these arguments


@dataclass
class Profile:
    model: str
    inputs: list  # input shapes
    convention: str
    layers: list[Layer]
    coverage: list[UncoveredOp]
    params_trainable: int
    params_frozen: int
    buffers: int
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._by_path = {layer.path: layer for layer in self.layers}

    # -- totals -----------------------------------------------------------------------------------
    @property
    def params(self) -> int:
        """Unique parameters (shared/tied tensors once), trainable + frozen."""
        return self.params_trainable + self.params_frozen

    @property
    def macs(self) -> int:
        """Total under the profile's convention (MACs for the default ``macs``)."""
        return self.total(self.convention)

    def total(self, convention: Convention | str) -> int:
        return int(round(sum(layer.cost(convention) for layer in self.layers)))

    @property
    def unit(self) -> str:
        return get_convention(self.convention).unit

    @property
    def by_category(self) -> dict[str, int]:
        """Raw totals per category (MACs or element ops), every category present."""
        out = {c: 0 for c in CATEGORIES}
        for layer in self.layers:
            for c, n in layer.counts().items():
                out[c] = out.get(c, 0) + n
        return out

    def by_op(self) -> dict[str, dict[str, int]]:
        """Raw totals per aten op and category."""
        out: dict[str, dict[str, int]] = {}
        for layer in self.layers:
            for op, st in layer.ops.items():
                d = out.setdefault(op, {})
                for c, n in st.counts.items():
                    d[c] = d.get(c, 0) + n
        return out

    # -- tree -------------------------------------------------------------------------------------
    def layer(self, path: str) -> Layer:
        return self._by_path[path]

    def subtree(self, path: str):
        """The layer at ``path`` and all its descendants."""
        stack = [self._by_path[path]]
        while stack:
            layer = stack.pop()
            yield layer
            stack.extend(self._by_path[c] for c in reversed(layer.children))

    def inclusive_cost(self, path: str, convention: Convention | str | None = None) -> int:
        conv = get_convention(convention or self.convention)
        return int(round(sum(layer.cost(conv) for layer in self.subtree(path))))

    def inclusive_params(self, path: str) -> int:
        return sum(layer.params for layer in self.subtree(path))

    def leaves(self) -> list[Layer]:
        return [layer for layer in self.layers if not layer.children]

    def by_kind(self, convention: Convention | str | None = None) -> dict[str, dict[str, int]]:
        """Own cost and parameters summed per layer kind (every layer's own share, so sums are totals)."""
        from profiler.kinds import KINDS

        conv = get_convention(convention or self.convention)
        out = {k: {"macs": 0, "params": 0} for k in KINDS}
        for layer in self.layers:
            d = out.setdefault(layer.kind, {"macs": 0, "params": 0})
            d["macs"] += layer.cost(conv)
            d["params"] += layer.params
        return {k: {"macs": int(round(v["macs"])), "params": v["params"]} for k, v in out.items()}

    # -- export -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        conv = get_convention(self.convention)
        layers = []
        for layer in self.layers:
            d = asdict(layer)
            d["ops"] = {op: asdict(st) for op, st in layer.ops.items()}
            d["macs"] = layer.counts()  # own raw counts per category
            d["cost"] = int(round(layer.cost(conv)))
            d["cost_inclusive"] = self.inclusive_cost(layer.path, conv)
            d["params_inclusive"] = self.inclusive_params(layer.path)
            layers.append(d)
        return {
            "model": self.model,
            "inputs": self.inputs,
            "device": self.device,
            "convention": self.convention,
            "unit": conv.unit,
            "macs": self.macs,
            "params": self.params,
            "params_trainable": self.params_trainable,
            "params_frozen": self.params_frozen,
            "buffers": self.buffers,
            "by_category": self.by_category,
            "layers": layers,
            "coverage": [asdict(u) for u in self.coverage],
            "notes": list(self.notes),
        }

    # -- views (formatting lives in profiler.report; these only delegate) -----------------------------
    def _repr_html_(self) -> str:
        """The per-layer table as HTML, for a Jupyter cell."""
        from profiler.report import to_html

        return to_html(self)

    def to_dataframe(self, depth: int | None = None, top: int | None = None):
        """One row per module (own and inclusive params/cost, shares, shapes) as a pandas DataFrame;
        raises ImportError with the fix when pandas is not installed."""
        from profiler.report import to_dataframe

        return to_dataframe(self, depth=depth, top=top)

    def __repr__(self) -> str:
        return (f"Profile({self.model}: {self.macs:,} {self.unit} [{self.convention}], "
                f"{self.params:,} params, {len(self.layers)} modules, {len(self.coverage)} uncovered ops)")
