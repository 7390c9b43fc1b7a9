"""Normalisation rules: one operation per input element, 0 MACs, whatever the norm and its mode."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import given, strategies as st

from _opcount import counts, macs_only


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.booleans())
def test_norms_one_op_per_element(n, groups, per_group, hw, affine):
    ch = groups * per_group
    x = torch.randn(n, ch, hw, hw + 1)
    layers = [nn.BatchNorm2d(ch, affine=affine).eval(), nn.GroupNorm(groups, ch, affine=affine),
              nn.LayerNorm([hw, hw + 1], elementwise_affine=affine), nn.InstanceNorm2d(ch, affine=affine)]
    if n * hw * (hw + 1) > 1:  # training-mode statistics need more than one value per channel
        layers.append(nn.BatchNorm2d(ch, affine=affine, track_running_stats=False).train())
    for layer in layers:
        c = counts(layer, x)
        macs_only(c, "conv", 0)
        assert c["norm"] == x.numel(), layer


@pytest.mark.parametrize("layer,shape", [(nn.BatchNorm1d(6), (4, 6)), (nn.BatchNorm1d(6), (4, 6, 3)),
                                         (nn.BatchNorm3d(2), (1, 2, 3, 3, 3)), (nn.LayerNorm(8), (2, 5, 8))])
def test_norm_shapes(layer, shape):
    x = torch.randn(*shape)
    assert counts(layer.eval(), x)["norm"] == x.numel()


def test_functional_layer_norm_outside_a_norm_module():
    x = torch.randn(3, 7)
    c = counts(lambda t: nn.functional.layer_norm(t, (7,)), x)
    assert c["norm"] == 21 and c["elementwise"] == 0
