"""Python-level calls that the dispatcher hides from our per-op counts but that peers see.

``F.adaptive_avg_pool2d(x, 1)`` reaches the dispatcher as ``aten.mean`` (its decomposition), the same op as
``x.mean((2, 3), keepdim=True)`` in a squeeze-excite block. ptflops (which patches the functional) and
fvcore (whose jit trace keeps ``aten::adaptive_avg_pool2d``) count the first and not the second, so we
record, in one extra forward pass under a TorchFunctionMode, where functional adaptive average pools to
size 1 are called outside an nn.AdaptiveAvgPool module (whose layer already says what it is).
"""
from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_POOLS = {F.adaptive_avg_pool1d: 1, F.adaptive_avg_pool2d: 2, F.adaptive_avg_pool3d: 3}


def functional_global_pools(model: nn.Module, args, kwargs) -> dict[tuple[str, int], int]:
    """``{(layer path, dims): input elements}`` of functional adaptive average pools to size 1."""
    from torch.nn.modules import module as module_mod

    paths = {id(m): p for p, m in model.named_modules()}
    types = {p: type(m).__name__ for p, m in model.named_modules()}
    stack: list[str] = []
    found: dict[tuple[str, int], int] = defaultdict(int)

    class Census(TorchFunctionMode):
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            dims = _POOLS.get(func)
            if dims and isinstance(out, torch.Tensor) and all(int(s) == 1 for s in out.shape[-dims:]):
                where = stack[-1] if stack else ""
                if not types.get(where, "").startswith("AdaptiveAvgPool"):
                    found[(where, dims)] += args[0].numel()
            return out

    def pre(mod, inp):
        stack.append(paths.get(id(mod), stack[-1] if stack else ""))

    def post(mod, inp, out):
        if stack:
            stack.pop()

    h1 = module_mod.register_module_forward_pre_hook(pre)
    h2 = module_mod.register_module_forward_hook(post)
    try:
        with torch.no_grad(), Census():
            model(*args, **kwargs)
    finally:
        h1.remove()
        h2.remove()
    return dict(found)
