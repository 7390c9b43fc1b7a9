"""Layer kinds: the fixed classification of modules (also the keys of by-kind splits)."""
from __future__ import annotations

import pytest
import timm.layers
import torch.nn as nn

from profiler.core.kinds import KINDS, conv_kind, is_attention_module, layer_config, layer_kind


class SelfAttention(nn.Module):  # timm / user style: recognised by its name
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(4, 12)


class GELUTanh(nn.Module):  # a zoo-specific activation leaf
    def forward(self, x):
        return x


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)


@pytest.mark.parametrize("module,kind", [
    (nn.Conv2d(3, 8, 3), "conv"),
    (nn.Conv1d(3, 8, 5), "conv"),
    (nn.Conv3d(3, 8, 3), "conv"),
    (nn.Conv2d(3, 8, 1), "conv_pointwise"),
    (nn.Conv2d(8, 8, 3, groups=8), "conv_depthwise"),
    (nn.Conv2d(8, 16, 3, groups=8), "conv_depthwise"),  # channel multiplier 2
    (nn.Conv2d(8, 16, 1, groups=4), "conv_grouped"),
    (nn.Conv2d(8, 16, 3, groups=2), "conv_grouped"),
    (nn.ConvTranspose2d(8, 8, 3, groups=8), "conv_transposed"),
    (nn.ConvTranspose1d(4, 2, 3), "conv_transposed"),
    (nn.Linear(3, 4), "linear"),
    (nn.Bilinear(3, 4, 5), "linear"),
    (nn.MultiheadAttention(8, 2), "attention"),
    (SelfAttention(), "attention"),
    (nn.LSTM(3, 4), "recurrent"),
    (nn.GRUCell(3, 4), "recurrent"),
    (nn.Embedding(5, 3), "embedding"),
    (nn.EmbeddingBag(5, 3), "embedding"),
    (nn.BatchNorm2d(3), "norm"),
    (nn.LayerNorm(3), "norm"),
    (nn.GroupNorm(1, 3), "norm"),
    (nn.InstanceNorm2d(3), "norm"),
    (nn.RMSNorm(3), "norm"),
    (nn.ReLU(), "activation"),
    (nn.Hardswish(), "activation"),
    (nn.Softmax(-1), "activation"),
    (GELUTanh(), "activation"),
    (nn.MaxPool2d(2), "pooling"),
    (nn.AdaptiveAvgPool2d(1), "pooling"),
    (nn.AvgPool1d(3), "pooling"),
    (nn.Upsample(scale_factor=2), "elementwise"),
    (nn.Identity(), "other"),
    (nn.Flatten(), "other"),
    (nn.Sequential(nn.Linear(2, 2)), "other"),
    (Block(), "other"),
])
def test_layer_kind(module, kind):
    assert kind in KINDS
    assert layer_kind(module) == kind


def test_timm_layers():
    assert layer_kind(timm.layers.BatchNormAct2d(8)) == "norm"
    assert layer_kind(timm.layers.LayerNorm2d(8)) == "norm"
    assert layer_kind(timm.layers.GELUTanh()) == "activation"


def test_conv_kind_edge_cases():
    # groups == in_channels == 1 is an ordinary (dense) convolution.
    assert conv_kind(nn.Conv2d(1, 4, 3)) == "conv"
    assert conv_kind(nn.Conv2d(1, 4, 1)) == "conv_pointwise"
    # Depthwise with a 1x1 kernel is still depthwise (a per-channel scale), not pointwise.
    assert conv_kind(nn.Conv2d(6, 6, 1, groups=6)) == "conv_depthwise"


def test_attention_by_name_only_for_attention():
    assert is_attention_module(nn.MultiheadAttention(4, 1))
    assert not is_attention_module(Block())
    assert not is_attention_module(nn.Linear(2, 2))


def test_layer_config():
    cfg = layer_config(nn.Conv2d(8, 16, (3, 5), stride=2, padding=1, dilation=2, groups=4))
    assert cfg == {"in_channels": 8, "out_channels": 16, "kernel_size": [3, 5], "stride": [2, 2],
                   "padding": [1, 1], "dilation": [2, 2], "groups": 4}
    assert layer_config(nn.Conv1d(2, 2, 3, padding="same"))["padding"] == "same"
    assert layer_config(nn.Linear(3, 7)) == {"in_features": 3, "out_features": 7}
    assert layer_config(nn.MaxPool2d(3, 2)) == {"kernel_size": 3, "stride": 2}
    assert layer_config(nn.AvgPool2d((2, 3))) == {"kernel_size": [2, 3], "stride": [2, 3]}
    assert layer_config(nn.ReLU()) == {}
