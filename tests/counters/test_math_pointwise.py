"""The rest of torch's pointwise math (inverse trigonometric and hyperbolic functions, gamma and error-function
relatives, special functions, shifts, remaining comparisons): one element op per output element, like sin,
atan and erf, in-place variants included."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

import profiler
from _opcount import Op

aten = torch.ops.aten


def by_op(fn, *inputs) -> dict[str, dict[str, int]]:
    prof = profiler.profile(Op(fn), tuple(inputs))
    assert not prof.coverage, f"ops without a rule: {prof.coverage}"
    assert prof.macs == 0
    return prof.by_op()


def unit(*s):  # values in (0, 1): inside every function's domain below
    return torch.rand(s) * 0.8 + 0.1


def ints(*s):
    return torch.randint(1, 9, tuple(s))


UNARY = ["acos", "asin", "atan", "acosh", "asinh", "atanh", "erfc", "lgamma", "digamma", "i0", "sinc", "logit",
         "deg2rad", "rad2deg", "signbit", "isposinf", "isneginf", "angle", "special_entr",
         "special_erfcx", "special_log_ndtr", "special_ndtri", "special_i0e", "special_i1", "special_i1e",
         "special_airy_ai", "special_bessel_j0", "special_bessel_j1", "special_bessel_y0", "special_bessel_y1",
         "special_modified_bessel_i0", "special_modified_bessel_i1", "special_modified_bessel_k0",
         "special_modified_bessel_k1", "special_scaled_modified_bessel_k0", "special_scaled_modified_bessel_k1",
         "special_spherical_bessel_j0"]
BINARY = ["logaddexp", "logaddexp2", "fmax", "fmin", "heaviside", "nextafter", "igamma", "igammac",
          "special_xlog1py", "special_zeta", "special_chebyshev_polynomial_t",
          "special_chebyshev_polynomial_u", "special_chebyshev_polynomial_v", "special_chebyshev_polynomial_w",
          "special_shifted_chebyshev_polynomial_t", "special_shifted_chebyshev_polynomial_u",
          "special_shifted_chebyshev_polynomial_v", "special_shifted_chebyshev_polynomial_w",
          "special_hermite_polynomial_h", "special_hermite_polynomial_he", "special_laguerre_polynomial_l",
          "special_legendre_polynomial_p"]
INTEGER_BINARY = ["gcd", "lcm", "bitwise_left_shift", "bitwise_right_shift", "__lshift__", "__rshift__"]


def _unary_input(name):
    return unit(3, 4) + (1.0 if name == "acosh" else 0.0)  # acosh is defined from 1 on


@pytest.mark.parametrize("name", UNARY)
def test_unary(name):
    op = getattr(aten, name)
    got = by_op(lambda t: op(t), _unary_input(name))
    assert got == {f"aten.{name}": {"elementwise": 12}}


@pytest.mark.parametrize("name", BINARY)
def test_binary_broadcast_counts_outputs(name):
    op = getattr(aten, name)
    got = by_op(lambda a, b: op(a, b), unit(3, 1), unit(1, 5))
    assert got == {f"aten.{name}": {"elementwise": 15}}


@pytest.mark.parametrize("name", INTEGER_BINARY)
def test_integer_binary(name):
    op = getattr(aten, name)
    assert by_op(lambda a, b: op(a, b), ints(2, 3), ints(2, 3)) == {f"aten.{name}": {"elementwise": 6}}


def test_ops_with_other_arguments():
    x = unit(2, 5)
    assert by_op(lambda t: torch.polygamma(2, t), x) == {"aten.polygamma": {"elementwise": 10}}
    assert by_op(lambda t: torch.mvlgamma(t + 3, 2), x)["aten.mvlgamma"] == {"elementwise": 10}
    assert by_op(lambda t: torch.ldexp(t, torch.tensor(3)), x)["aten.ldexp"] == {"elementwise": 10}
    assert by_op(lambda t: torch.clip(t, 0.2, 0.5), x) == {"aten.clamp": {"elementwise": 10}}
    assert by_op(torch.frexp, x) == {"aten.frexp": {"elementwise": 10}}  # two outputs, one op per element
    assert by_op(torch.conj_physical, x.to(torch.complex64)) == {"aten._conj_physical": {"elementwise": 10}}


@pytest.mark.parametrize("name", ["acos", "asin", "atan", "acosh", "asinh", "atanh", "erfc", "lgamma", "digamma",
                                  "i0", "sinc", "logit", "deg2rad", "rad2deg", "expm1", "log1p"])
def test_in_place(name):
    got = by_op(lambda t: getattr(t.clone(), name + "_")(), _unary_input(name))
    assert got[f"aten.{name}_"] == {"elementwise": 12}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=0, max_size=4))
def test_public_api_one_op_per_element(shape):
    n = math.prod(shape)
    x = unit(*shape)
    for fn, name in ((torch.acos, "acos"), (torch.arcsin, "asin"), (torch.asinh, "asinh"),
                     (torch.atanh, "atanh"), (torch.special.erfc, "erfc"), (torch.special.logit, "logit")):
        assert by_op(fn, x) == {f"aten.{name}": {"elementwise": n}}
    assert by_op(torch.acosh, x + 1) == {"aten.acosh": {"elementwise": n}}
