"""``--plot FILE`` (profiler.cli.ext_plot.apply): the picture is written, its path goes into the result and one
line into the messages about files (stderr), none into the report."""
import argparse

import torch.nn as nn

import profiler
from profiler.cli.common import Context
from profiler.cli.ext_plot import apply

PNG = b"\x89PNG\r\n\x1a\n"


def _ctx(convention="macs", **args):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Sequential(nn.Conv2d(8, 4, 1)))
    prof = profiler.profile_model(model, input=(3, 16, 16), convention=convention)
    return Context(args=argparse.Namespace(**args), profile=prof)


def test_per_layer_picture(tmp_path):
    path = str(tmp_path / "layers.png")
    ctx = _ctx(plot=path, depth=None)
    apply(ctx.args, ctx)
    assert ctx.result == {"plot": {"path": path, "depth": None}}
    assert ctx.sections == [] and ctx.messages == [f"wrote {path} (per layer, MACs [convention 'macs'] and parameters)"]
    assert (tmp_path / "layers.png").read_bytes()[:8] == PNG


def test_per_module_at_depth_and_convention(tmp_path):
    path = str(tmp_path / "stages.svg")
    ctx = _ctx(convention="flops", plot=path, depth=1)
    apply(ctx.args, ctx)
    assert ctx.result == {"plot": {"path": path, "depth": 1}}
    assert ctx.sections == [] and ctx.messages == [f"wrote {path} (per module at depth 1, FLOPs [convention 'flops'] "
                                                   "and parameters)"]
    assert (tmp_path / "stages.svg").read_text().lstrip().startswith("<?xml")


def test_without_depth_option_and_off(tmp_path):
    path = str(tmp_path / "x.pdf")
    ctx = _ctx(plot=path)  # a command without --depth
    apply(ctx.args, ctx)
    assert ctx.result["plot"]["depth"] is None and (tmp_path / "x.pdf").read_bytes()[:4] == b"%PDF"
    ctx = _ctx(plot=None)
    apply(ctx.args, ctx)
    assert ctx.result == {} and ctx.sections == [] and ctx.messages == []
