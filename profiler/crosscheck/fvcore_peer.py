"""fvcore ``FlopCountAnalysis``: jit-traces the model and counts the aten ops it has handles for.

Read from fvcore/nn/flop_count.py and jit_handles.py (0.1.5): conv (no bias), addmm/linear (no bias),
matmul/mm/bmm/einsum as one "flop" per multiply-accumulate, batch_norm (eval: 2 per element, 1 without
a weight; training: 5/4), layer/group/instance norm (5/4 per element), upsample_nearest2d (1/output),
upsample_bilinear2d (4/output), adaptive_avg_pool2d (1/input), grid_sampler. Every other op is skipped and
listed by ``unsupported_ops()``; the ones that multiply-accumulate are named here with their layer:
``aten::scaled_dot_product_attention`` (fused attention), ``aten::baddbmm``, the recurrent layers
``aten::lstm`` / ``aten::gru`` / ``aten::rnn_tanh`` / ``aten::rnn_relu`` (nn.LSTM, nn.GRU, nn.RNN: one op in
the trace, so the whole layer counts 0; the cells trace to linear ops and are counted) and
``aten::_convolution_mode`` (a convolution called with ``padding="same"`` or ``"valid"``). Unit: fvcore
"flops" = MACs.
"""
from __future__ import annotations

import time

import torch.nn as nn

from profiler.crosscheck.base import Item, PeerRun, own_cost, own_from_inclusive, quiet, importable
from profiler.conventions.peers import BATCH_NORM_OPS, SDPA_OPS
from profiler.counters.norm import INPUT_STATS

NAME = "fvcore"
UNIT = "fvcore flops (= MACs)"
CONVENTION = "fvcore"

# Our (dispatch-level) op names whose jit-level op has no fvcore handle although it multiplies-accumulates.
_SKIPPED = {op: "aten::scaled_dot_product_attention" for op in SDPA_OPS}
_SKIPPED.update({"aten.baddbmm": "aten::baddbmm", "aten.addbmm": "aten::addbmm", "aten.addmv": "aten::addmv",
                 "aten.addr": "aten::addr", "aten._native_multi_head_attention": "aten::_native_multi_head_attention"})


def available() -> bool:
    return importable("fvcore.nn")


def run(model: nn.Module, args, kwargs) -> PeerRun:
    from fvcore.nn import FlopCountAnalysis

    if kwargs:
        raise ValueError("fvcore traces positional inputs only")
    t0 = time.perf_counter()
    with quiet():
        fa = FlopCountAnalysis(model, args if len(args) != 1 else args[0])
        fa.unsupported_ops_warnings(False)
        fa.uncalled_modules_warnings(False)
        fa.tracer_warnings("none")
        total = fa.total()
        inclusive = dict(fa.by_module())
        skipped = dict(fa.unsupported_ops())
    notes = [f"skipped by fvcore: {', '.join(f'{k} x{v}' for k, v in sorted(skipped.items()))}"] if skipped else []
    return PeerRun(total=int(total), by_layer=own_from_inclusive(inclusive, model), notes=notes,
                   seconds=time.perf_counter() - t0)


def fvcore_einsum(equation: str, shapes) -> int:
    """fvcore's einsum_flop_jit: letters renamed in order of appearance; ``abc,abd->acd`` and ``abc,adc->adb``
    by their sizes; any other equation is half of numpy's ``einsum_path(optimize="optimal")`` FLOP count as
    numpy *prints* it (``%.3e``, four significant digits), floored."""
    import numpy as np

    eq = equation.replace(" ", "")
    order = list(dict.fromkeys(ch for ch in eq if ch.isalpha()))
    eq = eq.translate({ord(x): 97 + i for i, x in enumerate(order)})
    if eq == "abc,abd->acd":
        (n, c, t), p = shapes[0], shapes[-1][-1]
        return n * c * t * p
    if eq == "abc,adc->adb":
        (n, t, g), c = shapes[0], shapes[-1][1]
        return n * t * g * c
    arrays = [np.broadcast_to(np.zeros((), dtype=np.float32), s) for s in shapes]  # shapes only, no memory
    text = np.einsum_path(eq, *arrays, optimize="optimal")[1]
    line = next(ln for ln in text.split("\n") if "optimized flop" in ln.lower())
    return int(np.floor(float(line.split(":")[-1]) / 2))


def einsum_macs(equation: str, shapes) -> int | None:
    """Our MACs of a two-operand einsum: every combination of its indices once when some index is summed
    (the batched product it runs as), none when nothing is summed (an element-wise product); None otherwise."""
    eq = equation.replace(" ", "")
    if "->" not in eq or "." in eq:
        return None
    lhs, out = eq.split("->")
    terms = lhs.split(",")
    if len(terms) != 2 or len(shapes) != 2:
        return None
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        for ch, d in zip(term, shape):
            sizes[ch] = max(sizes.get(ch, 1), int(d))
    if not set(sizes) - set(out):
        return 0
    n = 1
    for d in sizes.values():
        n *= d
    return n


# The jit op an nn.RNNBase layer traces to, by its mode.
_RNN_OPS = {"LSTM": "aten::lstm", "GRU": "aten::gru", "RNN_TANH": "aten::rnn_tanh", "RNN_RELU": "aten::rnn_relu"}


def _pastes_masks(model: nn.Module) -> bool:
    """A torchvision Mask R-CNN (a GeneralizedRCNN whose ROI heads predict masks)."""
    try:
        from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
    except ImportError:
        return False
    heads = getattr(model, "roi_heads", None)
    return isinstance(model, GeneralizedRCNN) and heads is not None and bool(heads.has_mask())


def explain(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    mods = dict(model.named_modules())
    ctx = ctx or {}
    items = []
    for layer in prof.layers:
        mod = mods.get(layer.path)
        if isinstance(mod, nn.RNNBase):
            lost = own_cost(layer, CONVENTION)
            if lost:
                items.append(Item(f"recurrent layer not counted: {_RNN_OPS.get(mod.mode, mod.mode)} has no fvcore "
                                  f"handle (skipped; the whole {type(mod).__name__} is that one op)",
                                  layer.path, -lost))
            continue
        for op in layer.ops:
            if op in SDPA_OPS and "sdpa" in ctx:
                continue  # named from the census below, whichever kernel ran
            if op in _SKIPPED:
                lost = own_cost(layer, CONVENTION, lambda o, c, op=op: o == op)
                if lost:
                    kind = "fused attention" if op in SDPA_OPS else "op"
                    items.append(Item(f"{kind} not counted: {_SKIPPED[op]} has no fvcore handle (skipped)",
                                      layer.path, -lost))
            elif op in BATCH_NORM_OPS and isinstance(mod, nn.modules.instancenorm._InstanceNorm):
                # aten::instance_norm's handle counts 4 (5) per element whether or not it uses its input's
                # statistics; with running statistics (use_input_stats=False) our batch_norm is an eval one.
                st = layer.ops[op].counts
                stored = st.get("norm", 0) - st.get(INPUT_STATS, 0)
                if stored:
                    items.append(Item("instance_norm with running statistics: fvcore's instance_norm handle "
                                      "counts 4 (5) per element as with input statistics, not 1 (2)",
                                      layer.path, 3 * stored))
    if _pastes_masks(model) and "" in prof._by_path:
        # GeneralizedRCNNTransform.postprocess (called by the root's forward, so its ops are the root's) pastes
        # each mask with F.interpolate inside paste_masks_in_image, which torchvision scripts when it is traced
        # (@torch.jit._script_if_tracing): fvcore's trace holds one scripted call and counts none of them.
        lost = own_cost(prof.layer(""), CONVENTION, lambda o, c: o == "aten.upsample_bilinear2d")
        if lost:
            items.append(Item("mask pasting not counted: torchvision's paste_masks_in_image is scripted when traced, "
                              "fvcore sees none of its upsample_bilinear2d calls", "", -lost))
    for path, calls in (ctx.get("einsums") or {}).items():
        diff = 0
        for equation, shapes in calls:
            ours = einsum_macs(equation, shapes)
            if ours is not None:
                diff += fvcore_einsum(equation, shapes) - ours
        if diff:
            items.append(Item("einsum costed by fvcore as half of numpy's einsum_path FLOP count read from its "
                              "printout (4 significant digits)", path, diff))
    for path, macs in (ctx.get("sdpa") or {}).items():
        items.append(Item("fused attention not counted: aten::scaled_dot_product_attention has no fvcore handle "
                          "(skipped)", path, -macs))
    for path, macs in (ctx.get("string_padding_convs") or {}).items():
        items.append(Item('conv not counted: padding="same"/"valid" traces to aten::_convolution_mode, which has '
                          "no fvcore handle (skipped)", path, -macs))
    for (path, dims), n in (ctx.get("functional_pools") or {}).items():
        if dims == 2:
            items.append(Item("F.adaptive_avg_pool2d to size 1: aten::adaptive_avg_pool2d in fvcore's trace "
                              "(1 per input element), aten.mean at our dispatcher", path, n))
    return items


def explain_params(prof, model, peer, ctx=None) -> list[Item]:
    return []
