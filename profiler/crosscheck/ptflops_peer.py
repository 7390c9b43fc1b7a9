"""ptflops (``get_model_complexity_info``), pytorch backend and aten backend.

pytorch backend, read from ptflops/pytorch_engine.py and pytorch_ops.py (0.7.x):
- forward hooks on modules whose *exact* type is in ``MODULES_MAPPING`` (Conv/ConvTranspose, Linear,
  BN/IN/GN/LN, ReLU/PReLU/ELU/LeakyReLU/ReLU6/GELU, pools, Upsample, RNNs, MultiheadAttention, timm's
  vision-transformer Attention); a subclass (timm's BatchNormAct2d, Conv2dSame, LayerNorm) is not hooked;
- the per-module sum stops at a hooked module: children of a hooked module are not added
  (timm's Attention hook counts QK^T/softmax/AV and q scaling, so its qkv/proj Linears are dropped);
- ``torch.nn.functional`` relu/prelu/elu/relu6/gelu/silu/softmax/pools/interpolate and torch/Tensor
  matmul/mm/bmm/addmm/baddbmm/add/mul are patched during the pass and counted wherever they are called,
  by ptflops' own formulas, if the code is written as those calls (``torch.matmul``, not ``@``; ``F.softmax``,
  not ``x.softmax()``; ``torch.add``, not ``+``): :mod:`profiler.crosscheck.census` records them the same way;
  a hooked nn.ReLU/GELU/pool/Upsample module whose forward calls the patched function counts twice;
- the total is "per sample" only in part: the hooks' sum is divided by the batch size (``len()`` of the
  first positional input), the patched functionals' counts are not.
aten backend (aten_engine.py): a TorchDispatchMode counting aten convolution/mm/matmul/addmm/bmm only
(bias included); everything else, fused attention included, is zero. It registers a forward pre-hook and hook
on every child of the model and never removes them (0.7.5): one more pair per call, each holding its counter
alive; the cross-check gives every peer its own copy of the model.
Unit: MACs (ptflops prints "GMac").
"""
from __future__ import annotations

import time
from collections import defaultdict

import torch
import torch.nn as nn

from profiler.crosscheck.base import Item, PeerRun, is_descendant, own_cost, quiet, importable
from profiler.conventions import get_convention
from profiler.conventions.peers import POOL_OPS, PTFLOPS_ACTIVATIONS, SDPA_OPS, UPSAMPLE_OPS

NAME = "ptflops"
UNIT = "MACs"
CONVENTION = "ptflops"



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
    # What ptflops sums: a hooked module's own hook, not those of hooked modules below it, once per place
    # the module is registered (accumulate_flops walks children(), which does not merge shared modules).
    walks = _hook_walks(model, _hooked_types())
    for m in model.modules():
        path = paths.get(id(m))
        if path in snapshot and walks.get(id(m)):
            by_layer[path] += snapshot[path] * walks[id(m)]
    return PeerRun(total=int(macs), by_layer={k: int(round(v)) for k, v in by_layer.items()},
                   params=int(params), seconds=time.perf_counter() - t0)


# ptflops' rnn_flops: element ops per step added to the weight products, in units of hidden_size.
_RNN_EXTRA = {"RNN": 1, "GRU": 7, "LSTM": 10}
_RNN_EXTRA_TEXT = {"RNN": "h", "GRU": "7h", "LSTM": "10h"}


def _rnn_kind(mod) -> str:
    name = type(mod).__name__
    return "LSTM" if "LSTM" in name else "GRU" if "GRU" in name else "RNN"


def _rnn_hook(mod: nn.Module, layer) -> int | None:
    """What ptflops' rnn_flops_counter_hook / rnn_cell_flops_counter_hook add for ``layer``'s calls
    (pytorch_ops.py, 0.7.x), from the module's weights and the first call's input shape; None if not an RNN."""
    if not isinstance(mod, (nn.RNNBase, nn.RNNCellBase)) or not layer.input_shapes:
        return None
    x = layer.input_shapes[0]
    if not isinstance(x, (tuple, list)) or not x or not all(isinstance(d, int) for d in x):
        return None  # a PackedSequence: not predicted
    extra = _RNN_EXTRA[_rnn_kind(mod)] * mod.hidden_size
    if isinstance(mod, nn.RNNCellBase):
        flops = mod.weight_ih.numel() + mod.weight_hh.numel() + extra
        if mod.bias:
            flops += mod.bias_ih.shape[0] + mod.bias_hh.shape[0]
        return flops * int(x[0]) * layer.calls
    flops = 0
    for i in range(mod.num_layers):
        flops += getattr(mod, f"weight_ih_l{i}").numel() + getattr(mod, f"weight_hh_l{i}").numel() + extra
        if mod.bias:
            flops += getattr(mod, f"bias_ih_l{i}").shape[0] + getattr(mod, f"bias_hh_l{i}").shape[0]
    flops *= int(x[0]) * int(x[1]) if len(x) > 1 else int(x[0])
    return flops * (2 if mod.bidirectional else 1) * layer.calls


def _mha_hook(mod: nn.Module, layer) -> int | None:
    """ptflops' multihead_attention_counter_hook for ``layer``'s calls (query, key, value given positionally),
    from the module's sizes and the first call's input shapes; None if not an nn.MultiheadAttention."""
    if not isinstance(mod, nn.MultiheadAttention) or len(layer.input_shapes) < 3:
        return None
    q, k, v = layer.input_shapes[:3]
    if not all(isinstance(t, (tuple, list)) and len(t) == 3 for t in (q, k, v)):
        return None
    batch_first = getattr(mod, "batch_first", False)
    bi, li = (0, 1) if batch_first else (1, 0)
    qlen, klen, vlen = int(q[li]), int(k[li]), int(v[li])
    qdim, kdim, vdim = int(q[2]), int(k[2]), int(v[2])
    heads = mod.num_heads
    flops = qlen * qdim + qlen * qdim * qdim + klen * kdim * kdim + vlen * vdim * vdim
    if mod.in_proj_bias is not None:
        flops += (qlen + klen + vlen) * qdim
    flops += heads * (qlen * klen * (qdim // heads) + qlen * klen + qlen * klen * (vdim // heads))
    flops += qlen * vdim * (vdim + 1)
    return flops * int(q[bi]) * layer.calls


def _timm_attention(mod) -> bool:
    """The module type ptflops registers as timm's vision-transformer Attention (its hook, not ours)."""
    try:
        from ptflops.pytorch_ops import MODULES_MAPPING, timm_attention_counter_hook
    except ImportError:
        return False
    return MODULES_MAPPING.get(type(mod)) is timm_attention_counter_hook


def _hook_walks(model: nn.Module, hooked_types) -> dict[int, int]:
    """id(module) -> how many times ptflops' accumulate_flops reaches that hooked module: it walks
    ``children()`` from the root (every registration, a module shared by k parents k times) and stops at a
    hooked module."""
    counts: dict[int, int] = defaultdict(int)

    def walk(m):
        if type(m) in hooked_types:
            counts[id(m)] += 1
            return
        for child in m.children():  # children() merges a module registered twice by the same parent
            walk(child)

    walk(model)
    return dict(counts)


def _hooked_types():
    from ptflops.pytorch_ops import MODULES_MAPPING
    return set(MODULES_MAPPING)


# What ptflops counts outside its module hooks: the calls it patches (profiler.crosscheck.census records them
# with ptflops' formulas, by family); our ops fall in the same families.
_PATCHED_TEXT = {
    "activation": "activations: ptflops counts F.relu/prelu/elu/relu6/gelu/silu/softmax calls (patched, 1 per input "
                  "element), not Tensor methods (x.softmax()) nor other activations",
    "pooling": "pooling: ptflops counts F.*pool* calls (patched, 1 per input element)",
    "upsample": "upsampling: ptflops' patched F.interpolate/F.upsample formula (N x C x output size)",
    "products": "matrix products: ptflops counts torch.matmul/mm/bmm/addmm/baddbmm and Tensor.matmul/mm/bmm/addmm "
                "calls (patched, prod(a) x b[-1]), not `@`, F.linear or einsum",
    "elementwise": "element ops counted by ptflops' patched torch.add/mul and Tensor.add/mul (shapes lined up "
                   "from the left, 1 per element of the larger), not `+` or `*`",
}
_PRODUCT_BIAS_OPS = {"aten.addmm", "aten.baddbmm", "aten.addbmm", "aten.addmv"}


def _family(layer, op: str, cat: str) -> str:
    """Which family of ptflops' patched calls one of our (op, category) counts belongs to."""
    if op in SDPA_OPS:
        return "fused attention"
    if op in PTFLOPS_ACTIVATIONS:
        return "activation"
    if op in POOL_OPS or op == "aten.mean":
        return "pooling"
    if op in UPSAMPLE_OPS:
        return "upsample"
    if cat in ("linear", "attention") or (cat == "bias" and op in _PRODUCT_BIAS_OPS):
        return "products"
    return "other"


def explain(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    """Differences between ptflops' total and ours in the ``ptflops`` convention, predicted from the model's
    structure, our per-op counts and the census of ptflops' patched calls (not read off ptflops' numbers).

    ptflops' total = the hooks of the outermost hooked modules (exact type match; divided by the batch size)
    + every patched call, wherever it is made (not divided)."""
    hooked_types = _hooked_types()
    mods = dict(model.named_modules())
    hooked = [p for p, m in mods.items() if type(m) in hooked_types]
    walks = _hook_walks(model, hooked_types)
    ctx = ctx or {}
    calls = ctx.get("ptflops_calls") or {}
    # ptflops' batch counter: len() of the model's first positional input (1 for keyword-only inputs).
    args = ctx.get("args") or ()
    batch = len(args[0]) if args and isinstance(args[0], torch.Tensor) and args[0].dim() else 1
    items: list[Item] = []

    for layer in prof.layers:
        mod = mods.get(layer.path)
        if mod is None:
            continue
        patched = calls.get(layer.path, {})
        parent = next((a for a in hooked if is_descendant(layer.path, a)), None)
        if parent is None and type(mod) in hooked_types:
            items.extend(_hooked_items(layer, mod, patched, batch, walks.get(id(mod), 1)))
            continue
        # No hook counts this layer's ops: only its patched calls are counted, by ptflops' formulas.
        if parent is not None:
            why = (f"not counted: child of a hooked {type(mods[parent]).__name__}, whose hook replaces its "
                   "children's (the sum stops at a hooked module)")
        else:
            why = f"not counted: {type(mod).__name__} is not a module type ptflops hooks (exact type match)"
        ours: dict[str, float] = {}
        conv = get_convention(CONVENTION)
        for op, st in layer.ops.items():
            for cat, n in st.counts.items():
                fam = _family(layer, op, cat)
                ours[fam] = ours.get(fam, 0) + conv.cost(layer, op, cat, n)
        lost = 0
        for fam in ("fused attention", "activation", "pooling", "upsample", "products", "elementwise", "other"):
            mine, theirs = int(round(ours.get(fam, 0))), int(round(patched.get(fam, 0)))
            if fam == "fused attention":
                if mine:
                    items.append(Item("fused attention (scaled_dot_product_attention) not counted: no ptflops rule",
                                      layer.path, -mine))
            elif not theirs:
                lost += mine
            elif theirs != mine:
                items.append(Item(_PATCHED_TEXT[fam], layer.path, theirs - mine))
        if lost:
            items.append(Item(why, layer.path, -lost))
    return items


def _hooked_items(layer, mod: nn.Module, patched: dict, batch: int, walks: int = 1) -> list[Item]:
    """An outermost hooked module: its hook (~ our count of its own ops, with the hook's quirks), divided by the
    batch size, once per place it is registered, plus the patched calls its forward makes (counted again)."""
    items = []
    hook = own_cost(layer, CONVENTION)
    rnn = _rnn_hook(mod, layer)
    if rnn is not None and rnn != hook:
        items.append(Item(f"{type(mod).__name__} costed by ptflops' recurrent formula (weights + bias + "
                          f"{_RNN_EXTRA_TEXT[_rnn_kind(mod)]} per step, steps x batch read as input "
                          "dims 0 x 1), not op by op", layer.path, rnn - hook))
        hook = rnn
    mha = _mha_hook(mod, layer)
    if mha is not None and mha != hook:
        items.append(Item("nn.MultiheadAttention costed by ptflops' hook formula (q scaling, projections, bias, "
                          "QK^T, softmax, AV, output projection with its bias), not op by op", layer.path, mha - hook))
        hook = mha
    if _timm_attention(mod) and layer.input_shapes:
        # timm_attention_counter_hook: B x N x (head_dim x num_heads) for the q scaling, besides QK^T, the N x N
        # softmax and AV per head (ours too); B, N from the input's shape.
        b, n = layer.input_shapes[0][:2] if len(layer.input_shapes[0]) == 3 else (0, 0)
        if b:
            q = b * n * mod.head_dim * mod.num_heads * layer.calls
            items.append(Item("q scaling (N x heads x head_dim multiplies) counted by ptflops' timm Attention hook",
                              layer.path, q))
            hook += q
    twice = int(round(sum(patched.values())))
    if twice:
        items.append(Item(f"counted twice: {type(mod).__name__} hook and the patched functional it calls",
                          layer.path, twice))
    if walks > 1 and hook:
        items.append(Item(f"shared {type(mod).__name__} summed once per parent that registers it ({walks}): "
                          "ptflops walks children(), every call counted each time", layer.path, (walks - 1) * hook))
        hook *= walks
    if batch > 1 and hook:
        items.append(Item(f"per sample: ptflops divides module-hook counts by the batch size ({batch}), "
                          "not its patched-functional counts", layer.path, round(hook / batch) - hook))
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
