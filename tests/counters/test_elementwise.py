"""Element-op rules: residual additions, SE scaling, interpolation: one operation per output element."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from _opcount import counts, macs_only


@pytest.mark.parametrize("mode,shape,kw", [
    ("nearest", (1, 3, 4, 5), {"scale_factor": 2}),
    ("nearest-exact", (1, 3, 4, 5), {"size": (7, 9)}),
    ("bilinear", (2, 3, 4, 5), {"scale_factor": 2, "align_corners": False}),
    ("bilinear", (2, 3, 4, 5), {"size": (3, 3), "align_corners": True}),
    ("bicubic", (1, 2, 4, 4), {"scale_factor": 1.5}),
    ("linear", (1, 2, 6), {"scale_factor": 3}),
    ("trilinear", (1, 2, 2, 3, 4), {"scale_factor": 2}),
    ("nearest", (1, 2, 2, 3, 4), {"size": (3, 3, 3)}),
])
def test_interpolate_one_op_per_output(mode, shape, kw):
    x = torch.randn(*shape)
    out = F.interpolate(x, mode=mode, **kw)
    c = counts(lambda t: F.interpolate(t, mode=mode, **kw), x)
    macs_only(c, "conv", 0)
    assert c["elementwise"] == out.numel()
    assert counts(nn.Upsample(mode=mode, **kw), x)["elementwise"] == out.numel()


def test_residual_add_and_se_scaling():
    x, s = torch.randn(2, 8, 5, 5), torch.randn(2, 8, 1, 1)
    assert counts(lambda a, b: a + b, x, x)["elementwise"] == x.numel()
    assert counts(lambda a, b: a * b, x, s)["elementwise"] == x.numel()  # broadcast: per output element


def test_bias_of_a_linear_layer_is_bias_not_elementwise():
    lin = nn.Linear(4, 3)
    c = counts(lin, torch.randn(2, 5, 4))
    assert c["bias"] == 2 * 5 * 3 and c["elementwise"] == 0
