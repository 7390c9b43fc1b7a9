"""Each peer convention on a small CNN, against totals worked out by hand from the peers' documented rules
(see the module docstrings of profiler/crosscheck/*_peer.py)."""
import pytest
import torch
import torch.nn as nn

import profiler
from profiler.conventions import get_convention, list_conventions


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()


# 1x3x16x16 input. conv1: 8x16x16 = 2048 outputs x 27 = 55,296 MACs (+2048 bias adds); BN1, ReLU: 2048
# elements; max pool 2x2: 2048 in -> 512 out; conv2: 16x8x8 = 1024 outputs x 72 = 73,728 MACs; BN2, ReLU6:
# 1024 elements; adaptive avg pool: 1024 in -> 16 out; linear 16x10 = 160 MACs (+10 bias adds).
CONV, LIN = 55_296 + 73_728, 160
EXPECTED = {
    "macs": CONV + LIN,
    "torch": 2 * (CONV + LIN),  # FLOPs
    "ptflops_aten": CONV + LIN + 2048 + 10,
    "torchinfo": CONV + LIN + 2048 + 10,
    # + BN 2 per element, ReLU and ReLU6 1 per element, pools 1 per *input* element
    "ptflops": CONV + LIN + 2048 + 10 + 2 * 3072 + 2048 + 1024 + 2048 + 1024,
    # + BN 2 per element (eval, affine), adaptive_avg_pool2d 1 per input element
    "fvcore": CONV + LIN + 2 * 3072 + 1024,
    # + BN 4 per element (affine), adaptive avg pool (64 + 1) per output, max pool and ReLU 0
    "thop": CONV + LIN + 4 * 3072 + 65 * 16,
}


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
