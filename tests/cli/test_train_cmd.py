"""profile-model --train: a training step's phases per layer and in the JSON, the MFU, usage errors."""
import json
import textwrap

import pytest

from profiler.cli import main

NET = """
import torch.nn as nn

def build():
    net = nn.Sequential(nn.Linear(8, 16, bias=False), nn.ReLU(), nn.Linear(16, 4, bias=False))
    net.input_size = (8,)
    return net
"""
B = 2
FORWARD = B * (8 * 16 + 16 * 4)
BACKWARD = B * 8 * 16 + 2 * B * 16 * 4  # layer 0: weight gradient only (the input needs none); layer 2: both


@pytest.fixture()
def net(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(NET))
    return f"{path}:build"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_the_phases_of_the_step(capsys, net):
    code, out, _ = run(capsys, net, "--train", "--optimizer", "sgd", "--batch", str(B), "--format", "json",
                       "--convention", "all")
    doc = json.loads(out)
    assert code == 0 and doc["phases"] == ["forward", "loss", "backward", "optimizer"]
    ph = doc["by_phase"]
    relu = B * 16  # forward ReLU and its gradient: one element op each
    assert ph["forward"] == FORWARD + relu and ph["backward"] == BACKWARD + relu
    assert ph["loss"] == B * 4  # the default loss: the sum of the output
    assert ph["optimizer"] == 8 * 16 + 16 * 4  # SGD: one update per parameter element
    assert doc["macs"] == sum(ph.values())
    layer2 = next(r for r in doc["layers"] if r["path"] == "2")
    assert layer2["phases"]["backward"] == 2 * B * 16 * 4 and layer2["phases"]["optimizer"] == 16 * 4


def test_table_shows_phase_columns_and_the_ratio(capsys, net):
    code, out, _ = run(capsys, net, "--train", "--batch", str(B))
    assert code == 0 and "bwd MACs" in out and "fwd MACs" in out  # the terminal's short headers
    code, out, _ = run(capsys, net, "--train", "--batch", str(B), "--wide")
    assert code == 0 and "backward MACs" in out and "forward MACs" in out
    assert f"backward/forward = {BACKWARD / FORWARD:.3f}" in out


def test_mfu_from_step_time_and_peak(capsys, net):
    code, out, _ = run(capsys, net, "--train", "--batch", str(B), "--step-time", "1e-6", "--peak-tflops", "1e-3",
                       "--format", "json")
    doc = json.loads(out)
    flops = 2 * (FORWARD + BACKWARD)
    assert code == 0 and doc["mfu"]["step_flops"] == flops
    assert doc["mfu"]["mfu"] == pytest.approx(flops / 1e-6 / 1e9)


def test_mfu_line_wraps_on_the_terminal_only_and_says_training_step_once(capsys, net, tmp_path):
    argv = [net, "--train", "--batch", str(B), "--step-time", "1e-6", "--peak-tflops", "1e-3", "--device", "cpu"]
    code, out, _ = run(capsys, *argv)
    mfu = out.split("Model FLOPs utilisation\n", 1)[1].splitlines()
    assert code == 0 and len(mfu) == 2 and max(map(len, mfu)) <= 120
    assert "FLOPs = 2 x the step's MACs [macs], every phase" in " ".join(" ".join(mfu).split())  # header: 'macs'
    assert " ".join(out.split()).count("training step") == 1  # cpu: one training step (forward, loss, backward)
    code, wide, _ = run(capsys, *argv, "--wide")
    assert len(wide.split("Model FLOPs utilisation\n", 1)[1].splitlines()[0]) > 120  # one line


@pytest.mark.parametrize("argv,needle", [
    (["--optimizer", "adamw"], "--optimizer describes a training step"),
    (["--train", "--step-time", "0.1"], "both --step-time"),
    (["--train", "--optimizer", "lion"], "--optimizer"),
    (["--train", "--step-time", "-1", "--peak-tflops", "3"], "--step-time"),
])
def test_usage_errors(capsys, net, argv, needle):
    code, _, err = run(capsys, net, *argv)
    assert code == 2 and needle in err and "Traceback" not in err
