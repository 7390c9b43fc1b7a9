"""Convolution rules: dense, grouped, depthwise, dilated, strided, transposed; 1/2/3-d."""
from __future__ import annotations

from profiler.counters.registry import numel, ops_named, register


def conv_macs(x_shape, w_shape, out_shape, transposed: bool) -> int:
    """Multiply-accumulates of one convolution call.

    Weight layout: (Cout, Cin/g, *k) for a convolution, (Cin, Cout/g, *k) for a transposed one, so
    ``prod(w_shape)`` is always Cin*Cout/g*prod(k): the MACs spent for one spatial position.
    - convolution: every *output* position costs Cin/g*prod(k) MACs for each of Cout channels:
      N * prod(out_spatial) * prod(w_shape);
    - transposed: every *input* position is scattered into Cout/g*prod(k) outputs for each of Cin channels:
      N * prod(in_spatial) * prod(w_shape). Costing it from the output side (as some tools do) counts
      taps that land in the stride holes and the cropped border.
    """
    n = int(x_shape[0]) if len(x_shape) == len(w_shape) else 1  # unbatched input has one less dim
    spatial = (x_shape if transposed else out_shape)[-(len(w_shape) - 2):] if len(w_shape) > 2 else ()
    return n * numel(spatial) * numel(w_shape)


def conv_bias_adds(out_shape) -> int:
    """One addition per output element."""
    return numel(out_shape)


# (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups, ...)
@register(*ops_named("convolution", "_convolution", "convolution_overrideable"))
def convolution(x, w, bias=None, *rest, out=None, **kwargs):
    transposed = bool(kwargs.get("transposed", rest[3] if len(rest) > 3 and isinstance(rest[3], bool) else False))
    counts = {"conv": conv_macs(x, w, out, transposed)}
    if bias is not None:
        counts["bias"] = conv_bias_adds(out)
    return counts


def _conv_fn(transposed: bool):
    def rule(x, w, bias=None, *rest, out=None, **kwargs):
        counts = {"conv": conv_macs(x, w, out, transposed)}
        if bias is not None:
            counts["bias"] = conv_bias_adds(out)
        return counts

    return rule


# Entry points that may reach the dispatcher un-decomposed on some backends.
register(*ops_named("conv1d", "conv2d", "conv3d", "_convolution_mode"))(_conv_fn(False))
register(*ops_named("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"))(_conv_fn(True))


@register(*ops_named("conv_tbc"))
def conv_tbc(x, w, bias, *rest, out=None, **kwargs):
    """Time-batch-channel 1-d convolution: x (T, B, Cin), w (K, Cin, Cout), out (T', B, Cout)."""
    counts = {"conv": numel(out) * int(w[0]) * int(w[1])}
    if bias is not None:
        counts["bias"] = numel(out)
    return counts


@register("torchvision::deform_conv2d")
def deform_conv2d(x, w, offset, mask, bias, *rest, out=None, **kwargs):
    """Deformable convolution: the MACs of the dense convolution it replaces, plus the bilinear sampling
    of its input (4 taps per sampled value: N * Cin * prod(kernel) * prod(out spatial) samples)."""
    counts = {"conv": conv_macs(x, w, out, False)}
    samples = int(x[0]) * int(x[1]) * numel(w[2:]) * numel(out[2:])
    counts["elementwise"] = 4 * samples
    if bias is not None and numel(bias):
        counts["bias"] = numel(out)
    return counts
