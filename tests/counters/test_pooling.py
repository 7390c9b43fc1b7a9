"""Pooling rules: element operations actually done.

Windowed pooling: every output element reduces a full kernel window: numel(out) * prod(kernel).
Adaptive pooling: output index i along a dim of size In -> Out reads the window
[floor(i*In/Out), ceil((i+1)*In/Out)) (PyTorch's definition), so windows may overlap and differ in size.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from hypothesis import given, strategies as st

from _opcount import counts, macs_only, prod

MAX = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVG = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
AMAX = {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d}
AAVG = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


def pool_out(size, k, s, p, d, ceil):
    out = []
    for i in range(len(size)):
        span = size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1
        o = (math.ceil(span / s[i]) if ceil else span // s[i]) + 1
        if ceil and (o - 1) * s[i] >= size[i] + p[i]:  # the last window must start inside
            o -= 1
        out.append(o)
    return out


@given(st.sampled_from([1, 2, 3]), st.sampled_from(["max", "avg"]), st.data())
def test_windowed_pooling(nd, kind, data):
    k = [data.draw(st.integers(1, 3)) for _ in range(nd)]
    s = [data.draw(st.integers(1, 3)) for _ in range(nd)]
    p = [data.draw(st.integers(0, ki // 2)) for ki in k]
    d = [data.draw(st.integers(1, 2)) for _ in range(nd)] if kind == "max" else [1] * nd
    ceil = data.draw(st.booleans())
    size = [d[i] * (k[i] - 1) + 1 + data.draw(st.integers(0, 4)) for i in range(nd)]
    n, ch = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    if kind == "max":
        pool = MAX[nd](k, s, p, dilation=d, ceil_mode=ceil)
    else:
        pool = AVG[nd](k, s, p, ceil_mode=ceil)
    out = pool_out(size, k, s, p, d, ceil)
    c = counts(pool, torch.randn(n, ch, *size))
    macs_only(c, "conv", 0)
    assert c["pooling"] == n * ch * prod(out) * prod(k)


def adaptive_reads(size, out):
    total = 1
    for inp, o in zip(size, out):
        total *= sum(math.ceil((i + 1) * inp / o) - math.floor(i * inp / o) for i in range(o))
    return total


@given(st.sampled_from([1, 2, 3]), st.sampled_from(["max", "avg"]), st.data())
def test_adaptive_pooling_exact_windows(nd, kind, data):
    size = [data.draw(st.integers(1, 9)) for _ in range(nd)]
    out = [data.draw(st.integers(1, 6)) for _ in range(nd)]
    n, ch = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    pool = (AMAX if kind == "max" else AAVG)[nd](out)
    c = counts(pool, torch.randn(n, ch, *size))
    assert c["pooling"] == n * ch * adaptive_reads(size, out)


def test_adaptive_known_values():
    # 7 -> 3: windows [0,3), [2,5), [4,7): 3 + 3 + 3 = 9 reads per row; 7 -> 1: 7 reads.
    assert counts(nn.AdaptiveAvgPool1d(3), torch.randn(1, 1, 7))["pooling"] == 9
    assert counts(nn.AdaptiveAvgPool2d(1), torch.randn(2, 5, 7, 7))["pooling"] == 2 * 5 * 49
    assert counts(nn.AdaptiveAvgPool2d((None, 2)), torch.randn(1, 1, 3, 4))["pooling"] == 12


def test_global_average_pool_as_mean():
    x = torch.randn(2, 8, 5, 5)
    assert counts(lambda t: t.mean((2, 3)), x)["pooling"] == x.numel()
    assert counts(lambda t: t.mean((2, 3), keepdim=True), x)["pooling"] == x.numel()


def test_fractional_max_pool():
    pool = nn.FractionalMaxPool2d(2, output_size=3)
    assert counts(pool, torch.randn(1, 2, 7, 7))["pooling"] == 2 * 9 * 4
