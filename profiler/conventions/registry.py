"""Conventions: named weightings of the counted categories.

A convention turns the raw per-op counts of a Profile into one number. Most are a weight per category;
a convention may also give a weight per (op, category) pair, or a function of the layer and op, to
reproduce a peer tool's rules exactly.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Mapping

from profiler.counters import CATEGORIES, MAC_CATEGORIES
from profiler.errors import UsageError


@dataclass(frozen=True)
class Convention:
    name: str
    unit: str  # what one counted unit is: "MACs", "FLOPs", "ops" ...
    description: str
    weights: Mapping[str, float]  # category -> weight
    op_weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # "aten.op" -> {cat: w}
    # (layer, op_name, category, count) -> weighted count, or None to fall back to the weights.
    rule: Callable | None = None

    def cost(self, layer, op_name: str, category: str, count: int) -> float:
        if self.rule is not None:
            v = self.rule(layer, op_name, category, count)
            if v is not None:
                return v
        w = self.op_weights.get(op_name, {}).get(category)
        if w is None:
            w = self.weights.get(category, 0)
        return w * count

    def categories(self) -> list[str]:
        """Categories this convention counts at all."""
        return [c for c in CATEGORIES if self.weights.get(c, 0)]


_REGISTRY: dict[str, Convention] = {}


def register_convention(conv: Convention) -> Convention:
    _REGISTRY[conv.name] = conv
    return conv


def get_convention(name: str | Convention) -> Convention:
    if isinstance(name, Convention):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UsageError(f"unknown convention {name!r}{hint}; choose one of: {', '.join(sorted(_REGISTRY))}") from None


def list_conventions() -> list[Convention]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


register_convention(Convention(
    "macs", "MACs",
    "multiply-accumulates of conv + linear + attention + recurrent, bias not counted "
    "(the papers' FLOPs/Mult-Adds; torchvision's GFLOPS)",
    {c: 1 for c in MAC_CATEGORIES}))
register_convention(Convention(
    "flops", "FLOPs", "2 x macs: a multiply-accumulate as one multiply and one add",
    {c: 2 for c in MAC_CATEGORIES}))
register_convention(Convention(
    "all", "ops", "MACs of conv/linear/attention/recurrent plus every element op once "
    "(bias, norm, activation, pooling, elementwise, optimizer); memory moves not counted",
    {c: 1 for c in CATEGORIES if c != "memory"}))


def _sequence_length(layer) -> int | None:
    """The query length of an attention layer's pass: the second-to-last dim of its first input of rank >= 3
    (hidden states (B, T, d) or queries (B, H, T, E))."""
    for shape in layer.input_shapes or ():
        if len(shape) >= 3:
            return int(shape[-2])
    return None


def _causal(layer, op, category, count):
    # A causal mask leaves T(T+1)/2 of the T x T query-key pairs: each product's count times (T+1)/(2T).
    # One query (a decode step) sees every key already: nothing to halve there.
    if category != "attention":
        return None
    t = _sequence_length(layer)
    return count if not t or t <= 1 else count * (t + 1) / (2 * t)


register_convention(Convention(
    "causal", "MACs",
    "macs with causal attention counted as the T(T+1)/2 query-key pairs a causal mask keeps, not the T x T "
    "that the kernels compute (for decoder language models; T read from the attention layer's input)",
    {c: 1 for c in MAC_CATEGORIES}, rule=_causal))
