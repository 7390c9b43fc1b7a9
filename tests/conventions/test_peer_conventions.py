"""Each peer convention on a small CNN, against totals worked out by hand from the peers' documented rules
(see the module docstrings of profiler/crosscheck/*_peer.py)."""
import pytest
import torch
import torch.nn as nn

import profiler
from profiler.conventions import get_convention, list_conventions

from _peers import EXPECTED, small_cnn


@pytest.fixture(scope="module")
def prof():
    return profiler.profile(small_cnn(), torch.randn(1, 3, 16, 16))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_convention_totals(prof, name):
    assert prof.total(name) == EXPECTED[name]


def test_peer_conventions_are_listed_with_units():
    names = {c.name: c for c in list_conventions()}
    for n in ("ptflops", "ptflops_aten", "fvcore", "torch", "thop", "torchinfo"):
        assert n in names and names[n].unit and names[n].description
    assert get_convention("torch").unit == "FLOPs"
    assert "MACs" in get_convention("fvcore").unit


def test_convention_selectable_in_profile_call():
    p = profiler.profile(small_cnn(), torch.randn(1, 3, 16, 16), convention="fvcore")
    assert p.total() == EXPECTED["fvcore"]


def test_layer_norm_weights():
    # fvcore: layer_norm 5 per element with affine, 4 without; ptflops: 1 (its hook reads `.affine`).
    for affine, fv in ((True, 5), (False, 4)):
        m = nn.Sequential(nn.LayerNorm(6, elementwise_affine=affine))
        p = profiler.profile(m, torch.randn(2, 3, 6))
        assert p.total("fvcore") == fv * 36
        assert p.total("ptflops") == 36
