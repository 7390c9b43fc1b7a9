"""fvcore ``FlopCountAnalysis``: jit-traces the model and counts the aten ops it has handles for.

Read from fvcore/nn/flop_count.py and jit_handles.py (0.1.5): conv (no bias), addmm/linear (no bias),
matmul/mm/bmm/einsum as one "flop" per multiply-accumulate, batch_norm (eval: 2 per element, 1 without
affine; training: 5/4), layer/group/instance norm (5/4 per element), upsample_nearest2d (1/output),
upsample_bilinear2d (4/output), adaptive_avg_pool2d (1/input), grid_sampler. Every other op is skipped and
listed by ``unsupported_ops()`` - among them ``aten::scaled_dot_product_attention`` (fused attention) and
``aten::baddbmm``. Unit: fvcore "flops" = MACs.
"""
from __future__ import annotations

import time

import torch.nn as nn

from profiler.crosscheck.base import Item, PeerRun, own_cost, own_from_inclusive, quiet, importable
from profiler.conventions.peers import BATCH_NORM_OPS, SDPA_OPS

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


def explain(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    mods = dict(model.named_modules())
    items = []
    for layer in prof.layers:
        for op in layer.ops:
            if op in _SKIPPED:
                lost = own_cost(layer, CONVENTION, lambda o, c, op=op: o == op)
                if lost:
                    kind = "fused attention" if op in SDPA_OPS else "op"
                    items.append(Item(f"{kind} not counted: {_SKIPPED[op]} has no fvcore handle (skipped)",
                                      layer.path, -lost))
            elif op in BATCH_NORM_OPS and getattr(mods.get(layer.path), "training", False):
                n = layer.ops[op].counts.get("norm", 0)
                items.append(Item("batch_norm in training mode: fvcore counts 5 (4) per element, not 2 (1)",
                                  layer.path, 3 * n))
    for (path, dims), n in ((ctx or {}).get("functional_pools") or {}).items():
        if dims == 2:
            items.append(Item("F.adaptive_avg_pool2d to size 1: aten::adaptive_avg_pool2d in fvcore's trace "
                              "(1 per input element), aten.mean at our dispatcher", path, n))
    return items


def explain_params(prof, model, peer, ctx=None) -> list[Item]:
    return []
