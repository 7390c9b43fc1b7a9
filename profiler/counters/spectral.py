"""FFT rules (``torch.fft``, ``torch.stft``: the ``_fft_*`` kernels), category ``elementwise``.

Convention: FFTW's benchmark convention (benchFFT, https://www.fftw.org/speed/method.html), the nominal
real floating-point operations of a radix-2 Cooley-Tukey transform of ``N`` points, whatever algorithm
runs:

- complex to complex (``_fft_c2c``): ``5 N log2 N``;
- real input or real output (``_fft_r2c``, ``_fft_c2r``): ``2.5 N log2 N``, N the number of real points
  (the input's size over the transformed dims for r2c, the output's for c2r; ``onesided=False`` fills the
  other half by symmetry, not by more butterflies).

``N`` is the product of the sizes over the op's ``dim`` argument (benchFFT takes a multi-dimensional
transform's total size: ``N log2 N`` is the sum over the dims of the 1-d transforms, ``N / n_i`` of them
along dim i); every other dim is a batch of independent transforms. Counts are rounded to the nearest
integer per transform (``log2 N`` is fractional for sizes other than powers of two). A scaled transform
(``normalization`` 1 = 1/sqrt(N), ``norm="ortho"``; 2 = 1/N, an inverse with the default norm) costs one
more op per output element, the scaling the kernel applies.

They are FLOPs outside the multiply-accumulate categories (conv, linear, attention, recurrent): counted with
the element ops, so the ``macs`` and ``flops`` conventions leave them out and ``all`` counts them once; an FFT
is not a matrix product and is not folded into ``linear``. ``elementwise`` is the closest existing non-MAC
category (no spectral category exists).
"""
from __future__ import annotations

import math

from profiler.counters.elementwise import first_shape
from profiler.counters.registry import numel, ops_named, register


def fft_flops(n: int, per_point: float) -> int:
    """``per_point * n * log2 n`` rounded (0 for n <= 1): 5 for a complex transform, 2.5 for a real one."""
    n = int(n)
    return int(round(per_point * n * math.log2(n))) if n > 1 else 0


def _transforms(shape, dim) -> tuple[int, int]:
    """(batch of transforms, points per transform) of a tensor of shape ``shape`` transformed over ``dim``."""
    rank = len(shape)
    dims = {int(d) % rank for d in dim} if rank else set()
    n = numel([shape[d] for d in dims])
    return (numel(shape) // n if n else 0), n


def _scaling(normalization, out) -> int:
    return numel(first_shape(out)) if int(normalization) else 0


@register(*ops_named("_fft_c2c"))
def fft_c2c(x, dim, normalization, forward=True, *, out=None, **kwargs):
    """``batch * 5 N log2 N`` (+ one op per output element when scaled)."""
    batch, n = _transforms(x, dim)
    return {"elementwise": batch * fft_flops(n, 5) + _scaling(normalization, out)}


@register(*ops_named("_fft_r2c"))
def fft_r2c(x, dim, normalization, onesided=True, *, out=None, **kwargs):
    """``batch * 2.5 N log2 N``, N real input points per transform (+ scaling)."""
    batch, n = _transforms(x, dim)
    return {"elementwise": batch * fft_flops(n, 2.5) + _scaling(normalization, out)}


@register(*ops_named("_fft_c2r"))
def fft_c2r(x, dim, normalization, last_dim_size=None, *, out=None, **kwargs):
    """``batch * 2.5 N log2 N``, N real output points per transform (+ scaling)."""
    batch, n = _transforms(first_shape(out), dim)
    return {"elementwise": batch * fft_flops(n, 2.5) + _scaling(normalization, out)}
