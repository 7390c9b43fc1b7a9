"""profiler.studies.zoo_crosscheck: the zoo-scale cross-check's rows, sample and summary.

CI runs the fixed set below for real (timm's own tiny test models, one family each: a ViT, a ByobNet, an
EfficientNet with group norm, an NF-Net with weight-standardised convolutions, a ResNet): every peer run on
the CPU beside our count, nothing left unexplained.
"""
import json

import pytest

from profiler.studies.zoo_crosscheck import (COLUMNS, classes_of, crosscheck_rows, family_of, reason_class,
                                             stratified_sample, summarise)

from _peers import installed

CI_SET = ["test_vit", "test_byobnet", "test_efficientnet_gn", "test_nfnet", "test_resnet"]
TOOLS = ["fvcore", "ptflops", "torch"]


@pytest.fixture(scope="module")
def ci_rows():
    pytest.importorskip("timm")
    missing = set(TOOLS) - installed()
    if missing:
        pytest.skip(f"needs {', '.join(sorted(missing))}")
    return [row for name in CI_SET for row in crosscheck_rows("timm", name, TOOLS)]


def test_ci_set_reconciles_with_every_peer(ci_rows):
    assert len(ci_rows) == len(CI_SET) * len(TOOLS)
    assert all(set(r) == set(COLUMNS) for r in ci_rows)
    bad = [(r["name"], r["tool"], r["status"], r["unexplained"], r["error"]) for r in ci_rows
           if r["status"] != "reconciled"]
    assert not bad, bad
    for r in ci_rows:
        assert r["theirs"] - r["ours"] - r["explained"] == r["unexplained"] == 0
        assert r["input"] == "3x160x160" and r["family"] == family_of("timm", r["name"])


def test_ci_set_summary(ci_rows):
    s = summarise(ci_rows, TOOLS)
    assert list(s) == TOOLS
    for tool in TOOLS:
        assert s[tool]["tried"] == s[tool]["reconciled"] == len(CI_SET)
        assert not s[tool]["unexplained"] and not s[tool]["peer_failures"]
    # ptflops skips timm's BatchNormAct2d / GroupNormAct (exact-type hooks): one class, several models.
    unhooked = s["ptflops"]["classes"]["not counted: {module} is not a module type ptflops hooks (exact type match)"]
    assert unhooked["models"] >= 3 and unhooked["amount"] < 0


def test_families_and_the_stratified_sample():
    timm = pytest.importorskip("timm")
    assert family_of("timm", "resnetv2_50x1_bit") == "resnetv2"
    assert family_of("timm", "vit_base_patch16_224") == "vision_transformer"
    assert family_of("torchvision", "resnet50") == "resnet"
    assert family_of("builtin", "crossnet58k5") == "crossnet"
    names = timm.list_models()
    sample = stratified_sample("timm", names, 1)
    families = {family_of("timm", n) for n in names}
    assert len(sample) == len(families) and {family_of("timm", n) for n in sample} == families
    assert sample == stratified_sample("timm", list(reversed(names)), 1)  # a fixed choice, not the list order
    two = stratified_sample("timm", names, 2)
    assert set(sample) <= set(two) and len(two) > len(sample)


def test_reason_classes_take_out_the_model_specifics():
    import re

    types = re.compile(r"\b(BatchNormAct2d|GroupNormAct|ReLU|GELU)\b")
    a = reason_class("not counted: BatchNormAct2d is not a module type ptflops hooks (exact type match)", types)
    b = reason_class("not counted: GroupNormAct is not a module type ptflops hooks (exact type match)", types)
    assert a == b == "not counted: {module} is not a module type ptflops hooks (exact type match)"
    assert reason_class("per sample: ... batch size (2), ...") == "per sample: ... batch size (N), ..."
    assert reason_class("tied parameter counted again (first registered by 'head.fc')") == \
        "tied parameter counted again (first registered by '...')"
    entry = {"explained": [{"what": "counted twice: ReLU hook", "layer": "a", "macs": 5},
                           {"what": "counted twice: GELU hook", "layer": "b", "macs": 7}]}
    assert classes_of(entry, types) == {"counted twice: {module} hook": [2, 12, "counted twice: ReLU hook"]}


def test_summary_of_rows_read_back_from_csv():
    def row(name, tool, status, unexplained="0", theirs="1000", classes="{}", error=""):
        return {"zoo": "timm", "name": name, "family": "f", "input": "3x224x224", "tool": tool, "unit": "MACs",
                "convention": tool, "theirs": theirs, "ours": "1000", "explained": "0", "unexplained": unexplained,
                "unexplained_pct": str(100 * int(unexplained) / int(theirs)) if theirs else "", "status": status,
                "classes": classes, "error": error, "seconds": "1"}

    cls = json.dumps({"x": [2, -10, "x in a"]})
    rows = [row("a", "fvcore", "reconciled", classes=cls), row("b", "fvcore", "reconciled", classes=cls),
            row("c", "fvcore", "close", "1"), row("d", "fvcore", "unexplained", "50", error="largest residuals: l"),
            row("e", "fvcore", "peer failed", theirs="", error="RuntimeError: boom"),
            row("f", "fvcore", "timeout", theirs="", error="no result after 9 s"), row("a", "torch", "reconciled")]
    s = summarise(rows, ["fvcore"])
    assert list(s) == ["fvcore"]
    f = s["fvcore"]
    assert (f["tried"], f["reconciled"], f["within_tolerance"]) == (6, 2, 3)
    assert [u["name"] for u in f["unexplained"]] == ["d", "c"] and f["unexplained"][0]["pct"] == 5.0
    assert f["peer_failures"] == [{"name": "e", "error": "RuntimeError: boom"}]
    assert [m["name"] for m in f["model_failures"]] == ["f"]
    assert f["classes"]["x"] == {"models": 2, "layers": 4, "amount": -20, "example": "x in a", "model": "a"}
    assert f["worst"] == ("d", 5.0)
