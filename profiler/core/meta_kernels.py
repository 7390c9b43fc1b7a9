"""Fast shape functions for the meta pass.

Many of torch's meta kernels are Python reference implementations (batch/layer norm through their
decompositions, ``addmm`` and reductions through ``torch._refs`` with full type promotion and stride logic):
one BatchNorm call costs about 1 ms on meta, more than the real kernel at 224x224. For the common, simple
case (contiguous inputs, one dtype) this module makes the output directly: same shapes, strides and dtypes
as torch's own meta kernel, without its checks. Anything outside that case returns ``NotImplemented`` and
torch's kernel runs. Counting needs shapes only, so the counts are unchanged.

``PROFILER_CHECK_META=1`` in the environment runs torch's kernel as well and asserts that every output has
the same shape, stride and dtype (the tests do this on several zoo models).
"""
from __future__ import annotations

import os

import torch

aten = torch.ops.aten
_META = torch.device("meta")
_FLOAT = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _empty(shape, dtype):
    return torch.empty(shape, dtype=dtype, device=_META)


def _stat_dtype(dt):
    """Batch/layer norm statistics are kept in float32 for half types."""
    return dt if dt in (torch.float32, torch.float64) else torch.float32


def _plain(t) -> bool:
    """A contiguous floating meta tensor (the case every shape function here handles)."""
    return isinstance(t, torch.Tensor) and t.device.type == "meta" and t.dtype in _FLOAT and t.is_contiguous()


# -- norms --------------------------------------------------------------------------------------------
def _batch_norm(x, *args, **kwargs):
    if not _plain(x) or x.dim() < 2:
        return NotImplemented
    sd = _stat_dtype(x.dtype)
    return _empty(x.shape, x.dtype), _empty((x.shape[1],), sd), _empty((x.shape[1],), sd)


def _layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    if not _plain(x):
        return NotImplemented
    k = len(normalized_shape)
    stat = tuple(x.shape[:x.dim() - k]) + (1,) * k
    sd = _stat_dtype(x.dtype)
    return _empty(x.shape, x.dtype), _empty(stat, sd), _empty(stat, sd)


# -- products -----------------------------------------------------------------------------------------
def _same_dtype(*ts) -> bool:
    dt = ts[0].dtype
    return all(isinstance(t, torch.Tensor) and t.device.type == "meta" and t.dtype == dt for t in ts) \
        and dt in _FLOAT


def _addmm(bias, a, b, *, beta=1, alpha=1):
    if not _same_dtype(bias, a, b) or a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        return NotImplemented
    return _empty((a.shape[0], b.shape[1]), a.dtype)


def _mm(a, b):
    if not _same_dtype(a, b) or a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        return NotImplemented
    return _empty((a.shape[0], b.shape[1]), a.dtype)


def _bmm(a, b):
    if not _same_dtype(a, b) or a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] \
            or a.shape[2] != b.shape[1]:
        return NotImplemented
    return _empty((a.shape[0], a.shape[1], b.shape[2]), a.dtype)


def _convolution(x, w, bias, stride, padding, dilation, transposed, output_padding, groups):
    nd = w.dim() - 2
    if transposed or not _plain(x) or not _plain(w) or x.dtype != w.dtype or x.dim() != w.dim() or nd < 1 \
            or x.is_contiguous(memory_format=_CL.get(x.dim(), torch.contiguous_format)) and x.dim() in _CL:
        # channels-last-compatible inputs may get a channels-last output: torch decides those
        return NotImplemented
    if bias is not None and not _same_dtype(x, bias):
        return NotImplemented
    s, p, d = _expand(stride, nd), _expand(padding, nd), _expand(dilation, nd)
    spatial = []
    for i in range(nd):
        size = (x.shape[2 + i] + 2 * p[i] - d[i] * (w.shape[2 + i] - 1) - 1) // s[i] + 1
        if size <= 0:
            return NotImplemented
        spatial.append(size)
    return _empty((x.shape[0], w.shape[0], *spatial), x.dtype)


_CL = {4: torch.channels_last, 5: torch.channels_last_3d}


def _expand(v, n):
    v = list(v)
    return v * n if len(v) == 1 else v


# -- element ops and reductions -----------------------------------------------------------------------
def _unary(x, *args, **kwargs):
    if not _plain(x):
        return NotImplemented
    return _empty(x.shape, x.dtype)


def _scalar(x, other, *args, **kwargs):
    """``mul/add/div/sub.Scalar``: the result keeps ``x``'s dtype only when the scalar cannot promote it (a
    Python int/bool, or a float with a floating ``x``; ``div`` of an integer tensor is a float): else torch's."""
    kind = type(other)
    keeps = kind in (int, bool) or (kind is float and x.is_floating_point())
    if not keeps or not x.is_floating_point() and kwargs.pop("_div", False):
        return NotImplemented
    return _unary(x)


def _div_scalar(x, other, *args, **kwargs):
    return _scalar(x, other, _div=True) if not args and not kwargs else NotImplemented


def _softmax(x, dim, half_to_float=False):
    if half_to_float or not _plain(x):
        return NotImplemented
    return _empty(x.shape, x.dtype)


def _safe_softmax(x, dim, dtype=None):
    if dtype is not None or not _plain(x):
        return NotImplemented
    return _empty(x.shape, x.dtype)


def _binary(a, b, *args, **kwargs):
    if kwargs.get("rounding_mode") is not None or not _plain(a):
        return NotImplemented
    if isinstance(b, torch.Tensor):
        if not _plain(b) or b.dtype != a.dtype or b.shape != a.shape:
            return NotImplemented
    elif type(b) not in (int, float, bool):
        return NotImplemented
    return _empty(a.shape, a.dtype)


def _mean_dim(x, dim, keepdim=False, *, dtype=None):
    if dtype is not None or not _plain(x):
        return NotImplemented
    n = x.dim()
    dims = set(range(n)) if not dim else {d % n for d in dim} if n else set()
    if n == 0:
        return NotImplemented
    shape = [1 if i in dims else s for i, s in enumerate(x.shape)] if keepdim else \
        [s for i, s in enumerate(x.shape) if i not in dims]
    return _empty(shape, x.dtype)


def _cat(tensors, dim=0):
    if not tensors or not all(_plain(t) for t in tensors):
        return NotImplemented
    first = tensors[0]
    n = first.dim()
    if n == 0 or any(t.dim() != n or t.dtype != first.dtype for t in tensors):
        return NotImplemented
    if n in _CL and any(t.is_contiguous(memory_format=_CL[n]) for t in tensors):
        return NotImplemented  # torch may pick channels-last for the output
    d = dim % n
    for t in tensors[1:]:
        if any(t.shape[i] != first.shape[i] for i in range(n) if i != d):
            return NotImplemented
    shape = list(first.shape)
    shape[d] = sum(t.shape[d] for t in tensors)
    return _empty(shape, first.dtype)


def _table() -> dict:
    t = {}

    def add(fn, *overloads):
        for name in overloads:
            packet, _, overload = name.partition(".")
            op = getattr(getattr(aten, packet, None), overload or "default", None)
            if op is not None:
                t[op] = fn

    add(_batch_norm, "native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit")
    add(_layer_norm, "native_layer_norm")
    add(_addmm, "addmm")
    add(_mm, "mm")
    add(_bmm, "bmm")
    add(_convolution, "convolution")
    add(_unary, "gelu", "silu", "sigmoid", "relu", "hardswish", "hardsigmoid", "tanh", "elu", "leaky_relu",
        "rsqrt", "sqrt", "exp", "neg", "erf")
    add(_scalar, "mul.Scalar", "add.Scalar", "sub.Scalar")
    add(_div_scalar, "div.Scalar")
    add(_softmax, "_softmax")
    add(_safe_softmax, "_safe_softmax")
    add(_binary, "add.Tensor", "mul.Tensor", "sub.Tensor", "div.Tensor")
    add(_mean_dim, "mean.dim")
    add(_cat, "cat")
    return t


def _describe(out):
    if isinstance(out, torch.Tensor):
        return (tuple(out.shape), out.stride(), out.dtype)
    if isinstance(out, (tuple, list)):
        return tuple(_describe(o) for o in out)
    return out


def _checked(func, fn):
    def run(*args, **kwargs):
        out = fn(*args, **kwargs)
        if out is NotImplemented:
            return out
        ref = func(*args, **kwargs)
        if _describe(out) != _describe(ref):
            raise AssertionError(f"fast meta kernel for {func} disagrees with torch's: "
                                 f"{_describe(out)} != {_describe(ref)}")
        return out

    return run


#: aten OpOverload -> shape function returning the op's outputs on meta, or NotImplemented.
KERNELS: dict = _table()


def kernels() -> dict:
    """The table the engine uses on a meta pass (wrapped in checks under ``PROFILER_CHECK_META=1``)."""
    if os.environ.get("PROFILER_CHECK_META") == "1":
        return {f: _checked(f, fn) for f, fn in KERNELS.items()}
    return KERNELS
