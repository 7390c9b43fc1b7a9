"""Mixture-of-experts rules: grouped matrix products (``_grouped_mm`` and its scaled forms) and the token
counts per expert (``histc``, ``bincount``).

A grouped product multiplies G pairs of matrices whose sizes along one dim are given by the offsets ``offs``
(cumulative ends, int32). Its four modes, as torch's CPU kernel (aten/src/ATen/native/GroupedMMUtils.h) runs
them, and their MACs:

- 2-D (rows, K) x 3-D (G, K, N), offsets along rows (the MoE forward, tokens sorted by expert):
  ``rows x K x N`` (output (rows, N));
- 3-D (G, M, K) x 2-D (K, N_total), offsets along N: ``M x K x N_total`` (output (M, N_total));
- 2-D (M, K_total) x 2-D (K_total, N), offsets along K, one output per group (the weight gradient of the
  MoE forward): ``M x K_total x N`` (output (G, M, N));
- 3-D (G, M, K) x 3-D (G, K, N), no offsets (a bmm): ``G x M x K x N``.

The offsets are data, but only decide where the groups split the jagged dim: every row (column) belongs to
one group, so the total is in the shapes, exact on meta. The one exception: rows past ``offs[-1]`` are
skipped (transformers' expert-parallel sentinel rows); they are counted, an upper bound that is exact for
dropless routing, where the offsets end at the row count.

Autograd's backward of ``_grouped_mm`` is ``_grouped_mm`` again, one call per gradient asked for: for the
MoE forward, the input gradient dA = dY B^T (2-D x 3-D, rows x N x K) and the weight gradient
dB = A^T dY (2-D x 2-D, offsets along the rows, K x rows x N); each costs the forward's MACs.
"""
from __future__ import annotations

from profiler.counters.elementwise import per_input
from profiler.counters.registry import numel, ops_named, register


def grouped_mm_macs(a, b) -> int:
    """MACs of ``_grouped_mm(a, b, offs)`` for operand shapes ``a`` and ``b`` (2-D or 3-D each, see the
    module docstring for the four modes)."""
    if len(a) not in (2, 3) or len(b) not in (2, 3):
        raise ValueError(f"grouped_mm takes 2-D or 3-D operands, got {len(a)}-D and {len(b)}-D")
    if len(a) == 2 and len(b) == 3:  # rows split among the groups
        return int(a[0]) * int(a[1]) * int(b[2])
    if len(a) == 3 and len(b) == 2:  # output columns split among the groups
        return int(a[1]) * int(a[2]) * int(b[1])
    if len(a) == 2:  # the contraction split among the groups
        return int(a[0]) * int(a[1]) * int(b[1])
    return int(a[0]) * int(a[1]) * int(a[2]) * int(b[2])


def _counts(a, b, bias, out) -> dict:
    counts = {"linear": grouped_mm_macs(a, b)}
    if bias is not None:  # (torch's kernels refuse a bias today)
        counts["bias"] = numel(out)
    return counts


@register(*ops_named("_grouped_mm"))
def grouped_mm(a, b, offs=None, bias=None, out_dtype=None, *, out=None, **kwargs):
    return _counts(a, b, bias, out)


@register(*ops_named("_scaled_grouped_mm"))
def scaled_grouped_mm(a, b, scale_a, scale_b, offs=None, bias=None, *rest, out=None, **kwargs):
    """fp8 grouped product: the same MACs; the scaling is part of the kernel's epilogue (not counted)."""
    return _counts(a, b, bias, out)


# transformers' own grouped product (a custom op it runs where torch's cannot: under torch.compile with
# non-bf16 weights, unaligned CPU tensors on older torch): input (S, K) x weight (G, K, N) by offsets.
@register("transformers::grouped_mm_fallback")
def transformers_grouped_mm(x, w, offs, *rest, out=None, **kwargs):
    return {"linear": grouped_mm_macs(x, w)}


@register("transformers::grouped_mm_fallback_backward")
def transformers_grouped_mm_backward(x, w, offs, grad_out, *rest, out=None, **kwargs):
    """Computes both gradients whatever needs them: dX = dY W^T and dW = X^T dY, the forward's MACs each."""
    return {"linear": 2 * grouped_mm_macs(x, w)}


# Tokens per expert: histc and bincount put each input element in its bin, one operation per element.
per_input("elementwise", "histc", "bincount")
