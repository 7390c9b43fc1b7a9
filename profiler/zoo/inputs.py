"""A model's inputs: one sample's shape from the numbers a user gives (``224``, ``224x320``, ``3x224x224``)
and the zoo's default, and random tensors of that shape in the model's dtype."""
from __future__ import annotations

import torch
import torch.nn as nn

from profiler.errors import UsageError


def sample_shape(dims, default: tuple[int, ...], model: str = "the model",
                 rank_known: bool = True) -> tuple[int, ...]:
    """One sample's input shape (no batch) from ``dims`` and the model's default shape.

    ``default`` is (C, H, W) for images, (C, T, H, W) for video, (C, L) for 1-d signals. ``dims`` None keeps
    it; one number sets the spatial side(s) (a square image), two set H and W, and as many numbers as
    ``default`` has replace it whole. With ``rank_known=False`` (a user's model without an ``input_size``
    attribute) three or more numbers are taken as the full shape.
    """
    default = tuple(int(d) for d in default)
    if dims is None:
        return default
    dims = (int(dims),) if isinstance(dims, int) else tuple(int(d) for d in dims)
    if not dims or any(d < 1 for d in dims):
        raise UsageError(f"input sizes must be integers >= 1, got {'x'.join(map(str, dims)) or 'nothing'}")
    n, r = len(dims), len(default)
    if n == r or (not rank_known and n >= 3):
        return dims
    if n == 1 and r >= 2:
        spatial = min(2, r - 1)
        return default[:r - spatial] + dims * spatial
    if n == 2 and r >= 3:
        return default[:r - 2] + dims
    shown = "x".join(map(str, default))
    forms = {2: "L or CxL", 3: "H, HxW or CxHxW", 4: "H, HxW or CxTxHxW"}.get(r, f"{r} numbers")
    raise UsageError(f"--input {'x'.join(map(str, dims))} has {n} numbers but {model} takes {forms} "
                     f"(its default is {shown}; the batch size goes in --batch)")


def float_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (inputs are made in it)."""
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def random_inputs(shape, dtype: torch.dtype = torch.float32, device="cpu") -> torch.Tensor:
    """One input tensor of ``shape`` (batch included): random values, or storage-free on ``meta``."""
    if str(device) == "meta":
        return torch.empty(tuple(shape), dtype=dtype, device="meta")
    return torch.randn(tuple(shape), dtype=dtype, device=device)
