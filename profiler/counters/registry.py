"""Map from aten ops to counting rules.

A rule is a pure function of shapes: it receives the op's positional and keyword arguments with every
tensor replaced by its ``torch.Size`` (nested lists/tuples kept), plus ``out`` (the output's shape, or a
tuple of shapes for multi-output ops), and returns ``{category: count}``. Counts are multiply-accumulates
for the MAC categories (conv, linear, attention, recurrent) and element operations for the others.
Rules know nothing of modules, conventions or printing.
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch

Counts = Mapping[str, int]
Rule = Callable[..., Counts]

aten = torch.ops.aten

RULES: dict[object, Rule] = {}
# Ops that cost nothing and need no rule: views, metadata, allocation, RNG fills of fresh tensors.
FREE: set[object] = set()


def _packets(ops):
    for op in ops:
        yield getattr(op, "_overloadpacket", op)


# Rules of ops from other libraries, by qualified name ("torchvision::deform_conv2d"): their op objects
# exist only once the library is imported, which the counters do not force.
RULES_BY_NAME: dict[str, Rule] = {}


def register(*ops) -> Callable[[Rule], Rule]:
    """Decorator: use the decorated function as the rule for every op (overload packet) given; a string
    ``"namespace::name"`` names an op of a library that may not be loaded yet."""

    def deco(fn: Rule) -> Rule:
        for p in _packets(ops):
            if isinstance(p, str):
                RULES_BY_NAME[p] = fn
            else:
                RULES[p] = fn
        return fn

    return deco


def register_free(*ops) -> None:
    FREE.update(_packets(ops))


def lookup(func) -> Rule | None:
    """The rule for an ``OpOverload`` (or packet), or None."""
    packet = getattr(func, "_overloadpacket", func)
    rule = RULES.get(packet)
    if rule is None and RULES_BY_NAME:
        rule = RULES_BY_NAME.get(getattr(packet, "_qualified_op_name", ""))
    return rule


def is_free(func) -> bool:
    return getattr(func, "_overloadpacket", func) in FREE


def ops_named(*names: str):
    """aten overload packets by name, skipping the ones this torch build lacks."""
    out = []
    for n in names:
        op = getattr(aten, n, None)
        if op is not None:
            out.append(op)
    return out


class NestedShape:
    """The shape of a nested tensor: one regular shape per component (e.g. sequences of different lengths).

    Not a tuple on purpose: rules that index a regular shape fail on it (the op is then reported as
    uncovered with the error) instead of silently reading a component's size as a dimension.
    """
    __slots__ = ("components",)

    def __init__(self, components):
        self.components = tuple(tuple(int(d) for d in c) for c in components)

    def __repr__(self) -> str:
        return f"NestedShape({list(self.components)})"

    def __eq__(self, other) -> bool:
        return isinstance(other, NestedShape) and other.components == self.components

    def __hash__(self) -> int:
        return hash(self.components)


def numel(shape) -> int:
    """Elements of a shape (a nested shape: the elements of all its components)."""
    if isinstance(shape, NestedShape):
        return sum(numel(c) for c in shape.components)
    n = 1
    for d in shape:
        n *= int(d)
    return n
