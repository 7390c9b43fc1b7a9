"""profiler/conventions/registry.py: named weightings of the counted categories (the built-in macs / flops /
all)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import profiler
from profiler.conventions import Convention, get_convention, list_conventions, register_convention

MACS = ("conv", "linear", "attention", "recurrent")


def _model():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 16, 5))


@pytest.fixture(scope="module")
def prof():
    return profiler.profile(_model().eval(), torch.randn(2, 3, 8, 8))


def test_macs_is_the_hand_count(prof):
    conv = 2 * 4 * 64 * 3 * 9
    fc = 2 * 64 * 5
    assert prof.macs == prof.total("macs") == conv + fc  # no bias, no element ops
    assert prof.convention == "macs" and prof.unit == "MACs"


def test_flops_is_twice_macs(prof):
    assert prof.total("flops") == 2 * prof.total("macs")
    assert get_convention("flops").unit == "FLOPs"


def test_all_counts_every_category_but_memory(prof):
    from profiler.counters import CATEGORIES

    cats = prof.by_category
    assert set(cats) == set(CATEGORIES) and prof.total("all") == sum(v for k, v in cats.items() if k != "memory")
    # conv bias + BN + ReLU + pool + FC bias, each element op once.
    assert cats["bias"] == 2 * 4 * 64 + 2 * 5
    assert cats["norm"] == cats["activation"] == 2 * 4 * 64
    assert cats["pooling"] == 2 * 4 * 16 * 4
    # The norm's sub-counts (affine: the BN has a weight; eval mode: stored statistics) are inside `norm`,
    # kept in the op stats for the peer conventions, not listed as categories nor added to any total.
    per_op = prof.by_op()
    assert sum(c.get("norm.affine", 0) for c in per_op.values()) == 2 * 4 * 64
    assert not any("norm.input_stats" in c for c in per_op.values())


def test_profile_under_another_convention():
    p = profiler.profile(_model().eval(), torch.randn(2, 3, 8, 8), convention="flops")
    assert p.convention == "flops" and p.total() == p.total("flops") == 2 * p.total("macs") == 2 * p.macs  # .macs is always MACs


def test_unknown_convention_suggests_names():
    with pytest.raises(ValueError, match="did you mean.*flops"):
        get_convention("flop")
    with pytest.raises(ValueError):
        profiler.profile(nn.Linear(2, 2), input_size=(1, 2), convention="nope")


def test_builtin_conventions_listed():
    names = {c.name for c in list_conventions()}
    assert {"macs", "flops", "all"} <= names
    for c in list_conventions():
        assert c.unit and c.description  # every number is printed with a unit and a meaning
    assert get_convention("macs").categories() == list(MACS)


def test_weights_op_weights_and_rules():
    class L:  # a stand-in layer
        kind = "conv"

    base = Convention("t_base", "ops", "test", {"conv": 1, "norm": 2})
    assert base.cost(L(), "aten.convolution", "conv", 10) == 10
    assert base.cost(L(), "aten.native_batch_norm", "norm", 10) == 20
    assert base.cost(L(), "aten.relu", "activation", 10) == 0
    per_op = Convention("t_op", "ops", "test", {"norm": 2}, op_weights={"aten.native_layer_norm": {"norm": 5}})
    assert per_op.cost(L(), "aten.native_layer_norm", "norm", 3) == 15
    assert per_op.cost(L(), "aten.native_batch_norm", "norm", 3) == 6
    ruled = Convention("t_rule", "ops", "test", {"conv": 1},
                       rule=lambda layer, op, cat, n: 0 if layer.kind == "conv" else None)
    assert ruled.cost(L(), "aten.convolution", "conv", 7) == 0


def test_registered_convention_is_usable_by_name(prof):
    register_convention(Convention("test_conv_only", "MACs", "conv MACs only (test)", {"conv": 1}))
    assert prof.total("test_conv_only") == prof.by_category["conv"]
