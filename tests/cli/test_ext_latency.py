"""``--latency`` (profiler.cli.ext_latency.apply) on a tiny conv with --runs 2: what goes into the JSON, the two
sections' titles and rows, the failure row of a dtype that cannot run, usage errors.

Conv2d(4, 8, 3, padding=1, no bias) on 2x4x8x8: 2*8*64*36 = 36,864 MACs (73,728 FLOPs under `flops`).
"""
import argparse
import re

import pytest
import torch
import torch.nn as nn

import profiler
from profiler.cli.common import Context
from profiler.cli.ext_latency import apply
from profiler.errors import UsageError


def _ctx(convention="macs", **kw):
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.ReLU())
    args = dict(latency=True, roofline=None, runs=2, warmup=0, dtype="fp32", batch_sizes=None,
                latency_device="cpu", latency_top=15)
    args.update(kw)
    prof = profiler.profile_model(model, input=(4, 8, 8), batch=2, convention=convention)
    return Context(args=argparse.Namespace(**args), profile=prof, _model=model)


def _rows(text):
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()[2:]]


def test_model_and_layer_latency():
    ctx = _ctx(batch_sizes="1,3")
    apply(ctx.args, ctx)
    assert set(ctx.result) == {"latency"}
    lat = ctx.result["latency"]
    assert lat["unit"] == "ms"
    assert [(r["dtype"], r["batch"], r["runs"], r["warmup"]) for r in lat["model"]] == [
        ("float32", 1, 2, 0), ("float32", 3, 2, 0)]
    assert all(r["median_ms"] > 0 and "samples_ms" not in r for r in lat["model"])
    assert lat["layers"]["batch"] == 2 and {"0", "1"} <= {la["path"] for la in lat["layers"]["layers"]}

    (t1, model_table), (t2, layer_table) = ctx.sections
    assert t1 == "Latency (ms, median and IQR over 2 runs after 0 warm-up; eval, no_grad; 36,864 MACs at batch 2)"
    rows = _rows(model_table)
    assert [r[:2] for r in rows] == [["float32", "1"], ["float32", "3"]]
    for r, d in zip(rows, lat["model"]):  # the text shows the JSON's numbers; ms / image = median / batch
        assert r[2] == f"{d['median_ms']:.3f}" and r[4] == f"{d['median_ms'] / d['batch']:.3f}"
        assert r[5] == f"{d['device']}, {d['threads']} thread(s)"
    assert t2.startswith("Per-layer latency (cpu, float32, batch 2; self time = the layer's own work, ms;")
    assert t2.endswith("slowest 2")
    by_path = {r[0]: r for r in _rows(layer_table)}
    assert set(by_path) == {"0", "1"}
    assert by_path["0"][1] == "Conv2d" and by_path["0"][4] == "0.04"  # 36,864 MACs = 0.04 MMACs
    assert by_path["1"][1:2] == ["ReLU"] and by_path["1"][4:] == ["0.00", "-"]


def test_title_uses_the_convention_total():
    ctx = _ctx(convention="flops", latency_top=1)
    apply(ctx.args, ctx)
    (t1, _), (t2, layer_table) = ctx.sections
    assert t1.endswith("eval, no_grad; 73,728 FLOPs at batch 2)")
    assert t2.endswith("slowest 1") and len(_rows(layer_table)) == 1


def test_a_failing_dtype_is_a_row(monkeypatch):
    import profiler.analysis.latency as latency

    real = latency.measure_latency

    def measure(model, x, **kw):
        if kw.get("dtype") == torch.float16:
            raise RuntimeError("no\n   kernel for 'Half'")
        return real(model, x, **kw)

    monkeypatch.setattr(latency, "measure_latency", measure)
    ctx = _ctx(dtype="fp32,fp16")
    apply(ctx.args, ctx)
    assert ctx.result["latency"]["model"][1] == {"dtype": "fp16", "batch": 2,
                                                 "error": "RuntimeError: no kernel for 'Half'"}
    assert _rows(ctx.sections[0][1])[1] == ["fp16", "2", "failed", "no kernel for 'Half'"]


def test_roofline(tmp_path):
    path = str(tmp_path / "roof.png")
    ctx = _ctx(roofline=path)
    apply(ctx.args, ctx)
    assert set(ctx.result) == {"latency", "roofline"} and ctx.result["roofline"]["path"] == path
    assert "Roofline" not in [title for title, _ in ctx.sections]  # a message about a file: stderr, not the report
    assert ctx.messages == [f"wrote {path} (MACs per byte against attained GMAC/s per layer, cpu, float32)"]
    assert (tmp_path / "roof.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kw", [dict(dtype="fp99"), dict(batch_sizes="0"), dict(batch_sizes=","),
                                dict(latency=False, roofline="x.png")])
def test_usage_errors(kw):
    ctx = _ctx(**kw)
    with pytest.raises(UsageError):
        apply(ctx.args, ctx)
    assert ctx.result == {} and ctx.sections == []


def test_off_adds_nothing():
    ctx = _ctx(latency=False)
    apply(ctx.args, ctx)
    assert ctx.result == {} and ctx.sections == []
