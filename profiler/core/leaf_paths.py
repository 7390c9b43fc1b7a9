"""Fast paths for torch's own leaf modules: the aten calls their ``forward`` makes, written from the module and
its input and output, so that a real forward pass need not observe them op by op.

Why: observing an op through a ``TorchDispatchMode`` costs 4-13 us of Python per op, more than the op itself
on small tensors; most ops of a CNN run inside stock ``Conv2d`` / ``BatchNorm2d`` / ``ReLU`` / ``Linear``
modules whose ``forward`` is torch's own code. For those the engine steps its observer aside during the call
and charges the calls :func:`calls` gives instead.

Exact by construction, not by hope: a path is used only for a (module class, signature) the engine has seen
give the very same records (op, counts, bytes) through the observer in this process (see
``profiler.core.engine``), so a torch version that dispatches a module differently simply keeps observing it.
Each path is a pure function of the module's hyper-parameters and the tensors' shapes, dtypes and layout.

A call is ``(op, args, kwargs, out, bytes_read, bytes_written)``: the op overload, its arguments with tensors
given as ``torch.Size`` (what counting rules take), its output shape(s), and the bytes of the tensors it reads
and writes.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

aten = torch.ops.aten
_FLOAT = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_Size = torch.Size
_EMPTY = _Size([0])
_Tensor = torch.Tensor
_STRIDED = torch.strided
_autocast = torch._C._is_any_autocast_enabled
_inference = torch.is_inference_mode_enabled


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _own(cls: type, base: type, *methods: str) -> bool:
    """``cls`` runs ``base``'s code for every method named (a subclass that overrides none of them)."""
    return all(getattr(cls, m) is getattr(base, m) for m in methods)


# -- one path per family: key(module, x) -> hashable or None (not applicable); calls(module, x, out) -> list ---
# Parameters and buffers are read from the module's own dicts: ``m.weight`` goes through Module.__getattr__
# (0.4 us a read). A name missing from them (a parametrized weight is a property) means no path.
def _registered(d: dict, *names: str) -> bool:
    return all(n in d for n in names)


def _conv_key(m, x):
    p = m._parameters
    if not _registered(p, "weight", "bias") or m.padding_mode != "zeros" or isinstance(m.padding, str) \
            or x.dim() != p["weight"].dim():
        return None  # padding modes pad first; "same"/"valid" go to another op; unbatched input unsqueezes
    return p["bias"] is None


def _conv_calls(m, x, out):
    p = m._parameters
    w, b = p["weight"], p["bias"]
    args = (x.shape, w.shape, None if b is None else b.shape, list(m.stride), list(m.padding), list(m.dilation),
            False, [0] * (w.dim() - 2), m.groups)
    read = _nbytes(x) + _nbytes(w) + (0 if b is None else _nbytes(b))
    return [(aten.convolution.default, args, {}, out.shape, read, _nbytes(out))]


def _bn_key(m, x):
    if m.training or not m.track_running_stats or not _registered(m._parameters, "weight", "bias") \
            or m._buffers.get("running_mean") is None or m._buffers.get("running_var") is None:
        return None  # training mode updates the running statistics: observed
    return m.affine


def _bn_calls(m, x, out):
    p, bufs = m._parameters, m._buffers
    w, b, rm, rv = p["weight"], p["bias"], bufs["running_mean"], bufs["running_var"]
    momentum = 0.0 if m.momentum is None else m.momentum
    args = (x.shape, None if w is None else w.shape, None if b is None else b.shape, rm.shape, rv.shape, False,
            momentum, m.eps)
    read = _nbytes(x) + _nbytes(rm) + _nbytes(rv) + (0 if w is None else _nbytes(w) + _nbytes(b))
    # eval batch norm returns empty saved statistics beside its output
    return [(aten.native_batch_norm.default, args, {}, (out.shape, _EMPTY, _EMPTY), read, _nbytes(out))]


def _ln_key(m, x):
    p = m._parameters
    if not _registered(p, "weight", "bias"):
        return None
    return p["weight"] is None, p["bias"] is None


def _ln_calls(m, x, out):
    p = m._parameters
    w, b = p["weight"], p["bias"]
    shape = list(m.normalized_shape)
    args = (x.shape, shape, None if w is None else w.shape, None if b is None else b.shape, m.eps)
    stat = _Size(list(x.shape[:x.dim() - len(shape)]) + [1] * len(shape))  # mean and rstd, float32 on CPU
    stat_bytes = 2 * stat.numel() * (4 if x.element_size() <= 4 else x.element_size())
    read = _nbytes(x) + (0 if w is None else _nbytes(w)) + (0 if b is None else _nbytes(b))
    return [(aten.native_layer_norm.default, args, {}, (out.shape, stat, stat), read, _nbytes(out) + stat_bytes)]


def _linear_key(m, x):
    p = m._parameters
    if not _registered(p, "weight", "bias") or x.dim() < 2 or (x.dim() > 2 and not x.is_contiguous()):
        return None  # a 1-d input or a strided batch goes through matmul
    return x.dim(), p["bias"] is None


def _linear_calls(m, x, out):
    p = m._parameters
    w, b = p["weight"], p["bias"]
    rows = x.numel() // x.shape[-1]
    x2 = _Size([rows, x.shape[-1]])
    wt = _Size([w.shape[1], w.shape[0]])
    read = _nbytes(x) + _nbytes(w)
    if b is None:
        return [(aten.mm.default, (x2, wt), {}, _Size([rows, w.shape[0]]), read, _nbytes(out))]
    return [(aten.addmm.default, (b.shape, x2, wt), {}, _Size([rows, w.shape[0]]), read + _nbytes(b),
             _nbytes(out))]


def _unary(op_of: Callable[[nn.Module], tuple]):
    """A one-op element-wise activation; ``op_of(module)`` -> (op overload, extra positional arguments)."""

    def calls(m, x, out):
        op, extra = op_of(m)
        return [(op, (x.shape, *extra), {}, out.shape, _nbytes(x), _nbytes(out))]

    return calls


def _inplace_key(m, x):
    return bool(getattr(m, "inplace", False))


def _no_key(m, x):
    return ()


def _no_calls(m, x, out):
    return []


def _flatten_key(m, x):
    return () if x.is_contiguous() else None  # a view; a strided input would be copied


def _maxpool_key(m, x):
    return None if m.return_indices else ()


def _maxpool_calls(m, x, out):
    n = 2 if isinstance(m, nn.MaxPool2d) else 3
    op = aten.max_pool2d_with_indices.default if n == 2 else aten.max_pool3d_with_indices.default
    ks, st, pd, dl = (_tuple(v, n) for v in (m.kernel_size, m.stride or m.kernel_size, m.padding, m.dilation))
    args = (x.shape, ks, st, pd, dl, m.ceil_mode)
    return [(op, args, {}, (out.shape, out.shape), _nbytes(x), _nbytes(out) + out.numel() * 8)]


def _avgpool_key(m, x):
    return None if x.dim() != (4 if isinstance(m, nn.AvgPool2d) else 5) else ()


def _avgpool_calls(m, x, out):
    n = 2 if isinstance(m, nn.AvgPool2d) else 3
    op = aten.avg_pool2d.default if n == 2 else aten.avg_pool3d.default
    args = (x.shape, _tuple(m.kernel_size, n), _tuple(m.stride or m.kernel_size, n), _tuple(m.padding, n),
            m.ceil_mode, m.count_include_pad, m.divisor_override)
    return [(op, args, {}, out.shape, _nbytes(x), _nbytes(out))]


def _global_pool_key(m, x):
    size = m.output_size
    if x.dim() != 4 or size not in (1, (1, 1), [1, 1]):
        return None  # other sizes go to adaptive_avg_pool2d
    return ()


def _global_pool_calls(m, x, out):
    return [(aten.mean.dim, (x.shape, [-1, -2], True), {}, out.shape, _nbytes(x), _nbytes(out))]


def _tuple(v, n: int) -> list:
    return list(v) if isinstance(v, (tuple, list)) else [v] * n


# -- a call's output on a shapes-only pass: meta_out(module, x, kernels) -> a meta tensor, or NotImplemented -----
# A meta pass answers a trusted leaf call with the output the observed forward would have got: the fast meta
# kernel of the op it dispatches, on the same operands (profiler.core.meta_kernels, which raise the CPU's error
# for an invalid call and answer NotImplemented where torch's kernel must decide), without running the forward.
def _kernel(table, op, *args):
    fast = table.get(op)
    return NotImplemented if fast is None else fast(*args)


def _conv_out(m, x, table):
    p = m._parameters
    w = p["weight"]
    return _kernel(table, aten.convolution.default, x, w, p["bias"], list(m.stride), list(m.padding), list(m.dilation),
                   False, [0] * (w.dim() - 2), m.groups)


def _bn_out(m, x, table):
    p, bufs = m._parameters, m._buffers
    out = _kernel(table, aten.native_batch_norm.default, x, p["weight"], p["bias"], bufs["running_mean"],
                  bufs["running_var"], False, 0.0 if m.momentum is None else m.momentum, m.eps)
    return out if out is NotImplemented else out[0]


def _ln_out(m, x, table):
    p = m._parameters
    out = _kernel(table, aten.native_layer_norm.default, x, list(m.normalized_shape), p["weight"], p["bias"], m.eps)
    return out if out is NotImplemented else out[0]


def _linear_out(m, x, table):
    # addmm of the rows, viewed back to x's leading dims (key: contiguous beyond 2-d); operands checked as the
    # addmm kernel checks them, anything else left to the forward
    p = m._parameters
    w, b = p["weight"], p["bias"]
    if x.device.type != "meta" or w.device.type != "meta" or w.dim() != 2 or w.dtype != x.dtype \
            or x.shape[-1] != w.shape[1] or x.dtype not in _FLOAT \
            or (b is not None and (b.device.type != "meta" or b.dtype != x.dtype or tuple(b.shape) != (w.shape[0],))):
        return NotImplemented
    return torch.empty((*x.shape[:-1], w.shape[0]), dtype=x.dtype, device=x.device)


def _unary_out(op_of: Callable[[nn.Module], tuple]):
    def out(m, x, table):
        op, extra = op_of(m)
        return _kernel(table, op, x, *extra)

    return out


_Path = tuple[Callable, Callable]


def _paths() -> dict[type, tuple[tuple[str, ...], _Path]]:
    """stock class -> (the methods a subclass must not override, (key, calls))."""
    act = {
        nn.ReLU: lambda m: (aten.relu_.default if m.inplace else aten.relu.default, ()),
        nn.SiLU: lambda m: (aten.silu_.default if m.inplace else aten.silu.default, ()),
        nn.Hardswish: lambda m: (aten.hardswish_.default if m.inplace else aten.hardswish.default, ()),
        nn.Hardsigmoid: lambda m: (aten.hardsigmoid_.default if m.inplace else aten.hardsigmoid.default, ()),
        nn.ReLU6: lambda m: (aten.hardtanh_.default if m.inplace else aten.hardtanh.default, (0.0, 6.0)),
        nn.Sigmoid: lambda m: (aten.sigmoid.default, ()),
        nn.Tanh: lambda m: (aten.tanh.default, ()),
        nn.GELU: lambda m: (aten.gelu.default, ()),
    }
    out: dict[type, tuple[tuple[str, ...], _Path]] = {}
    for cls in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
        out[cls] = (("forward", "_conv_forward"), (_conv_key, _conv_calls))
    for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
        out[cls] = (("forward", "_check_input_dim"), (_bn_key, _bn_calls))
    out[nn.LayerNorm] = (("forward",), (_ln_key, _ln_calls))
    out[nn.Linear] = (("forward",), (_linear_key, _linear_calls))
    for cls, op_of in act.items():
        key = _inplace_key if "inplace" in cls.__init__.__code__.co_varnames else _no_key
        out[cls] = (("forward",), (key, _unary(op_of)))
    out[nn.GELU] = (("forward",), (lambda m, x: () if m.approximate == "none" else None, _unary(act[nn.GELU])))
    # No path for Identity and eval Dropout: they dispatch no op, so the observer, left on, has nothing to see;
    # stepping it aside and back would cost more than they do.
    out[nn.Flatten] = (("forward",), (_flatten_key, _no_calls))
    for cls in (nn.MaxPool2d, nn.MaxPool3d):  # MaxPool1d unsqueezes to a 2-d pool: observed
        out[cls] = (("forward",), (_maxpool_key, _maxpool_calls))
    for cls in (nn.AvgPool2d, nn.AvgPool3d):
        out[cls] = (("forward",), (_avgpool_key, _avgpool_calls))
    out[nn.AdaptiveAvgPool2d] = (("forward",), (_global_pool_key, _global_pool_calls))
    for cls, op_of in act.items():
        _META_OUT[cls] = _unary_out(op_of)
    for cls in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
        _META_OUT[cls] = _conv_out
    for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
        _META_OUT[cls] = _bn_out
    _META_OUT[nn.LayerNorm] = _ln_out
    _META_OUT[nn.Linear] = _linear_out
    return out


#: stock class -> meta_out(module, x, kernels) for the families whose output is made from shapes here (conv, eval batch
#: norm, layer norm, linear, activations); the others (pools, flatten) run their forward on a meta pass.
_META_OUT: dict[type, Callable] = {}


_STOCK = _paths()
#: stock class -> {method name: the function torch defines}, as found when this module was imported
_ORIGINALS = {cls: {m: getattr(cls, m) for m in methods} for cls, (methods, _) in _STOCK.items()}
# module class -> its path, or None (no path: the class or a subclass that changes the code a path describes)
_BY_CLASS: dict[type, _Path | None] = {}


def path_of(cls: type) -> _Path | None:
    """(key, calls) for modules of ``cls``, or None when its forward is not one of torch's described here."""
    hit = _BY_CLASS.get(cls, False)
    if hit is not False:
        return hit
    path = None
    for base in cls.__mro__:
        stock = _STOCK.get(base)
        if stock is not None:
            methods, p = stock
            path = p if _own(cls, base, *methods) and not _hooks_in_class(cls, base) else None
            break
    _BY_CLASS[cls] = path
    return path


def meta_out(module: nn.Module) -> Callable | None:
    """meta_out(module, x, kernels) -> its output on meta (or NotImplemented) from ``kernels`` (the pass's table
    of fast meta kernels), for a module whose class :func:`path_of` resolved to a stock path that has one; None
    otherwise."""
    cls = type(module)
    if path_of(cls) is None:
        return None
    for base in cls.__mro__:
        if base in _STOCK:
            # Asked afresh at every pass, against the functions torch defined: a class patched since (a library
            # or a test replacing nn.Linear.forward) must run its forward, which the shortcut would skip.
            if any(getattr(cls, m) is not _ORIGINALS[base][m] for m in _STOCK[base][0]):
                return None
            return _META_OUT.get(base)
    return None


def clear_cache() -> None:
    """Forget which classes :func:`path_of` resolved (for :func:`profiler.core.engine.clear_caches`)."""
    _BY_CLASS.clear()


def _hooks_in_class(cls: type, base: type) -> bool:
    """A subclass that overrides __call__ or _call_impl changes what a call does."""
    return any(getattr(cls, m) is not getattr(base, m) for m in ("__call__", "_call_impl"))


def key(module: nn.Module, args, instance_forward_ok: bool = False) -> tuple | None:
    """A hashable signature of this call when a path describes it (None otherwise): the class, the path's own
    key (bias present, in-place ...), the input's dtype, device type and rank, and whether autocast or
    inference mode is on. Calls with equal keys
    dispatch the same ops, so one observed call vouches for the rest. ``instance_forward_ok``: the caller put
    the instance's ``forward`` there itself (the meta pass's shortcut, which runs the class's)."""
    cls = type(module)
    path = _BY_CLASS.get(cls, False)  # path_of, inlined: this runs for every leaf call of a pass
    if path is False:
        path = path_of(cls)
    if path is None or module._forward_pre_hooks or module._forward_hooks or \
            ("forward" in module.__dict__ and not instance_forward_ok):
        # a module's own hooks may change its input or output; a forward replaced on the instance (accelerate,
        # peft, a user's wrapper) is not the class's
        return None
    if len(args) != 1:
        return None
    x = args[0]
    if type(x) is not _Tensor or x.is_nested or x.layout is not _STRIDED:
        return None
    k = path[0](module, x)
    if k is None:
        return None
    # autocast inserts casts and inference mode changes which ops run: both are part of the signature
    return (cls, k, x.dtype, x.device.type, x.dim(), _autocast(), _inference())


def calls(module: nn.Module, args, out) -> list | None:
    """The aten calls this module's forward made on ``args`` giving ``out`` (see the module docstring), or
    None when ``out`` is not the single tensor the path expects."""
    if type(out) is not torch.Tensor:
        return None
    return path_of(type(module))[1](module, args[0], out)

