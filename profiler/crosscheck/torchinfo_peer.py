"""torchinfo (``torchinfo.summary``): "Mult-Adds" and parameters from a LayerInfo per module call.

Read from torchinfo/layer_info.py and model_statistics.py (1.8): mult-adds are derived from *parameters*,
for leaf layers only: a layer whose class name contains "Conv" costs (weight + bias elements) x N x output
spatial size (a transposed conv therefore from the output side); any other leaf costs N x (weight + bias
elements), N = the output's first dimension - so a Linear applied to (B, T, C) tokens is costed for B rows,
not B x T, and a BatchNorm/LayerNorm costs N x its parameters. Parameter-free ops (attention, matmul,
functional calls) and ops of non-leaf modules cost zero. Parameters: each module once (a module called
again is "(recursive)"). Unit: MACs.
"""
from __future__ import annotations

import time

import torch.nn as nn

from profiler.counters.registry import numel
from profiler.crosscheck.base import Item, PeerRun, own_cost, quiet, importable
from profiler.conventions.peers import SDPA_OPS

NAME = "torchinfo"
UNIT = "MACs"
CONVENTION = "torchinfo"


def available() -> bool:
    return importable("torchinfo")


def run(model: nn.Module, args, kwargs) -> PeerRun:
    import torchinfo

    t0 = time.perf_counter()
    data = kwargs if kwargs else list(args)
    with quiet():
        stats = torchinfo.summary(model, input_data=data, verbose=0, mode="eval" if not model.training else "train",
                                  device=next((t.device for t in model.parameters()), None))
    paths = {id(m): p for p, m in model.named_modules()}
    by_layer: dict[str, int] = {}
    for info in stats.summary_list:
        if info.is_leaf_layer:
            path = paths.get(id(info.module), "")
            by_layer[path] = by_layer.get(path, 0) + int(info.macs)
    return PeerRun(total=int(stats.total_mult_adds), by_layer=by_layer, params=int(stats.total_params),
                   seconds=time.perf_counter() - t0)


def _predicted(mod: nn.Module, out_shape) -> int:
    """torchinfo's mult-adds for one call of leaf ``mod`` with output shape ``out_shape``."""
    if not out_shape:
        return 0
    total = 0
    for name, p in mod.named_parameters():
        if name in ("weight", "bias"):
            if "Conv" in type(mod).__name__:
                total += p.numel() * int(out_shape[0]) * numel(out_shape[2:])
            else:
                total += int(out_shape[0]) * p.numel()
        elif "weight" in name or "bias" in name:
            total += numel(out_shape[:2]) * p.numel()
    return total


def explain(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    mods = dict(model.named_modules())
    items = []
    for layer in prof.layers:
        mod = mods.get(layer.path)
        if mod is None or not layer.calls:
            continue
        if list(mod.children()):
            attn = own_cost(layer, CONVENTION, lambda o, c: o in SDPA_OPS)
            if attn:
                items.append(Item(f"fused attention not counted: ops of non-leaf {type(mod).__name__} "
                                  "(torchinfo costs leaf layers' parameters only)", layer.path, -attn))
            rest = own_cost(layer, CONVENTION, lambda o, c: o not in SDPA_OPS)
            if rest:
                items.append(Item(f"not counted: ops of non-leaf {type(mod).__name__} (torchinfo costs leaf "
                                  "layers only)", layer.path, -rest))
            continue
        out = layer.output_shapes[0] if layer.output_shapes else None
        theirs = _predicted(mod, out) * layer.calls
        ours = own_cost(layer, CONVENTION)
        if theirs == ours:
            continue
        has_params = any(n in ("weight", "bias") or "weight" in n or "bias" in n for n, _ in mod.named_parameters())
        if not has_params:
            what = f"not counted: {type(mod).__name__} has no parameters (torchinfo derives mult-adds from them)"
        elif isinstance(mod, nn.modules.conv._ConvTransposeNd):
            what = "transposed conv costed from the output side (parameters x output positions)"
        elif "Conv" in type(mod).__name__:
            what = f"{type(mod).__name__}: parameters x output positions differs from its MACs"
        elif ours == 0:
            what = f"{type(mod).__name__}: torchinfo counts batch x parameters as mult-adds"
        elif out is not None and len(out) > 2:
            what = (f"{type(mod).__name__} on {len(out)}-d input: torchinfo multiplies parameters by the batch "
                    f"size only ({numel(out[1:-1])} positions per sample ignored)")
        else:
            what = f"{type(mod).__name__}: batch x parameters differs from its MACs"
        items.append(Item(what, layer.path, theirs - ours))
    return items


def explain_params(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    # A tensor registered by two different modules (tied weights) is in both modules' counts.
    seen: dict[int, str] = {}
    items = []
    for path, mod in model.named_modules():
        for p in mod._parameters.values():
            if p is None:
                continue
            if id(p) in seen:
                items.append(Item(f"tied parameter counted again (first registered by '{seen[id(p)]}')",
                                  path, p.numel()))
            else:
                seen[id(p)] = path
    return items
