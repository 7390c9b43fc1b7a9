"""The tests' state check (``_state.snapshot``) sees each kind of change it promises to, names it, and sees
none where there is none: a check that passes vacuously would hide what the engine tests look for."""
from __future__ import annotations

import gc
import warnings

import pytest
import torch
import torch.nn as nn
from torch.nn.modules import module as module_mod
from torch.utils._python_dispatch import TorchDispatchMode

from _state import isolated, snapshot


def net():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 2))


class Mode(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def _set_grad(m):
    m[3].weight.grad = torch.zeros(2, 16)


MODEL_CHANGES = {
    "value changed": lambda m: m[0].weight.data.add_(1),
    ".grad None -> a tensor": _set_grad,
    "requires_grad True -> False": lambda m: m[3].weight.requires_grad_(False),
    "a different tensor object": lambda m: setattr(m[3], "weight", nn.Parameter(m[3].weight.detach().clone())),
    "buffer '1.running_mean': value changed": lambda m: m[1].running_mean.add_(1),
    "buffer '1.running_var': a different tensor object":
        lambda m: m[1]._buffers.__setitem__("running_var", m[1].running_var.clone()),
    "training True -> False": lambda m: m[1].eval(),
    "_forward_hooks": lambda m: m[1].register_forward_hook(lambda *a: None),
    "attributes added ['extra']": lambda m: setattr(m[1], "extra", 1),
    "module '2' (Flatten): a different module object": lambda m: m.__setitem__(2, nn.Flatten()),
    "device cpu -> meta": lambda m: m.to("meta"),
    "dtype torch.float32 -> torch.float64": lambda m: m.double(),
    "no longer an nn.Parameter": lambda m: m[0]._parameters.__setitem__("bias", m[0].bias.detach()),
}


@pytest.mark.parametrize("expected", list(MODEL_CHANGES))
def test_a_change_to_the_model_is_named(expected):
    model = net()
    before = snapshot(model)
    MODEL_CHANGES[expected](model)
    with pytest.raises(AssertionError, match="state changed") as err:
        before.assert_same(model)
    assert expected in str(err.value)


def test_nothing_changed_passes_nan_included():
    model = net()
    model[0].weight.data[0, 0, 0, 0] = float("nan")
    x = torch.randn(2, 3, 4, 4)
    before = snapshot(model, x)
    model(x)  # eval off: train-mode BatchNorm moves its statistics ...
    with pytest.raises(AssertionError, match="running_mean"):
        before.assert_same(model)
    model = net().eval()
    before = snapshot(model, x)
    model(x)  # ... eval mode does not
    before.assert_same(model)


@pytest.mark.parametrize("change,expected", [
    (lambda: module_mod.register_module_forward_hook(lambda *a: None), "_global_forward_hooks"),
    (lambda: Mode().__enter__(), "dispatch mode stack: [] -> [Mode]"),
    (lambda: torch.set_grad_enabled(False), "grad enabled: True -> False"),
    (lambda: gc.disable(), "gc enabled: True -> False"),
    (lambda: gc.set_threshold(1, 1, 1), "gc threshold"),
    (lambda: torch.set_default_dtype(torch.float64), "default dtype"),
    (lambda: torch.set_autocast_enabled("cpu", True), "autocast cpu"),
])
def test_a_change_to_the_process_is_named(change, expected):
    threshold, dtype = gc.get_threshold(), torch.get_default_dtype()
    before = snapshot(None)
    try:
        with isolated():
            change()
            with pytest.raises(AssertionError) as err:
                before.assert_same()
            assert expected in str(err.value)
    finally:
        gc.set_threshold(*threshold)
        torch.set_default_dtype(dtype)
        torch.set_autocast_enabled("cpu", False)
    before.assert_same()


def test_an_input_written_in_place_is_named():
    x = torch.randn(3)
    before = snapshot(None, x)
    x.mul_(2)
    with pytest.raises(AssertionError, match="extra tensor 0: value changed"):
        before.assert_same()


def test_the_check_is_invisible_to_a_mode_around_it():
    model = net()
    seen = []

    class Recording(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func)
            return func(*args, **(kwargs or {}))

    with Recording():
        snapshot(model).assert_same(model)
    assert seen == []


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_torchscript_modules(kind):
    x = torch.randn(2, 3, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torch.jit.script(net()) if kind == "script" else torch.jit.trace(net(), x)
    before = snapshot(model, x)
    before.assert_same(model)
    model(x)  # train-mode statistics, through the compiled module
    with pytest.raises(AssertionError, match="running_mean"):
        before.assert_same(model)
    model.eval()
    with pytest.raises(AssertionError, match="training True -> False"):
        before.assert_same(model)


def test_model_on_meta():
    with torch.device("meta"):
        model = net()
    before = snapshot(model)
    before.assert_same(model)
    model[0].weight.requires_grad_(False)
    with pytest.raises(AssertionError, match="requires_grad"):
        before.assert_same(model)
