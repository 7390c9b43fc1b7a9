"""TorchScript modules, scripted and traced (issue 23).

A ScriptModule's ``_parameters`` and ``_buffers`` are views of the compiled module (no ``clear``): the
engine's swap-back and buffer restore failed with "'OrderedDictWrapper' object has no attribute 'clear'"
after the pass had already run, leaving meta copies swapped in, gradients on the user's parameters, SGD's
update applied and train-mode BatchNorm statistics moved.

Either outcome is accepted: the profile succeeds with the closed-form total, or a one-line refusal naming
TorchScript comes before anything is touched. In both, the model and the process are as they were and the
module still computes what it computed before.
"""
from __future__ import annotations

import re
import warnings

import pytest
import torch
import torch.nn as nn

import profiler
from _state import isolated, snapshot

N, C_IN, C, S, OUT = 2, 3, 4, 6, 5
CONV_MACS = N * C * C_IN * 9 * S * S  # 3x3, padding 1, no bias: 7,776
FC_MACS = N * C * S * S * OUT  # 1,440 (bias additions are not MACs)
FORWARD_MACS = CONV_MACS + FC_MACS
# The images need no gradient: the conv computes its weight gradient only; the linear both.
BACKWARD_MACS = CONV_MACS + 2 * FC_MACS


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(C_IN, C, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(C)
        self.fc = nn.Linear(C * S * S, OUT)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


@pytest.fixture(autouse=True)
def _isolated():
    with isolated(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script/trace are deprecated
        yield


def _compiled(kind: str, train: bool, x: torch.Tensor):
    torch.manual_seed(0)
    net = Net().train(train)
    if kind == "script":
        return torch.jit.script(net)
    with torch.no_grad():
        # a trace records the ops of the mode it ran in (train-mode BatchNorm updates its statistics)
        return torch.jit.trace(net, x, check_trace=False)


PASSES = {
    "meta": {"device": "meta"},
    "real": {"device": "cpu"},
    "auto": {},
    "step": {"backward": True, "device": "cpu"},
    "step_meta": {"backward": True, "device": "meta"},
    "step_sgd": {"backward": True, "optimizer": torch.optim.SGD},
}


def _profile_and_check(model, x, kwargs, expected):
    """One profile: the closed-form totals or a clear refusal; the model as it was and (unless ``expected``
    is None) still computing ``expected``."""
    before = snapshot(model, x)
    try:
        prof = profiler.profile(model, x, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a refusal is allowed, checked below
        msg = str(exc)
        assert "\n" not in msg.strip() and re.search(r"torchscript|script|jit", msg, re.I), \
            f"not a clear refusal: {type(exc).__name__}: {msg}"
        prof = None
    before.assert_same(model)
    if expected is not None:
        with torch.no_grad():
            again = model(x)
        torch.testing.assert_close(again, expected, rtol=1e-6, atol=1e-6)
    if prof is None:
        return
    if "backward" in kwargs:
        assert prof.by_phase["forward"] == FORWARD_MACS
        assert prof.by_phase["backward"] == BACKWARD_MACS
        assert prof.macs == FORWARD_MACS + BACKWARD_MACS
    else:
        assert prof.macs == FORWARD_MACS
    assert sum(layer.macs for layer in prof.layers) == prof.macs  # charged somewhere, once
    assert prof.params == C * C_IN * 9 + 2 * C + C * S * S * OUT + OUT


def _ready(kind, train, x):
    model = _compiled(kind, train, x)
    with torch.no_grad():
        # train mode: the output reads the batch's statistics, not the running ones, so a second run
        # gives it again; running it here moves the statistics before the snapshot, not after
        expected = model(x)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)  # a user's gradient: neither replaced nor accumulated into
    return model, expected


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("pass_", list(PASSES))
@pytest.mark.parametrize("kind", ["script", "trace"])
def test_torchscript_module_is_profiled_or_refused_and_left_as_it_was(kind, pass_, train):
    x = torch.randn(N, C_IN, S, S)
    model, expected = _ready(kind, train, x)
    _profile_and_check(model, x, PASSES[pass_], expected)


@pytest.mark.parametrize("pass_", list(PASSES))
@pytest.mark.parametrize("kind", ["script", "trace"])
def test_torchscript_module_profiled_again_and_again(kind, pass_):
    # TorchScript's profiling executor optimizes a module's graph after its first run; under a dispatch mode
    # the optimized differentiable graph of a traced train-mode BatchNorm failed inside torch ("aten::equal()
    # Expected a value of type 'Tensor' ... found type 'int'") on the second training-step profile.
    # Nothing runs the module between the profiles: a plain run there changes which graph the next one gets.
    x = torch.randn(N, C_IN, S, S)
    model = _compiled(kind, True, x)
    torch.manual_seed(0)
    with torch.no_grad():
        expected = Net().train()(x)  # the eager twin: train-mode output reads the batch's statistics only
    for _ in range(3):
        _profile_and_check(model, x, PASSES[pass_], None)
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, rtol=1e-6, atol=1e-6)

