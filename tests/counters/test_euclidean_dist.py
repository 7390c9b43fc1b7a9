"""torch.cdist with p = 2 on its matrix-product path (more than 25 rows on a side, or
compute_mode="use_mm_for_euclid_dist") reaches the dispatcher as one ``_euclidean_dist`` of the broadcast
batch: ATen computes ||x||^2 + ||y||^2 - 2 x.y as [-2x, ||x||^2, 1] @ [y, 1, ||y||^2]^T. For B batches of
(P, M) x (R, M): B*P*R*(M+2) linear MACs; B*(3PM + 2RM + 2PR) element ops (squares and sums of the norms,
the -2 scaling, clamp and sqrt of the distances); B*(P+R)*(M+2) elements moved by the concatenations."""
from __future__ import annotations


import torch
from hypothesis import given, settings, strategies as st

import profiler
from _opcount import Op


def by_op(fn, *inputs) -> dict[str, dict[str, int]]:
    prof = profiler.profile(Op(fn), tuple(inputs))
    assert not prof.coverage, f"ops without a rule: {prof.coverage}"
    return prof.by_op()


def closed_form(b, p, r, m):
    return {"linear": b * p * r * (m + 2), "elementwise": b * (3 * p * m + 2 * r * m + 2 * p * r),
            "memory": b * (p + r) * (m + 2)}


def aten_euclidean_dist(x1, x2):
    """ATen's _euclidean_dist (aten/src/ATen/native/Distance.cpp), op for op."""
    x1_norm = x1.pow(2).sum(-1, True)
    x1_pad = torch.ones_like(x1_norm)
    x2_norm = x2.pow(2).sum(-1, True)
    x2_pad = torch.ones_like(x2_norm)
    x1_ = torch.cat([x1.mul(-2), x1_norm, x1_pad], -1)
    x2_ = torch.cat([x2, x2_pad, x2_norm], -1)
    result = x1_.matmul(x2_.mT)
    return result.clamp_min_(0).sqrt_()


def test_hand_values():
    # 30 x 4 against 5 x 4: 30*5*6 = 900 MACs; 3*30*4 + 2*5*4 + 2*30*5 = 700 element ops; 35*6 = 210 moved.
    got = by_op(torch.cdist, torch.randn(30, 4), torch.randn(5, 4))
    assert got["aten._euclidean_dist"] == {"linear": 900, "elementwise": 700, "memory": 210}


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 40), st.integers(1, 40), st.integers(1, 6), st.booleans())
def test_cdist_matrix_product_path(b, p, r, m, force):
    x, y = torch.randn(b, p, m), torch.randn(b, r, m)
    mode = "use_mm_for_euclid_dist" if force else "use_mm_for_euclid_dist_if_necessary"
    got = by_op(lambda s, t: torch.cdist(s, t, compute_mode=mode), x, y)
    if force or p > 25 or r > 25:  # torch's dispatch: the product path
        assert got["aten._euclidean_dist"] == closed_form(b, p, r, m)
        assert "aten._cdist_forward" not in got
    else:  # the direct kernel: one MAC per pair and feature (test_linear.test_cdist)
        assert got == {"aten._cdist_forward": {"linear": b * p * r * m}}
    never = by_op(lambda s, t: torch.cdist(s, t, compute_mode="donot_use_mm_for_euclid_dist"), x, y)
    assert never == {"aten._cdist_forward": {"linear": b * p * r * m}}


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 30), st.integers(26, 40), st.integers(1, 6))
def test_rule_is_what_the_kernel_runs(p, r, m):
    # The kernel transcribed op for op, profiled: the same totals per category.
    x, y = torch.randn(2, p, m), torch.randn(2, r, m)
    assert torch.allclose(aten_euclidean_dist(x, y), torch.cdist(x, y), atol=1e-4)
    ref = profiler.profile(Op(aten_euclidean_dist), (x, y))
    assert not ref.coverage
    want = {k: v for k, v in ref.by_category.items() if v}
    assert want == closed_form(2, p, r, m)
    got = profiler.profile(Op(torch.cdist), (x, y))
    assert {k: v for k, v in got.by_category.items() if v} == want


def test_broadcast_batch_is_expanded_first():
    # (3, 1, 30, 4) against (2, 5, 4): cdist_impl expands both to 3 x 2 = 6 batches (copies, not counted here).
    got = by_op(torch.cdist, torch.randn(3, 1, 30, 4), torch.randn(2, 5, 4))
    assert got["aten._euclidean_dist"] == closed_form(6, 30, 5, 4)
