"""``torch.utils.flop_counter.FlopCounterMode``: a TorchDispatchMode with a formula per aten op.

Formulas (torch/utils/flop_counter.py): mm/addmm/bmm/baddbmm/convolution/_scaled_mm and the CUDA
attention kernels (_scaled_dot_product_efficient/flash/cudnn_attention, _flash/_efficient_attention_forward),
each 2 FLOPs per multiply-accumulate, bias not counted. Ops without a formula that decompose are
decomposed; the others count zero - on CPU that includes the fused attention kernel
``_scaled_dot_product_flash_attention_for_cpu``. Unit: FLOPs (= 2 x MACs).
"""
from __future__ import annotations

import time

import torch
import torch.nn as nn

from profiler.crosscheck.base import Item, PeerRun, own_cost, own_from_inclusive, importable
from profiler.conventions.peers import SDPA_OPS

NAME = "torch"
UNIT = "FLOPs"
CONVENTION = "torch"


def available() -> bool:
    return importable("torch.utils.flop_counter")


def run(model: nn.Module, args, kwargs) -> PeerRun:
    from torch.utils.flop_counter import FlopCounterMode

    t0 = time.perf_counter()
    notes = []
    fc = FlopCounterMode(display=False)
    try:
        with fc, torch.no_grad():
            model(*args, **kwargs)
    except AssertionError as exc:
        if "gradient function" not in str(exc):
            raise
        # FlopCounterMode's ModuleTracker registers multi-grad hooks on module inputs/outputs, which fails under
        # no_grad on a tensor that requires grad but has no grad_fn (timm's CaiT: torch 2.14). The same pass
        # with autograd on counts the same ops.
        notes.append(f"FlopCounterMode failed under torch.no_grad() ({exc}); counted with autograd on")
        fc = FlopCounterMode(display=False)
        with fc, torch.enable_grad():
            model(*args, **kwargs)
    total = fc.get_total_flops()
    counts = fc.get_flop_counts()
    root = type(model).__name__
    inclusive = {}
    for key, per_op in counts.items():
        if key == root:
            inclusive[""] = sum(per_op.values())
        elif key.startswith(root + "."):
            inclusive[key[len(root) + 1:]] = sum(per_op.values())
    by_layer = own_from_inclusive(inclusive, model)
    by_layer[""] = by_layer.get("", 0) + total - inclusive.get("", 0)  # ops outside the root's call
    return PeerRun(total=int(total), by_layer=by_layer, notes=notes, seconds=time.perf_counter() - t0)


def _has_formula(op_name: str) -> bool:
    from torch.utils.flop_counter import flop_registry

    packet = getattr(torch.ops.aten, op_name.split(".", 1)[1], None)
    return packet is not None and (packet in flop_registry or any(
        getattr(packet, o, None) in flop_registry for o in packet.overloads()))


def explain(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    items = []
    for layer in prof.layers:
        for op in layer.ops:
            if _has_formula(op):
                continue
            lost = own_cost(layer, CONVENTION, lambda o, c, op=op: o == op)
            if lost:
                kind = "fused attention" if op in SDPA_OPS else "op"
                items.append(Item(f"{kind} not counted: {op} has no FlopCounterMode formula", layer.path, -lost))
    return items


def explain_params(prof, model, peer, ctx=None) -> list[Item]:
    return []
