"""The closed-form costs of profiler.analysis.analytic against the MobileNet paper's formulas (Howard et al. 2017, 3.1-3.3)."""
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.analysis.analytic import (as_fraction, depthwise_conv_cost, pointwise_conv_cost, separable_conv_cost,
                               separable_ratio, standard_conv_cost)

channels = st.integers(min_value=1, max_value=4096)
kernels = st.integers(min_value=1, max_value=11)
sizes = st.integers(min_value=1, max_value=512)
# Multipliers as the decimals people write (0.25, 0.75, 1.4 ...), exactly representable as Fractions.
multipliers = st.fractions(min_value=Fraction(1, 20), max_value=Fraction(4), max_denominator=100)


def test_published_examples():
    # MobileNet: 3x3 separable convs cost "between 8 to 9 times less" than standard ones.
    assert separable_ratio(1024, 3) == Fraction(1, 1024) + Fraction(1, 9) == Fraction(1033, 9216)
    assert separable_ratio(64, 3) == Fraction(73, 576)
    assert 8 < 1 / separable_ratio(512, 3) < 9 and 8 < 1 / separable_ratio(1024, 3) < 9
    assert 1 / separable_ratio(64, 3) < 8  # narrow layers save less: 576/73 = 7.89x
    # Width multiplier 0.5 on N=512 -> 1/256 + 1/9.
    assert separable_ratio(512, 3, alpha=0.5) == Fraction(1, 256) + Fraction(1, 9)
    # Non-square kernel.
    assert separable_ratio(10, (1, 7)) == Fraction(1, 10) + Fraction(1, 7)
    # The paper's cost formulas (eqs. 2, 5, 6) with D_K=3, M=32, N=64, D_F=112.
    assert standard_conv_cost(3, 32, 64, 112) == 3 * 3 * 32 * 64 * 112 * 112
    assert separable_conv_cost(3, 32, 64, 112) == 3 * 3 * 32 * 112 * 112 + 32 * 64 * 112 * 112


@given(n=channels, k=kernels)
def test_ratio_is_exactly_1_over_n_plus_1_over_k2(n, k):
    r = separable_ratio(n, k)
    assert isinstance(r, Fraction)
    assert r == Fraction(1, n) + Fraction(1, k * k)
    assert r.denominator * r == r.numerator  # exact, not a float


@given(n=channels, k=kernels, m=channels, df=sizes, alpha=multipliers, rho=multipliers)
def test_ratio_is_cost_ratio_and_m_rho_cancel(n, k, m, df, alpha, rho):
    sep = separable_conv_cost(k, m, n, df, alpha=alpha, rho=rho)
    std = standard_conv_cost(k, m, n, df, alpha=alpha, rho=rho)
    assert sep / std == separable_ratio(n, k, alpha=alpha)
    assert sep == depthwise_conv_cost(k, m, df, alpha, rho) + pointwise_conv_cost(m, n, df, alpha, rho)


@given(k=kernels, m=channels, n=channels, df=sizes, alpha=multipliers, rho=multipliers)
def test_multipliers_scale_costs(k, m, n, df, alpha, rho):
    # alpha thins both channel counts (cost ~ alpha^2 for the standard conv), rho scales the map (~ rho^2).
    assert standard_conv_cost(k, m, n, df, alpha, rho) == alpha ** 2 * rho ** 2 * standard_conv_cost(k, m, n, df)
    assert depthwise_conv_cost(k, m, df, alpha, rho) == alpha * rho ** 2 * depthwise_conv_cost(k, m, df)
    assert pointwise_conv_cost(m, n, df, alpha, rho) == alpha ** 2 * rho ** 2 * pointwise_conv_cost(m, n, df)


@given(n=channels, k=kernels, alpha=multipliers)
def test_alpha_is_a_thinner_n(n, k, alpha):
    assert separable_ratio(n, k, alpha) == separable_ratio(alpha * n, k)


@given(n=channels, k=kernels)
def test_monotone_and_bounded(n, k):
    r = separable_ratio(n, k)
    assert separable_ratio(n + 1, k) < r
    assert separable_ratio(n, k + 1) < r
    assert Fraction(1, k * k) < r <= 2  # never cheaper than the depthwise term alone; 2 at n = k = 1


@given(df=sizes, h=sizes)
def test_rectangular_maps(df, h):
    assert standard_conv_cost(3, 8, 16, (h, df)) == 9 * 8 * 16 * h * df


def test_float_multipliers_read_as_decimals():
    assert as_fraction(0.1) == Fraction(1, 10)
    assert separable_ratio(10, 3, alpha=0.1) == 1 + Fraction(1, 9)
    assert separable_ratio(1024, 3, alpha=0.75) == Fraction(1, 768) + Fraction(1, 9)


@pytest.mark.parametrize("args", [(0, 3), (-4, 3), (16, 0), (16, 3, 0), (16, 3, -1.0), (16, 3, float("nan")),
                                  (16, (3, 3, 3))])
def test_bad_values_are_refused(args):
    with pytest.raises(ValueError):
        separable_ratio(*args)


def test_bad_types_are_refused():
    with pytest.raises(TypeError):
        separable_ratio("64", 3)
    with pytest.raises(TypeError):
        separable_ratio(True, 3)
