"""Convolution rules against brute-force formulas on random shapes.

conv:       MACs = N * Cout * prod(out spatial) * (Cin/groups) * prod(kernel),
            out = floor((in + 2*pad - dilation*(k-1) - 1) / stride) + 1  (PyTorch's Conv docs).
transposed: MACs = N * Cin * (Cout/groups) * prod(kernel) * prod(in spatial): each input position is
            scattered into a kernel-sized window of every output channel of its group.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, strategies as st

from _opcount import counts, macs_only, prod

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONVT = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


@st.composite
def conv_cases(draw):
    nd = draw(st.sampled_from([1, 2, 3]))
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    k = [draw(st.integers(1, 3)) for _ in range(nd)]
    dil = [draw(st.integers(1, 2)) for _ in range(nd)]
    padding_mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    padding = draw(st.sampled_from(["int", "same", "valid"]))
    stride = [1] * nd if padding == "same" else [draw(st.integers(1, 3)) for _ in range(nd)]
    if padding == "int":
        pad = [draw(st.integers(0, 2)) for _ in range(nd)]
    else:
        pad = None
    # Input big enough for the dilated kernel and (for reflect) larger than the padding.
    size = [dil[i] * (k[i] - 1) + 1 + draw(st.integers(0, 4)) + (2 * (pad[i] if pad else 0)) for i in range(nd)]
    if nd == 3:
        size = [min(s, 7) for s in size]
        size = [max(s, dil[i] * (k[i] - 1) + 1, (pad[i] if pad else 0) + 1) for i, s in enumerate(size)]
    n = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    return nd, n, cin, cout, k, stride, pad if pad is not None else padding, dil, groups, padding_mode, size, bias


def conv_out(size, k, stride, pad, dil):
    if pad == "same":
        return list(size)
    if pad == "valid":
        pad = [0] * len(size)
    return [(size[i] + 2 * pad[i] - dil[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(len(size))]


@given(conv_cases())
def test_conv_matches_formula(case):
    nd, n, cin, cout, k, stride, pad, dil, groups, padding_mode, size, bias = case
    conv = CONV[nd](cin, cout, k, stride=stride, padding=pad, dilation=dil, groups=groups, bias=bias,
                    padding_mode=padding_mode)
    out = conv_out(size, k, stride, pad, dil)
    expected = n * cout * prod(out) * (cin // groups) * prod(k)
    c = counts(conv, torch.randn(n, cin, *size))
    macs_only(c, "conv", expected)
    assert c["bias"] == (n * cout * prod(out) if bias else 0)


@st.composite
def convt_cases(draw):
    nd = draw(st.sampled_from([1, 2, 3]))
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    k = [draw(st.integers(1, 3)) for _ in range(nd)]
    stride = [draw(st.integers(1, 3)) for _ in range(nd)]
    dil = [draw(st.integers(1, 2)) for _ in range(nd)]
    # output_padding must be smaller than stride or dilation; padding at most dil*(k-1).
    out_pad = [draw(st.integers(0, max(stride[i], dil[i]) - 1)) for i in range(nd)]
    pad = [draw(st.integers(0, dil[i] * (k[i] - 1) // 2)) for i in range(nd)]
    size = [draw(st.integers(1, 5 if nd < 3 else 3)) for _ in range(nd)]
    n = draw(st.integers(1, 2))
    return nd, n, cin, cout, k, stride, pad, out_pad, dil, groups, size, draw(st.booleans())


@given(convt_cases())
def test_transposed_conv_costed_from_input_side(case):
    nd, n, cin, cout, k, stride, pad, out_pad, dil, groups, size, bias = case
    conv = CONVT[nd](cin, cout, k, stride=stride, padding=pad, output_padding=out_pad, groups=groups,
                     dilation=dil, bias=bias)
    out = [(size[i] - 1) * stride[i] - 2 * pad[i] + dil[i] * (k[i] - 1) + out_pad[i] + 1 for i in range(nd)]
    if min(out) < 1:
        return  # not a valid layer
    expected = n * cin * (cout // groups) * prod(k) * prod(size)
    c = counts(conv, torch.randn(n, cin, *size))
    macs_only(c, "conv", expected)
    assert c["bias"] == (n * cout * prod(out) if bias else 0)


def test_transposed_conv_known_value():
    # DCGAN-style upsampler 4x4 -> 8x8: 1*16*8*(4*4)*(4*4) = 32768 MACs; the output-side count
    # (Cout*Hout*Wout*Cin*k*k = 131072) would include the taps that land in the stride holes.
    conv = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, bias=False)
    macs_only(counts(conv, torch.randn(1, 16, 4, 4)), "conv", 32768)


def test_grouped_transposed_conv_divides_by_groups():
    conv = nn.ConvTranspose2d(8, 12, 3, stride=2, groups=4, bias=False)
    # Each of the 8 input channels feeds 12/4 = 3 output channels.
    macs_only(counts(conv, torch.randn(2, 8, 5, 5)), "conv", 2 * 8 * 3 * 9 * 25)


@pytest.mark.parametrize("mult", [1, 2, 4])
def test_depthwise_with_channel_multiplier(mult):
    cin = 6
    conv = nn.Conv2d(cin, mult * cin, 3, padding=1, groups=cin, bias=False)
    # Each output channel sees one input channel: Cout * H * W * 9.
    macs_only(counts(conv, torch.randn(1, cin, 10, 10)), "conv", mult * cin * 100 * 9)


def test_circular_padding_is_memory_not_conv():
    conv = nn.Conv2d(4, 6, 3, padding=2, padding_mode="circular", bias=False)
    c = counts(conv, torch.randn(1, 4, 8, 8))
    # Output 10x10 (padded input 12x12, no padding left to the convolution itself).
    macs_only(c, "conv", 6 * 100 * 4 * 9)
    assert c["memory"] > 0  # the wrap-around copy is counted as data movement


def test_padding_same_with_even_kernel():
    # 'same' with an even kernel pads asymmetrically; the output keeps the input length.
    conv = nn.Conv1d(3, 5, 4, padding="same", dilation=3, bias=False)
    macs_only(counts(conv, torch.randn(2, 3, 11)), "conv", 2 * 5 * 11 * 3 * 4)


def test_unbatched_input():
    conv = nn.Conv2d(3, 4, 3, bias=False)
    macs_only(counts(conv, torch.randn(3, 6, 6)), "conv", 4 * 16 * 3 * 9)


def test_channels_last_and_bf16_count_the_same():
    conv = nn.Conv2d(8, 16, 3, padding=1)
    x = torch.randn(2, 8, 7, 7)
    expected = 2 * 16 * 49 * 8 * 9
    macs_only(counts(conv, x.to(memory_format=torch.channels_last)), "conv", expected)
    conv_cl = nn.Conv2d(8, 16, 3, padding=1).to(memory_format=torch.channels_last)
    macs_only(counts(conv_cl, x), "conv", expected)
    macs_only(counts(nn.Conv2d(8, 16, 3, padding=1).to(torch.bfloat16), x.to(torch.bfloat16)), "conv", expected)


def test_functional_conv_is_charged_to_the_calling_module():
    w = torch.randn(4, 2, 3, 3)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Identity()

        def forward(self, x):
            return self.inner(F.conv2d(x, w, groups=2))

    import profiler

    prof = profiler.profile(nn.Sequential(Block()), torch.randn(1, 4, 6, 6))
    assert prof.layer("0").counts()["conv"] == 4 * 16 * 2 * 9
    assert prof.layer("0.inner").counts().get("conv", 0) == 0
    assert prof.layer("").counts().get("conv", 0) == 0


def test_pointwise_conv_as_linear_on_channels_last():
    # A 1x1 convolution written as F.linear on (N, H, W, C): same MACs, counted as linear.
    lin = nn.Linear(8, 16, bias=False)
    macs_only(counts(lin, torch.randn(2, 5, 5, 8)), "linear", 2 * 25 * 8 * 16)
    macs_only(counts(nn.Conv2d(8, 16, 1, bias=False), torch.randn(2, 8, 5, 5)), "conv", 2 * 25 * 8 * 16)


# Cases reported against peers' transposed-conv rules (expected MACs from the formula above):
# DeepSpeed PR #8323 (depthwise transposed counted as 0, grouped divided twice), fvcore #78 (weight
# layout read as (Cout, Cin)), ptflops #149 (costed from the output size), thop #20.
@pytest.mark.parametrize("layer,x_shape,expected", [
    (nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1), (2, 4, 8, 8), 49152),
    (nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1, groups=4), (2, 4, 8, 8), 4608),
    (nn.ConvTranspose2d(6, 6, 2, stride=2, groups=3), (2, 6, 8, 8), 6144),
    (nn.ConvTranspose2d(32, 1, (3, 3)), (1, 32, 1, 1), 32 * 9),
    (nn.ConvTranspose2d(3, 1, (2, 2), stride=(2, 2)), (1, 3, 2, 2), 3 * 4 * 4),
])
def test_transposed_conv_peer_bug_reports(layer, x_shape, expected):
    c = counts(layer, torch.randn(*x_shape))
    macs_only(c, "conv", expected)
    out = layer(torch.randn(*x_shape))
    assert c["bias"] == out.numel()  # one addition per output element


@given(st.integers(1, 6), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2))
def test_conv_tbc(t, b, cin, cout, k, pad):
    # out length T' = T + 2*pad - K + 1; every output element is a K*Cin dot product.
    t_out = t + 2 * pad - k + 1
    if t_out < 1:
        return
    c = counts(lambda x, w, bias: torch.conv_tbc(x, w, bias, pad), torch.randn(t, b, cin), torch.randn(k, cin, cout),
               torch.randn(cout))
    macs_only(c, "conv", t_out * b * cout * k * cin)


def test_torchvision_deformable_conv():
    import torchvision

    layer = torchvision.ops.DeformConv2d(4, 6, 3, padding=1, groups=2)
    x, offset = torch.randn(2, 4, 5, 5), torch.zeros(2, 18, 5, 5)
    c = counts(layer, x, offset)
    # The dense grouped convolution's MACs (the offsets only move where the taps read).
    macs_only(c, "conv", 2 * 6 * 25 * 2 * 9)
