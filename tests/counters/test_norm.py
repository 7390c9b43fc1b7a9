"""Normalisation rules: one operation per input element, 0 MACs, whatever the norm and its mode."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import given, strategies as st

from _opcount import counts, macs_only, raw_counts


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


@pytest.mark.parametrize("make,affine,stats,extra", [
    (lambda: nn.BatchNorm2d(4).eval(), True, False, 0),
    # training mode with running statistics: also num_batches_tracked += 1, an element op of the norm layer
    (lambda: nn.BatchNorm2d(4, affine=False).train(), False, True, 1),
    (lambda: nn.BatchNorm2d(4, track_running_stats=False).eval(), True, True, 0),
    (lambda: nn.InstanceNorm2d(4, affine=True), True, True, 0),
    (lambda: nn.InstanceNorm2d(4, track_running_stats=True).eval(), False, False, 0),
    (lambda: nn.GroupNorm(2, 4, affine=False), False, True, 0),
    (lambda: nn.LayerNorm(5), True, True, 0),
])
def test_norm_subcounts_by_call(make, affine, stats, extra):
    # Sub-counts of `norm` (not categories, no total adds them): the input elements of calls given a weight
    # tensor, and of calls whose statistics come from the input rather than stored running statistics.
    x = torch.randn(2, 4, 5, 5)
    c = raw_counts(make(), x)
    assert c["norm"] == x.numel() + extra
    assert c.get("norm.affine", 0) == (x.numel() if affine else 0)
    assert c.get("norm.input_stats", 0) == (x.numel() if stats else 0)


def test_functional_norm_subcounts_read_the_arguments():
    x = torch.randn(2, 4, 5, 5)
    w = torch.ones(4)
    c = raw_counts(lambda t: nn.functional.batch_norm(t, None, None, w, None, training=True), x)
    assert c["norm"] == c["norm.affine"] == c["norm.input_stats"] == 200
    assert "norm.affine" not in counts(lambda t: nn.functional.batch_norm(t, None, None, w, None, training=True), x)
    c = raw_counts(lambda t: nn.functional.batch_norm(t, torch.zeros(4), torch.ones(4)), x)
    assert c["norm"] == 200 and "norm.affine" not in c and "norm.input_stats" not in c
