"""Reference MAC counter for the model tests: forward hooks on Conv/Linear, analytic formulas only.

conv: N * Cout * Hout * Wout * (Cin / groups) * kh * kw;  linear: N * in * out (per leading element).
No bias, no norms, no activations: the `macs` convention of the papers.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


def count_macs(model: nn.Module, input_size, batch: int = 1) -> int:
    total = 0

    def conv_hook(m, inp, out):
        nonlocal total
        k = math.prod(m.kernel_size)
        total += out.numel() * (m.in_channels // m.groups) * k

    def linear_hook(m, inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(batch, *input_size))
    finally:
        for h in hooks:
            h.remove()
    return total


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
