"""A training step cross-checked with torch's FlopCounterMode, the one peer that counts a backward.

Both run the same step on the CPU (forward, loss, backward; FlopCounterMode on a private copy of the model);
our count under the ``torch`` convention (2 FLOPs per multiply-accumulate, element ops not counted) is
reconciled with its total, and every op it has no formula for (it counts 0 there) is named with its layer and
phase: the CPU fused-attention backward (``_scaled_dot_product_flash_attention_for_cpu_backward``) above all.
Its weight-gradient formula for grouped and depthwise convolutions ignores the groups (``groups`` times the
true count): named too, per layer.
"""
from __future__ import annotations

import copy
import time

import torch
import torch.nn as nn

from profiler.crosscheck.base import Item, quiet
from profiler.crosscheck.torch_peer import CONVENTION, UNIT, _has_formula, available
from profiler.conventions import get_convention


def run_step(model: nn.Module, args, kwargs, loss=None) -> tuple[int, float]:
    """FlopCounterMode's total FLOPs of one step of ``model`` (on a copy), and the seconds it took."""
    from torch.utils.flop_counter import FlopCounterMode

    from profiler.core.engine import _detached
    from profiler.core.step import sum_of_outputs

    twin = copy.deepcopy(model)
    args, kwargs = _detached(args), _detached(kwargs)
    t0 = time.perf_counter()
    fc = FlopCounterMode(display=False)
    with fc:
        out = twin(*args, **kwargs)
        (loss(out) if loss is not None else sum_of_outputs(out)).backward()
    return int(fc.get_total_flops()), time.perf_counter() - t0


def _grouped_weight_gradient(layer) -> int:
    """FLOPs of a grouped convolution's weight gradient in this layer's backward (0 if none was computed)."""
    cfg = layer.config or {}
    groups = int(cfg.get("groups") or 1)
    if groups < 2 or "aten.convolution_backward" not in layer.step_ops.get("backward", {}):
        return 0
    weight = int(cfg["out_channels"]) * int(cfg["in_channels"]) // groups
    for k in cfg.get("kernel_size") or ():
        weight *= int(k)
    if layer.params_trainable < weight:  # the weight is frozen: no weight gradient
        return 0
    return 2 * layer.ops["aten.convolution"].counts.get("conv", 0) if "aten.convolution" in layer.ops else 0


def explain_step(prof) -> list[Item]:
    """Our ops of every phase that FlopCounterMode has no formula for, with what they cost under ``torch``;
    and its weight-gradient formula for grouped convolutions, which ignores the groups."""
    conv = get_convention(CONVENTION)
    items = []
    for layer in prof.layers:
        wgrad = _grouped_weight_gradient(layer)
        if wgrad:
            groups = int(layer.config["groups"])
            items.append(Item(f"backward: FlopCounterMode's convolution_backward weight-gradient formula ignores "
                              f"groups (counts {groups} x the weight gradient; fixed upstream in pytorch PR "
                              f"#183405, not in torch {torch.__version__})", layer.path, (groups - 1) * wgrad))
    for layer in prof.layers:
        for phase, ops in layer.phase_ops().items():
            for op, st in ops.items():
                if _has_formula(op):
                    continue
                lost = int(round(sum(conv.cost(layer, op, c, n) for c, n in st.counts.items())))
                if lost:
                    kind = "fused attention backward" if "attention" in op and op.endswith("_backward") else \
                        "fused attention" if "attention" in op else "op"
                    items.append(Item(f"{phase}: {kind} not counted: {op} has no FlopCounterMode formula",
                                      layer.path, -lost))
    return items


def crosscheck_step(model: nn.Module, inputs=None, *, input_size=None, loss=None, profile=None) -> dict:
    """Reconcile FlopCounterMode's count of a training step with ours.

    Returns ``{"theirs", "ours", "explained": [{"what", "layer", "macs"}], "unexplained", "unit": "FLOPs",
    "convention": "torch", "ours_by_phase", "seconds"}`` with ``theirs - ours - sum(explained) == unexplained``.
    ``profile``: our step of the same model and inputs on real tensors, if already made.
    """
    from profiler.core.engine import model_device, profile as run_profile
    from profiler.crosscheck.core import _normalise, _reconcile

    if not available():
        raise RuntimeError("torch.utils.flop_counter is not available in this torch")
    args, kwargs = _normalise(model, inputs, input_size)
    if profile is None or profile.device == "meta" or not profile.is_step:
        # Real kernels, as FlopCounterMode sees them (meta runs attention's math path instead).
        profile = run_profile(model, kwargs if kwargs else (args if len(args) != 1 else args[0]), backward=True,
                              loss=loss, convention=CONVENTION, device=model_device(model))
    with quiet():
        theirs, seconds = run_step(model, args, kwargs, loss)
    out = _reconcile(theirs, profile.total(CONVENTION), explain_step(profile))
    out.update(unit=UNIT, convention=CONVENTION, seconds=seconds,
               ours_by_phase={k: int(round(sum(layer.cost(CONVENTION, p) for layer in profile.layers
                                                for p in ([k, "recompute"] if k == "backward" else [k]))))
                              for k in ("forward", "loss", "backward")})
    return out
