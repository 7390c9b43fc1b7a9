"""ptflops (``get_model_complexity_info``), pytorch backend and aten backend.

pytorch backend, read from ptflops/pytorch_engine.py and pytorch_ops.py (0.7.x):
- forward hooks on modules whose *exact* type is in ``MODULES_MAPPING`` (Conv/ConvTranspose, Linear,
  BN/IN/GN/LN, ReLU/PReLU/ELU/LeakyReLU/ReLU6/GELU, pools, Upsample, RNNs, MultiheadAttention, timm's
  vision-transformer Attention); a subclass (timm's BatchNormAct2d, Conv2dSame, LayerNorm) is not hooked;
- the per-module sum stops at a hooked module: children of a hooked module are not added
  (timm's Attention hook counts QK^T/softmax/AV and q scaling, so its qkv/proj Linears are dropped);
- ``torch.nn.functional`` relu/prelu/elu/relu6/gelu/silu/softmax/pools/interpolate and torch/Tensor
  matmul/mm/bmm/addmm/baddbmm/add/mul are patched during the pass and counted wherever they are called:
  a hooked nn.ReLU/GELU/pool/Upsample module whose forward calls the patched function counts twice;
- the total is "per sample" only in part: the hooks' sum is divided by the batch size (``len()`` of the
  first positional input), the patched functionals' counts are not.
aten backend (aten_engine.py): a TorchDispatchMode counting aten convolution/mm/matmul/addmm/bmm only
(bias included); everything else, fused attention included, is zero.
Unit: MACs (ptflops prints "GMac").
"""
from __future__ import annotations

import time
from collections import defaultdict

import torch
import torch.nn as nn

from profiler.crosscheck.base import Item, PeerRun, is_descendant, own_cost, quiet, importable
from profiler.conventions.peers import POOL_OPS, PTFLOPS_ACTIVATIONS, SDPA_OPS, UPSAMPLE_OPS, adaptive_mean

NAME = "ptflops"
UNIT = "MACs"
CONVENTION = "ptflops"

# Ops that reach a patched torch.nn.functional function (counted even outside hooked modules).
_FUNCTIONAL = (PTFLOPS_ACTIVATIONS - {"aten.hardtanh", "aten.hardtanh_", "aten.leaky_relu", "aten.leaky_relu_"}) \
    | POOL_OPS | UPSAMPLE_OPS
# Hooked module types whose forward calls a patched F.* function: counted by the hook and again by the patch.
_DOUBLE = (nn.ReLU, nn.ELU, nn.PReLU, nn.GELU, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d,
           nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
           nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Upsample)


def available() -> bool:
    return importable("ptflops")


def _single_input(args, kwargs):
    if kwargs and not args:
        return None, kwargs
    if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor):
        return args[0], None
    raise ValueError("ptflops feeds the model one tensor or keyword arguments; this model takes "
                     f"{len(args)} positional argument(s)")


def run(model: nn.Module, args, kwargs) -> PeerRun:
    """ptflops' own total (pytorch backend) plus who counted what: each hooked module's ``__flops__`` and the
    patched functional calls made while each module was the innermost one running."""
    from ptflops import get_model_complexity_info
    from torch.nn.modules import module as module_mod

    x, kw = _single_input(args, kwargs)
    paths = {id(m): p for p, m in model.named_modules()}
    stack: list[str | None] = []
    by_layer: dict[str, float] = defaultdict(float)
    seen = {"f": 0, "t": 0}
    snapshot: dict[str, float] = {}

    def flush():
        fc = getattr(torch.nn.functional.relu, "collector", None)
        tc = getattr(torch.matmul, "collector", None)
        where = next((p for p in reversed(stack) if p is not None), "")
        for key, coll in (("f", fc), ("t", tc)):
            if coll is not None and len(coll) > seen[key]:
                by_layer[where] += float(sum(coll[seen[key]:]))
                seen[key] = len(coll)

    def take_snapshot(mod, inp, out):
        batch = max(getattr(model, "__batch_counter__", 1), 1)
        for m in model.modules():
            if hasattr(m, "__flops__") and id(m) in paths:
                snapshot[paths[id(m)]] = m.__flops__ / batch

    def pre(mod, inp):
        flush()
        if mod is model and not stack:
            # Registered now, after ptflops' own hooks, so it runs after them.
            handles.append(model.register_forward_hook(take_snapshot))
        stack.append(paths.get(id(mod)))

    def post(mod, inp, out):
        flush()
        if stack:
            stack.pop()

    handles = []
    h1 = module_mod.register_module_forward_pre_hook(pre)
    h2 = module_mod.register_module_forward_hook(post)
    t0 = time.perf_counter()
    try:
        with quiet() as out:
            macs, params = get_model_complexity_info(
                model, tuple((x if x is not None else next(iter(kw.values()))).shape[1:]),
                input_constructor=(lambda res: x) if x is not None else (lambda res: kw),
                as_strings=False, print_per_layer_stat=False, backend="pytorch")
    finally:
        h1.remove()
        h2.remove()
        for h in handles:
            h.remove()
    if macs is None:
        raise RuntimeError("ptflops failed: " + " ".join(out.getvalue().split())[:300])
    # What ptflops sums: a hooked module's own hook, not those of hooked modules below it.
    hooked = sorted(snapshot)
    for path in hooked:
        if not any(is_descendant(path, a) for a in hooked):
            by_layer[path] += snapshot[path]
    return PeerRun(total=int(macs), by_layer={k: int(round(v)) for k, v in by_layer.items()},
                   params=int(params), seconds=time.perf_counter() - t0)


def _hooked_types():
    from ptflops.pytorch_ops import MODULES_MAPPING
    return set(MODULES_MAPPING)


def explain(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    """Differences between ptflops' total and ours in the ``ptflops`` convention, predicted from the model's
    structure and our per-op counts (not read off ptflops' numbers)."""
    hooked_types = _hooked_types()
    mods = dict(model.named_modules())
    hooked = [p for p, m in mods.items() if type(m) in hooked_types]
    # ptflops' batch counter: len() of the model's first positional input (1 for keyword-only inputs).
    args = (ctx or {}).get("args") or ()
    batch = len(args[0]) if args and isinstance(args[0], torch.Tensor) and args[0].dim() else 1
    items: list[Item] = []

    for layer in prof.layers:
        def functional(op, cat, layer=layer):
            return op in _FUNCTIONAL or adaptive_mean(layer, op)

        def not_functional(op, cat, layer=layer):
            return not functional(op, cat)

        mod = mods.get(layer.path)
        if mod is None:
            continue
        parent = next((a for a in hooked if is_descendant(layer.path, a)), None)
        if parent is not None:
            lost = own_cost(layer, CONVENTION, not_functional)
            if lost:
                items.append(Item(f"not counted: child of a hooked {mods[parent].__class__.__name__}, whose "
                                  "hook replaces its children's (the sum stops at a hooked module)", layer.path,
                                  -lost))
            continue
        if type(mod) in hooked_types:
            # What the hook itself counts: ours without the patched functionals, plus its own quirks.
            hook = own_cost(layer, CONVENTION, not_functional)
            if isinstance(mod, _DOUBLE):
                twice = own_cost(layer, CONVENTION, functional)
                if twice:
                    items.append(Item(f"counted twice: {type(mod).__name__} hook and the patched functional "
                                      "it calls", layer.path, twice))
                    hook += twice
            if type(mod).__name__ == "Attention" and type(mod).__module__.startswith("timm") and layer.input_shapes:
                b, n, c = layer.input_shapes[0][:3] if len(layer.input_shapes[0]) == 3 else (0, 0, 0)
                if b:
                    items.append(Item("q scaling (N x C multiplies) counted by ptflops' timm Attention hook",
                                      layer.path, b * n * c * layer.calls))
                    hook += b * n * c * layer.calls
            if batch > 1 and hook:
                items.append(Item(f"per sample: ptflops divides module-hook counts by the batch size ({batch}), "
                                  "not its patched-functional counts", layer.path, round(hook / batch) - hook))
            continue
        # Not hooked: only what reaches a patched functional is counted.
        lost_attn = own_cost(layer, CONVENTION, lambda op, cat: op in SDPA_OPS)
        if lost_attn:
            items.append(Item("fused attention (scaled_dot_product_attention) not counted: no ptflops rule",
                              layer.path, -lost_attn))
        lost = own_cost(layer, CONVENTION, lambda op, cat: not_functional(op, cat) and op not in SDPA_OPS)
        if lost:
            items.append(Item(f"not counted: {type(mod).__name__} is not a module type ptflops hooks "
                              "(exact type match)", layer.path, -lost))
    for (path, dims), n in ((ctx or {}).get("functional_pools") or {}).items():
        items.append(Item(f"F.adaptive_avg_pool{dims}d to size 1 (our dispatcher sees aten.mean) counted by "
                          "the patched functional: 1 per input element", path, n))
    return items


def explain_params(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    if prof.params_frozen:
        return [Item("frozen parameters not counted (ptflops sums requires_grad parameters)", "",
                     -prof.params_frozen)]
    return []


# -- aten backend ----------------------------------------------------------------------------------------
class Aten:
    """ptflops with ``backend="aten"``."""
    NAME = "ptflops_aten"
    UNIT = "MACs"
    CONVENTION = "ptflops_aten"

    available = staticmethod(available)

    @staticmethod
    def run(model: nn.Module, args, kwargs) -> PeerRun:
        from ptflops import get_model_complexity_info

        x, kw = _single_input(args, kwargs)
        t0 = time.perf_counter()
        with quiet() as out:
            macs, params = get_model_complexity_info(
                model, tuple((x if x is not None else next(iter(kw.values()))).shape[1:]),
                input_constructor=(lambda res: x) if x is not None else (lambda res: kw),
                as_strings=False, print_per_layer_stat=False, backend="aten")
        if macs is None:
            raise RuntimeError("ptflops (aten) failed: " + " ".join(out.getvalue().split())[:300])
        return PeerRun(total=int(macs), params=int(params), seconds=time.perf_counter() - t0)

    @staticmethod
    def explain(prof, model, peer, ctx=None) -> list[Item]:
        from ptflops.aten_ops import ATEN_OPS_MAPPING

        known = {f"aten.{p.__name__}" for p in ATEN_OPS_MAPPING}
        items = []
        for layer in prof.layers:
            for op in layer.ops:
                if op in known:
                    continue
                lost = own_cost(layer, Aten.CONVENTION, lambda o, c, op=op: o == op)
                if lost:
                    what = ("fused attention not counted: " if op in SDPA_OPS else "not counted: ") + \
                        f"{op} is not in ptflops' aten op table"
                    items.append(Item(what, layer.path, -lost))
        return items

    explain_params = staticmethod(explain_params)
