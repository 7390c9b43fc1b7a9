"""FFTs: FFTW's benchmark convention (fftw.org/speed/method.html): 5 N log2 N real flops for a complex
transform of N points, 2.5 N log2 N for a real-input or real-output one, N the product of the transformed
sizes, times the batch of the other dims, rounded per transform; a scaled transform (norm "ortho", or the
1/N of an inverse) adds one op per output element. Element ops (category ``elementwise``), never MACs."""
from __future__ import annotations

import math

import torch
from hypothesis import given, settings, strategies as st

import profiler
from _opcount import MAC_CATEGORIES, Op


def by_op(fn, *inputs) -> dict[str, dict[str, int]]:
    prof = profiler.profile(Op(fn), tuple(inputs))
    assert not prof.coverage, f"ops without a rule: {prof.coverage}"
    assert prof.macs == 0 and all(prof.by_category[c] == 0 for c in MAC_CATEGORIES)
    return prof.by_op()


def nominal(n: int, per_point: float) -> int:
    return round(per_point * n * math.log2(n)) if n > 1 else 0


def test_hand_values():
    # 8 points: log2 8 = 3 -> 5*8*3 = 120 complex, 2.5*8*3 = 60 real; 4 rows of them.
    assert by_op(torch.fft.fft, torch.randn(4, 8, dtype=torch.complex64)) == {
        "aten._fft_c2c": {"elementwise": 4 * 120}}
    assert by_op(torch.fft.rfft, torch.randn(4, 8)) == {"aten._fft_r2c": {"elementwise": 4 * 60}}
    # irfft back to 8 real points (5 complex inputs) with the default 1/N: 60 + 8 scalings per row.
    assert by_op(torch.fft.irfft, torch.randn(4, 5, dtype=torch.complex64)) == {
        "aten._fft_c2r": {"elementwise": 4 * (60 + 8)}}
    # 2-d over 4 x 8 = 32 points: 5 * 32 * 5 = 800 (= 8 transforms of 4 plus 4 of 8: 8*40 + 4*120).
    assert by_op(torch.fft.fft2, torch.randn(3, 4, 8, dtype=torch.complex64)) == {
        "aten._fft_c2c": {"elementwise": 3 * 800}}
    # 6 points: 5 * 6 * log2 6 = 77.55 -> 78; 1 point: nothing to transform.
    assert by_op(torch.fft.fft, torch.randn(6, dtype=torch.complex64)) == {"aten._fft_c2c": {"elementwise": 78}}
    assert by_op(torch.fft.fft, torch.randn(5, 1, dtype=torch.complex64)) == {"aten._fft_c2c": {"elementwise": 0}}


@st.composite
def shape_and_dims(draw):
    shape = draw(st.lists(st.integers(1, 9), min_size=1, max_size=3))
    dims = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape),
                         unique_by=lambda d: d % len(shape)))
    return shape, dims


def _expected(shape, dims, per_point):
    n = math.prod(shape[d] for d in dims)
    return (math.prod(shape) // n) * nominal(n, per_point)


@settings(max_examples=40, deadline=None)
@given(shape_and_dims(), st.sampled_from(["backward", "ortho", "forward"]))
def test_complex_transform_over_given_dims(sd, norm):
    shape, dims = sd
    x = torch.randn(*shape, dtype=torch.complex64)
    out = torch.fft.fftn(x, dim=dims, norm=norm)
    # forward transform: scaled unless norm="backward"; the inverse: unless norm="forward"
    assert by_op(lambda t: torch.fft.fftn(t, dim=dims, norm=norm), x) == {"aten._fft_c2c": {
        "elementwise": _expected(shape, dims, 5) + (out.numel() if norm != "backward" else 0)}}
    assert by_op(lambda t: torch.fft.ifftn(t, dim=dims, norm=norm), x) == {"aten._fft_c2c": {
        "elementwise": _expected(shape, dims, 5) + (out.numel() if norm != "forward" else 0)}}


@settings(max_examples=40, deadline=None)
@given(shape_and_dims())
def test_real_input_transform_counts_real_points(sd):
    shape, dims = sd
    x = torch.randn(*shape)
    # one-sided output (last transformed dim n // 2 + 1) or the full one: the same real transform
    assert by_op(lambda t: torch.fft.rfftn(t, dim=dims), x) == {
        "aten._fft_r2c": {"elementwise": _expected(shape, dims, 2.5)}}
    if len(dims) == 1:
        assert by_op(lambda t: torch.fft.fft(t, dim=dims[0]), x) == {
            "aten._fft_r2c": {"elementwise": _expected(shape, dims, 2.5)}}


@settings(max_examples=40, deadline=None)
@given(shape_and_dims(), st.integers(2, 9))
def test_real_output_transform_counts_real_points(sd, last):
    shape, dims = sd
    dims = sorted({d % len(shape) for d in dims})
    half = list(shape)
    half[dims[-1]] = last // 2 + 1  # the one-sided input of `last` real output points
    x = torch.randn(*half, dtype=torch.complex64)
    s = [shape[d] for d in dims[:-1]] + [last]
    out = torch.fft.irfftn(x, s=s, dim=dims, norm="forward")
    assert list(out.shape) == [last if i == dims[-1] else n for i, n in enumerate(shape)]
    got = by_op(lambda t: torch.fft.irfftn(t, s=s, dim=dims, norm="forward"), x)
    assert got == {"aten._fft_c2r": {"elementwise": _expected(list(out.shape), dims, 2.5)}}


def test_stft_is_a_batch_of_real_transforms():
    # 400 samples, n_fft 64, hop 16, centered: 1 + 400 // 16 = 26 frames of 64 real points each.
    x, window = torch.randn(2, 400), torch.hann_window(64)
    prof = profiler.profile(Op(lambda t, w: torch.stft(t, 64, hop_length=16, window=w, return_complex=True)),
                            (x, window))
    assert not prof.coverage
    assert prof.by_op()["aten._fft_r2c"] == {"elementwise": 2 * 26 * nominal(64, 2.5)}
