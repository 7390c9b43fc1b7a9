"""torchvision's detection ops, run for real under ``profiler.profile``, against closed forms.

roi_align / ps_roi_align: pooling ops = out elements * sampling_ratio**2 samples * 4 multiply-adds per
                          bilinear sample (4 neighbouring pixels); adaptive ratio (<= 0): 1 sample assumed.
roi_pool / ps_roi_pool:   pooling ops = out elements * 1 (one pixel per bin assumed: bins are data-dependent).
nms over N boxes:         elementwise = N*ceil(log2 N) (sort of the scores) + 3*N (areas)
                          + 13 * N*(N-1)/2 (IoU of every pair: 4 min/max, 2 sub + 2 clamp, 1 mul,
                          3 for inter/(a+b-inter), 1 compare).
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

import profiler
from _opcount import Op

torchvision = pytest.importorskip("torchvision")
from torchvision import ops  # noqa: E402


def by_op(fn, *inputs) -> dict[str, dict[str, int]]:
    prof = profiler.profile(Op(fn), tuple(inputs))
    assert not prof.coverage, f"ops without a rule: {prof.coverage}"
    return prof.by_op()


def sort_cmp(n: int) -> int:
    return n * math.ceil(math.log2(n)) if n > 1 else 0


def nms_expected(n: int) -> int:
    return sort_cmp(n) + 3 * n + 13 * (n * (n - 1) // 2)


def random_rois(k: int, n_images: int, size: float, gen: torch.Generator) -> torch.Tensor:
    xy = torch.rand(k, 2, generator=gen) * size / 2
    wh = torch.rand(k, 2, generator=gen) * size / 2 + 1
    idx = torch.randint(0, n_images, (k, 1), generator=gen).float()
    return torch.cat([idx, xy, xy + wh], dim=1)


@settings(max_examples=20, deadline=None)
@given(k=st.integers(0, 5), c=st.integers(1, 4), ph=st.integers(1, 4), pw=st.integers(1, 4),
       sr=st.integers(1, 3), aligned=st.booleans())
def test_roi_align_samples_times_bilinear_taps(k, c, ph, pw, sr, aligned):
    gen = torch.Generator().manual_seed(k * 100 + c)
    x, rois = torch.randn(2, c, 9, 11), random_rois(k, 2, 9, gen)
    f = lambda t, r: ops.roi_align(t, r, (ph, pw), spatial_scale=0.5, sampling_ratio=sr, aligned=aligned)
    got = by_op(f, x, rois)
    assert got["torchvision.roi_align"] == {"pooling": k * c * ph * pw * sr * sr * 4}


def test_roi_align_adaptive_ratio_assumes_one_sample_per_bin():
    # sampling_ratio=-1: the kernel takes ceil(roi_h / 7) x ceil(roi_w / 7) samples per bin, from the
    # boxes' values; the rule documents 1 sample (a 7x7-pixel roi) whatever the box.
    x, rois = torch.randn(1, 3, 32, 32), torch.tensor([[0, 0, 0, 31, 31], [0, 4, 4, 10, 10.]])
    layer = ops.RoIAlign((7, 7), spatial_scale=1.0, sampling_ratio=-1)
    got = by_op(layer, x, rois)
    assert got["torchvision.roi_align"] == {"pooling": 2 * 3 * 49 * 1 * 4}


def test_ps_roi_align_and_pools():
    gen = torch.Generator().manual_seed(0)
    k, cout, ph, pw = 4, 2, 3, 2
    x, rois = torch.randn(2, cout * ph * pw, 10, 10), random_rois(k, 2, 10, gen)
    got = by_op(lambda t, r: ops.ps_roi_align(t, r, (ph, pw), 1.0, sampling_ratio=2), x, rois)
    assert got == {"torchvision.ps_roi_align": {"pooling": k * cout * ph * pw * 2 * 2 * 4}}
    got = by_op(lambda t, r: ops.ps_roi_pool(t, r, (ph, pw), 1.0), x, rois)
    assert got == {"torchvision.ps_roi_pool": {"pooling": k * cout * ph * pw}}
    got = by_op(lambda t, r: ops.roi_pool(t, r, (ph, pw), 1.0), x, rois)
    assert got == {"torchvision.roi_pool": {"pooling": k * cout * ph * pw * ph * pw}}  # C = cout*ph*pw


def test_roi_align_from_a_list_of_boxes():
    # A list of per-image boxes is turned into (K, 5) rois by aten ops (cat, full ...) before the op.
    x = torch.randn(2, 3, 16, 16)
    boxes = [torch.tensor([[0, 0, 8, 8.], [2, 2, 12, 14]]), torch.tensor([[1, 1, 5, 5.]])]
    got = by_op(lambda t, b0, b1: ops.roi_align(t, [b0, b1], 5, sampling_ratio=2), x, *boxes)
    assert got["torchvision.roi_align"] == {"pooling": 3 * 3 * 25 * 4 * 4}


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 80), thr=st.sampled_from([0.0, 0.5, 1.0]))
def test_nms_pairwise_iou_plus_sort(n, thr):
    gen = torch.Generator().manual_seed(n)
    xy = torch.rand(n, 2, generator=gen) * 50
    boxes, scores = torch.cat([xy, xy + torch.rand(n, 2, generator=gen) * 20 + 1], 1), torch.rand(n, generator=gen)
    # Every pair counts whatever the threshold (the upper bound): suppression depends on the values.
    got = by_op(lambda b, s: ops.nms(b, s, thr), boxes, scores)
    assert got == {"torchvision.nms": {"elementwise": nms_expected(n)}}, "the kernel's own sort is inside nms"


def test_nms_closed_form_small_cases():
    # Independent hand values: 2 boxes: sort 2*1 + areas 6 + one IoU 13 = 21; 5 boxes: 15 + 15 + 130.
    assert nms_expected(2) == 21 and nms_expected(5) == 5 * 3 + 15 + 13 * 10
    boxes = torch.tensor([[0, 0, 10, 10.], [1, 1, 11, 11]])
    assert by_op(lambda b, s: ops.nms(b, s, 0.5), boxes, torch.tensor([0.9, 0.8])) == {
        "torchvision.nms": {"elementwise": 21}}


@pytest.mark.parametrize("n", [30, 1001])  # 1001 boxes = 4004 coordinates > 4000: the per-class path
def test_batched_nms_both_paths_are_covered(n):
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(n, 2, generator=gen) * 100
    boxes, scores = torch.cat([xy, xy + 10], 1), torch.rand(n, generator=gen)
    idxs = torch.arange(n) % 3
    got = by_op(lambda b, s, i: ops.batched_nms(b, s, i, 0.5), boxes, scores, idxs)
    if n * 4 > 4000:  # _batched_nms_vanilla: torch.unique of the classes, then one nms per class
        sizes = [len(range(c, n, 3)) for c in range(3)]
        assert got["torchvision.nms"] == {"elementwise": sum(nms_expected(m) for m in sizes)}
        assert got["aten._unique2"] == {"elementwise": sort_cmp(n) + n}
    else:  # _batched_nms_coordinate_trick: offset the boxes per class, one nms over all of them
        assert got["torchvision.nms"] == {"elementwise": nms_expected(n)}


def test_detection_model_is_fully_covered():
    from torchvision.models import get_model

    torch.manual_seed(0)
    model = get_model("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, weights_backbone=None,
                      box_score_thresh=0.0).eval()  # threshold 0: random weights still give detections
    prof = profiler.profile(model, ([torch.rand(3, 160, 200)],))
    assert not prof.coverage, prof.coverage
    ops_run = prof.by_op()
    for name in ("torchvision.nms", "torchvision.roi_align", "aten._unique2", "aten.topk"):
        assert ops_run.get(name, {}).get(
            "pooling" if name.endswith("roi_align") else "elementwise", 0) > 0, name
