"""Shared pieces of the ShuffleNet-style architectures (not a registered module: leading underscore)."""
from __future__ import annotations

import torch


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(N, g*c, H, W) -> (N, c*g, H, W): channel i of group j goes to position i*g + j."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)
