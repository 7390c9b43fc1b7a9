"""Run one op under ``profiler.profile`` and read its counts per category.

Expected values in these tests are computed in the tests themselves from the textbook definition of each
op (output-size formulas, index products), never with the package's own rule functions.
"""
from __future__ import annotations

import math

import torch.nn as nn

import profiler
from _op import Op  # noqa: F401 - the counters tests import it from here

MAC_CATEGORIES = ("conv", "linear", "attention", "recurrent")


def counts(model_or_fn, *inputs, **kwargs) -> dict[str, int]:
    """``by_category`` of one profiled pass; a bare function is wrapped in :class:`Op`."""
    model = model_or_fn if isinstance(model_or_fn, nn.Module) else Op(model_or_fn)
    prof = profiler.profile(model, tuple(inputs), **kwargs)
    assert not prof.coverage, f"ops without a rule: {prof.coverage}"
    return prof.by_category


def raw_counts(model_or_fn, *inputs, **kwargs) -> dict[str, int]:
    """Every raw count of one profiled pass summed over its ops, sub-counts (``norm.affine`` ...) included:
    ``by_category`` lists the categories only."""
    model = model_or_fn if isinstance(model_or_fn, nn.Module) else Op(model_or_fn)
    prof = profiler.profile(model, tuple(inputs), **kwargs)
    assert not prof.coverage, f"ops without a rule: {prof.coverage}"
    out: dict[str, int] = {}
    for per_op in prof.by_op().values():
        for c, n in per_op.items():
            out[c] = out.get(c, 0) + n
    return out


def macs_only(c: dict[str, int], category: str, expected: int) -> None:
    """``category`` holds exactly ``expected`` MACs and no other MAC category holds any."""
    assert c[category] == expected, (category, c[category], expected)
    others = {k: c[k] for k in MAC_CATEGORIES if k != category and c[k]}
    assert not others, f"MACs leaked into {others}"


def prod(xs) -> int:
    return math.prod(int(x) for x in xs)
