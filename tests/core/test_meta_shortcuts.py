"""The meta pass's leaf shortcuts (``engine._MetaLeaf``): a stock leaf whose call signature was seen to dispatch
exactly what its path describes is answered from shapes, without running its forward. Same document as the
observed pass and the real one, the model left as it was, invalid calls raising as the CPU does."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import profiler
from profiler.core import engine


def _net():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.SiLU(), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 4), nn.LayerNorm(4), nn.GELU()).eval()


def _doc(p):
    d = p.to_dict()
    d.pop("elapsed_s", None)
    d.pop("device", None)
    d.pop("pass", None)
    return d


def test_trusted_leaves_are_answered_without_their_forward(monkeypatch):
    engine.clear_caches()
    model = _net()
    first = profiler.profile(model, input_size=(2, 3, 6, 6), device="meta")  # observed, and checked
    calls = []
    real_conv = F.conv2d
    monkeypatch.setattr(F, "conv2d", lambda *a, **k: calls.append(1) or real_conv(*a, **k))
    second = profiler.profile(model, input_size=(2, 3, 6, 6), device="meta")
    assert calls == []  # the convolution's forward did not run: its shortcut answered
    cpu = profiler.profile(model, input_size=(2, 3, 6, 6), device="cpu")
    assert _doc(first) == _doc(second) == _doc(cpu)
    # closed forms: conv 2*36*8*27, linear 2*288*4; batch norm, layer norm and activations are element ops
    assert second.by_category["conv"] == 2 * 36 * 8 * 27
    assert second.by_category["linear"] == 2 * 288 * 4
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_an_invalid_call_raises_the_cpu_error_after_its_signature_is_trusted():
    model = _net()
    profiler.profile(model, input_size=(2, 3, 6, 6), device="meta")
    with pytest.raises(profiler.ProfilingError, match="expected input\\[2, 2, 6, 6\\] to have 3 channels"):
        profiler.profile(model, input_size=(2, 2, 6, 6), device="meta")
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_a_forward_on_the_instance_or_a_hook_keeps_the_module_observed():
    model = _net()
    seen = []
    model[0].register_forward_hook(lambda m, a, out: seen.append(out.shape))
    own = model[4].forward
    model[4].forward = lambda x: own(x) * 2  # a user's wrapper: its extra op must be counted
    profiler.profile(model, input_size=(2, 3, 6, 6), device="meta")
    p = profiler.profile(model, input_size=(2, 3, 6, 6), device="meta")
    assert seen == [(2, 8, 6, 6)] * 2
    assert p.layer("4").ops["aten.mul"].calls == 1
    assert model[4].__dict__["forward"] is not own and "forward" not in model[0].__dict__


def test_a_patched_stock_class_runs_its_forward(monkeypatch):
    model = _net()
    profiler.profile(model, input_size=(2, 3, 6, 6), device="meta")
    ran = []
    original = nn.SiLU.forward
    monkeypatch.setattr(nn.SiLU, "forward", lambda self, x: ran.append(1) or original(self, x))
    profiler.profile(model, input_size=(2, 3, 6, 6), device="meta")
    assert ran == [1]
