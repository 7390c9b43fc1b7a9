"""Closed-form costs of standard and depthwise separable convolutions (MobileNet, section 3).

All costs are multiply-accumulates (MACs), bias not counted: the convention the MobileNet paper calls
"Mult-Adds" and this package calls ``macs``.

With a ``k x k`` kernel, ``m`` input channels, ``n`` output channels and a ``df x df`` output feature map,

- a standard convolution costs          ``k^2 * m * n * df^2``;
- a depthwise separable one costs       ``k^2 * m * df^2``  (depthwise)  +  ``m * n * df^2``  (pointwise 1x1);
- their ratio is                        ``1/n + 1/k^2``.

The width multiplier ``alpha`` thins every layer to ``alpha*m`` inputs and ``alpha*n`` outputs, the resolution
multiplier ``rho`` shrinks the feature map to ``rho*df``. The ratio becomes ``1/(alpha*n) + 1/k^2``: ``rho``
scales *both* costs by ``rho^2`` and cancels, and so does ``m`` (and for the same reason the feature-map size:
stride and padding change both costs by the same factor, see :mod:`profiler.analysis.separable`).

Everything is computed with :class:`fractions.Fraction`, so ratios are exact (``separable_ratio(1024, 3)`` is
``Fraction(1033, 9216)``, not a rounded float). A float multiplier is read as the decimal it prints as
(``0.75`` -> 3/4, ``0.1`` -> 1/10, not the binary approximation of 0.1), which is what a user means by it.
"""
from __future__ import annotations

from fractions import Fraction
from numbers import Rational, Real

__all__ = ["separable_ratio", "standard_conv_cost", "separable_conv_cost", "depthwise_conv_cost",
           "pointwise_conv_cost", "as_fraction"]


def as_fraction(x, name: str = "value") -> Fraction:
    """``x`` as an exact Fraction; floats are read as the decimal they print as (0.1 -> 1/10)."""
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    if isinstance(x, Rational):
        return Fraction(x)
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return Fraction(repr(float(x)))


def _positive(x, name: str) -> Fraction:
    f = as_fraction(x, name)
    if f <= 0:
        raise ValueError(f"{name} must be > 0, got {x!r}")
    return f


def _area(x, what: str, pair: str) -> Fraction:
    """x * x for a number, h * w for a pair: the area of a kernel or of an output feature map."""
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ValueError(f"{what} must be an int or a {pair} pair, got {x!r}")
        return _positive(x[0], f"{what} height") * _positive(x[1], f"{what} width")
    side = _positive(x, f"{what} size")
    return side * side


def _kernel_area(k) -> Fraction:
    return _area(k, "kernel", "(kh, kw)")


def _map_area(df) -> Fraction:
    return _area(df, "feature-map", "(h, w)")


def separable_ratio(n, k, alpha=1.0) -> Fraction:
    """Cost of a depthwise separable conv over a standard conv of the same shape: ``1/(alpha*n) + 1/k^2``.

    n: output channels of the standard conv (= of the pointwise conv) before the width multiplier;
    k: kernel size (int, or a (kh, kw) pair: then ``1/(kh*kw)``); alpha: width multiplier (0 < alpha).
    The input channels and the resolution multiplier rho do not appear: each scales both costs by the same
    factor (m, and rho^2) and cancels. Exact (a Fraction). ``separable_ratio(1024, 3)`` = 1033/9216, i.e.
    the separable conv is 8.9x cheaper.
    """
    return 1 / (_positive(alpha, "alpha") * _positive(n, "n")) + 1 / _kernel_area(k)


def standard_conv_cost(k, m, n, df, alpha=1.0, rho=1.0) -> Fraction:
    """MACs of a standard ``k x k`` conv, ``m -> n`` channels, ``df x df`` output: ``k^2 (alpha m)(alpha n)(rho df)^2``.

    df is the *output* feature-map side (an int, or an (h, w) pair); bias not counted. Exact (a Fraction: with
    multipliers the thinned channel counts need not be integers; a real network rounds them).
    """
    a = _positive(alpha, "alpha")
    r = _positive(rho, "rho")
    return _kernel_area(k) * (a * _positive(m, "m")) * (a * _positive(n, "n")) * r * r * _map_area(df)


def depthwise_conv_cost(k, m, df, alpha=1.0, rho=1.0) -> Fraction:
    """MACs of a depthwise ``k x k`` conv on ``m`` channels, ``df x df`` output: ``k^2 (alpha m)(rho df)^2``."""
    a = _positive(alpha, "alpha")
    r = _positive(rho, "rho")
    return _kernel_area(k) * (a * _positive(m, "m")) * r * r * _map_area(df)


def pointwise_conv_cost(m, n, df, alpha=1.0, rho=1.0) -> Fraction:
    """MACs of a pointwise (1x1) conv ``m -> n`` channels, ``df x df`` output: ``(alpha m)(alpha n)(rho df)^2``."""
    a = _positive(alpha, "alpha")
    r = _positive(rho, "rho")
    return (a * _positive(m, "m")) * (a * _positive(n, "n")) * r * r * _map_area(df)


def separable_conv_cost(k, m, n, df, alpha=1.0, rho=1.0) -> Fraction:
    """MACs of a depthwise separable conv (depthwise ``k x k`` on m channels, then pointwise ``m -> n``).

    ``k^2 (alpha m)(rho df)^2 + (alpha m)(alpha n)(rho df)^2`` (MobileNet, eq. 6 with the multipliers);
    df is the output feature-map side (int or (h, w)). Exact (a Fraction).
    """
    return depthwise_conv_cost(k, m, df, alpha, rho) + pointwise_conv_cost(m, n, df, alpha, rho)
