"""``--traffic`` (profiler.cli.ext_traffic.apply): bytes worked out by hand for a conv and a ReLU.

Conv2d(16, 32, 3, padding=1, no bias) on 1x16x32x32: reads input 16*1024 + weight 32*16*9 floats = 83,968 B,
writes 32*1024 floats = 131,072 B, 32*1024*144 = 4,718,592 MACs (21.94 MACs/B). ReLU reads and writes 131,072 B.
"""
import argparse

import torch.nn as nn

import profiler
from profiler.cli.common import Context
from profiler.cli.ext_traffic import apply

TITLE = ("Memory traffic per layer (MB = 10^6 B read/written by the layer's own ops; MACs/B = multiply-accumulates "
         "per byte)")


def _ctx(**args):
    model = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.ReLU())
    return Context(args=argparse.Namespace(**args), profile=profiler.profile_model(model, input=(16, 32, 32)))


def _body(text):
    return [line.split() for line in text.splitlines()[2:]]


def test_adds_json_and_section():
    ctx = _ctx(traffic=True, traffic_top=None)
    apply(ctx.args, ctx)
    assert set(ctx.result) == {"traffic"}
    doc = ctx.result["traffic"]
    assert doc["unit"] == "B" and doc["intensity_unit"] == "MACs/B"
    assert [(t["path"], t["bytes_read"], t["bytes_written"], t["macs"]) for t in doc["layers"]] == [
        ("0", 83_968, 131_072, 4_718_592), ("1", 131_072, 131_072, 0)]
    assert (doc["bytes_read"], doc["bytes_written"], doc["bytes_total"]) == (215_040, 262_144, 477_184)
    ((title, text),) = ctx.sections
    assert title == TITLE
    assert _body(text) == [["0", "Conv2d", "4.72", "0.084", "0.131", "21.94"],
                           ["1", "ReLU", "0.00", "0.131", "0.131", "0.00"],
                           ["total", "4.72", "0.215", "0.262", "9.89"]]  # 4,718,592 / 477,184


def test_top_lists_the_heaviest():
    ctx = _ctx(traffic=True, traffic_top=1)
    apply(ctx.args, ctx)
    ((title, text),) = ctx.sections
    assert title == TITLE + ", top 1 by bytes"
    assert [r[0] for r in _body(text)] == ["1", "total"]  # ReLU moves 262,144 B, the conv 215,040 B
    assert len(ctx.result["traffic"]["layers"]) == 2  # the JSON keeps every layer


def test_off_adds_nothing():
    ctx = _ctx(traffic=False)
    apply(ctx.args, ctx)
    assert ctx.result == {} and ctx.sections == []
