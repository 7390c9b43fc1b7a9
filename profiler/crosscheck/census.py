"""Python-level calls that the dispatcher hides from our per-op counts but that peers see.

One extra forward pass under a TorchFunctionMode records, per layer (the innermost module running):

- ``functional_pools``: ``F.adaptive_avg_pool2d(x, 1)`` reaches the dispatcher as ``aten.mean`` (its
  decomposition), the same op as ``x.mean((2, 3), keepdim=True)`` in a squeeze-excite block. ptflops (which
  patches the functional) and fvcore (whose jit trace keeps ``aten::adaptive_avg_pool2d``) count the first and
  not the second, so we record where functional adaptive average pools to size 1 are called outside an
  nn.AdaptiveAvgPool module (whose layer already says what it is): ``{(path, dims): input elements}``.
- ``string_padding_convs``: a convolution called with ``padding="same"`` or ``"valid"`` reaches our
  dispatcher as ``aten.convolution`` like any other, but a jit trace (fvcore) records it as
  ``aten::_convolution_mode``, an op fvcore has no handle for: ``{path: MACs}`` of those calls, by our
  convolution rule (:func:`profiler.counters.conv.conv_macs`).
- ``sdpa``: ``F.scaled_dot_product_attention`` calls, ``{path: MACs of QK^T and AV}`` by our attention rule
  (:func:`profiler.counters.attention.sdpa_macs`). A jit trace keeps the call as one
  ``aten::scaled_dot_product_attention`` node whichever kernel runs, while our dispatcher may see the math
  backend's matrix products instead of a fused kernel (masks, head sizes the fused kernels refuse).
- ``einsums``: ``{path: [(equation, operand shapes), ...]}`` of ``torch.einsum`` calls (fvcore costs most
  equations through numpy's ``einsum_path``, not by their operands' sizes alone).
- ``ptflops_calls``: ``{path: {family: amount}}`` of the calls ptflops' pytorch backend counts by patching
  ``torch.nn.functional`` and ``torch`` / ``torch.Tensor`` attributes (ptflops/pytorch_engine.py,
  patch_functional and patch_tensor_ops, 0.7.x). What is counted depends on how the code is *written*:
  ``torch.matmul(a, b)`` and ``a.matmul(b)`` are, ``a @ b`` is not; ``F.softmax(x)`` is, ``x.softmax()`` is
  not; ``torch.add`` / ``Tensor.add`` / ``torch.mul`` / ``Tensor.mul`` are, ``+`` and ``*`` are not. We patch the
  same attributes during our pass (so calls made inside other Python functions are seen as ptflops sees
  them) and cost each call by ptflops' formula (pytorch_ops.py, rewritten here): 1 per input element for
  activations (relu, prelu, elu, relu6, gelu, silu, softmax) and pools; output elements for interpolate;
  ``prod(a.shape) x b.shape[-1]`` for matmul/mm/bmm (+ the added tensor's elements for addmm/baddbmm when
  beta != 0); for add/mul the elements of the two shapes lined up from the left (ptflops' broadcast, not
  torch's). Families: ``activation``, ``pooling``,
  ``upsample``, ``products``, ``elementwise``.
"""
from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_POOLS = {F.adaptive_avg_pool1d: 1, F.adaptive_avg_pool2d: 2, F.adaptive_avg_pool3d: 3}
_CONVS = {F.conv1d, F.conv2d, F.conv3d, torch.conv1d, torch.conv2d, torch.conv3d}


def _padding(args, kwargs):
    if "padding" in kwargs:
        return kwargs["padding"]
    return args[4] if len(args) > 4 else 0


# -- ptflops' patched calls and its formulas ---------------------------------------------------------------
def _numel(t) -> int:
    return int(t.numel()) if isinstance(t, torch.Tensor) else 1


def _first(args, kwargs, name="input"):
    return args[0] if args else kwargs.get(name)


def _per_input(*args, **kwargs) -> float:
    return _numel(_first(args, kwargs))


def _interpolate(*args, **kwargs) -> float:
    x = kwargs.get("input", args[0] if args else None)
    size = kwargs.get("size", args[1] if len(args) > 1 else None)
    nc = int(x.shape[0]) * int(x.shape[1])  # N x C
    if size is not None:
        if isinstance(size, (tuple, list)):
            n = 1
            for d in size:
                n *= int(d)
            return n * nc
        return int(size) ** (x.dim() - 2) * nc
    scale = kwargs.get("scale_factor", args[2] if len(args) > 2 else None)
    flops = x.numel()
    if isinstance(scale, tuple) and len(scale) == x.dim() - 2:
        n = 1
        for d in scale:
            n *= int(d)
        return flops * n
    return flops * scale ** (x.dim() - 2)


def _product(*args, **kwargs) -> float:
    a, b = (args + (None, None))[:2]
    a = kwargs.get("input", a)
    b = kwargs.get("other", kwargs.get("mat2", b))
    return _numel(a) * int(b.shape[-1])


def _add_product(inp, m1, m2, *args, beta=1, **kwargs) -> float:
    return _numel(m1) * int(m2.shape[-1]) + (_numel(inp) if beta != 0 else 0)


def _broadcast(*args, **kwargs) -> float:
    a, b = (args + (None, None))[:2]
    a, b = kwargs.get("input", a), kwargs.get("other", b)
    if not isinstance(a, torch.Tensor):
        return _numel(b) if isinstance(b, torch.Tensor) else 1
    if not isinstance(b, torch.Tensor):
        return _numel(a)
    # ptflops' _elementwise_tensor_flops_hook lines the two shapes up from the *left* (dimension i of each,
    # 1 where one is shorter) and takes the larger size: (1, 3, 8, 8) * (3, 1, 1) counts 3 x 3 x 8 x 8.
    n = 1
    for i in range(max(a.dim(), b.dim())):
        n *= max(int(a.shape[i]) if i < a.dim() else 1, int(b.shape[i]) if i < b.dim() else 1)
    return n


def _ptflops_patched():
    """(owner, attribute, family, formula) of every call ptflops' pytorch backend patches."""
    acts = ["relu", "prelu", "elu", "relu6", "gelu", "silu", "softmax"]
    pools = [f"{p}_pool{d}d" for p in ("avg", "max", "adaptive_avg", "adaptive_max") for d in (1, 2, 3)]
    out = [(F, n, "activation", _per_input) for n in acts if hasattr(F, n)]
    out += [(F, n, "pooling", _per_input) for n in pools]
    out += [(F, n, "upsample", _interpolate) for n in ("upsample", "interpolate")]
    for owner in (torch, torch.Tensor):
        out += [(owner, n, "products", _product) for n in ("matmul", "mm", "bmm")]
        out += [(owner, n, "elementwise", _broadcast) for n in ("mul", "add")]
        out.append((owner, "addmm", "products", _add_product))
    out.append((torch, "baddbmm", "products", _add_product))
    return out


def census(model: nn.Module, args, kwargs) -> dict[str, dict]:
    """``{"functional_pools": {(path, dims): elements}, "string_padding_convs": {path: MACs}, "sdpa": {path:
    MACs}, "ptflops_calls": {path: {family: amount}}}`` of one pass (see the module docstring)."""
    from torch.nn.modules import module as module_mod

    from profiler.counters.attention import sdpa_macs
    from profiler.counters.conv import conv_macs

    paths = {id(m): p for p, m in model.named_modules()}
    types = {p: type(m).__name__ for p, m in model.named_modules()}
    stack: list[str] = []
    pools: dict[tuple[str, int], int] = defaultdict(int)
    convs: dict[str, int] = defaultdict(int)
    sdpa: dict[str, int] = defaultdict(int)
    einsums: dict[str, list] = defaultdict(list)
    patched: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    class Census(TorchFunctionMode):
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            kwargs = kwargs or {}
            # A patched function dispatching to this mode hands over the patched object: call what it wraps
            # (once recorded is enough; ptflops' wrappers see no mode).
            func = getattr(func, "census_original", func)
            out = func(*args, **kwargs)
            where = stack[-1] if stack else ""
            dims = _POOLS.get(func)
            if dims and isinstance(out, torch.Tensor) and all(int(s) == 1 for s in out.shape[-dims:]):
                if not types.get(where, "").startswith("AdaptiveAvgPool"):
                    pools[(where, dims)] += args[0].numel()
            elif func in _CONVS and isinstance(_padding(args, kwargs), str) and isinstance(out, torch.Tensor):
                w = kwargs.get("weight", args[1] if len(args) > 1 else None)
                x = kwargs.get("input", args[0] if args else None)
                convs[where] += conv_macs(tuple(x.shape), tuple(w.shape), tuple(out.shape), False)
            elif func is torch.einsum and args and isinstance(args[0], str):
                ops = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:]
                if all(isinstance(t, torch.Tensor) for t in ops):
                    einsums[where].append((args[0], [tuple(int(d) for d in t.shape) for t in ops]))
            elif func is F.scaled_dot_product_attention:
                q, k, v = (list(args) + [kwargs.get(n) for n in ("query", "key", "value")][len(args):])[:3]
                sdpa[where] += sdpa_macs(tuple(q.shape), tuple(k.shape), tuple(v.shape))
            return out

    def recorder(original, family, formula):
        def wrapper(*a, **kw):
            try:
                patched[stack[-1] if stack else ""][family] += formula(*a, **kw)
            except Exception:  # noqa: BLE001 - a call ptflops' own formula would choke on: not ours to count
                pass
            return original(*a, **kw)

        wrapper.census_original = original
        return wrapper

    def pre(mod, inp):
        stack.append(paths.get(id(mod), stack[-1] if stack else ""))

    def post(mod, inp, out):
        if stack:
            stack.pop()

    saved = []
    h1 = module_mod.register_module_forward_pre_hook(pre)
    h2 = module_mod.register_module_forward_hook(post)
    try:
        for owner, name, family, formula in _ptflops_patched():
            original = getattr(owner, name)
            saved.append((owner, name, original))
            setattr(owner, name, recorder(original, family, formula))
        with torch.no_grad(), Census():
            model(*args, **kwargs)
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)
        h1.remove()
        h2.remove()
    return {"functional_pools": dict(pools), "string_padding_convs": dict(convs), "sdpa": dict(sdpa),
            "einsums": dict(einsums),
            "ptflops_calls": {p: dict(f) for p, f in patched.items()}}


def functional_global_pools(model: nn.Module, args, kwargs) -> dict[tuple[str, int], int]:
    """``{(layer path, dims): input elements}`` of functional adaptive average pools to size 1."""
    return census(model, args, kwargs)["functional_pools"]
