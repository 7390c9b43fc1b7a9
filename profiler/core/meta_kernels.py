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

A meta pass refuses what the real pass refuses, with the CPU kernel's message: torch's meta kernels accept calls
the CPU kernels refuse (a matmul of two dtypes, an in-place op on an expanded tensor, a softmax dim out of range)
and word their errors otherwise ("Invalid channel dimensions" for a convolution). So every kernel checks, with
integer comparisons, the conditions its CPU kernel refuses, whatever the dtype or layout (a declined call included),
and runs an invalid call on CPU stand-ins of the same sizes, which raise the CPU kernel's own error at the same
check before computing anything (:func:`_cpu_error`). Only a CPU kernel missing for a dtype ("not implemented for
'Half'") is not copied: it is the CPU backend's property, and a meta pass stands for any device.

:class:`FastMeta` applies the same table outside a profile, to build a model on meta (initialisers).
``PROFILER_CHECK_META=1`` in the environment runs torch's kernel as well (for ``_grouped_mm``, the CPU kernel)
and asserts that every output has the same shape, stride and dtype (the tests do this on several zoo models).
"""
from __future__ import annotations

import functools
import os
import threading

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


def _is_meta(t) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type == "meta"


# -- the CPU kernel's errors ----------------------------------------------------------------------------
def _stand_in(x, written=False):
    """A CPU tensor of ``x``'s sizes, strides and dtype; when those strides would span many elements, one
    element expanded instead (stride 0: no memory), or for the tensor an in-place op writes, stride 0 where
    ``x`` has it and 1 elsewhere: a few elements, none written twice (the CPU kernel checks that overlap
    before the sizes). Small ones keep the real strides, as a few CPU kernels choose their path by them."""
    if isinstance(x, torch.Tensor):
        shape, stride = x.shape, x.stride()
        if _span(shape, stride) <= _SMALL:
            return torch.empty_strided(shape, stride, dtype=x.dtype, device="cpu")
        if written:
            return torch.empty_strided(shape, [0 if s == 0 else 1 for s in stride], dtype=x.dtype, device="cpu")
        return torch.empty((), dtype=x.dtype, device="cpu").expand(shape)
    if isinstance(x, (list, tuple)):
        return type(x)(_stand_in(v) for v in x)
    return x


_SMALL = 1 << 20  # elements of a stand-in with the real strides


def _span(shape, stride) -> int:
    """Elements of storage a tensor of these sizes and strides covers."""
    span = 1
    for n, s in zip(shape, stride):
        if n == 0:
            return 0
        span += (n - 1) * s
    return span


def _cpu_error(func, args, kwargs=None, written=False):
    """Raises what torch's CPU kernel raises for a call a kernel's checks found invalid: the op itself on CPU
    stand-ins, which fail at their check before any output is made (``written``: the first argument is the
    tensor an in-place op writes). Should the CPU kernel take the call after all (an empty tensor skips some
    of its checks), its outputs are given, on meta: torch's meta kernel may refuse such calls."""
    cpu = [_stand_in(a, written and i == 0) for i, a in enumerate(args)]
    out = func(*cpu, **{k: _stand_in(v) for k, v in (kwargs or {}).items()})
    _answer.by_cpu = True  # (``PROFILER_CHECK_META`` compares it with nothing: it is the reference)
    return _as_meta(out, cpu, args)


_answer = threading.local()  # whether the last kernel's outputs are the CPU kernel's


def _as_meta(out, cpu, args):
    if isinstance(out, torch.Tensor):
        for c, a in zip(cpu, args):
            if out is c:  # an in-place op's self
                return a
        return torch.empty_strided(out.shape, out.stride(), dtype=out.dtype, device=_META)
    if isinstance(out, (tuple, list)):
        return type(out)(_as_meta(o, cpu, args) for o in out)
    return out


def _tiny(x):
    if isinstance(x, torch.Tensor):
        return torch.zeros((1,) * x.dim(), dtype=x.dtype, device="cpu")
    if isinstance(x, (list, tuple)):
        return type(x)(_tiny(v) for v in x)
    return x


def _dtype_error(func, args, kwargs=None, written=False):
    """For an element op whose sizes pass its checks but whose types are not the simple case (integer or bool
    tensors, two dtypes, complex or bool scalars): the CPU kernel's error if it refuses these types (type
    promotion and casting rules too many to port), asked on one-element tensors of the same dtypes and ranks
    (a 0-d tensor promotes otherwise), then raised from stand-ins of the real sizes; else NotImplemented, as
    for a CPU kernel missing for the dtype, which is the CPU backend's property and not the call's."""
    if _any_empty(args):  # (empty tensors take their own paths, which check otherwise: little to compute)
        return _cpu_error(func, args, kwargs, written)
    try:
        func(*(_tiny(a) for a in args), **{k: _tiny(v) for k, v in (kwargs or {}).items()})
    except Exception as error:  # noqa: BLE001 - any refusal of the CPU kernel is the meta pass's too
        if "not implemented for '" not in str(error):
            return _cpu_error(func, args, kwargs, written)
    return NotImplemented


def _any_empty(args) -> bool:
    for a in args:
        if isinstance(a, torch.Tensor) and not a.numel():
            return True
    return False


def _mixed_ok(x, params) -> bool:
    """The CPU norms' dtype rule: parameters (the defined ones) all of the input's dtype, or all float32 for
    a half input (ATen's mixed_data_type.h)."""
    dt = x.dtype
    for p in params:
        if p is not None and p.dtype != dt:
            break
    else:
        return True
    dt = None
    for p in params:
        if p is not None:
            if dt is None:
                dt = p.dtype
            elif p.dtype != dt:
                return False
    return dt is None or dt == x.dtype or dt == torch.float32 and x.dtype in _HALVES


_HALVES = (torch.float16, torch.bfloat16)


# -- norms --------------------------------------------------------------------------------------------
def _norm_output(x):
    """Batch/layer/group norm's output: contiguous, whatever ``x``'s layout (a permuted ConvNeXt activation,
    a channels-last one); torch keeps the strides of an input that is contiguous with odd size-1 strides:
    left to it. None when declined."""
    if x.is_contiguous() and x.stride() != tuple(_contiguous_strides(x.shape)):
        return None
    return _empty(x.shape, x.dtype)


def _batch_norm(func, x, *args, **kwargs):
    """The CPU kernel does not compare the parameters' sizes with the channels (``torch.batch_norm`` does,
    before the aten op): neither is that checked here."""
    if not _is_meta(x):
        return NotImplemented
    training = len(args) == 7 and args[4]  # (the no_training overload has no flag)
    if x.dim() < 2 or training and x.numel() == 0 or not _mixed_ok(x, args[:4]):
        return _cpu_error(func, (x, *args), kwargs)
    if not _plain(x) or 1 in x.shape and not _fresh(x.shape, x.stride()):  # (odd size-1 strides: torch's)
        if training and x.numel() == x.shape[1]:
            # one value per channel: torch's meta kernel divides by n - 1, the CPU kernel answers (C values)
            return _cpu_error(func, (x, *args), kwargs)
        return NotImplemented
    sd = _stat_dtype(x.dtype)
    # Evaluation with running statistics saves none on the CPU (empty tensors; torch's meta kernel makes (C,)
    # ones): the bytes a pass counts as written must be the CPU's
    stats = (0,) if not training and args[2] is not None and args[3] is not None else (x.shape[1],)
    return _empty(x.shape, x.dtype), _empty(stats, sd), _empty(stats, sd)


def _layer_norm(func, x, normalized_shape, weight=None, bias=None, eps=1e-5):
    if not _is_meta(x):
        return NotImplemented
    k = len(normalized_shape)
    ns = tuple(normalized_shape)
    if not k or k > x.dim() or tuple(x.shape[x.dim() - k:]) != ns or not _mixed_ok(x, (weight, bias)) \
            or weight is not None and tuple(weight.shape) != ns or bias is not None and tuple(bias.shape) != ns:
        return _cpu_error(func, (x, normalized_shape, weight, bias, eps))
    if x.dtype not in _FLOAT:
        return NotImplemented
    for p in (weight, bias):
        if p is not None and not _same_dtype(x, p):
            return NotImplemented
    out = _norm_output(x)
    if out is None:
        return NotImplemented
    stat = tuple(x.shape[:x.dim() - k]) + (1,) * k
    sd = _stat_dtype(x.dtype)
    return out, _empty(stat, sd), _empty(stat, sd)


def _group_norm(func, x, weight, bias, n, c, hxw, group, eps):
    """Statistics (N, group) in ``x``'s dtype (half types included, unlike batch/layer norm). The CPU kernel
    reads the layout from (N, C, HxW), not from ``x``'s shape, which only has to hold N * C * HxW elements."""
    if not _is_meta(x):
        return NotImplemented
    if group <= 0 or c % group or hxw <= 0 or x.numel() != n * c * hxw or not _mixed_ok(x, (weight, bias)) \
            or weight is not None and (weight.dim() != 1 or weight.shape[0] != c) \
            or bias is not None and (bias.dim() != 1 or bias.shape[0] != c):
        return _cpu_error(func, (x, weight, bias, n, c, hxw, group, eps))
    if not x.numel() or x.dim() < 2 or x.shape[0] != n or x.shape[1] != c:
        # nothing to compute, or a layout torch.group_norm never passes: the CPU kernel answers (torch's meta
        # kernel refuses some of these, or sizes the output by (N, C, HxW) rather than by ``x``)
        return _cpu_error(func, (x, weight, bias, n, c, hxw, group, eps))
    if x.dtype not in _FLOAT:
        return NotImplemented
    for p in (weight, bias):
        if p is not None and not _same_dtype(x, p):
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


def _addmm(func, bias, a, b, *, beta=1, alpha=1):
    if not (_is_meta(bias) and _is_meta(a) and _is_meta(b)):
        return NotImplemented
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0] or a.dtype != b.dtype or bias.dtype != a.dtype \
            or not _expands_to(bias.shape, (a.shape[0], b.shape[1])):
        return _cpu_error(func, (bias, a, b), {"beta": beta, "alpha": alpha})
    if a.dtype not in _FLOAT:  # (a float beta or alpha with integer matrices is refused)
        return _dtype_error(func, (bias, a, b), {"beta": beta, "alpha": alpha})
    return _empty((a.shape[0], b.shape[1]), a.dtype)


def _expands_to(shape, target) -> bool:
    """``Tensor.expand(target)`` takes a tensor of ``shape`` (addmm's bias)."""
    off = len(target) - len(shape)
    if off < 0:
        return False
    for i, n in enumerate(shape):
        if n != 1 and n != target[off + i]:
            return False
    return True


def _mm(func, a, b):
    if not (_is_meta(a) and _is_meta(b)):
        return NotImplemented
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0] or a.dtype != b.dtype:
        return _cpu_error(func, (a, b))
    if a.dtype not in _FLOAT:
        return NotImplemented
    return _empty((a.shape[0], b.shape[1]), a.dtype)


def _bmm(func, a, b):
    if not (_is_meta(a) and _is_meta(b)):
        return NotImplemented
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1] or a.dtype != b.dtype:
        return _cpu_error(func, (a, b))
    if a.dtype not in _FLOAT:
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
            return f"Expected {name} to be Float32, BFloat16 or Float16 matrix, got {_scalar_type_name(t.dtype)}"
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
    # The products run as mm (one per group) or bmm into an output of mat_a's dtype, which refuse mixed
    # dtypes; no group, no product.
    if a.dtype != b.dtype and groups is None:
        return f"Expected out tensor to have dtype {_CPP_NAMES[b.dtype]}, but got {_CPP_NAMES[a.dtype]} instead"
    if a.dtype != b.dtype and groups > 0:
        return f"expected m1 and m2 to have the same dtype, but got: {_CPP_NAMES[a.dtype]} != {_CPP_NAMES[b.dtype]}"
    return None


_CPP_NAMES = {torch.float32: "float", torch.float16: "c10::Half", torch.bfloat16: "c10::BFloat16"}


def _scalar_type_name(dt) -> str:
    """How ATen's messages name a dtype ("Double", "BFloat16"): its legacy tensor type's name."""
    return torch.empty(0, dtype=dt, device="cpu").type()[len("torch."):-len("Tensor")]


def _grouped_mm(func, a, b, offs=None, bias=None, out_dtype=None):
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


def _convolution(func, x, w, bias, stride, padding, dilation, transposed, output_padding, groups):
    if not (_is_meta(x) and _is_meta(w)) or bias is not None and not _is_meta(bias):
        return NotImplemented
    xs, ws = x.shape, w.shape
    spatial = _conv_sizes(xs, ws, stride, padding, dilation, transposed, output_padding, groups)
    if spatial is None or x.dtype != w.dtype or bias is not None and (
            bias.dtype != x.dtype or bias.dim() != 1 or bias.shape[0] != (ws[1] * groups if transposed else ws[0])):
        return _cpu_error(func, (x, w, bias, stride, padding, dilation, transposed, output_padding, groups))
    k = len(xs)
    if transposed or x.dtype not in _FLOAT or not _fresh(ws, w.stride()):
        return NotImplemented  # (a kernel with odd strides on size-1 dims, a 1x1 one stored channels-last, too)
    # One image, contiguous but perhaps for its batch stride: a channel slice of a batch of one (each group of
    # MixConv's split) or a squeeze-excitation's (1, C, 1, 1), channels-last-compatible too: the CPU kernel's
    # memory-format rule calls both contiguous (it reads the strides, and these put the channels' above 1)
    one = xs[0] == 1 and _fresh(xs[1:], x.stride()[1:])
    if k in _CL and x.is_contiguous(memory_format=_CL[k]):
        if not (one and xs[1] > 1 and all(n == 1 for n in xs[2:]) and _one_image_ok()):
            return NotImplemented  # channels-last-compatible inputs may get a channels-last output: torch's call
    elif not _fresh(xs, x.stride()) and not (one and _one_image_ok()):
        return NotImplemented  # other odd strides: torch decides
    return _empty((xs[0], ws[0], *spatial), x.dtype)


_ONE_IMAGE: list = []  # [whether torch's meta convolution makes one image's output contiguous], once asked


def _one_image_ok() -> bool:
    """The CPU kernel makes a contiguous output for one image that is contiguous but perhaps for its batch
    stride, and so does torch's meta convolution where it ignores the operands' layouts (recent torch: a meta
    tensor names no device whose backend would choose a memory format). Asked of torch itself at the first
    such call, where its kernel would have run anyway; any other answer leaves these calls to torch."""
    if not _ONE_IMAGE:
        _ONE_IMAGE.append(_ask_one_image())
    return _ONE_IMAGE[0]


def _ask_one_image() -> bool:
    try:
        # The Python dispatch key off: a mode on the stack (a user's, around FastMeta) sees none of it.
        with torch._C._DisableTorchDispatch():
            for nd in (1, 2, 3):
                part = torch.empty((1, 8) + (3,) * nd, device=_META)[:, 4:]  # batch stride 8 * 3^nd
                pixel = torch.empty((1, 4) + (1,) * nd, device=_META)
                for x, kernel in ((part, 3), (part.as_strided(part.shape, (0,) + part.stride()[1:]), 3),
                                  (pixel, 1)):
                    w = torch.empty((4, 4) + (kernel,) * nd, device=_META)
                    out = aten.convolution.default(x, w, None, [1] * nd, [0] * nd, [1] * nd, False, [0] * nd, 1)
                    if out.dtype != x.dtype or out.stride() != tuple(_contiguous_strides(out.shape)):
                        return False
    except Exception:  # noqa: BLE001 - a torch that refuses one of these leaves them all to itself
        return False
    return True


def _conv_sizes(xs, ws, stride, padding, dilation, transposed, output_padding, groups):
    """The output's spatial sizes, or None where the CPU's ``_convolution`` refuses the sizes (its
    check_shape_forward, and its backends' checks: an empty image, a transposed output size or padding)."""
    k = len(ws)
    nd = k - 2
    if nd < 1 or groups <= 0 or len(xs) != k:
        return None
    ls, lp, ld, lo = len(stride), len(padding), len(dilation), len(output_padding)
    if ls != nd and ls != 1 or lp != nd and lp != 1 or ld != nd and ld != 1 or lo != nd and lo != 1:
        return None
    c_out = ws[0]
    if c_out < groups or c_out % groups or xs[1] != (c_out if transposed else ws[1] * groups):
        return None
    empty = xs[0] == 0 or xs[1] == 0  # (the CPU's "Empty" backend: no kernel runs, any image size)
    sizes = []
    for i in range(nd):
        s, p = stride[i if ls > 1 else 0], padding[i if lp > 1 else 0]
        d, op = dilation[i if ld > 1 else 0], output_padding[i if lo > 1 else 0]
        n, kernel = xs[2 + i], ws[2 + i]
        if s <= 0 or p < 0 or op < 0 or d <= 0 or (n == 0 or kernel <= 0) and not empty:
            return None
        if transposed:
            size = (n - 1) * s - 2 * p + d * (kernel - 1) + op + 1
            if size <= 0 or op >= s and op >= d:
                return None
        else:
            size = n + 2 * p - d * (kernel - 1) - 1
            if size < 0:  # a kernel larger than the padded image
                return None
            size = size // s + 1
        sizes.append(size)
    return sizes


def _fresh(shape, stride) -> bool:
    """The strides a fresh tensor of ``shape`` has (contiguous, with size-1 dims' strides too)."""
    acc = 1
    for i in range(len(shape) - 1, -1, -1):
        if stride[i] != acc:
            return False
        if shape[i] > 1:
            acc *= shape[i]
    return True


_CL = {4: torch.channels_last, 5: torch.channels_last_3d}


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


def _like_many(a, b, shape):
    """The output of a binary element op on same-dtype tensors ``a`` and ``b`` broadcast together (to
    ``shape``)."""
    if b.shape == a.shape:
        if _canonical(a) and _canonical(b):
            return _empty(shape, a.dtype)
        if a.dtype not in _EXACT or not _unambiguous(shape, (a.stride(), b.stride())):
            return NotImplemented
        return _permuted(shape, [a.stride(), b.stride()], a.dtype)
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


_NUMBER = (int, float, bool)
_APPROXIMATE = ("none", "tanh")
_SUBTRACTIONS = (aten.sub.Scalar, aten.sub.Tensor, aten.sub_.Tensor)


def _numbers(args, kwargs) -> bool:
    """Every extra argument (``alpha``) a Python int or float: a bool alpha is refused but for bool results,
    a float one for integer results, and complex or tensors are the type rules' to decide."""
    for a in args:
        if type(a) not in (int, float):
            return False
    for a in kwargs.values():
        if type(a) not in (int, float):
            return False
    return True


def _unary(func, x, *args, **kwargs):
    return _one_input(func, x, args, kwargs, True)


def _unary_no_size1(func, x, *args, **kwargs):
    return _one_input(func, x, args, kwargs, False)


def _one_input(func, x, args, kwargs, size1):
    if not _is_meta(x):
        return NotImplemented
    if kwargs and kwargs.get("approximate", "none") not in _APPROXIMATE:  # gelu's
        return _cpu_error(func, (x, *args), kwargs)
    if x.dtype not in _FLOAT:
        return _dtype_error(func, (x, *args), kwargs)
    for a in args:  # (slopes, bounds)
        if type(a) not in _NUMBER:
            return _dtype_error(func, (x, *args), kwargs)
    return _like(x, size1)


def _simple_scalar(func, other) -> bool:
    """A Python scalar that keeps a floating tensor's dtype and that the CPU kernel takes (a bool is refused by
    subtraction)."""
    kind = type(other)
    return kind is int or kind is float or kind is bool and func not in _SUBTRACTIONS


def _scalar(func, x, other, *args, **kwargs):
    """``mul/add/div/sub.Scalar``: the result keeps a floating ``x``'s dtype when the scalar is a Python
    int, float or bool; anything else (an integer ``x``, whose ``div`` is a float; a complex scalar) is torch's,
    once the CPU kernel has been asked whether it takes those types."""
    if not _is_meta(x):
        return NotImplemented
    if x.dtype not in _FLOAT or not _simple_scalar(func, other) or (args or kwargs) and not _numbers(args, kwargs):
        return _dtype_error(func, (x, other, *args), kwargs)
    return _like(x)


def _softmax(func, x, dim, half_to_float=False):
    if not _is_meta(x):
        return NotImplemented
    n = x.dim() or 1
    if half_to_float or not -n <= dim < n:  # the CPU kernel never converts: torch's meta kernel would
        return _cpu_error(func, (x, dim, half_to_float))
    if not _plain(x):
        return NotImplemented
    return _empty(x.shape, x.dtype)


def _safe_softmax(func, x, dim, dtype=None):
    if not _is_meta(x):
        return NotImplemented
    n = x.dim() or 1
    if not -n <= dim < n:
        return _cpu_error(func, (x, dim, dtype))
    if dtype is not None or not _plain(x):
        return NotImplemented
    return _empty(x.shape, x.dtype)


def _binary(func, a, b, *args, **kwargs):
    if not _is_meta(a) or kwargs.get("rounding_mode") is not None:
        return NotImplemented
    if isinstance(b, torch.Tensor):
        if b.device.type != "meta" and b.dim():
            return NotImplemented  # torch's device error
        shape = a.shape
        if b.shape != shape:
            shape = _broadcast(shape, b.shape)
            if shape is None:
                return _cpu_error(func, (a, b, *args), kwargs)
        if a.dtype not in _FLOAT or b.dtype != a.dtype or (args or kwargs) and not _numbers(args, kwargs):
            return _dtype_error(func, (a, b, *args), kwargs)
        if b.device.type != "meta" or b.dim() == 0 and a.dim() != 0:
            return NotImplemented  # a 0-d tensor does not take part in type promotion the same way
        return _like_many(a, b, shape)
    if a.dtype not in _FLOAT or not _simple_scalar(func, b) or (args or kwargs) and not _numbers(args, kwargs):
        return _dtype_error(func, (a, b, *args), kwargs)
    return _like(a)


def _clamp(func, x, min=None, max=None):
    if not _is_meta(x):
        return NotImplemented
    if min is None and max is None:
        return _cpu_error(func, (x, min, max))
    if x.dtype not in _FLOAT or type(min) not in _SCALAR_OR_NONE or type(max) not in _SCALAR_OR_NONE:
        return _dtype_error(func, (x, min, max))
    return _like(x, size1=False)


_SCALAR_OR_NONE = (int, float, bool, type(None))


def _pow_scalar(func, x, exponent):
    """``x ** k`` for a Python int/float ``k`` keeps a floating ``x``'s dtype."""
    if not _is_meta(x):
        return NotImplemented
    if x.dtype not in _FLOAT or type(exponent) not in (int, float):
        return _dtype_error(func, (x, exponent))
    return _like(x, size1=exponent != 1)  # (``x ** 1`` is a copy, keeping size-1 dims' strides)


# -- in-place ops: the output is the input itself ----------------------------------------------------
# torch's meta kernel checks the arguments and returns ``self``; several (clamp_, normal_, hardswish_ ...)
# are Python references costing 0.1-2 ms a call, and timm's initialisers call them for every weight. The CPU
# kernel refuses more of them than torch's meta kernel: an expanded ``self`` (one element written twice),
# a result type ``self`` cannot hold, ``uniform_`` from > to.
def _writable(x) -> bool:
    """No stride-0 dim of size > 1 (torch refuses to write an expanded tensor)."""
    for n, s in zip(x.shape, x.stride()):
        if s == 0 and n > 1:
            return False
    return True


def _inplace(func, x, *args, **kwargs):
    if not _is_meta(x):
        return NotImplemented
    if not _writable(x) or kwargs and kwargs.get("approximate", "none") not in _APPROXIMATE:
        return _cpu_error(func, (x, *args), kwargs, written=True)
    for a in args:
        if type(a) not in _SCALAR_OR_NONE:
            return _dtype_error(func, (x, *args), kwargs, written=True)
    if x.dtype not in _FLOAT:
        return _dtype_error(func, (x, *args), kwargs, written=True)
    return x


def _inplace_clamp(func, x, min=None, max=None):
    if min is None and max is None and _is_meta(x):
        return _cpu_error(func, (x, min, max), written=True)
    return _inplace(func, x, min, max)


def _normal_(func, x, mean=0.0, std=1.0, *, generator=None):
    if generator is not None or type(std) not in (int, float) or type(mean) not in (int, float):
        return NotImplemented
    if std < 0 and _is_meta(x):
        return _cpu_error(func, (x, mean, std), written=True)
    return _inplace(func, x, mean, std)


def _uniform_(func, x, from_=0.0, to=1.0, *, generator=None):
    if generator is not None or type(from_) not in (int, float) or type(to) not in (int, float):
        return NotImplemented
    if from_ > to and _is_meta(x):
        return _cpu_error(func, (x, from_, to), written=True)
    return _inplace(func, x, from_, to)


def _inplace_binary(func, x, other, *args, **kwargs):
    if not _is_meta(x) or kwargs.get("rounding_mode") is not None:
        return NotImplemented
    call = (x, other, *args)
    if isinstance(other, torch.Tensor):
        if other.device.type != "meta" and other.dim():
            return NotImplemented  # torch's device error
        if not _writable(x) or not _expands_to(other.shape, x.shape):  # ``other`` broadcasts to ``x``'s shape
            return _cpu_error(func, call, kwargs, written=True)
        simple = other.dtype == x.dtype and other.device.type == "meta"
    else:
        if not _writable(x):
            return _cpu_error(func, call, kwargs, written=True)
        simple = _simple_scalar(func, other)
    if not simple or x.dtype not in _FLOAT or (args or kwargs) and not _numbers(args, kwargs):
        return _dtype_error(func, call, kwargs, written=True)
    return x


def _mean_dim(func, x, dim, keepdim=False, *, dtype=None):
    if not _is_meta(x):
        return NotImplemented
    n = x.dim()
    wrap, seen = n or 1, 0  # (a 0-d tensor takes dims 0 and -1)
    for d in dim or ():
        if not -wrap <= d < wrap or seen >> (d % wrap) & 1:  # out of range, or twice
            return _cpu_error(func, (x, dim, keepdim), {"dtype": dtype})
        seen |= 1 << (d % wrap)
    if dtype is not None or x.dtype not in _FLOAT:
        out = x.dtype if dtype is None else dtype
        if not (out.is_floating_point or out.is_complex):  # mean refuses to infer an integer result
            return _cpu_error(func, (x, dim, keepdim), {"dtype": dtype})
        return NotImplemented
    if not n or not x.is_contiguous():
        return NotImplemented
    if not dim:
        seen = -1  # every dim
    shape = [1 if seen >> i & 1 else s for i, s in enumerate(x.shape)] if keepdim else \
        [s for i, s in enumerate(x.shape) if not seen >> i & 1]
    return _empty(shape, x.dtype)


def _cat(func, tensors, dim=0):
    shapes = []
    for t in tensors:
        if not _is_meta(t):
            return NotImplemented
        shapes.append(t.shape)
    shape = _cat_shape(shapes, dim)
    if shape is None:
        return _cpu_error(func, (tensors, dim))
    first = tensors[0]
    n = len(shape)
    for t in tensors:
        if t.dim() != n or t.dtype != first.dtype or not _plain(t):
            return NotImplemented  # a legacy empty piece, two dtypes, a strided piece: torch's
    if n in _CL and any(t.is_contiguous(memory_format=_CL[n]) for t in tensors):
        return NotImplemented  # torch may pick channels-last for the output
    return _empty(shape, first.dtype)


def _cat_shape(shapes, dim):
    """``cat``'s output shape, or None where the CPU kernel refuses the pieces: it wants pieces of one rank
    (a 1-d empty one is skipped: the legacy rule) that agree in every dim but ``dim``, which must exist."""
    ref = None
    for s in shapes:
        if not s:
            return None  # a 0-d piece
        if len(s) == 1 and s[0] == 0:
            continue
        if ref is None:
            ref = s
        elif len(s) != len(ref):
            return None
    n = len(ref) if ref is not None else 1
    if not shapes or not -n <= dim < n:
        return None
    if ref is None:
        return [0]
    d = dim % n
    total = 0
    for s in shapes:
        if len(s) == n:
            for i in range(n):
                if i != d and s[i] != ref[i]:
                    return None
            total += s[d]
    shape = list(ref)
    shape[d] = total
    return shape


def _table() -> dict:
    t = {}

    def add(fn, *overloads):
        for name in overloads:
            packet, _, overload = name.partition(".")
            op = getattr(getattr(aten, packet, None), overload or "default", None)
            if op is not None:
                t[op] = functools.partial(fn, op)  # the op itself, to ask the CPU kernel for its error

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
    add(_scalar, "mul.Scalar", "add.Scalar", "sub.Scalar", "div.Scalar")
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


def _comparable(func, args, described):
    """What of an op's outputs the fast kernel and torch's meta kernel must agree on: all of it, but batch
    norm's saved statistics in evaluation, which the fast kernel makes empty as the CPU does (torch's meta
    kernel: (C,))."""
    if func in _EVAL_STATS and (func is aten._native_batch_norm_legit_no_training.default or not args[5]):
        return described[0]
    return described


_EVAL_STATS = {aten.native_batch_norm.default, aten._native_batch_norm_legit.default,
               aten._native_batch_norm_legit_no_training.default}


#: Ops checked against their CPU kernel rather than torch's meta kernel under ``PROFILER_CHECK_META=1``.
_CPU_REFERENCE = {aten._grouped_mm.default}


def _checked(func, fn):
    reference = _on_cpu(func) if func in _CPU_REFERENCE else func

    def run(*args, **kwargs):
        _answer.by_cpu = False
        out = fn(*args, **kwargs)
        if out is NotImplemented or _answer.by_cpu:
            return out  # declined, or the CPU kernel's own answer (to a call torch's meta kernel gets wrong)
        try:
            ref = reference(*args, **kwargs)
        except Exception:  # noqa: BLE001 - torch's meta kernel refuses a call the CPU kernel takes (batch norm
            return out  # over one value per channel): nothing to compare with
        if _comparable(func, args, _describe(out)) != _comparable(func, args, _describe(ref)):
            raise AssertionError(f"fast meta kernel for {func} disagrees with torch's: "
                                 f"{_describe(out)} != {_describe(ref)}")
        return out

    return run


#: aten OpOverload -> shape function returning the op's outputs on meta, or NotImplemented.
KERNELS: dict = _table()


def checking() -> bool:
    """Whether ``PROFILER_CHECK_META=1``: every fast kernel is run beside torch's and compared."""
    return os.environ.get("PROFILER_CHECK_META") == "1"


def kernels() -> dict:
    """The table the engine uses on a meta pass (wrapped in checks under ``PROFILER_CHECK_META=1``)."""
    if checking():
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
