"""Activation rules: one operation per output element (softmax included)."""
from __future__ import annotations

from profiler.counters.elementwise import per_output

per_output(
    "activation",
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "gelu", "gelu_", "silu", "silu_", "sigmoid",
    "sigmoid_", "tanh", "tanh_", "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "leaky_relu",
    "leaky_relu_", "elu", "elu_", "selu", "selu_", "celu", "celu_", "mish", "mish_", "softplus", "softshrink",
    "hardshrink", "threshold", "threshold_", "glu", "_prelu_kernel", "prelu", "rrelu_with_noise",
    "log_sigmoid_forward", "_softmax", "softmax", "_log_softmax", "log_softmax", "_safe_softmax",
)
