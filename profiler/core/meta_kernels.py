"""Fast shape functions for the meta pass.

Many of torch's meta kernels are Python reference implementations (batch/layer norm through their
decompositions, ``addmm`` and reductions through ``torch._refs`` with full type promotion and stride logic):
one BatchNorm call costs about 1 ms on meta, more than the real kernel at 224x224. For the common, simple
case (contiguous inputs, one dtype) this module makes the output directly: same shapes, strides and dtypes
as torch's own meta kernel, without its checks. Element ops also take strided and broadcast inputs (torch's
output-stride rule is ported for the cases it decides without tie-breaks), norms any input layout, and
in-place ops (``sigmoid_``, ``clamp_``, ``normal_`` ...) return their input as torch's do. Anything else
returns ``NotImplemented`` and torch's kernel runs. Counting needs shapes only, so the counts are unchanged.
One kernel is not a shortcut but a fix: ``_grouped_mm`` (mixtures of experts), whose torch meta kernel refuses
the float32 the CPU kernel runs; it does the CPU kernel's checks itself and never declines meta operands.

:class:`FastMeta` applies the same table outside a profile, to build a model on meta (initialisers).
``PROFILER_CHECK_META=1`` in the environment runs torch's kernel as well (for ``_grouped_mm``, the CPU kernel)
and asserts that every output has the same shape, stride and dtype (the tests do this on several zoo models).
"""
from __future__ import annotations

import os

import torch
from torch.utils._python_dispatch import TorchDispatchMode

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
def _norm_output(x):
    """Batch/layer/group norm's output: contiguous, whatever ``x``'s layout (a permuted ConvNeXt activation,
    a channels-last one); torch keeps the strides of an input that is contiguous with odd size-1 strides:
    left to it. None when declined."""
    if x.is_contiguous() and x.stride() != tuple(_contiguous_strides(x.shape)):
        return None
    return _empty(x.shape, x.dtype)


def _batch_norm(x, *args, **kwargs):
    if not _plain(x) or x.dim() < 2:
        return NotImplemented
    sd = _stat_dtype(x.dtype)
    return _empty(x.shape, x.dtype), _empty((x.shape[1],), sd), _empty((x.shape[1],), sd)


def _layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    if not _meta_float(x):
        return NotImplemented
    k = len(normalized_shape)
    if k > x.dim() or tuple(x.shape[x.dim() - k:]) != tuple(normalized_shape):
        return NotImplemented  # torch's error
    for p in (weight, bias):
        if p is not None and (not _same_dtype(x, p) or tuple(p.shape) != tuple(normalized_shape)):
            return NotImplemented
    out = _norm_output(x)
    if out is None:
        return NotImplemented
    stat = tuple(x.shape[:x.dim() - k]) + (1,) * k
    sd = _stat_dtype(x.dtype)
    return out, _empty(stat, sd), _empty(stat, sd)


def _group_norm(x, weight, bias, n, c, hxw, group, eps):
    """Statistics (N, group) in ``x``'s dtype (half types included, unlike batch/layer norm)."""
    if not _meta_float(x) or x.dim() < 2 or x.shape[0] != n or x.shape[1] != c or group <= 0 or c % group:
        return NotImplemented
    size = 1
    for d in x.shape[2:]:
        size *= d
    if size != hxw or hxw <= 0:
        return NotImplemented  # torch's errors (an empty image among them)
    for p in (weight, bias):
        if p is not None and (not _same_dtype(x, p) or tuple(p.shape) != (c,)):
            return NotImplemented
    out = _norm_output(x)
    if out is None:
        return NotImplemented
    return out, _empty((n, group), x.dtype), _empty((n, group), x.dtype)


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


# -- grouped products (mixtures of experts) -----------------------------------------------------------
# torch's meta kernel for ``_grouped_mm`` follows the CUDA kernel and refuses float32, which the CPU kernel
# runs (and transformers gives it on a float32 model): every MoE model would fail on meta. This one is the
# CPU kernel's shape logic (aten/src/ATen/native/GroupedMMUtils.h): its checks in its order, with its
# messages, and its output, whose rows are padded to a multiple of 16 bytes.
_GROUPED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _grouped_layout_error(t):
    """The CPU kernel's layout check of an operand: one of its two last dims contiguous, the other's stride
    a multiple of 16 bytes. None when it passes."""
    n = t.dim() - 1
    st, sz = t.stride(), t.shape
    if st[n - 1] == 1 and st[n] >= max(1, sz[n - 1]):
        lead = st[n]
    elif st[n] == 1 and st[n - 1] >= max(1, sz[n]):
        lead = st[n - 1]
    else:
        return f"Invalid strides/sizes, got {list(st)} for strides and {list(sz)} for sizes"
    return None if lead % (16 // t.element_size()) == 0 else "strides should be multiple of 16 bytes"


def _grouped_mm_error(a, b, offs, bias, out_dtype):
    """The message of the CPU kernel's first failing check, None when it runs."""
    for name, t in (("mat_a", a), ("mat_b", b)):
        if t.dtype not in _GROUPED_DTYPES:
            return f"Expected {name} to be Float32, BFloat16 or Float16 matrix, got {t.dtype}"
    for name, t in (("mat_a", a), ("mat_b", b)):
        if t.dim() not in (2, 3):
            return f"{name} has to be 2 or 3d"
    if (a.dim() == 3 or b.dim() == 3) and a.shape[-1] != b.shape[-2]:
        return "contraction dimension of mat_a and mat_b must match"
    error = _grouped_layout_error(a) or _grouped_layout_error(b)
    if error:
        return error
    if (offs is not None) != (a.dim() == 2 or b.dim() == 2):
        return "Have to provide offsets if there is a 2d matrix, or no offset if both matrices are 3d"
    if offs is not None and offs.dim() != 1:
        return "offs has to be 1D"
    if offs is not None and offs.dtype != torch.int32:
        return "Offsets have to be int32"
    if bias is not None:
        return "Bias not supported yet"
    if (out_dtype or a.dtype) != a.dtype:
        return "Grouped gemm output dtype must match `mat_a` dtype"
    groups = offs.shape[0] if offs is not None else None
    if a.dim() != b.dim() and groups != (b if a.dim() == 2 else a).shape[0]:
        return "matrix batch sizes have to match"
    if a.dim() == b.dim() == 3 and a.shape[0] != b.shape[0]:
        return "batched dimension has to match"
    # The products run as mm (one per group) or bmm, which refuse mixed dtypes; no group, no product.
    if a.dtype != b.dtype and (groups is None or groups > 0):
        return f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}"
    return None


def _grouped_mm(a, b, offs=None, bias=None, out_dtype=None):
    for t in (a, b, offs, bias):
        if t is not None and not (isinstance(t, torch.Tensor) and t.device.type == "meta"):
            return NotImplemented
    error = _grouped_mm_error(a, b, offs, bias, out_dtype)
    if error:
        raise RuntimeError(error)
    if a.dim() == 2:
        shape = (offs.shape[0], a.shape[0], b.shape[1]) if b.dim() == 2 else (a.shape[0], b.shape[2])
    else:
        shape = (a.shape[1], b.shape[1]) if b.dim() == 2 else (a.shape[0], a.shape[1], b.shape[2])
    if torch.version.hip:  # ROCm builds allocate it contiguous
        return _empty(shape, a.dtype)
    align = 16 // a.element_size()
    padded = -(-shape[-1] // align) * align  # (the strides of a fresh tensor of this size, size 0 as 1)
    return torch.empty_strided(shape, _contiguous_strides((*shape[:-1], padded)), dtype=a.dtype, device=_META)


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
# The strides of an element op's output follow torch's rule (``torch._prims_common``'s
# compute_elementwise_output_logical_to_physical_perm; TensorIterator's C++ kernels agree except on size-1
# dims): contiguous or channels-last when every input is; else the inputs' dims sorted by stride
# (insertion sort, inputs' strides compared in turn, stride-0 dims skipped) and the output made contiguous
# in that order. Ported for plain int sizes: the Python original runs symbolic guards on every comparison
# and costs ~0.3-2 ms a call, and LSTMs (gates are non-contiguous chunks) and attention (permuted heads)
# make tens of thousands of such calls.
def _contiguous_strides(shape) -> list:
    strides = [1] * len(shape)
    acc = 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = acc
        acc *= shape[i] if shape[i] > 1 else 1
    return strides


def _dense_in(order, shape, stride) -> bool:
    """The strides are those of a dense tensor laid out with dims ``order`` from fastest to slowest (size-1
    dims, whose stride never matters, skipped)."""
    expected = 1
    for i in order:
        n = shape[i]
        if n != 1:
            if stride[i] != expected:
                return False
            expected *= n
    return True


def _is_contiguous(shape, stride) -> bool:
    numel = 1
    for n in shape:
        numel *= n
    return numel < 2 or _dense_in(range(len(shape) - 1, -1, -1), shape, stride)


def _is_channels_last(shape, stride) -> bool:
    return len(shape) == 4 and _dense_in((1, 3, 2, 0), shape, stride)


def _ge(a, b) -> bool:
    return True if b == 0 else False if a == 0 else a >= b or a % b == 0


def _perm(shape, strides) -> list:
    """torch's logical-to-physical permutation of an element op's output (strides: one tuple per input)."""
    n = len(shape)
    contiguous = channels_last = True
    for st in strides:
        contiguous = contiguous and _is_contiguous(shape, st)
        channels_last = channels_last and _is_channels_last(shape, st)
    if contiguous and not channels_last:
        return list(range(n))
    if channels_last and not contiguous:
        return [0, *range(2, n), 1]

    def should_swap(a, b):
        for st in strides:
            sa, sb = st[a], st[b]
            if sa == 0 or sb == 0:
                continue
            if sa == sb:
                if _ge(shape[b], shape[a]):
                    continue
                return 1
            if _ge(sb, sa):
                return -1
            if _ge(sa, sb):
                return 1
        return 0

    perm = list(range(n - 1, -1, -1))
    for i in range(1, n):
        dim1 = i
        for dim0 in range(i - 1, -1, -1):
            c = should_swap(perm[dim0], perm[dim1])
            if c > 0:
                perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
                dim1 = dim0
            elif c < 0:
                break
    perm.reverse()
    return perm


# What is ported is the unambiguous part of torch's rule. Half types go through a float32 computation in
# torch's references (inputs converted, output converted back), and a size-0 or size-1 dim is ordered by
# tie-breaks that differ between the Python references and TensorIterator's C++ meta kernels (a
# contiguous input's size-1 strides are kept by one, recomputed by the other): those are left to torch.
_EXACT = (torch.float32, torch.float64)


def _canonical(x) -> bool:
    """Contiguous with the strides a fresh tensor of its shape has (size-1 dims included). Element ops on
    such inputs, broadcast or not, give a contiguous output in torch whatever the dims (a (1, C, 1, 1)
    squeeze-excitation tensor is channels-last contiguous too: still a contiguous output)."""
    return x.is_contiguous() and x.stride() == tuple(_contiguous_strides(x.shape))


def _unambiguous(shape, strides=()) -> bool:
    """No size-0 dim, and a size-1 dim only where its stride is strictly larger than every other (a batch
    of one in front of a permuted attention tensor): no tie-break can then move it."""
    for i, n in enumerate(shape):
        if n < 2:
            if n == 0 or not strides:
                return False
            for st in strides:
                s = st[i]
                for j, t in enumerate(st):
                    if j != i and t >= s:
                        return False
    return True


def _like(x, size1=True):
    """The output of a one-input element op on ``x`` (same dtype), or NotImplemented. size1: the op's torch
    kernel places a size-1 dim by the stride rule (False for those that keep or recompute it otherwise:
    TensorIterator's relu, clamp, hardtanh; gelu, elu, hardswish, hardsigmoid)."""
    if _canonical(x):
        return _empty(x.shape, x.dtype)  # the common case
    if x.dtype not in _EXACT or not _unambiguous(x.shape, (x.stride(),) if size1 else ()):
        return NotImplemented
    return _permuted(x.shape, [x.stride()], x.dtype)


def _permuted(shape, strides, dtype):
    n = len(shape)
    if n <= 1:
        return _empty(shape, dtype)
    perm = _perm(shape, strides)
    physical = _contiguous_strides([shape[p] for p in perm])
    out = [0] * n
    for i, p in enumerate(perm):
        out[p] = physical[i]
    return torch.empty_strided(shape, out, dtype=dtype, device=_META)


def _like_many(a, b):
    """The output of a binary element op on same-dtype tensors ``a`` and ``b`` broadcast together."""
    shape = a.shape
    if b.shape == shape:
        if _canonical(a) and _canonical(b):
            return _empty(shape, a.dtype)
        if a.dtype not in _EXACT or not _unambiguous(shape, (a.stride(), b.stride())):
            return NotImplemented
        return _permuted(shape, [a.stride(), b.stride()], a.dtype)
    shape = _broadcast(shape, b.shape)
    if shape is None:
        return NotImplemented  # torch's error message, not ours
    if _canonical(a) and _canonical(b):  # a bias, a scale, squeeze-excitation's x * s
        return _empty(shape, a.dtype)
    if a.dtype not in _EXACT or not _unambiguous(shape):
        return NotImplemented
    n = len(shape)
    strides = []
    for t in (a, b):  # expanded as torch does: new dims and broadcast size-1 dims get stride 0
        st = [0] * (n - t.dim()) + list(t.stride())
        if t.shape != shape:
            ts = (1,) * (n - t.dim()) + tuple(t.shape)
            for i in range(n):
                if ts[i] != shape[i]:
                    st[i] = 0
        strides.append(st)
    return _permuted(shape, strides, a.dtype)


def _broadcast(a, b):
    """The broadcast shape of two shapes, None when they do not broadcast (``torch.broadcast_shapes`` is
    Python too, and ten times slower)."""
    if len(a) < len(b):
        a, b = b, a
    out = list(a)
    off = len(a) - len(b)
    for i, m in enumerate(b):
        n = a[off + i]
        if n != m:
            if n == 1:
                out[off + i] = m
            elif m != 1:
                return None
    return out


def _meta_float(t) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type == "meta" and t.dtype in _FLOAT


_NUMBER = (int, float, bool)


def _unary(x, *args, **kwargs):
    if not _meta_float(x):
        return NotImplemented
    return _like(x)


def _unary_no_size1(x, *args, **kwargs):
    if not _meta_float(x):
        return NotImplemented
    return _like(x, size1=False)


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
    if kwargs.get("rounding_mode") is not None or not _meta_float(a):
        return NotImplemented
    if isinstance(b, torch.Tensor):
        if b.dtype != a.dtype or b.device.type != "meta" or b.dim() == 0 and a.dim() != 0:
            return NotImplemented  # a 0-d tensor does not take part in type promotion the same way
        return _like_many(a, b)
    if type(b) not in _NUMBER:
        return NotImplemented
    return _like(a)


def _clamp(x, min=None, max=None):
    if min is None and max is None or not _meta_float(x) or type(min) not in _SCALAR_OR_NONE \
            or type(max) not in _SCALAR_OR_NONE:
        return NotImplemented
    return _like(x, size1=False)


_SCALAR_OR_NONE = (int, float, bool, type(None))


def _pow_scalar(x, exponent):
    """``x ** k`` for a Python int/float ``k`` keeps a floating ``x``'s dtype."""
    if type(exponent) not in (int, float):
        return NotImplemented
    return _unary(x)


# -- in-place ops: the output is the input itself ----------------------------------------------------
# torch's meta kernel checks the arguments and returns ``self``; several (clamp_, normal_, hardswish_ ...)
# are Python references costing 0.1-2 ms a call, and timm's initialisers call them for every weight.
def _writable(x) -> bool:
    """A floating meta tensor with no stride-0 dim of size > 1 (torch refuses to write an expanded one)."""
    if not _meta_float(x):
        return False
    for n, s in zip(x.shape, x.stride()):
        if s == 0 and n > 1:
            return False
    return True


def _inplace(x, *args, **kwargs):
    for a in args:
        if type(a) not in _SCALAR_OR_NONE:
            return NotImplemented
    return x if _writable(x) else NotImplemented


def _inplace_clamp(x, min=None, max=None):
    if min is None and max is None:
        return NotImplemented
    return _inplace(x, min, max)


def _normal_(x, mean=0.0, std=1.0, *, generator=None):
    if type(std) not in (int, float) or type(mean) not in (int, float) or std < 0:
        return NotImplemented
    return _inplace(x)


def _uniform_(x, from_=0.0, to=1.0, *, generator=None):
    if type(from_) not in (int, float) or type(to) not in (int, float) or from_ > to:
        return NotImplemented
    return _inplace(x)


def _inplace_binary(x, other, *args, **kwargs):
    if kwargs.get("rounding_mode") is not None or not _writable(x):
        return NotImplemented
    if isinstance(other, torch.Tensor):
        if other.dtype != x.dtype or other.device.type != "meta" or other.dim() > x.dim():
            return NotImplemented
        shape = x.shape
        for i in range(1, other.dim() + 1):  # ``other`` must broadcast to ``x``'s shape
            if other.shape[-i] != shape[-i] and other.shape[-i] != 1:
                return NotImplemented
        return x
    if type(other) not in _NUMBER:
        return NotImplemented
    for a in args:
        if type(a) not in _NUMBER:
            return NotImplemented
    return x


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
    add(_group_norm, "native_group_norm")
    add(_addmm, "addmm")
    add(_mm, "mm")
    add(_bmm, "bmm")
    add(_grouped_mm, "_grouped_mm")
    add(_convolution, "convolution")
    add(_unary, "silu", "sigmoid", "tanh", "leaky_relu", "rsqrt", "sqrt", "exp", "neg", "erf")
    add(_unary_no_size1, "gelu", "relu", "hardswish", "hardsigmoid", "elu", "hardtanh", "clamp_min", "clamp_max")
    add(_clamp, "clamp")
    add(_pow_scalar, "pow.Tensor_Scalar")
    # (relu_, zero_, fill_ and the in-place Scalar arithmetic have C++ meta kernels: ~1 us, left to torch)
    add(_inplace, "sigmoid_", "tanh_", "silu_", "gelu_", "hardswish_", "hardsigmoid_", "hardtanh_",
        "leaky_relu_", "elu_", "neg_", "exp_", "erfinv_", "clamp_min_", "clamp_max_")
    add(_inplace_clamp, "clamp_")
    add(_normal_, "normal_")
    add(_uniform_, "uniform_")
    add(_inplace_binary, "add_.Tensor", "mul_.Tensor", "sub_.Tensor", "div_.Tensor")
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


def _on_cpu(func):
    """The reference of an op whose torch meta kernel refuses calls the CPU kernel runs (``_grouped_mm`` in
    float32): the CPU kernel itself, on uninitialised CPU operands of the same sizes and strides and zero
    offsets (every group empty: nothing is multiplied but a 3-D x 3-D product)."""

    def run(*args, **kwargs):
        def cpu(x, zeros=False):
            if not isinstance(x, torch.Tensor):
                return x
            if zeros:
                return torch.zeros(x.shape, dtype=x.dtype)
            return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype)

        args = [cpu(a, zeros=i == 2) for i, a in enumerate(args)]
        kwargs = {k: cpu(v, zeros=k == "offs") for k, v in kwargs.items()}
        return func(*args, **kwargs)

    return run


#: Ops checked against their CPU kernel rather than torch's meta kernel under ``PROFILER_CHECK_META=1``.
_CPU_REFERENCE = {aten._grouped_mm.default}


def _checked(func, fn):
    reference = _on_cpu(func) if func in _CPU_REFERENCE else func

    def run(*args, **kwargs):
        out = fn(*args, **kwargs)
        if out is NotImplemented:
            return out
        ref = reference(*args, **kwargs)
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


class FastMeta(TorchDispatchMode):
    """Within it, every op with a fast kernel runs that kernel instead of torch's (nothing is recorded).

    For building a model on meta: timm's and torch's initialisers run ``trunc_normal_`` (uniform_,
    erfinv_, mul_, add_, clamp_), ``normal_`` ... on every weight, and torch's Python meta kernels for
    ``clamp_`` and ``normal_`` cost 0.6-2 ms a call: half of the construction time of a timm model on meta.
    Honours ``PROFILER_CHECK_META=1`` as the pass does.
    """

    def __init__(self):
        super().__init__()
        self.table = kernels()

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # as the engine's observer: no dynamo-disable frame per op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        fast = self.table.get(func)
        if fast is not None:
            out = fast(*args, **(kwargs or {}))
            if out is not NotImplemented:
                return out
        return func(*args, **(kwargs or {}))
