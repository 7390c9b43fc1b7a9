"""Pooling rules. Cost = element operations actually done: every output element reduces its window.

- windowed pooling (max/avg, 1/2/3-d): prod(out) * prod(kernel);
- adaptive pooling: the exact window of each output index, start = floor(i*In/Out),
  end = ceil((i+1)*In/Out), summed per dimension (== the input size when Out divides In);
- mean over dims (global average pooling written as ``x.mean((2, 3))``): one op per input element.
"""
from __future__ import annotations

from profiler.counters.elementwise import per_input
from profiler.counters.registry import numel, ops_named, register


def _expand(v, nd):
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * nd if len(v) == 1 else v


def window_pool_ops(out_shape, kernel_size, nd: int) -> int:
    return numel(out_shape) * numel(_expand(kernel_size, nd))


def adaptive_window_sum(in_size: int, out_size: int) -> int:
    """Sum over output indices of the adaptive window length along one dimension."""
    total = 0
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -((-(i + 1) * in_size) // out_size)
        total += end - start
    return total


def adaptive_pool_ops(x_shape, out_size, nd: int) -> int:
    out_size = _expand(out_size, nd)
    spatial_in = x_shape[-nd:]
    lead = numel(x_shape[:-nd])
    ops = lead
    for i, o in zip(spatial_in, out_size):
        o = int(i) if o is None else int(o)
        ops *= adaptive_window_sum(int(i), o)
    return ops


def _windowed(nd):
    def rule(x, kernel_size, *rest, out=None, **kwargs):
        from profiler.counters.elementwise import first_shape

        return {"pooling": window_pool_ops(first_shape(out), kernel_size, nd)}

    return rule


def _adaptive(nd):
    def rule(x, output_size, *rest, out=None, **kwargs):
        return {"pooling": adaptive_pool_ops(x, output_size, nd)}

    return rule


for _nd in (1, 2, 3):
    register(*ops_named(f"max_pool{_nd}d", f"max_pool{_nd}d_with_indices", f"avg_pool{_nd}d",
                        f"mkldnn_max_pool{_nd}d", f"quantized_max_pool{_nd}d", f"lp_pool{_nd}d"))(_windowed(_nd))
    register(*ops_named(f"adaptive_avg_pool{_nd}d", f"_adaptive_avg_pool{_nd}d", f"adaptive_max_pool{_nd}d",
                        f"mkldnn_adaptive_avg_pool{_nd}d"))(_adaptive(_nd))

per_input("pooling", "mean", "nanmean")


def _fractional(nd):
    def rule(x, kernel_size, output_size, *rest, out=None, **kwargs):
        from profiler.counters.elementwise import first_shape

        return {"pooling": window_pool_ops(first_shape(out), kernel_size, nd)}

    return rule


register(*ops_named("fractional_max_pool2d"))(_fractional(2))
register(*ops_named("fractional_max_pool3d"))(_fractional(3))
