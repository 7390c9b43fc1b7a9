"""Activation rules: one operation per output element (softmax included), 0 MACs."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from _opcount import counts, macs_only

ACTIVATIONS = [nn.ReLU(), nn.ReLU6(), nn.GELU(), nn.GELU("tanh"), nn.SiLU(), nn.Sigmoid(), nn.Tanh(),
               nn.Hardswish(), nn.Hardsigmoid(), nn.LeakyReLU(0.1), nn.ELU(), nn.SELU(), nn.CELU(), nn.Mish(),
               nn.Softplus(), nn.Softmax(1), nn.LogSoftmax(-1), nn.PReLU(), nn.Hardtanh(), nn.LogSigmoid(),
               nn.Threshold(0.1, 0.0), nn.Softshrink(), nn.Hardshrink(), nn.ReLU(inplace=True),
               nn.Hardswish(inplace=True)]


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda m: repr(m))
@pytest.mark.parametrize("shape", [(2, 6, 5, 5), (3, 7)])
def test_one_op_per_output_element(act, shape):
    x = torch.randn(*shape)
    c = counts(act, x)
    macs_only(c, "conv", 0)
    assert c["activation"] == x.numel()
    assert c["elementwise"] == 0


def test_glu_halves_the_output():
    x = torch.randn(2, 8, 3)
    assert counts(nn.GLU(1), x)["activation"] == 24


def test_functional_activations():
    x = torch.randn(4, 5)
    for fn in (F.relu, F.gelu, torch.sigmoid, torch.tanh, F.silu, lambda t: t.softmax(-1)):
        assert counts(fn, x)["activation"] == 20
