"""Layer kinds: the fixed names a module is classified under (also the JSON keys of by-kind splits).

`conv` is a dense convolution with a kernel larger than 1, `conv_pointwise` a dense 1x1 convolution,
`conv_depthwise` one with groups == in_channels (> 1), `conv_grouped` any other grouped convolution.
"""
from __future__ import annotations

import re

import torch.nn as nn

KINDS = ("conv", "conv_pointwise", "conv_depthwise", "conv_grouped", "conv_transposed", "linear", "attention",
         "recurrent", "norm", "activation", "pooling", "elementwise", "embedding", "other")

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid,
                nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.Mish, nn.Softplus, nn.Softmax, nn.LogSoftmax,
                nn.PReLU, nn.Hardtanh, nn.GLU, nn.Softmax2d, nn.Threshold, nn.RReLU, nn.LogSigmoid,
                nn.Softsign, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Softmin)
_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.RMSNorm,
          nn.CrossMapLRN2d)
_POOLS = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd,
          nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.pooling._LPPoolNd)
_ATTENTION_NAME = re.compile(r"attention|attn", re.IGNORECASE)
_ACTIVATION_NAME = re.compile(r"^(relu|gelu|silu|swish|sigmoid|hard_?sigmoid|hard_?swish|mish|tanh|softmax|"
                              r"quickgelu|gelu_?tanh|star_?relu|prelu|elu)", re.IGNORECASE)


def conv_kind(conv: nn.modules.conv._ConvNd) -> str:
    if conv.transposed:
        return "conv_transposed"
    if conv.groups > 1 and conv.groups == conv.in_channels:
        return "conv_depthwise"
    if conv.groups > 1:
        return "conv_grouped"
    if all(k == 1 for k in conv.kernel_size):
        return "conv_pointwise"
    return "conv"


def is_attention_module(module: nn.Module) -> bool:
    return isinstance(module, nn.MultiheadAttention) or bool(_ATTENTION_NAME.search(type(module).__name__))


def layer_kind(module: nn.Module) -> str:
    """The kind of ``module`` (one of :data:`KINDS`)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return conv_kind(module)
    if isinstance(module, (nn.Linear, nn.Bilinear)):
        return "linear"
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return "recurrent"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    if isinstance(module, _NORMS):
        return "norm"
    if isinstance(module, _ACTIVATIONS):
        return "activation"
    if isinstance(module, _POOLS):
        return "pooling"
    if isinstance(module, nn.Upsample):
        return "elementwise"
    if is_attention_module(module):
        return "attention"
    name = type(module).__name__
    if not list(module.children()):
        # Zoo-specific leaves (timm's GELUTanh, BatchNormAct2d, ...) recognised by name.
        if _ACTIVATION_NAME.match(name):
            return "activation"
        if "Norm" in name:
            return "norm"
        if "Pool" in name:
            return "pooling"
    return "other"


def layer_config(module: nn.Module) -> dict:
    """Kernel/stride/groups (and channel) hyper-parameters worth printing, as plain data."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return {"in_channels": module.in_channels, "out_channels": module.out_channels,
                "kernel_size": list(module.kernel_size), "stride": list(module.stride),
                "padding": module.padding if isinstance(module.padding, str) else list(module.padding),
                "dilation": list(module.dilation), "groups": module.groups}
    if isinstance(module, nn.Linear):
        return {"in_features": module.in_features, "out_features": module.out_features}
    if isinstance(module, _POOLS) and hasattr(module, "kernel_size"):
        ks = module.kernel_size
        return {"kernel_size": list(ks) if isinstance(ks, (tuple, list)) else ks,
                "stride": list(module.stride) if isinstance(module.stride, (tuple, list)) else module.stride}
    return {}
