"""torchsummary (``torchsummary.summary``): parameters only (it prints no MACs).

Read from torchsummary/torchsummary.py (1.5): a forward hook on every module but the root, Sequential and
ModuleList adds, *per call*, the size of ``module.weight`` and ``module.bias`` if the module has them. So a
module called twice is counted twice, a tied weight once per module holding it, and parameters with
other names (class tokens, position embeddings, layer-scale gammas, MultiheadAttention's in_proj_weight)
or owned by the root are not counted. The figure compared is the printed "Total params". Unit: parameters.
"""
from __future__ import annotations

import re
import time

import torch
import torch.nn as nn

from profiler.crosscheck.base import Item, PeerRun, quiet, importable

NAME = "torchsummary"
UNIT = "params"
CONVENTION = None  # compared on parameters: ours = unique parameters


def available() -> bool:
    return importable("torchsummary")


def run(model: nn.Module, args, kwargs) -> PeerRun:
    from torchsummary import summary

    if kwargs or len(args) != 1 or not isinstance(args[0], torch.Tensor):
        raise ValueError("torchsummary feeds one input tensor")
    t0 = time.perf_counter()
    with quiet() as out:
        summary(model, tuple(args[0].shape[1:]), device=args[0].device.type)
    text = out.getvalue()
    m = re.search(r"Total params:\s*([\d,]+)", text)
    if not m:
        raise RuntimeError("torchsummary printed no 'Total params'")
    total = int(m.group(1).replace(",", ""))
    return PeerRun(total=total, params=total, seconds=time.perf_counter() - t0)


def _size(t) -> int:
    return int(torch.Size(t.size()).numel()) if hasattr(t, "size") and callable(getattr(t, "size")) else 0


def explain_params(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    items = []
    by_path = {layer.path: layer for layer in prof.layers}
    seen_mods = set()
    for path, mod in model.named_modules():
        layer = by_path.get(path)
        if layer is None or id(mod) in seen_mods:
            continue
        seen_mods.add(id(mod))
        hooked = path != "" and not isinstance(mod, (nn.Sequential, nn.ModuleList))
        wb = sum(_size(getattr(mod, n)) for n in ("weight", "bias")
                 if hasattr(mod, n) and getattr(mod, n) is not None)
        other = sum(p.numel() for n, p in mod._parameters.items() if p is not None and n not in ("weight", "bias"))
        if not hooked:
            if layer.params:
                items.append(Item(f"parameters of {'the root' if not path else type(mod).__name__} not counted "
                                  "(torchsummary hooks every module but the root and containers)", path,
                                  -layer.params))
            continue
        if other:
            names = ", ".join(n for n, p in mod._parameters.items() if p is not None and n not in ("weight", "bias"))
            items.append(Item(f"parameters not named weight/bias not counted ({names})", path, -other))
        owned_wb = layer.params - other
        if layer.calls != 1 and wb:
            items.append(Item(f"weight/bias added once per call ({layer.calls} calls)", path, wb * (layer.calls - 1)))
        if wb != owned_wb:
            items.append(Item("weight/bias held here but registered first by another module (tied) or not a "
                              "parameter", path, wb - owned_wb))
    return items
