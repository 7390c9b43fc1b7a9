"""``profile-model list [PATTERN]``: names across zoos, what to type for each, every format."""
import csv
import io
import json

from profiler.cli import main


def run(capsys, *argv):
    code = main(["list", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_pattern_across_zoos_and_use_as(capsys):
    code, out, _ = run(capsys, "mixnet_s", "--format", "json")
    assert code == 0
    recs = {(r["zoo"], r["name"]): r["use_as"] for r in json.loads(out)}
    # timm comes before pytorchcv, so the bare name is timm's and pytorchcv's needs its zoo
    assert recs[("timm", "mixnet_s")] == "mixnet_s"
    assert recs[("pytorchcv", "mixnet_s")] == "pytorchcv:mixnet_s"


def test_glob_zoo_filter_and_formats(capsys):
    code, out, _ = run(capsys, "resnet1?", "--zoo", "torchvision", "--format", "csv")
    assert code == 0
    names = [r["name"] for r in csv.DictReader(io.StringIO(out))]
    assert names == ["resnet18"]  # torchvision's list; the glob "resnet1?" matches no resnet101/152
    code, out, _ = run(capsys, "resnet1[8]", "--zoo", "torchvision", "--sizes")  # not quantized_resnet18
    assert code == 0 and "3x224x224" in out and "1 names (torchvision 1)" in out
    code, out, _ = run(capsys, "crossnet", "--zoo", "builtin", "--format", "markdown")
    assert code == 0 and out.startswith("| zoo") and "| builtin" in out


def test_no_match_exit_1(capsys):
    code, out, err = run(capsys, "zzz_no_such_model", "--zoo", "torchvision")
    assert code == 1 and out == "" and "no model name matches" in err


def test_bad_option_exit_2(capsys):
    code, out, err = run(capsys, "--format", "xml")
    assert code == 2 and err.count("\n") == 1
