"""A user's dispatch mode around ``profiler.profile`` sees the model's ops: all of them and only them (issue 23).

Today a FlopCounterMode around a meta pass counts little (the engine's fast meta kernels answer ops without
passing them on) and sees the copies made for the pass (``_to_copy``, ``clone``, ``empty``); around a real
pass a counting mode also sees the engine's buffer snapshot and restore (``cat``, ``stack``, ``equal``,
``copy_``). The reference is what the same mode sees around a plain forward of the model under
``torch.no_grad()`` (the pass runs under it), on a copy so that train-mode BatchNorm statistics of the
user's model do not move; for a meta pass, a meta copy of the model on meta inputs.
Attention models are left out: a meta pass runs attention through the CPU's kernel choice.
"""
from __future__ import annotations

import collections
import copy

import pytest
import torch
import torch.nn as nn
import torchvision
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import profiler
from _state import isolated, snapshot


class OpNames(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.seen: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen[str(func)] += 1
        return func(*args, **(kwargs or {}))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


MODELS = {
    "cnn": (cnn, (2, 3, 16, 16)),
    "resnet18": (lambda: torchvision.models.resnet18(num_classes=10), (2, 3, 32, 32)),
}


@pytest.fixture(autouse=True)
def _isolated():
    with isolated():
        yield


def _reference(model, x, device, make_mode):
    """What the mode sees around a plain forward (of a copy; on meta, of a meta copy on meta inputs)."""
    ref = copy.deepcopy(model)
    if device == "meta":
        ref, x = ref.to("meta"), x.to("meta")
    with torch.no_grad(), make_mode() as mode:
        ref(x)
    return mode


def _case(name, train, seed=0):
    torch.manual_seed(seed)
    build, shape = MODELS[name]
    return build().train(train), torch.randn(shape)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("device", ["cpu", "meta"], ids=["real", "meta"])
@pytest.mark.parametrize("name", list(MODELS))
def test_an_outer_mode_sees_the_models_ops_and_only_them(name, device, train):
    model, x = _case(name, train)
    expected = _reference(model, x, device, OpNames).seen
    inputs = x.to("meta") if device == "meta" else x
    before = snapshot(model, x)
    with OpNames() as outer:
        inside = snapshot(model, x)
        prof = profiler.profile(model, inputs, device=device)
        inside.assert_same(model)
    before.assert_same(model)
    assert prof.macs > 0
    extra, missing = outer.seen - expected, expected - outer.seen
    assert not extra and not missing, f"seen but not the model's: {dict(extra)}; the model's, not seen: {dict(missing)}"


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("device", ["cpu", "meta"], ids=["real", "meta"])
@pytest.mark.parametrize("name", list(MODELS))
def test_flop_counter_mode_around_a_pass_counts_the_model(name, device, train):
    model, x = _case(name, train)
    expected = _reference(model, x, device, lambda: FlopCounterMode(display=False))
    assert expected.get_total_flops() > 0
    inputs = x.to("meta") if device == "meta" else x
    before = snapshot(model, x)
    with FlopCounterMode(display=False) as outer:
        prof = profiler.profile(model, inputs, device=device)
    before.assert_same(model)
    assert outer.get_total_flops() == expected.get_total_flops()
    # FlopCounterMode counts 2 FLOPs a MAC of convolutions and products, bias excluded, like the profile
    assert outer.get_total_flops() == 2 * prof.macs


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_a_meta_pass_of_cpu_inputs_shows_no_copies_to_an_outer_mode(train):
    # moving the inputs and weights to meta is the profiler's bookkeeping, not the model's work
    model, x = _case("cnn", train)
    expected = _reference(model, x, "meta", OpNames).seen
    with OpNames() as outer:
        profiler.profile(model, x, device="meta")
    extra, missing = outer.seen - expected, expected - outer.seen
    assert not extra and not missing, f"seen but not the model's: {dict(extra)}; the model's, not seen: {dict(missing)}"
