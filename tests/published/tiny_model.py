"""A tiny model with hand-computable costs, for the registry tests.

On a 3x8x8 input: conv 3->8, 3x3, padding 1, no bias: 8*3*9 * 8*8 = 13,824 MACs, 216 params;
linear 512 -> 10 with bias: 5,120 MACs, 5,130 params. Total 18,944 MACs, 5,346 params.
"""
import torch.nn as nn


def tiny():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(512, 10))
