"""Plain-text sections (profiler.report.sections): every expected figure is worked out by hand from the shapes
or from hand-made rows, then found in the rendered text."""
import csv
import io
import json
import re
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

import profiler
from profiler.analysis.separable import separable_pairs
from profiler.analysis.traffic import LayerTraffic, Traffic
from profiler.report.sections import (blocks_by_dataset, blocks_report, latency_section, layer_latency_section,
                                      separable_section, separable_table, sweep_summary_markdown,
                                      sweep_summary_text, traffic_section, traffic_table)
from profiler.studies.blocks import BlockRow


def _cells(line: str) -> list[str]:
    """Cells of one line of a tabulate "simple" table (columns are at least two spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


def _row(text: str, first: str) -> list[str]:
    """The cells of the table line whose first cell is ``first``."""
    rows = [_cells(line) for line in text.splitlines() if line.strip()]
    (row,) = [r for r in rows if r[0] == first]
    return row


# -- separable pairs -----------------------------------------------------------------------------------------
# On a 1x8x10x10 input (every conv keeps 10x10):
# pair 1: depthwise 3x3 on M=8 channels, then 1x1 8 -> N=16:
#   dw 9*8*100 = 7,200; pw 8*16*100 = 12,800; standard 9*8*16*100 = 115,200; ratio 20,000/115,200 = 25/144
#   = 1/16 + 1/9 (0.17361), saving 144/25 = 5.76x.
# pair 2: depthwise 3x3 16 -> 32 (multiplier c=2), then 1x1 32 -> N=8:
#   dw 9*32*100 = 28,800; pw 32*8*100 = 25,600; standard 9*16*8*100 = 115,200; ratio 54,400/115,200 = 17/36
#   = 2/8 + 2/9 (0.47222) against 1/8 + 1/9 = 17/72 (0.23611); saving 115,200/54,400 = 2.12x.
# All pairs: 74,400 / 230,400 = 31/96 = 0.32292, 96/31 = 3.10x fewer.
def _separable_model():
    return nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.Conv2d(8, 16, 1, bias=False),
                         nn.Conv2d(16, 32, 3, padding=1, groups=16, bias=False), nn.Conv2d(32, 8, 1, bias=False))


@pytest.fixture(scope="module")
def two_pairs():
    return separable_pairs(profiler.profile(_separable_model(), input_size=(1, 8, 10, 10), device="meta"))


def test_separable_table_rows_notes_and_summary(two_pairs):
    text = separable_table(two_pairs)
    assert _cells(text.splitlines()[0]) == ["#", "depthwise", "pointwise", "k", "M->N", "stride", "out HxW",
                                            "dw MACs", "pw MACs", "standard MACs", "counted ratio",
                                            "1/N + 1/k^2", "saving", "equal"]
    assert _row(text, "1") == ["1", "0", "1", "3x3", "8->16", "1x1", "10x10", "7,200", "12,800", "115,200",
                               "0.17361 (25/144)", "0.17361 (25/144)", "5.76x", "yes"]
    assert _row(text, "2") == ["2", "2", "3", "3x3", "16->8", "1x1", "10x10", "28,800", "25,600", "115,200",
                               "0.47222 (17/36)", "0.23611 (17/72)", "2.12x", "no [2]"]
    assert ("1 of 2 pairs equal 1/N + 1/k^2 exactly. All pairs: 74,400 MACs separable vs 230,400 MACs standard "
            "= 0.32292 (3.10x fewer MACs).") in text
    assert text.splitlines()[-1] == ("[2] channel multiplier 2 (depthwise 16->32): both terms x2, ratio = 2/N + "
                                     "2/k^2")


def test_separable_table_fitted_to_a_width(two_pairs):
    # wider than 110 columns on one line per pair: two lines per pair, the depthwise over the pointwise (paths,
    # kernel over stride, dw over pw MACs, each ratio over its fraction); the same numbers as above
    assert max(len(line) for line in separable_table(two_pairs).splitlines()) > 110
    text = separable_table(two_pairs, width=110)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 110
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    assert [_cells(line) for line in lines[rule + 1:rule + 5]] == [
        ["1", "0", "3x3", "8->16", "10x10", "7,200", "115,200", "0.17361", "0.17361", "5.76x", "yes"],
        ["1", "1x1", "12,800", "(25/144)", "(25/144)"],
        ["2", "2", "3x3", "16->8", "10x10", "28,800", "115,200", "0.47222", "0.23611", "2.12x", "no [2]"],
        ["3", "1x1", "25,600", "(17/36)", "(17/72)"]]
    prose = " ".join(text.split("\n\n", 1)[1].split())
    assert ("1 of 2 pairs equal 1/N + 1/k^2 exactly. All pairs: 74,400 MACs separable vs 230,400 MACs standard "
            "= 0.32292 (3.10x fewer MACs).") in prose
    assert prose.endswith("[2] channel multiplier 2 (depthwise 16->32): both terms x2, ratio = 2/N + 2/k^2")


def test_separable_table_github_and_section(two_pairs):
    md = separable_table(two_pairs, tablefmt="github")
    lines = md.splitlines()
    assert lines[0].startswith("|") and set(lines[1]) <= set("|-:")
    assert [c.strip() for c in lines[2].strip("|").split("|")][:4] == ["1", "0", "1", "3x3"]
    title, text = separable_section(two_pairs)
    assert title == "Depthwise separable pairs (MACs, bias not counted)" and text == separable_table(two_pairs)


def test_separable_table_without_pairs():
    assert separable_table([]) == "no depthwise -> pointwise pairs found (no depthwise conv feeds a dense 1x1 conv)"


# -- memory traffic -------------------------------------------------------------------------------------------
# Conv2d(16, 32, 3, padding=1, no bias) on 1x16x32x32, then ReLU (the numbers of tests/analysis/test_traffic.py's
# kind): conv MACs 32*1024*144 = 4,718,592; reads (16*1024 + 32*16*9)*4 = 83,968 B, writes 32*1024*4 = 131,072 B;
# ReLU reads and writes 131,072 B. Totals: read 215,040 B, written 262,144 B, 4,718,592 / 477,184 = 9.89 MACs/B.
CONV = LayerTraffic("0", "Conv2d", "conv", 4_718_592, 83_968, 131_072, first_call=0)
RELU = LayerTraffic("1", "ReLU", "activation", 0, 131_072, 131_072, first_call=1)
ROOT = LayerTraffic("", "Sequential", "other", 0, 0, 0, first_call=2)  # moves no bytes: intensity "-"
TRAFFIC = Traffic("m", [CONV, RELU, ROOT])


def test_traffic_table_in_execution_order():
    text = traffic_table(TRAFFIC)
    assert _cells(text.splitlines()[0]) == ["layer", "type", "MMACs", "read MB", "written MB", "MACs/B"]
    body = [_cells(line) for line in text.splitlines()[2:]]
    assert body == [["0", "Conv2d", "4.72", "0.084", "0.131", "21.94"],  # 4,718,592 / 215,040
                    ["1", "ReLU", "0.00", "0.131", "0.131", "0.00"],
                    ["(root)", "Sequential", "0.00", "0.000", "0.000", "-"],
                    ["total", "4.72", "0.215", "0.262", "9.89"]]


def test_traffic_table_top_is_heaviest_first():
    # ReLU moves 262,144 B, the conv 215,040 B
    body = [_cells(line)[0] for line in traffic_table(TRAFFIC, top=2).splitlines()[2:]]
    assert body == ["1", "0", "total"]
    assert [_cells(line)[0] for line in traffic_table(TRAFFIC, top=1).splitlines()[2:]] == ["1", "total"]


def test_traffic_table_thousands_and_markdown():
    big = Traffic("m", [LayerTraffic("fc", "Linear", "linear", 2_500_000_000, 1_234_567_890, 765_432_110)])
    text = traffic_table(big)
    # 2.5e9 MACs / 2e9 B = 1.25 MACs/B
    assert _row(text, "fc") == ["fc", "Linear", "2,500.00", "1,234.568", "765.432", "1.25"]
    assert _row(text, "total") == ["total", "2,500.00", "1,234.568", "765.432", "1.25"]
    md = traffic_table(big, tablefmt="github")
    assert md.splitlines()[0].replace(" ", "") == "|layer|type|MMACs|readMB|writtenMB|MACs/B|"


def test_traffic_section_titles():
    title, text = traffic_section(TRAFFIC)
    assert title == ("Memory traffic per layer (MB = 10^6 B read/written by the layer's own ops; MACs/B = "
                     "multiply-accumulates per byte)")
    assert text == traffic_table(TRAFFIC)
    title, text = traffic_section(TRAFFIC, top=1)
    assert title.endswith("multiply-accumulates per byte), top 1 by bytes") and text == traffic_table(TRAFFIC, top=1)


# -- latency -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def conv_flops_profile():
    # 4,718,592 MACs (above); under `flops` the total is 2 x that = 9,437,184 FLOPs (no bias, ReLU free)
    model = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.ReLU())
    return profiler.profile_model(model, input=(16, 32, 32), convention="flops")


def test_latency_section(conv_flops_profile):
    rows = [{"dtype": "float32", "batch": 4, "median_ms": 10.0, "iqr_ms": 0.5, "device": "cpu", "threads": 2,
             "q1_ms": 9.8, "q3_ms": 10.3, "runs": 7, "warmup": 3},
            {"dtype": "fp16", "batch": 1, "error": "RuntimeError: no kernel: here"}]
    title, text = latency_section(rows, conv_flops_profile, runs=7, warmup=3, batch=1)
    # the profile's own total and unit (FLOPs under `flops`), not its MAC count
    assert title == ("Latency (ms, median and IQR over 7 runs after 3 warm-up; eval, no_grad; 9,437,184 FLOPs at "
                     "batch 1)")
    assert _cells(text.splitlines()[0]) == ["dtype", "batch", "median ms", "IQR ms", "ms / image", "where"]
    assert _row(text, "float32") == ["float32", "4", "10.000", "0.500", "2.500", "cpu, 2 thread(s)"]  # 10 ms / 4
    assert _row(text, "fp16") == ["fp16", "1", "failed", "no kernel: here"]


def _stats(median, iqr):
    return SimpleNamespace(median_ms=median, iqr_ms=iqr)


def _layer_latencies():
    return SimpleNamespace(
        layers=[SimpleNamespace(path="", type="Sequential", self_ms=_stats(9.0, 1.0)),  # the root: not listed
                SimpleNamespace(path="0", type="Conv2d", self_ms=_stats(2.0, 0.125)),
                SimpleNamespace(path="1", type="ReLU", self_ms=_stats(0.5, 0.05)),
                SimpleNamespace(path="9", type="Extra", self_ms=_stats(0.0, 0.0))],  # not in the profile
        device="cpu", dtype="float32", batch=1, overhead_ms=0.25, plain_median_ms=2.75)


def test_layer_latency_section(conv_flops_profile):
    title, text = layer_latency_section(_layer_latencies(), conv_flops_profile, 5)
    assert title == ("Per-layer latency (cpu, float32, batch 1; self time = the layer's own work, ms; hooks add "
                     "0.25 ms to a 2.75 ms pass), slowest 3")
    body = [_cells(line) for line in text.splitlines()[2:]]
    # the conv: 4,718,592 MACs (MACs, whatever the convention) in 2 ms = 2.36 GMAC/s
    assert body == [["0", "Conv2d", "2.000", "0.125", "4.72", "2.36"],
                    ["1", "ReLU", "0.500", "0.050", "0.00", "-"],
                    ["9", "Extra", "0.000", "0.000", "0.00", "-"]]
    title, text = layer_latency_section(_layer_latencies(), conv_flops_profile, 1)
    assert title.endswith("slowest 1") and [_cells(line)[0] for line in text.splitlines()[2:]] == ["0"]


# -- sweep summary ---------------------------------------------------------------------------------------------
SWEEP = {"counted": 7, "total": 10, "rate": 0.7, "by_status": {"ok": 5, "uncovered": 2, "failed": 2, "timeout": 1},
         "builds": {"meta": 4, "cpu": 3}, "seconds": {"median": 1.234, "max": 12.5, "max_name": "big", "total": 300},
         "uncovered": {"aten.bar": ["a", "b"], "aten.foo": [f"m{i}" for i in range(8)]},
         "failures": [{"name": "f1", "status": "failed", "error": "ValueError: a|b"},
                      {"name": "f2", "status": "timeout", "error": "no result after 3 s"}]}
EMPTY_SWEEP = dict(SWEEP, uncovered={}, failures=[], seconds=None)


def test_sweep_summary_text():
    assert sweep_summary_text("timm", SWEEP, "x.csv").splitlines() == [
        "timm: 7/10 architectures counted (70.0 %), statuses: failed 2, ok 5, timeout 1, uncovered 2; CSV: x.csv",
        "ops without a counting rule (models):",
        "  aten.foo: 8 (m0, m1, m2, m3 ...)",  # most models first, four named
        "  aten.bar: 2 (a, b)",
        "failures:",
        "  f1: failed: ValueError: a|b",
        "  f2: timeout: no result after 3 s"]
    assert sweep_summary_text("timm", EMPTY_SWEEP, "x.csv").count("\n") == 0


def _md_cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def test_sweep_summary_markdown():
    md = sweep_summary_markdown("timm", SWEEP, "x.csv")
    lines = md.splitlines()
    assert lines[0] == "# Whole-zoo sweep: timm"
    assert "- counted: **7 / 10 (70.0 %)**" in lines
    # 300 s = 5.0 min; the seconds line comes before the builds line
    i = lines.index("- seconds per counted model (build + pass, one worker): median 1.23 s, max 12.5 s (big), "
                    "total 5.0 min")
    assert lines[i + 1].startswith("- how the counted models were built: cpu: 3, meta: 4 (meta = nothing")
    uncovered = lines[lines.index("## Ops without a counting rule") + 2:]
    assert _md_cells(uncovered[0]) == ["op", "models", "examples"]
    assert _md_cells(uncovered[2]) == ["aten.foo", "8", "m0, m1, m2, m3, m4, m5 ..."]
    assert _md_cells(uncovered[3]) == ["aten.bar", "2", "a, b"]
    failures = lines[lines.index("## Failures") + 2:]
    assert _md_cells(failures[2]) == ["f1", "failed", "ValueError: a\\|b"]  # the pipe escaped: still 3 cells
    assert _md_cells(failures[3]) == ["f2", "timeout", "no result after 3 s"]
    empty = sweep_summary_markdown("timm", EMPTY_SWEEP, "x.csv")
    assert "##" not in empty and "seconds per counted model" not in empty and empty.endswith("on the CPU for a data-dependent model)\n\n")


# -- block study ------------------------------------------------------------------------------------------------
def _lat(median, iqr, minimum, device="cpu"):
    return SimpleNamespace(median_ms=median, q1_ms=median - iqr / 2, q3_ms=median + iqr / 2, iqr_ms=iqr,
                           min_ms=minimum, max_ms=median + iqr, runs=7, warmup=3, threads=2, device=device)


def _block_rows(cpu=True, cuda=False):
    return [BlockRow("mnist", "plain", "blocks_mnist_plain", [1, 1, 28, 28], 1007, 100_000, 4096,
                     _lat(1.234, 0.125, 1.111) if cpu else None, _lat(0.253, 0.012, 0.2, "cuda:0") if cuda else None,
                     rounds=3 if cpu else 0),
            BlockRow("cifar10", "shuffle", "blocks_cifar10_shuffle", [1, 3, 32, 32], 25_162, 1_556_736, 163_407,
                     _lat(6.055, 4.251, 1.804) if cpu else None, _lat(0.5, 0.02, 0.4, "cuda:0") if cuda else None,
                     rounds=3 if cpu else 0)]


def test_blocks_by_dataset_keeps_order():
    rows = _block_rows() + _block_rows()
    groups = blocks_by_dataset(rows)
    assert list(groups) == ["mnist", "cifar10"] and [r.block for r in groups["mnist"]] == ["plain", "plain"]


def test_blocks_table(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    text = blocks_report(_block_rows(), "table", cuda_requested=True, load=(1.5, 2.25))
    parts = text.split("\n\n")
    mnist = parts[0].splitlines()
    assert mnist[0] == "mnist: input 1x1x28x28, channels 1 -> 64 -> 128"
    assert _cells(mnist[1]) == ["block", "params", "MACs [macs]", "state_dict (bytes)", "CPU median (ms)",
                                "CPU IQR (ms)", "CPU min (ms)"]
    assert _cells(mnist[3]) == ["plain", "1,007", "100,000", "4,096", "1.234", "0.125", "1.111"]
    assert parts[1].splitlines()[0] == "cifar10: input 1x3x32x32, channels 3 -> 64 -> 128 -> 256"
    assert _row(parts[1], "shuffle") == ["shuffle", "25,162", "1,556,736", "163,407", "6.055", "4.251", "1.804"]
    notes = [line for line in text.splitlines() if line.startswith("note: ")]
    assert notes[0].startswith("note: MACs: multiply-accumulates of conv + linear, bias not counted")
    assert ("minimum of 7 timed batch-1 forward passes per model, eval mode, no_grad, float32, 2 CPU thread(s), "
            "taken in 3 round-robin round(s) over all models after 3 warm-up passes") in notes[1]
    assert "1-minute load average 1.50 before and 2.25 after" in notes[2]
    assert notes[-1] == "note: CUDA latency omitted: no GPU is present on this machine."


def test_blocks_cuda_notes(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Fake GPU 9")
    # a GPU is present but --no-cuda was given
    text = blocks_report(_block_rows(), "table", cuda_requested=False)
    assert text.splitlines()[-1] == "note: CUDA latency omitted: --no-cuda given."
    text = blocks_report(_block_rows(cuda=True), "table")
    assert _cells(text.splitlines()[1])[-2:] == ["CUDA median (ms)", "CUDA IQR (ms)"]
    assert _cells(text.splitlines()[3])[-2:] == ["0.253", "0.012"]
    assert text.splitlines()[-1] == ("note: CUDA latency: same protocol on Fake GPU 9, synchronized before and "
                                     "after each pass.")


def test_blocks_without_timing():
    text = blocks_report(_block_rows(cpu=False), "table")
    assert _cells(text.splitlines()[1]) == ["block", "params", "MACs [macs]", "state_dict (bytes)"]
    assert text.splitlines()[-1] == "note: Latency not measured (--runs 0)."
    assert "CUDA" not in text


def test_blocks_markdown(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    md = blocks_report(_block_rows(), "markdown", plot_path="/a/b/p.png", output_path="/a/c/o.md",
                       command="profile-model blocks --dataset all")
    lines = md.splitlines()
    assert lines[0] == "# Block-family study: cost and latency of nine block types"
    assert lines[2].startswith("Generated by `profile-model blocks --dataset all` (profiler/cli/cmd_blocks.py).")
    i = lines.index("## mnist: input 1x1x28x28, channels 1 -> 64 -> 128")
    assert _md_cells(lines[i + 4]) == ["plain", "1,007", "100,000", "4,096", "1.234", "0.125", "1.111"]
    assert "## Notes" in lines
    assert lines[-1] == "![CPU latency vs MACs per block type](../b/p.png)"  # relative to the output's folder


def test_blocks_csv_and_json():
    rows = _block_rows()
    records = list(csv.DictReader(io.StringIO(blocks_report(rows, "csv"))))
    assert [r["block"] for r in records] == ["plain", "shuffle"]
    assert records[0]["input"] == "1x1x28x28" and records[0]["params"] == "1007"
    assert records[0]["cpu_median_ms"] == "1.234" and records[0]["cpu_q1_ms"] == str(1.234 - 0.0625)
    assert not any(k.startswith("cuda") for k in records[0])  # no CUDA measured: no CUDA columns
    assert json.loads(blocks_report(rows, "json")) == [r.to_dict() for r in rows]
