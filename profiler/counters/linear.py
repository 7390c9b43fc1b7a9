"""Linear-family rules: mm, addmm, bmm, baddbmm, mv, dot, matmul (every broadcasting case), linear, einsum,
pairwise distances (cdist).

`@`, ``torch.matmul`` and ``torch.einsum`` normally reach the dispatcher already lowered to mm/bmm/mv/dot,
so their cost is the cost of those kernels; the matmul and einsum rules serve backends that keep them whole.
"""
from __future__ import annotations

from profiler.counters.registry import numel, ops_named, register


def _broadcast(a, b):
    """Shape of broadcasting batch dims ``a`` and ``b`` (numpy rules)."""
    a, b = list(a), list(b)
    n = max(len(a), len(b))
    a = [1] * (n - len(a)) + a
    b = [1] * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"batch dims {a} and {b} do not broadcast")
        out.append(max(x, y))
    return out


def matmul_macs(a, b) -> int:
    """MACs of ``torch.matmul(a, b)`` for shapes ``a`` and ``b`` (1-d operands are vectors)."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError("matmul needs at least 1-d operands")
    if len(a) == 1 and len(b) == 1:  # dot
        return int(a[0])
    if len(a) == 1:  # vector @ (batched) matrix: (k) @ (..., k, n)
        return numel(b[:-2]) * int(b[-2]) * int(b[-1])
    if len(b) == 1:  # (batched) matrix @ vector: (..., m, k) @ (k)
        return numel(a[:-2]) * int(a[-2]) * int(a[-1])
    batch = _broadcast(a[:-2], b[:-2])
    return numel(batch) * int(a[-2]) * int(a[-1]) * int(b[-1])


@register(*ops_named("mm", "bmm", "matmul", "mv", "dot", "vdot", "inner"))
def mm(a, b, *rest, out=None, **kwargs):
    return {"linear": matmul_macs(a, b)}


@register(*ops_named("addmm", "addmv", "_addmm_activation"))
def addmm(bias, a, b, *rest, out=None, **kwargs):
    # out = beta*bias + alpha*(a @ b): one addition per output element for the bias.
    return {"linear": matmul_macs(a, b), "bias": numel(out)}


@register(*ops_named("baddbmm"))
def baddbmm(inp, a, b, *rest, out=None, **kwargs):
    # The added tensor of a batched product is usually an attention mask, not a layer's bias.
    return {"linear": matmul_macs(a, b), "elementwise": numel(out)}


@register(*ops_named("addbmm"))
def addbmm(inp, a, b, *rest, out=None, **kwargs):
    # Sums the batch of products into one matrix: the sum is part of the accumulation.
    return {"linear": matmul_macs(a, b), "elementwise": numel(out)}


@register(*ops_named("addr", "outer", "ger"))
def outer(*args, out=None, **kwargs):
    return {"linear": numel(out)}


@register(*ops_named("linear"))
def linear(x, w, bias=None, *, out=None, **kwargs):
    counts = {"linear": numel(x[:-1]) * numel(w)}
    if bias is not None:
        counts["bias"] = numel(out)
    return counts


def einsum_macs(equation: str, shapes) -> int:
    """MACs of a two-operand einsum: the product of the sizes of every distinct index."""
    lhs = equation.replace(" ", "").split("->")[0]
    terms = lhs.split(",")
    if len(terms) != len(shapes) or "..." in lhs:
        raise ValueError(f"unsupported einsum {equation!r}")
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        for letter, d in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), int(d))
    return numel(sizes.values())


@register(*ops_named("einsum"))
def einsum(equation, operands, *rest, out=None, **kwargs):
    return {"linear": einsum_macs(equation, operands)}


@register(*ops_named("_trilinear"))
def trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, *rest, out=None, **kwargs):
    """nn.Bilinear / F.bilinear: sum over the three operands, each unsqueezed at its ``expand`` dims and
    broadcast together; one MAC per term, i.e. N * out * in1 * in2 for a bilinear layer."""
    dims = []
    for shape, expand in ((i1, expand1), (i2, expand2), (i3, expand3)):
        full = list(shape)
        for d in sorted(expand):
            full.insert(d, 1)
        dims.append(full)
    return {"linear": numel(_broadcast(_broadcast(dims[0], dims[1]), dims[2]))}


@register(*ops_named("_cdist_forward"))
def cdist(x1, x2, *rest, out=None, **kwargs):
    """Pairwise distances (..., P, M) x (..., R, M): one multiply-accumulate (difference, power, sum) per
    pair and feature, like the matrix product the Euclidean case is computed with for large inputs
    (``_euclidean_dist`` below)."""
    return {"linear": numel(_broadcast(x1[:-2], x2[:-2])) * int(x1[-2]) * int(x2[-2]) * int(x1[-1])}


@register(*ops_named("_euclidean_dist"))
def euclidean_dist(x1, x2, *rest, out=None, **kwargs):
    """``torch.cdist`` with p = 2 on the matrix-product path (more than 25 rows on either side, or
    ``compute_mode="use_mm_for_euclid_dist"``): ``cdist_impl`` broadcasts the batch dims, then this kernel
    (ATen's Distance.cpp) computes ``||x||^2 + ||y||^2 - 2 x.y`` as one product of padded operands
    ``[-2 x, ||x||^2, 1] @ [y, 1, ||y||^2]^T``. Counted as that kernel computes it, for B batches of
    (P, M) x (R, M):

    - linear: ``B * P * R * (M + 2)`` MACs (the product, norms added through the two padding columns);
    - elementwise: ``B * (3 P M + 2 R M + 2 P R)``: squares and sums of both norms (``pow``, ``sum``), the
      ``-2 x`` scaling, then ``clamp_min_(0)`` and ``sqrt_`` of every distance;
    - memory: ``B * (P + R) * (M + 2)``: the two concatenated operands.
    """
    p, r, m = int(x1[-2]), int(x2[-2]), int(x1[-1])
    b = numel(_broadcast(x1[:-2], x2[:-2]))
    return {"linear": b * p * r * (m + 2), "elementwise": b * (3 * p * m + 2 * r * m + 2 * p * r),
            "memory": b * (p + r) * (m + 2)}


@register(*ops_named("linalg_solve_triangular"))
def solve_triangular(a, b, *rest, out=None, upper=None, left=True, unitriangular=False, **kwargs):
    """A triangular system (..., n, n) solved for every column of the right-hand side (each row of it when
    ``left=False``): substitution takes, for the i-th unknown, i - 1 multiply-accumulates and one division,
    counted as one more; ``n (n + 1) / 2`` per right-hand side, ``n (n - 1) / 2`` with a unit diagonal.
    The gated delta rule's chunked form (Qwen3-Next ...) solves one per chunk."""
    n = int(a[-1])
    per_rhs = n * (n - 1) // 2 if unitriangular else n * (n + 1) // 2
    return {"linear": (numel(out) // n if n else 0) * per_rhs}
