"""The torchsummary-style view against torchsummary itself (run independently on the same model):
the same layers, output shapes, parameter counts and MB estimates, to torchsummary's printed precision."""
import contextlib
import io
import re

import pytest
import torch.nn as nn

import profiler
from profiler.report.views import summary_footer, summary_layers, summary_sizes

torchsummary = pytest.importorskip("torchsummary")


class Head(nn.Module):  # a custom (non-Sequential) module: torchsummary lists it, and so must we
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))


def model():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.MaxPool2d(2), Head())


def _torchsummary(m, size):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        torchsummary.summary(m, size, device="cpu")
    text = buf.getvalue()
    rows = re.findall(r"^\s+(\w+-\d+)\s+(\[[^\]]*\])\s+([\d,]+)\s*$", text, re.M)
    nums = dict(re.findall(r"^([A-Za-z/ ]+(?:\(MB\))?):\s+([\d.,]+)\s*$", text, re.M))
    return rows, nums


def test_summary_matches_torchsummary():
    m = model()
    theirs, nums = _torchsummary(m, (3, 30, 30))
    prof = profiler.profile(m, input_size=(1, 3, 30, 30))
    ours = summary_layers(prof)
    assert [t for t, _, _ in theirs] == [f"{layer.type}-{i}" for i, layer in enumerate(ours, 1)]
    for (_, shape, params), layer in zip(theirs, ours):
        assert eval(shape)[1:] == layer.output_shapes[0][1:]  # torchsummary writes the batch as -1
        assert int(params.replace(",", "")) == layer.params
    assert int(nums["Total params"].replace(",", "")) == prof.params
    sizes = summary_sizes(prof)
    assert f"{sizes['input_mb']:.2f}" == nums["Input size (MB)"]
    assert f"{sizes['forward_backward_mb']:.2f}" == nums["Forward/backward pass size (MB)"]
    assert f"{sizes['params_mb']:.2f}" == nums["Params size (MB)"]
    assert f"{sizes['total_mb']:.2f}" == nums["Estimated Total Size (MB)"]
    assert dict(summary_footer(prof))["Trainable params"] == nums["Trainable params"]
