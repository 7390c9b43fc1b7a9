"""A forward that caches tensors in plain attributes (rotary tables, torchvision's anchors) must not leave the
pass's meta or device copies in the user's model: after any pass the model runs on its own device as before."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import profiler
from _state import snapshot


class _Cached(nn.Module):
    """Multiplies by 0..n-1 along the last dim, a table made on the input's device on first use."""

    def forward(self, x):
        if getattr(self, "table", None) is None or self.table.shape[0] != x.shape[-1]:
            self.table = torch.arange(x.shape[-1], dtype=x.dtype, device=x.device)
        self.calls = getattr(self, "calls", 0) + 1
        return x * self.table


@pytest.mark.parametrize("kw", [dict(device="meta"), dict(device="cpu"), dict(backward=True),
                                dict(backward=True, device="meta")], ids=["meta", "cpu", "step", "step-meta"])
def test_attributes_a_pass_sets_are_taken_back(kw):
    model = nn.Sequential(nn.Linear(8, 8), _Cached())
    x = torch.randn(2, 8)
    before = snapshot(model)
    p = profiler.profile(model, x, **kw)
    before.assert_same(model)
    assert "table" not in model[1].__dict__ and "calls" not in model[1].__dict__
    assert p.macs == 2 * 8 * 8 * (1 if not kw.get("backward") else 2)  # forward; a step adds the weight gradient
    assert model(x).device.type == "cpu"


def test_a_cache_the_user_made_stays_the_same_object():
    model = nn.Sequential(nn.Linear(8, 8), _Cached())
    x = torch.randn(2, 8)
    model(x)
    table = model[1].table
    before = snapshot(model)
    profiler.profile(model, torch.randn(2, 16)[:, :8].contiguous(), device="cpu")
    before.assert_same(model)
    assert model[1].table is table and model[1].calls == 1


def test_a_real_pass_from_input_size_leaves_the_global_random_state():
    model = nn.Linear(4, 2)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    profiler.profile(model, input_size=(3, 4), device="cpu")
    assert torch.equal(state, torch.get_rng_state())
