"""Test helpers for users' own suites.

    from profiler.testing import assert_complexity

    def test_my_net_budget():
        assert_complexity(MyNet(), (1, 3, 224, 224), macs=300e6, params=3.4e6, rel=0.01)
"""
from __future__ import annotations

from typing import Any


def _check(what: str, counted: float, expected: float, rel: float, unit: str) -> str | None:
    if expected is None:
        return None
    if expected < 0:
        raise ValueError(f"expected {what} must be >= 0, got {expected!r}")
    allowed = rel * abs(expected)
    if abs(counted - expected) <= allowed:
        return None
    delta = (counted - expected) / expected * 100 if expected else float("inf")
    return (f"{what}: counted {counted:,.0f} {unit}, expected {expected:,.0f} {unit} "
            f"({delta:+.2f}%, allowed +-{rel * 100:.2f}%)")


def assert_complexity(model, inputs: Any, *, macs: float | None = None, params: float | None = None,
                      rel: float = 0.01, convention: str = "macs", device: str | None = None):
    """Profile ``model`` on ``inputs`` and assert its cost and parameter count; returns the Profile.

    inputs: a tensor, a tuple of arguments, a dict of keyword arguments, or a shape of ints such as
    ``(1, 3, 224, 224)`` (one random tensor of that shape).
    macs: expected total under ``convention`` (default ``macs``: multiply-accumulates of conv/linear/
    attention/recurrent, bias not counted; ``flops`` = 2 x macs).
    params: expected number of unique parameters.
    rel: relative tolerance (0.01 = 1%; 0 for exact).
    device: where the pass runs (``"meta"`` for shapes only); the model itself is never moved or changed.
    The assertion message names every figure that is off, with counted, expected, delta and tolerance.
    """
    from profiler import get_convention, profile

    if macs is None and params is None:
        raise ValueError("give macs=..., params=... or both")
    if not (isinstance(rel, (int, float)) and 0 <= rel < 1):
        raise ValueError(f"rel is a relative tolerance in [0, 1), e.g. 0.01 for 1%; got {rel!r}")
    if isinstance(inputs, (tuple, list)) and inputs and all(isinstance(d, int) and not isinstance(d, bool)
                                                             for d in inputs):
        prof = profile(model, input_size=tuple(inputs), convention=convention, device=device)
    else:
        prof = profile(model, inputs, convention=convention, device=device)
    unit = get_convention(convention).unit
    problems = [p for p in (_check(f"{unit} [{convention}]", prof.total(convention), macs, rel, unit),
                            _check("params", prof.params, params, rel, "params")) if p]
    if problems:
        raise AssertionError(f"{prof.model} on inputs {prof.inputs}: " + "; ".join(problems))
    return prof
