"""Counting rules, one module per op family; importing this package registers them all.

`lookup(func)` gives the rule of an aten op, `is_free(func)` tells ops that cost nothing (views,
allocation). Everything else met during a pass is reported as uncovered by the engine.
"""
from profiler.counters import activation, attention, conv, detection, elementwise, linear, memory  # noqa: F401
from profiler.counters import comm, moe, norm, pooling, recurrent, spectral  # noqa: F401
from profiler.counters import backward  # noqa: F401  - after the forward families: it reuses their rules
from profiler.counters.registry import RULES, FREE, is_free, lookup, register, register_free  # noqa: F401

CATEGORIES = ("conv", "linear", "attention", "recurrent", "bias", "norm", "activation", "pooling",
              "elementwise", "optimizer", "memory")
MAC_CATEGORIES = ("conv", "linear", "attention", "recurrent")
