"""Linear-family rules against brute-force products, every broadcasting case of matmul included.

A product (..., n, k) @ (..., k, m) costs prod(broadcast batch) * n * k * m MACs; a 1-d left operand
is a (1, k) row and a 1-d right operand a (k, 1) column (numpy/PyTorch matmul semantics).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, strategies as st

from _opcount import counts, macs_only, prod


def broadcast(a, b):
    n = max(len(a), len(b))
    a = [1] * (n - len(a)) + list(a)
    b = [1] * (n - len(b)) + list(b)
    return [max(x, y) for x, y in zip(a, b)]


def brute_matmul_macs(sa, sb):
    a = [1] + list(sa) if len(sa) == 1 else list(sa)
    b = list(sb) + [1] if len(sb) == 1 else list(sb)
    n, k, m = a[-2], a[-1], b[-1]
    assert b[-2] == k
    return prod(broadcast(a[:-2], b[:-2])) * n * k * m


@st.composite
def matmul_shapes(draw):
    k = draw(st.integers(1, 5))
    left_vec, right_vec = draw(st.booleans()), draw(st.booleans())
    dim = st.integers(1, 4)
    # Batch dims that broadcast: each pair is equal or one of them is 1; lengths may differ.
    nb = draw(st.integers(0, 3))
    batch_a, batch_b = [], []
    for _ in range(nb):
        d = draw(dim)
        choice = draw(st.sampled_from(["same", "a1", "b1"]))
        batch_a.append(1 if choice == "a1" else d)
        batch_b.append(1 if choice == "b1" else d)
    batch_a = batch_a[draw(st.integers(0, nb)):]  # drop leading dims of one side or the other
    batch_b = batch_b[draw(st.integers(0, nb)):]
    sa = [k] if left_vec else batch_a + [draw(dim), k]
    sb = [k] if right_vec else batch_b + [k, draw(dim)]
    return sa, sb


@given(matmul_shapes())
def test_matmul_every_broadcasting_case(shapes):
    sa, sb = shapes
    expected = brute_matmul_macs(sa, sb)
    a, b = torch.randn(*sa), torch.randn(*sb)
    macs_only(counts(lambda x, y: torch.matmul(x, y), a, b), "linear", expected)
    macs_only(counts(lambda x, y: x @ y, a, b), "linear", expected)


@pytest.mark.parametrize("sa,sb,expected", [
    ((7,), (7,), 7),  # dot
    ((7,), (7, 3), 21),  # vec @ matrix
    ((4, 7), (7,), 28),  # matrix @ vec (mat-vec, counted as zero by some peers)
    ((2, 4, 7), (7,), 56),  # batched mat-vec
    ((7,), (2, 7, 3), 42),  # vec @ batched matrix
    ((2, 1, 4, 7), (3, 7, 5), 2 * 3 * 4 * 7 * 5),  # broadcast batch
])
def test_matmul_known_values(sa, sb, expected):
    macs_only(counts(lambda x, y: x @ y, torch.randn(*sa), torch.randn(*sb)), "linear", expected)


@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4))
def test_mm_bmm_addmm_baddbmm_mv_dot(n, k, m, b):
    A, B = torch.randn(n, k), torch.randn(k, m)
    macs_only(counts(torch.mm, A, B), "linear", n * k * m)
    c = counts(lambda x, y: torch.addmm(torch.randn(n, m), x, y), A, B)
    macs_only(c, "linear", n * k * m)
    assert c["bias"] == n * m  # the added matrix: one addition per output element
    bA, bB = torch.randn(b, n, k), torch.randn(b, k, m)
    macs_only(counts(torch.bmm, bA, bB), "linear", b * n * k * m)
    macs_only(counts(lambda x, y: torch.baddbmm(torch.randn(b, n, m), x, y), bA, bB), "linear", b * n * k * m)
    macs_only(counts(torch.mv, A, torch.randn(k)), "linear", n * k)
    macs_only(counts(torch.dot, torch.randn(k), torch.randn(k)), "linear", k)


@given(st.lists(st.integers(1, 4), min_size=0, max_size=3), st.integers(1, 6), st.integers(1, 6),
       st.booleans())
def test_linear_layer_on_any_leading_dims(lead, fin, fout, bias):
    lin = nn.Linear(fin, fout, bias=bias)
    c = counts(lin, torch.randn(*lead, fin))
    macs_only(c, "linear", prod(lead) * fin * fout)
    assert c["bias"] == (prod(lead) * fout if bias else 0)


EINSUMS = [
    ("ij,jk->ik", "ij jk"),
    ("bij,bjk->bik", "bij bjk"),
    ("bhld,bhsd->bhls", "bhld bhsd"),
    ("bhls,bhsd->bhld", "bhls bhsd"),
    ("i,i->", "i i"),
    ("ij,j->i", "ij j"),
    ("bi,bj->bij", "bi bj"),
    ("nchw,oc->nohw", "nchw oc"),
    ("...ij,...jk->...ik", "zij zjk"),
]


@pytest.mark.parametrize("equation,letters", EINSUMS)
@given(data=st.data())
def test_einsum_is_the_product_of_all_index_sizes(equation, letters, data):
    sizes = {ch: data.draw(st.integers(1, 4), label=ch) for ch in set(letters.replace(" ", ""))}
    shapes = [[sizes[ch] for ch in term] for term in letters.split()]
    if equation.startswith("..."):
        shapes = [[sizes["z"]] + s[1:] for s in shapes]
    ops = [torch.randn(*s) for s in shapes]
    terms = prod(sizes.values())  # every distinct index once: one product per term of the sum
    out_letters = equation.split("->")[1].replace("...", "z")
    summed = [sizes[ch] for ch in sizes if ch not in out_letters]
    c = counts(lambda *t: torch.einsum(equation, *t), *ops)
    if prod(summed) > 1:  # a real contraction: multiply-accumulates
        macs_only(c, "linear", terms)
    else:  # nothing is accumulated (outer/Hadamard product): plain multiplications, one per output
        macs_only(c, "linear", 0)
        assert c["elementwise"] == terms


def test_outer_product_is_elementwise_multiplication():
    # No accumulation, so no MAC: one multiplication per output element.
    c = counts(torch.outer, torch.randn(3), torch.randn(4))
    macs_only(c, "linear", 0)
    assert c["elementwise"] == 12


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.booleans())
def test_bilinear_layer(n, in1, in2, out, bias):
    # y[n, o] = sum_ij x1[n, i] W[o, i, j] x2[n, j]: one MAC per term, N * out * in1 * in2.
    bil = nn.Bilinear(in1, in2, out, bias=bias)
    c = counts(bil, torch.randn(n, in1), torch.randn(n, in2))
    macs_only(c, "linear", n * out * in1 * in2)


def test_functional_linear_and_complex_inputs():
    x, w = torch.randn(3, 4), torch.randn(5, 4)
    macs_only(counts(F.linear, x, w), "linear", 3 * 4 * 5)
    # Complex products are counted as complex MACs (one per term), the same as real ones.
    a, b = torch.randn(3, 4, dtype=torch.complex64), torch.randn(4, 2, dtype=torch.complex64)
    macs_only(counts(lambda x, y: x @ y, a, b), "linear", 3 * 4 * 2)


@given(st.integers(1, 2), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4))
def test_cdist(b, p, r, m):
    c = counts(lambda x, y: torch.cdist(x, y), torch.randn(b, p, m), torch.randn(b, r, m))
    assert c["linear"] == b * p * r * m  # one multiply-accumulate per pair and feature


@given(batch=st.integers(1, 3), n=st.integers(1, 6), k=st.integers(1, 4), left=st.booleans(), unit=st.booleans())
def test_triangular_solve_is_substitution(batch, n, k, left, unit):
    a = torch.eye(n).expand(batch, n, n) + torch.rand(batch, n, n).tril(-1)
    b = torch.rand(batch, n, k) if left else torch.rand(batch, k, n)
    c = counts(lambda a, b: torch.linalg.solve_triangular(a, b, upper=False, left=left, unitriangular=unit), a, b)
    # unknown i: i - 1 multiply-accumulates with the known ones, then a division (none on a unit diagonal)
    per_rhs = sum(i - 1 + (0 if unit else 1) for i in range(1, n + 1))
    macs_only(c, "linear", batch * k * per_rhs)
