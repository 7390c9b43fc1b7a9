"""Rules of torchvision's detection ops (``torchvision::roi_align``, ``roi_pool``, ``ps_roi_align``,
``ps_roi_pool``, ``qroi_align``, ``nms``). Registered by qualified name: torchvision may not be imported.

Units: element operations, counting a multiply-add as one operation (as the MAC categories do).

- roi_align / ps_roi_align / qroi_align (category ``pooling``): ``out elements * samples per bin * 4``;
  every sample is a bilinear interpolation, 4 multiply-adds of the 4 neighbouring pixels into the bin's sum.
  The interpolation weights (computed once per sample and shared by all channels) and the final division
  by the sample count are not counted. Samples per bin = ``sampling_ratio ** 2``.
- roi_pool / ps_roi_pool (category ``pooling``): ``out elements * pixels per bin``, one compare (max) or
  add (ps: average) per pixel of the bin.
- nms (category ``elementwise``): the sort of the scores, the boxes' areas and one IoU test per pair of
  boxes: ``sort_ops(N) + 3 * N + IOU_OPS * N * (N - 1) / 2``. Every pair is counted (the upper bound):
  the kernel skips the rows of boxes already suppressed, which depends on the boxes' values.

Data-dependent sizes. The adaptive sampling grid of roi_align (``sampling_ratio <= 0``:
``ceil(roi_height / pooled_height) x ceil(roi_width / pooled_width)`` samples, per roi) and the bins of
roi_pool (``roi_size / pooled_size`` pixels) depend on the boxes' coordinates, which a rule that sees
shapes cannot read. The rules then assume each roi spans ``pooled_height x pooled_width`` feature-map pixels
(:data:`ASSUMED_PIXELS_PER_BIN` = one pixel per bin): 1 sample per bin for an adaptive roi_align, 1 pixel
per bin for roi_pool. That is the least an roi at least as large as its output grid costs, so these
counts are lower bounds; torchvision's detection models pass ``sampling_ratio=2`` and are counted exactly.
"""
from __future__ import annotations

from profiler.counters.elementwise import first_shape, sort_ops
from profiler.counters.registry import numel, register

# Bilinear interpolation: one multiply-add per neighbouring pixel.
BILINEAR_OPS = 4
# Data-dependent bin sizes (adaptive roi_align grid, roi_pool bins) are taken as one pixel per bin.
ASSUMED_PIXELS_PER_BIN = 1
# One IoU test in torchvision's nms kernel: 4 max/min for the intersection's corners, 2 subtractions and 2
# clamps at 0 for its width and height, 1 product, 3 for inter / (area_i + area_j - inter), 1 compare.
IOU_OPS = 13
# A box's area: (x2 - x1) * (y2 - y1).
AREA_OPS = 3


def _samples_per_bin(sampling_ratio) -> int:
    sr = int(sampling_ratio)
    return sr * sr if sr > 0 else ASSUMED_PIXELS_PER_BIN


@register("torchvision::roi_align", "torchvision::ps_roi_align", "torchvision::qroi_align")
def roi_align(x, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, *rest, out=None, **kwargs):
    """Pooling ops: out elements (K x C x PH x PW) x samples per bin (sampling_ratio**2; an adaptive ratio
    <= 0 is taken as 1 sample, see the module docstring) x 4 multiply-adds per bilinear sample."""
    return {"pooling": numel(first_shape(out)) * _samples_per_bin(sampling_ratio) * BILINEAR_OPS}


@register("torchvision::roi_pool", "torchvision::ps_roi_pool")
def roi_pool(x, rois, spatial_scale, pooled_height, pooled_width, *rest, out=None, **kwargs):
    """Pooling ops: out elements (K x C x PH x PW) x pixels per bin; a bin's size depends on the roi's
    coordinates and is taken as one pixel (a lower bound, see the module docstring)."""
    return {"pooling": numel(first_shape(out)) * ASSUMED_PIXELS_PER_BIN}


def nms_ops(n: int) -> int:
    """Element ops of nms over ``n`` boxes: sort of the scores, areas, IoU of every pair (upper bound)."""
    return sort_ops(n) + AREA_OPS * n + IOU_OPS * (n * (n - 1) // 2)


@register("torchvision::nms")
def nms(boxes, scores, iou_threshold, *rest, out=None, **kwargs):
    """Elementwise ops: ``sort_ops(N) + 3 N + 13 N (N - 1) / 2`` for N boxes (every pair's IoU tested)."""
    return {"elementwise": nms_ops(int(boxes[0]) if len(boxes) else 0)}
