"""`profile-model blocks`: JSON rows, CSV/markdown/plot output, exit codes. MNIST only and --runs 2 to stay fast.

Expected params/MACs of blocks_mnist_plain are the hand sums of tests/models/test_blocks.py (written from the
architecture, not from our output); state_dict bytes are checked against a real file written by torch.save.
"""
import csv
import io
import json

import pytest
import torch

from profiler.cli import main
from profiler.models.blocks import BLOCK_TYPES, blocks_model

# stem 1*64*49 + BN; 3x3 64->128 + BN; 7 x (3x3 128->128 + BN); FC 128*10 + 10
MNIST_PLAIN_PARAMS = 3264 + 221696 + 886272 + 1290
MNIST_PLAIN_MACS = 614656 + 3612672 + 50577408 + 1280


@pytest.fixture(scope="module")
def json_rows():
    out = io.StringIO()
    import contextlib
    with contextlib.redirect_stdout(out):
        # one thread: two would thrash on a busy 2-core machine
        rc = main(["blocks", "--dataset", "mnist", "--format", "json", "--runs", "2", "--warmup", "1",
                   "--threads", "1"])
    assert rc == 0
    return json.loads(out.getvalue())


def test_json_rows(json_rows, tmp_path):
    rows = json_rows
    assert isinstance(rows, list) and [r["block"] for r in rows] == list(BLOCK_TYPES)
    assert all(r["dataset"] == "mnist" and r["input"] == [1, 1, 28, 28] for r in rows)
    plain = rows[0]
    assert plain["model"] == "blocks_mnist_plain"
    assert plain["params"] == MNIST_PLAIN_PARAMS and plain["macs"] == MNIST_PLAIN_MACS
    assert plain["convention"] == "macs" and plain["unit"] == "MACs"
    torch.manual_seed(0)
    # torch.save names the zip records after the file stem (a buffer gets "archive"), so use that stem
    path = tmp_path / "archive.pt"
    torch.save(blocks_model("mnist", "plain").state_dict(), path)
    assert plain["state_dict_bytes"] == path.stat().st_size
    for r in rows:
        assert r["runs"] == 2 and r["warmup"] == 1 and r["rounds"] == 2 and r["cpu_threads"] == 1
        assert 0 < r["cpu_min_ms"] <= r["cpu_q1_ms"] <= r["cpu_median_ms"] <= r["cpu_q3_ms"] <= r["cpu_max_ms"]
        assert r["cpu_iqr_ms"] == pytest.approx(r["cpu_q3_ms"] - r["cpu_q1_ms"])
        if not torch.cuda.is_available():
            assert r["cuda_median_ms"] is None and r["cuda_device"] is None
    # cheaper blocks really are cheaper: bottleneck uses 1/4 width in the 3x3 (about 1/16 of its MACs)
    by = {r["block"]: r for r in rows}
    assert by["bottleneck"]["macs"] < by["plain"]["macs"] / 8 and by["shuffle"]["params"] < by["plain"]["params"]


def test_markdown_plot_and_output(tmp_path, capsys):
    md, png = tmp_path / "blocks.md", tmp_path / "blocks.png"
    rc = main(["blocks", "--dataset", "mnist", "--format", "markdown", "--runs", "1", "--warmup", "0",
               "--threads", "1", "--output", str(md), "--plot", str(png)])
    assert rc == 0
    text = md.read_text()
    assert "## mnist: input 1x1x28x28" in text and "MACs [macs]" in text and "CPU median (ms)" in text
    assert "| plain " in text and "| shuffle " in text
    # the protocol, the load, and how the study's own timing differed
    assert "1 CPU thread(s)" in text and "load average" in text and "training mode" in text
    assert "CPU min (ms)" in text
    assert "![" in text and "(blocks.png)" in text
    assert ("CUDA median (ms)" in text) == torch.cuda.is_available()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out == ""  # everything went to the file


def test_csv_and_table_without_timing(capsys, monkeypatch):
    monkeypatch.delenv("PROFILER_NO_PROGRESS", raising=False)
    monkeypatch.setenv("PROFILER_PROGRESS_EVERY", "0")  # not a terminal: a progress line per model, on stderr
    assert main(["blocks", "--dataset", "mnist", "--format", "csv", "--runs", "0"]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == len(BLOCK_TYPES) and lines[0].startswith("profile-model: blocks: counting 1/9 models, ")
    assert "left" in lines[0] and lines[-1].startswith("profile-model: blocks: counting 9/9 models, ")
    assert "profile-model:" not in out  # never progress on stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["block"] for r in rows] == list(BLOCK_TYPES)
    assert rows[0]["params"] == str(MNIST_PLAIN_PARAMS) and rows[0]["input"] == "1x1x28x28"
    assert rows[0]["cpu_median_ms"] == ""  # not measured
    assert main(["blocks", "--dataset", "mnist", "--runs", "0"]) == 0
    out = capsys.readouterr().out
    assert "1,112,522" in out and "CPU median" not in out and "not measured" in out


@pytest.mark.parametrize("suffix,check", [
    (".md", lambda text: text.startswith("# Block-family study") and "--format markdown" in text),
    (".csv", lambda text: text.startswith("dataset,block,")),
    (".json", lambda text: json.loads(text)[0]["block"] == "plain"),
])
def test_output_suffix_gives_the_format(tmp_path, capsys, suffix, check):
    target = tmp_path / f"blocks{suffix}"
    assert main(["blocks", "--dataset", "mnist", "--runs", "0", "--output", str(target)]) == 0
    assert check(target.read_text()), target.read_text()[:200]


@pytest.mark.parametrize("argv", [
    ["blocks", "--dataset", "mnist", "--runs", "0", "--output", "blocks.html"],  # no html comparison
    ["blocks", "--dataset", "imagenet"],
    ["blocks", "--dataset", "mnist,foo"],
    ["blocks", "--runs", "-1"],
    ["blocks", "--format", "xml"],
    ["blocks", "--dataset", "mnist", "--runs", "0", "--plot", "x.png"],
    ["blocks", "--threads", "0"],
    ["blocks", "--rounds", "0"],
    ["blocks", "--warmup", "x"],
    ["blocks", "--dataset", "mnist", "--runs", "0", "--output", "/no_such_dir_xyz/blocks.md"],  # before any work
])
def test_bad_input_exits_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err  # one line, no traceback
