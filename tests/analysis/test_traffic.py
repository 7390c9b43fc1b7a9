"""Memory traffic: bytes of a convolution and a linear layer worked out by hand from their shapes."""
import pytest
import torch
import torch.nn as nn

import profiler
from profiler.analysis.traffic import traffic

F32 = 4  # bytes per float32 element


@pytest.mark.parametrize("device", [None, "meta"])
def test_conv_bytes_by_hand(device):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1))
    tr = traffic(profiler.profile(model, input_size=(1, 3, 10, 10), device=device))
    (conv,) = [t for t in tr.layers if t.path == "0"]
    read = (1 * 3 * 10 * 10 + 8 * 3 * 3 * 3 + 8) * F32  # input + weight + bias
    written = 1 * 8 * 10 * 10 * F32
    macs = 8 * 10 * 10 * (3 * 3 * 3)
    assert (conv.bytes_read, conv.bytes_written, conv.macs) == (read, written, macs)
    assert conv.intensity == pytest.approx(macs / (read + written))


@pytest.mark.parametrize("device", [None, "meta"])
def test_linear_bytes_by_hand(device):
    model = nn.Sequential(nn.Linear(16, 4))
    tr = traffic(profiler.profile(model, input_size=(2, 16), device=device))
    (lin,) = tr.layers
    assert lin.bytes_read == (2 * 16 + 16 * 4 + 4) * F32  # x, weight, bias (one addmm)
    assert lin.bytes_written == 2 * 4 * F32
    assert lin.macs == 2 * 16 * 4
    assert tr.bytes_total == lin.bytes_total and tr.macs == 128


def test_half_precision_halves_the_bytes():
    model = nn.Sequential(nn.Linear(16, 4)).half()
    lin = traffic(profiler.profile(model, input_size=(2, 16), device="meta")).layers[0]
    assert lin.bytes_read == (2 * 16 + 16 * 4 + 4) * 2


def test_memory_only_layer_has_zero_intensity():
    class Cat(nn.Module):
        def forward(self, x):
            return torch.cat([x, x], 1)

    tr = traffic(profiler.profile(Cat(), input_size=(1, 4, 5, 5)))
    (root,) = tr.layers
    assert root.macs == 0 and root.intensity == 0
    assert root.bytes_read == 2 * 100 * F32 and root.bytes_written == 200 * F32
    assert tr.to_dict()["unit"] == "B"  # (the table is tested in tests/report/test_sections.py)
