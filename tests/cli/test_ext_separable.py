"""``--separable`` (profiler.cli.ext_separable.apply): the JSON entry and the text section, on a hand-built model.

On 1x8x10x10: depthwise 3x3 on 8 channels then 1x1 8 -> 16: dw 9*8*100 = 7,200 MACs, pw 8*16*100 = 12,800,
standard 3x3 8 -> 16 conv 9*8*16*100 = 115,200; ratio 20,000 / 115,200 = 25/144 = 1/16 + 1/9.
"""
import argparse

import torch.nn as nn

import profiler
from profiler.cli.common import Context
from profiler.cli.ext_separable import apply


def _ctx(model, **args):
    return Context(args=argparse.Namespace(**args), profile=profiler.profile_model(model, input=(8, 10, 10)))


def _pair_model():
    return nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.ReLU(),
                         nn.Conv2d(8, 16, 1, bias=False))


def test_adds_json_and_section():
    ctx = _ctx(_pair_model(), separable=True)
    apply(ctx.args, ctx)
    assert set(ctx.result) == {"separable"}
    doc = ctx.result["separable"]
    (pair,) = doc["pairs"]
    assert (pair["depthwise"], pair["pointwise"]) == ("0", "2")
    assert (pair["dw_macs"], pair["pw_macs"], pair["standard_macs"]) == (7_200, 12_800, 115_200)
    assert pair["ratio_exact"] == "25/144" and pair["agree"] is True
    assert doc["summary"]["separable_macs"] == 20_000 and doc["summary"]["ratio_exact"] == "25/144"
    ((title, text),) = ctx.sections
    assert title == "Depthwise separable pairs (MACs, bias not counted)"
    # fitted to 120 columns: a pair on two lines (the ratio over its fraction), the notes wrapped
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "7,200" in text and "12,800" in text and "0.17361" in text and "(25/144)" in text
    assert ("1 of 1 pairs equal 1/N + 1/k^2 exactly. All pairs: 20,000 MACs separable vs 115,200 MACs standard "
            "= 0.17361 (5.76x fewer MACs).") in " ".join(text.split())


def test_wide_keeps_a_line_per_pair():
    ctx = _ctx(_pair_model(), separable=True, wide=True)
    apply(ctx.args, ctx)
    ((_, text),) = ctx.sections
    assert "7,200" in text and "12,800" in text and "0.17361 (25/144)" in text
    assert ("1 of 1 pairs equal 1/N + 1/k^2 exactly. All pairs: 20,000 MACs separable vs 115,200 MACs standard "
            "= 0.17361 (5.76x fewer MACs).") in text.splitlines()


def test_no_pairs():
    ctx = _ctx(nn.Sequential(nn.Conv2d(8, 8, 3), nn.ReLU()), separable=True)
    apply(ctx.args, ctx)
    assert ctx.result["separable"]["pairs"] == [] and ctx.result["separable"]["summary"]["pairs"] == 0
    assert ctx.sections == [("Depthwise separable pairs (MACs, bias not counted)",
                             "no depthwise -> pointwise pairs found (no depthwise conv feeds a dense 1x1 conv)")]


def test_off_adds_nothing():
    ctx = _ctx(_pair_model(), separable=False)
    apply(ctx.args, ctx)
    assert ctx.result == {} and ctx.sections == []
