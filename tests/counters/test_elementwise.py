"""Element-op rules: residual additions, SE scaling, interpolation: one operation per output element;
sorting and selection: comparisons (closed forms below)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

import profiler
from _opcount import Op, counts, macs_only


@pytest.mark.parametrize("mode,shape,kw", [
    ("nearest", (1, 3, 4, 5), {"scale_factor": 2}),
    ("nearest-exact", (1, 3, 4, 5), {"size": (7, 9)}),
    ("bilinear", (2, 3, 4, 5), {"scale_factor": 2, "align_corners": False}),
    ("bilinear", (2, 3, 4, 5), {"size": (3, 3), "align_corners": True}),
    ("bicubic", (1, 2, 4, 4), {"scale_factor": 1.5}),
    ("linear", (1, 2, 6), {"scale_factor": 3}),
    ("trilinear", (1, 2, 2, 3, 4), {"scale_factor": 2}),
    ("nearest", (1, 2, 2, 3, 4), {"size": (3, 3, 3)}),
])
def test_interpolate_one_op_per_output(mode, shape, kw):
    x = torch.randn(*shape)
    out = F.interpolate(x, mode=mode, **kw)
    c = counts(lambda t: F.interpolate(t, mode=mode, **kw), x)
    macs_only(c, "conv", 0)
    assert c["elementwise"] == out.numel()
    assert counts(nn.Upsample(mode=mode, **kw), x)["elementwise"] == out.numel()


def test_residual_add_and_se_scaling():
    x, s = torch.randn(2, 8, 5, 5), torch.randn(2, 8, 1, 1)
    assert counts(lambda a, b: a + b, x, x)["elementwise"] == x.numel()
    assert counts(lambda a, b: a * b, x, s)["elementwise"] == x.numel()  # broadcast: per output element


def test_bias_of_a_linear_layer_is_bias_not_elementwise():
    lin = nn.Linear(4, 3)
    c = counts(lin, torch.randn(2, 5, 4))
    assert c["bias"] == 2 * 5 * 3 and c["elementwise"] == 0


# -- sorting and selection: comparisons per row of n elements along the op's dim ---------------------------
# sort / argsort / msort: n*ceil(log2 n); topk: n + (k*ceil(log2 k) if sorted); kthvalue / median: n;
# mode: n*ceil(log2 n) + n; unique (flattened, n = numel): n*ceil(log2 n) + n; unique_dim over m slices of
# L elements: (m*ceil(log2 m) + m) * L; unique_consecutive: n.


def nlogn(n: int) -> int:
    return n * math.ceil(math.log2(n)) if n > 1 else 0


def by_op(fn, *inputs) -> dict[str, dict[str, int]]:
    prof = profiler.profile(Op(fn), tuple(inputs))
    assert not prof.coverage, f"ops without a rule: {prof.coverage}"
    return prof.by_op()


@st.composite
def shape_and_dim(draw):
    shape = draw(st.lists(st.integers(1, 9), min_size=1, max_size=3))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


@settings(max_examples=30, deadline=None)
@given(shape_and_dim(), st.booleans(), st.booleans())
def test_sort_is_n_log2_n_per_row(sd, descending, stable):
    shape, dim = sd
    n, rows = shape[dim], math.prod(shape) // shape[dim]
    x = torch.randn(*shape)
    expected = {"aten.sort": {"elementwise": rows * nlogn(n)}}
    assert by_op(lambda t: torch.sort(t, dim=dim, descending=descending, stable=stable), x) == expected
    assert by_op(lambda t: torch.argsort(t, dim=dim, descending=descending), x) == expected
    rows0 = math.prod(shape) // shape[0]
    assert by_op(torch.msort, x) == {"aten.sort": {"elementwise": rows0 * nlogn(shape[0])}}


def test_sort_hand_values():
    # 8 elements: 3 rounds of 8 comparisons; 5 elements: ceil(log2 5) = 3 rounds; 1 element: nothing.
    assert by_op(torch.sort, torch.randn(8)) == {"aten.sort": {"elementwise": 24}}
    assert by_op(torch.sort, torch.randn(2, 5)) == {"aten.sort": {"elementwise": 2 * 15}}
    assert by_op(torch.sort, torch.randn(4, 1)) == {"aten.sort": {"elementwise": 0}}


@settings(max_examples=30, deadline=None)
@given(shape_and_dim(), st.data())
def test_topk_kthvalue_median_mode(sd, data):
    shape, dim = sd
    n, rows = shape[dim], math.prod(shape) // shape[dim]
    k = data.draw(st.integers(1, n))
    sorted_ = data.draw(st.booleans())
    x = torch.randn(*shape)
    got = by_op(lambda t: torch.topk(t, k, dim=dim, sorted=sorted_), x)
    assert got == {"aten.topk": {"elementwise": rows * (n + (nlogn(k) if sorted_ else 0))}}
    assert by_op(lambda t: torch.kthvalue(t, k, dim), x) == {"aten.kthvalue": {"elementwise": rows * n}}
    assert by_op(lambda t: torch.median(t, dim), x) == {"aten.median": {"elementwise": rows * n}}
    assert by_op(torch.nanmedian, x) == {"aten.nanmedian": {"elementwise": rows * n}}
    assert by_op(lambda t: torch.mode(t, dim), x) == {"aten.mode": {"elementwise": rows * (nlogn(n) + n)}}


@settings(max_examples=30, deadline=None)
@given(shape_and_dim(), st.booleans(), st.booleans())
def test_unique_family(sd, inverse, counts_):
    shape, dim = sd
    numel = math.prod(shape)
    x = torch.randint(0, 3, shape)
    got = by_op(lambda t: torch.unique(t, return_inverse=inverse, return_counts=counts_), x)
    assert got == {"aten._unique2": {"elementwise": nlogn(numel) + numel}}
    m, length = shape[dim], numel // shape[dim]
    got = by_op(lambda t: torch.unique(t, dim=dim, return_inverse=inverse), x)
    assert got == {"aten.unique_dim": {"elementwise": (nlogn(m) + m) * length}}
    got = by_op(lambda t: torch.unique_consecutive(t, return_counts=counts_), x)
    assert got == {"aten.unique_consecutive": {"elementwise": numel}}


def test_in_place_pointwise_variants_are_covered():
    # torch.quantile rounds its positions in place (ceil_): one op per element like ceil.
    x = torch.randn(4, 6)
    got = by_op(lambda t: t.clone().ceil_().eq_(1.0).logical_not_(), x)
    assert got["aten.ceil_"] == got["aten.eq_"] == got["aten.logical_not_"] == {"elementwise": 24}
    by_op(lambda t: torch.quantile(t, 0.3, dim=1), x)


def test_polar_is_one_operation_per_complex_element():
    from _opcount import counts as _counts

    c = _counts(lambda r, t: torch.polar(r, t), torch.rand(3, 5), torch.rand(3, 5))
    assert c["elementwise"] == 15
