"""Binary searches: bucketize and searchsorted look each query up among n sorted values in
ceil(log2(n + 1)) comparisons (the worst case of halving n values: floor(log2 n) + 1 rounds, n + 1 possible
insertion points), counted per output element in ``elementwise`` like sort's and topk's comparisons."""
from __future__ import annotations

import math

import torch
from hypothesis import given, settings, strategies as st

import profiler
from _opcount import Op


def by_op(fn, *inputs) -> dict[str, dict[str, int]]:
    prof = profiler.profile(Op(fn), tuple(inputs))
    assert not prof.coverage, f"ops without a rule: {prof.coverage}"
    assert prof.macs == 0
    return prof.by_op()


def rounds(n: int) -> int:
    return math.ceil(math.log2(n + 1))


def worst_case_rounds(n: int) -> int:
    """The most rounds torch's lower-bound loop takes over n values (start < end, halve), by running it."""
    worst = 0
    for target in range(n + 1):  # every insertion point
        start, end, k = 0, n, 0
        while start < end:
            mid, k = start + ((end - start) >> 1), k + 1
            if mid < target:
                start = mid + 1
            else:
                end = mid
        worst = max(worst, k)
    return worst


@given(st.integers(0, 300))
def test_closed_form_is_the_kernels_worst_case(n):
    assert rounds(n) == worst_case_rounds(n)


def test_hand_values():
    # 3 boundaries: 2 rounds (4 buckets); 7: 3; 8: 4; 15: 4; 16: 5; one boundary: 1 comparison.
    x = torch.randn(4, 5)
    assert by_op(lambda t, b: torch.bucketize(t, b), x, torch.tensor([0., 1, 2])) == {
        "aten.bucketize": {"elementwise": 20 * 2}}
    for n, per_query in ((7, 3), (8, 4), (15, 4), (16, 5)):
        got = by_op(lambda t, b: torch.bucketize(t, b), x, torch.arange(float(n)))
        assert got == {"aten.bucketize": {"elementwise": 20 * per_query}}
    assert by_op(lambda t, b: torch.bucketize(t, b), x, torch.zeros(1)) == {"aten.bucketize": {"elementwise": 20}}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=0, max_size=3), st.integers(1, 40), st.booleans(), st.booleans())
def test_bucketize_per_query(shape, n, right, int32):
    x, boundaries = torch.randn(shape), torch.sort(torch.randn(n)).values
    got = by_op(lambda t, b: torch.bucketize(t, b, right=right, out_int32=int32), x, boundaries)
    assert got == {"aten.bucketize": {"elementwise": math.prod(shape) * rounds(n)}}


def test_bucketize_of_a_number_is_one_query():
    assert by_op(lambda b: torch.bucketize(0.3, b), torch.arange(5.)) == {"aten.bucketize": {"elementwise": 3}}


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30), st.integers(1, 7), st.booleans(), st.booleans(), st.booleans())
def test_searchsorted_rows_and_shared_sequence(rows, n, m, right, batched, with_sorter):
    seq = torch.randn(rows, n) if batched else torch.randn(n)
    q = torch.randn(rows, m)
    sorter = torch.argsort(seq, dim=-1) if with_sorter else None
    got = by_op(lambda s, v: torch.searchsorted(s, v, right=right, sorter=sorter), seq, q)
    assert got == {"aten.searchsorted": {"elementwise": rows * m * rounds(n)}}
    # a number searched in one sequence
    assert by_op(lambda s: torch.searchsorted(s, 0.1), torch.randn(n).sort().values) == {
        "aten.searchsorted": {"elementwise": rounds(n)}}
