"""The Profile data: layers, totals, tree sums and export are consistent with each other."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

import profiler
from profiler.core.kinds import KINDS


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.pw = nn.Conv2d(8, 16, 1)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        x = self.pw(self.dw(x) + x)
        return self.head(x.mean((2, 3)))


@pytest.fixture(scope="module")
def prof():
    return profiler.profile(Net().eval(), torch.randn(2, 3, 16, 16))


def test_layers_in_module_order_with_tree(prof):
    assert [layer.path for layer in prof.layers] == [n for n, _ in Net().named_modules()]
    root = prof.layer("")
    assert root.name == "(root)" and root.depth == 0 and root.children == ["stem", "dw", "pw", "head"]
    assert prof.layer("stem.0").depth == 2 and prof.layer("stem").children == ["stem.0", "stem.1", "stem.2"]
    assert {layer.path for layer in prof.leaves()} == {"stem.0", "stem.1", "stem.2", "dw", "pw", "head"}
    assert [layer.path for layer in prof.subtree("stem")] == ["stem", "stem.0", "stem.1", "stem.2"]


def test_layer_records(prof):
    stem = prof.layer("stem.0")
    assert (stem.type, stem.kind, stem.calls) == ("Conv2d", "conv", 1)
    assert stem.input_shapes == [[2, 3, 16, 16]] and stem.output_shapes == [[2, 8, 8, 8]]
    assert stem.config["stride"] == [2, 2]
    assert stem.macs == 2 * 8 * 64 * 3 * 9 and stem.params == 8 * 27
    assert prof.layer("dw").kind == "conv_depthwise" and prof.layer("pw").kind == "conv_pointwise"
    assert prof.layer("dw").macs == 2 * 8 * 64 * 9
    assert prof.layer("pw").macs == 2 * 16 * 64 * 8
    assert prof.layer("head").macs == 2 * 16 * 10
    # The residual add and the global mean run in the root's own forward.
    own = prof.layer("").counts()
    assert own["elementwise"] == 2 * 8 * 64 and own["pooling"] == 2 * 16 * 64


def test_totals_are_sums_of_layers(prof):
    assert prof.macs == sum(layer.macs for layer in prof.layers)
    assert prof.inclusive_cost("") == prof.macs
    assert prof.inclusive_cost("stem") == prof.layer("stem.0").macs
    assert prof.inclusive_params("") == prof.params == sum(p.numel() for p in Net().parameters())
    cats = prof.by_category
    assert set(cats) >= {"conv", "linear", "attention", "recurrent", "bias", "norm", "activation", "pooling",
                         "elementwise", "memory"}
    assert sum(cats[c] for c in ("conv", "linear", "attention", "recurrent")) == prof.macs
    per_op = prof.by_op()
    assert per_op["aten.convolution"]["conv"] == cats["conv"]


def test_by_kind_partitions_the_totals(prof):
    kinds = prof.by_kind()
    assert set(kinds) >= set(KINDS)
    assert sum(v["macs"] for v in kinds.values()) == prof.macs
    assert sum(v["params"] for v in kinds.values()) == prof.params
    assert kinds["conv_depthwise"]["macs"] == prof.layer("dw").macs


def test_to_dict_is_json_and_consistent(prof):
    d = json.loads(json.dumps(prof.to_dict()))
    assert d["macs"] == prof.macs and d["params"] == prof.params and d["unit"] == "MACs"
    assert d["convention"] == "macs" and d["by_category"] == prof.by_category
    assert [x["path"] for x in d["layers"]] == [layer.path for layer in prof.layers]
    root = d["layers"][0]
    assert root["macs_inclusive"] == prof.macs and root["params_inclusive"] == prof.params
    assert sum(x["counts"].get("conv", 0) for x in d["layers"]) == prof.by_category["conv"]
    assert d["coverage"] == []


def test_repr_names_unit_and_convention(prof):
    text = repr(prof)
    assert f"{prof.macs:,} MACs [macs]" in text and f"{prof.params:,} params" in text


def test_never_called_module_has_zero_calls():
    class Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.used(x)

    p = profiler.profile(Skips(), torch.randn(1, 2))
    assert p.layer("unused").calls == 0 and p.layer("unused").params == 6  # parameters still counted
    assert p.layer("unused").input_shapes == []
