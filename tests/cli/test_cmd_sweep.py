"""`profile-model sweep`: rows per model, resume, failures with reasons, usage errors."""
import csv
import re

import pytest

from profiler.cli import main
from profiler.studies.sweep import summarise



def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_limit_three_torchvision_then_resume(tmp_path, capsys):
    out = tmp_path / "sweep.csv"
    md = tmp_path / "sweep.md"
    assert main(["sweep", "--zoo", "torchvision", "--limit", "3", "--output", str(out), "--markdown", str(md),
                 "--no-progress"]) == 0
    rows = _rows(out)
    assert [r["name"] for r in rows] == ["alexnet", "convnext_base", "convnext_large"]
    assert all(r["status"] == "ok" and r["input"] == "3x224x224" and r["build"] == "meta" for r in rows)
    # torchvision's model docs: AlexNet 61,100,840 params, 0.71 GFLOPS; ConvNeXt-Base 88,591,464 params
    alex = rows[0]
    assert int(alex["params"]) == 61_100_840 and round(int(alex["macs"]) / 1e9, 2) == 0.71
    assert int(rows[1]["params"]) == 88_591_464
    text = capsys.readouterr().out
    assert "3/3 architectures counted (100.0 %)" in text
    assert "3 / 3 (100.0 %)" in md.read_text()

    # --resume skips what is there and appends the next ones
    assert main(["sweep", "--zoo", "torchvision", "--limit", "2", "--resume", "--output", str(out),
                 "--no-progress"]) == 0
    rows = _rows(out)
    assert [r["name"] for r in rows][3:] == ["convnext_small", "convnext_tiny"]
    assert len({r["name"] for r in rows}) == 5


def test_failures_are_listed_with_reasons():
    rows = [{"zoo": "z", "name": "a", "status": "ok", "error": "", "seconds": "1", "uncovered": "", "build": "meta"},
            {"zoo": "z", "name": "b", "status": "failed", "error": "ProfilingError: forward pass failed in x",
             "seconds": "1", "uncovered": "", "build": ""},
            {"zoo": "z", "name": "c", "status": "uncovered", "error": "", "seconds": "2", "uncovered": "aten.foo",
             "build": "meta"}]
    s = summarise(rows)
    assert s["counted"] == 2 and s["total"] == 3 and s["rate"] == pytest.approx(2 / 3)
    assert [r["name"] for r in s["failures"]] == ["b"]
    assert s["uncovered"] == {"aten.foo": ["c"]}


@pytest.mark.parametrize("argv", [["sweep", "--zoo", "nozoo"], ["sweep", "--zoo", "torchvision", "--jobs", "0"],
                                  ["sweep", "--zoo", "torchvision", "--only", "no_such_thing_*"],
                                  ["sweep", "--zoo", "torchvision", "--limit", "0"]])
def test_bad_input_is_a_usage_error(argv, tmp_path, capsys):
    assert main(argv + ["--output", str(tmp_path / "x.csv")]) == 2
    assert "error" in capsys.readouterr().err


def test_progress_lines_on_stderr_when_not_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PROFILER_NO_PROGRESS", raising=False)
    monkeypatch.setenv("PROFILER_PROGRESS_EVERY", "0")  # a line per model (default: one every 10 s)
    assert main(["sweep", "--zoo", "builtin", "--limit", "2", "--output", str(tmp_path / "s.csv")]) == 0
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("profile-model: sweep builtin ")]
    assert len(lines) == 2 and re.match(r"profile-model: sweep builtin 1/2 models, \d\d:\d\d elapsed, about "
                                        r"\d\d:\d\d left \(\S+ ok\)$", lines[0])
    assert re.match(r"profile-model: sweep builtin 2/2 models, \d\d:\d\d elapsed, done", lines[1])
    assert "profile-model: sweep" not in out  # the summary only on stdout


def test_resume_from_a_foreign_csv_is_a_usage_error(tmp_path, capsys):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    assert main(["sweep", "--zoo", "builtin", "--resume", "--limit", "1", "--no-progress",
                 "--output", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a sweep CSV" in err
    assert other.read_text() == "a,b\n1,2\n"  # untouched


def test_crosscheck_sweep_rows_report_and_resume(tmp_path, capsys):
    pytest.importorskip("fvcore")
    out, md = tmp_path / "cc.csv", tmp_path / "cc.md"
    argv = ["sweep", "--zoo", "torchvision", "--crosscheck", "fvcore", "torch", "--only", "squeezenet1_1",
            "--output", str(out), "--markdown", str(md), "--no-progress"]
    assert main(argv) == 0
    rows = _rows(out)
    assert [(r["name"], r["tool"], r["status"]) for r in rows] == [("squeezenet1_1", "fvcore", "reconciled"),
                                                                  ("squeezenet1_1", "torch", "reconciled")]
    fv, tr = rows
    assert fv["family"] == "squeezenet" and fv["input"] == "3x224x224" and fv["unit"] == "fvcore flops (= MACs)"
    assert tr["unit"] == "FLOPs" and int(tr["theirs"]) == int(tr["ours"]) and tr["classes"] == "{}"
    assert int(fv["theirs"]) == int(fv["ours"]) and fv["unexplained"] == "0"
    text = capsys.readouterr().out
    assert "cross-check of 1 torchvision models" in text
    report = md.read_text()
    assert re.search(r"\| fvcore +\| fvcore flops \(= MACs\) +\| 1 ", report) and "## torch (FLOPs)" in report
    # --resume: nothing left to do, the rows stay and the report is written again
    md.unlink()
    assert main(argv + ["--resume"]) == 0
    assert len(_rows(out)) == 2 and md.exists()
    # a tool asked for later is run for the model already there, the others are not run again
    assert main(argv[:6] + ["ptflops"] + argv[6:] + ["--resume"]) == 0
    assert [r["tool"] for r in _rows(out)] == ["fvcore", "torch", "ptflops"]
    assert "## ptflops (MACs)" in md.read_text()


def test_crosscheck_sweep_unknown_tool_is_a_usage_error(tmp_path, capsys):
    assert main(["sweep", "--zoo", "torchvision", "--crosscheck", "nope", "--output", str(tmp_path / "x.csv"),
                 "--no-progress"]) == 2
    assert "unknown tool" in capsys.readouterr().err


def test_markdown_to_a_missing_folder_fails_while_parsing(tmp_path, capsys):
    # before any model is profiled: the error names the folder, exit 2, and no CSV is written
    out = tmp_path / "sweep.csv"
    code = main(["sweep", "--zoo", "torchvision", "--output", str(out), "--markdown", str(tmp_path / "no" / "x.md")])
    assert code == 2 and "does not exist" in capsys.readouterr().err and not out.exists()


def test_a_missing_optional_dependency_is_its_own_status(monkeypatch):
    """pytorchcv's speech models import librosa when built: no failure of the model, a package to install."""
    import profiler.zoo.names as names
    from profiler.studies.sweep import profile_row

    def build(zoo, name, kwargs):
        raise ModuleNotFoundError("No module named 'librosa'", name="librosa")

    monkeypatch.setattr(names, "_build", build)
    row = profile_row("pytorchcv", "jasper5x3")
    assert row["status"] == "missing-dependency"
    assert row["error"] == "needs optional dependency librosa (pip install librosa)"
    s = summarise([row, {**row, "name": "quartznet15x5_en"}])
    assert s["failures"] == [] and s["skipped"] == {"needs optional dependency librosa": ["jasper5x3",
                                                                                       "quartznet15x5_en"]}


def test_several_inputs_without_shapes_are_named_not_failed(monkeypatch):
    import torch.nn as nn

    from profiler.studies.sweep import profile_row
    from profiler.zoo import names

    class TwoInputs(nn.Module):
        def forward(self, x, pid):
            return x

    monkeypatch.setattr(names, "_build", lambda zoo, name, kwargs: TwoInputs())
    row = profile_row("pytorchcv", "resnet18")
    assert row["status"] == "needs-inputs" and "takes 2 inputs (x, pid)" in row["error"]
    monkeypatch.undo()
    # the speech models' inputs come from pytorchcv's own test code: counted, with its weight count
    row = profile_row("pytorchcv", "voca8flame")
    assert row["status"] == "ok" and row["input"] == "1x1x16x29,1" and int(row["params"]) == 809_563
    # pytorchcv's RAFT takes its image pair (torchvision's architecture: the same published figure)
    row = profile_row("pytorchcv", "raft_small")
    assert row["status"] == "ok" and row["input"] == "3x512x512,3x512x512"
    assert round(int(row["macs"]) / 1e9, 3) == 47.655
