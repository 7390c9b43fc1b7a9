"""The check's statuses and the CLI contract, on a tiny user registry whose costs are computed by hand.

tiny_model.tiny on 3x8x8: 18,944 MACs (13,824 conv + 5,120 linear), 5,346 params (see tiny_model.py).
"""
import json
import os

import pytest
import yaml

from profiler.cli import main
from profiler.published import parse_registry, run_check
from profiler.published.check import within
from profiler.published.registry import parse_quantity

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "tiny_model.py") + ":tiny"


def entries(*items):
    base = {"model": MODEL, "input": [3, 8, 8], "source": "hand count (tiny_model.py docstring)"}
    return {"entries": [{**base, **it} for it in items]}


def run(doc, device="meta"):
    return {r.entry.id: r for r in run_check(parse_registry(doc), device=device)}


def test_statuses():
    res = run(entries(
        {"id": "exact", "macs": {"value": "18,944"}, "params": {"value": "5,346"}},
        {"id": "rounded", "macs": {"value": "18.9K"}, "params": {"value": "5.3K"}},
        {"id": "convonly", "macs": {"value": "13,824", "convention": "conv_macs"}},
        {"id": "flops", "macs": {"value": "37,888", "convention": "flops"}},
        {"id": "off", "macs": {"value": "20K"}},
        {"id": "explained", "params": {"value": "5,348"},
         "explained": {"params": {"reason": "two params less than published", "counted": "5,346"}}},
        {"id": "explained-unpinned", "macs": {"value": "25K"}, "explained": {"macs": "the paper rounds up"}},
        {"id": "drifted", "params": {"value": "5,348"},
         "explained": {"params": {"reason": "old build", "counted": "5,340"}}},
        {"id": "wide", "macs": {"value": "20K"}, "tolerance": 0.06},
    ))
    assert res["exact"].status == "ok"
    assert res["exact"].figures["macs"].counted == 18944 and res["exact"].figures["params"].counted == 5346
    assert res["rounded"].status == "ok"
    assert res["convonly"].status == "ok"
    assert res["flops"].status == "ok"
    assert res["off"].status == "mismatch"
    assert res["off"].figures["macs"].delta == pytest.approx(100 * (18944 - 20000) / 20000)
    assert res["explained"].status == "explained"
    assert res["explained"].figures["params"].reason == "two params less than published"
    assert res["explained-unpinned"].status == "explained"
    assert res["drifted"].status == "mismatch"  # the explanation no longer describes the build
    assert "build changed" in res["drifted"].figures["params"].detail
    assert res["wide"].status == "ok"  # 5.3% off, 6% allowed


def test_exact_count_off_by_one_is_not_ok():
    res = run(entries({"id": "a", "params": {"value": "5,347"}}))
    assert res["a"].status == "mismatch"


def test_floor_rounding():
    # 18,944 printed by a truncating source as 18K: ok with rounding floor, not as nearest (1% of 18K = 180)
    assert within(18944, parse_quantity("18K", ""), 0.01, "floor")
    assert not within(18944, parse_quantity("18K", ""), 0.01, "nearest")
    assert not within(19100, parse_quantity("18K", ""), 0.0, "floor")


def test_broken_model_is_a_mismatch_with_the_error():
    res = run(entries({"id": "bad", "input": [3, 9, 9], "macs": {"value": "18,944"}}))
    assert res["bad"].status == "mismatch"
    assert "forward pass failed" in res["bad"].error


def test_cpu_and_meta_agree():
    doc = entries({"id": "a", "macs": {"value": "18,944"}, "params": {"value": "5,346"}})
    assert run(doc, "cpu")["a"].status == run(doc, "meta")["a"].status == "ok"


# -- CLI -----------------------------------------------------------------------------------------------
def write(tmp_path, doc):
    f = tmp_path / "reg.yaml"
    f.write_text(yaml.safe_dump(doc))
    return str(f)


def test_cli_exit_codes_and_json(tmp_path, capsys):
    good = write(tmp_path, entries({"id": "g", "macs": {"value": "18,944"}, "params": {"value": "5,346"}},
                                   {"id": "e", "macs": {"value": "25K"}, "explained": {"macs": "rounded up"}}))
    assert main(["check", "--registry", good, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in out] == ["g", "e"]
    for r in out:
        assert {"id", "model", "published", "counted", "delta", "status"} <= set(r)
    g = out[0]
    assert g["status"] == "ok" and g["counted"] == {"macs": 18944, "params": 5346}
    assert g["published"]["macs"]["value"] == 18944 and g["published"]["macs"]["convention"] == "macs"
    assert g["delta"] == {"macs": 0.0, "params": 0.0}
    assert out[1]["status"] == "explained"

    bad = write(tmp_path, entries({"id": "m", "macs": {"value": "30K"}}))
    assert main(["check", "--registry", bad]) == 1
    text = capsys.readouterr().out
    assert "mismatch" in text and "MACs [macs]" in text and "18.94K" in text


def test_cli_only_markdown_and_output(tmp_path, capsys):
    reg = write(tmp_path, entries({"id": "one", "macs": {"value": "18,944"}}, {"id": "two", "macs": {"value": "1M"}}))
    out = tmp_path / "r.md"
    assert main(["check", "--registry", reg, "--only", "one", "--format", "markdown", "--output", str(out)]) == 0
    md = out.read_text()
    assert md.startswith("# ") and "| one " in md and "| two " not in md and "1 entries: 1 ok" in md
    out, err = capsys.readouterr()
    assert "wrote" in err and "wrote" not in out  # a message about a file: stderr


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    assert main(["check", "--registry", str(tmp_path / "nope.yaml")]) == 2
    assert "no such registry file" in capsys.readouterr().err
    reg = write(tmp_path, entries({"id": "one", "macs": {"value": "18,944"}}))
    assert main(["check", "--registry", reg, "--only", "zzz"]) == 2
    assert main(["check", "--registry", reg, "--format", "xml"]) == 2
    bad = write(tmp_path, {"entries": [{"id": "x"}]})
    assert main(["check", "--registry", bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") >= 1 and "missing" in err
