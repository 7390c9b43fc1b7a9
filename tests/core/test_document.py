"""The JSON document: the fixed keys, per-layer records that add up, every kind in by_kind."""
import json

import pytest
from _toy import BLOCK_MACS, DW_MACS, MIX_MACS, PW_MACS, TOTAL_MACS, TOTAL_PARAMS, toy_profile

from profiler.core.document import document
from profiler.core.kinds import KINDS
from profiler.core.profile import Source
from profiler.core.rows import layer_rows, top_rows
from profiler.report.page import render

CONTRACT = {"model", "zoo", "input", "convention", "macs", "params", "layers", "by_kind", "coverage"}


@pytest.fixture(scope="module")
def prof():
    return toy_profile()


def test_contract(prof):
    prof.source = Source("user", "toy.py:Toy", (3, 16, 16))
    try:
        doc = json.loads(json.dumps(prof.to_dict()))
    finally:
        prof.source = None
    assert CONTRACT <= set(doc)
    assert doc["model"] == "toy.py:Toy" and doc["zoo"] == "user"
    assert doc["input"] == {"kind": "tensor", "shapes": [[1, 3, 16, 16]], "batch": 1} and doc["convention"] == "macs" and doc["unit"] == "MACs"
    assert doc["macs"] == TOTAL_MACS and doc["params"] == TOTAL_PARAMS
    assert set(doc["by_kind"]) == set(KINDS)
    assert all(set(v) == {"macs", "params"} for v in doc["by_kind"].values())
    assert doc["by_kind"]["conv_depthwise"] == {"macs": 2 * DW_MACS, "params": 2 * 72}
    assert doc["coverage"] == []
    assert sum(layer["macs"] for layer in doc["layers"]) == TOTAL_MACS
    assert sum(layer["params"] for layer in doc["layers"]) == TOTAL_PARAMS
    assert "task" not in doc  # only models with a head to choose (hf:) say it
    assert sum(layer["macs_pct"] for layer in doc["layers"]) == pytest.approx(100)
    dw = next(layer for layer in doc["layers"] if layer["path"] == "blocks.0.dw")
    assert dw["kind"] == "conv_depthwise" and dw["kernel_size"] == [3, 3] and dw["groups"] == 8
    assert dw["input_shapes"] == [[1, 8, 8, 8]] and dw["output_shapes"] == [[1, 8, 8, 8]]
    assert dw["activations"] == 8 * 8 * 8 and dw["macs"] == DW_MACS


def test_a_language_model_input_says_tokens(prof):
    prof.source = Source("hf", "gpt2", (128,), batch=2, input_kind="tokens", task="causal-lm")
    try:
        doc = prof.to_dict()
    finally:
        prof.source = None
    assert doc["input"] == {"kind": "tokens", "tokens": 128, "batch": 2, "shapes": [list(s) for s in prof.inputs]}
    assert doc["task"] == "causal-lm"


def test_input_has_one_shape_for_every_kind(prof):
    """kind, shapes (a list of shapes, one input too), batch; the token kinds add tokens (issue 25)."""
    shapes = [list(s) for s in prof.inputs]
    seen = {}
    for kind, size in (("tensor", (3, 16, 16)), ("image-pair", (3, 16, 16)), ("images", (3, 16, 16)),
                       ("tokens", (128,)), ("text-image", (77,)), ("speech-text", (12,))):
        prof.source = Source("timm", "x", size, batch=3, input_kind=kind)
        try:
            seen[kind] = prof.to_dict()["input"]
        finally:
            prof.source = None
    for kind, record in seen.items():
        length = {"tokens": 128, "text-image": 77, "speech-text": 12}.get(kind)
        assert record == {"kind": kind, "shapes": shapes, "batch": 3, **({"tokens": length} if length else {})}, kind
    assert prof.to_dict()["input"] == {"kind": "tensor", "shapes": shapes, "batch": shapes[0][0]}  # a module


def test_raw_counts_sit_beside_the_convention_cost(prof):
    doc = prof.to_dict()
    dw = next(layer for layer in doc["layers"] if layer["path"] == "blocks.0.dw")
    assert dw["counts"]["conv"] == DW_MACS and dw["macs"] == DW_MACS
    blocks = next(layer for layer in prof.to_dict(depth=1)["layers"] if layer["path"] == "blocks")
    assert blocks["counts"]["conv"] == 2 * (DW_MACS + PW_MACS)  # the folded subtree's raw counts
    assert blocks["counts"]["linear"] == 2 * MIX_MACS and blocks["macs"] == 2 * BLOCK_MACS


def test_under_flops_the_document_total_is_flops_and_profile_macs_stays_macs(prof):
    prof.convention = "flops"
    try:
        doc = json.loads(render(prof, "json"))  # the text the CLI writes for --format json
        assert doc["macs"] == 2 * TOTAL_MACS and doc["unit"] == "FLOPs" and prof.total() == 2 * TOTAL_MACS
        assert prof.macs == TOTAL_MACS and prof.layer("blocks.0.dw").macs == DW_MACS
    finally:
        prof.convention = "macs"


def test_without_source_and_with_folded_rows(prof):
    doc = document(prof, top_rows(layer_rows(prof, depth=2), 2))
    assert doc["zoo"] is None and doc["model"] == "toy"
    assert [layer["path"] for layer in doc["layers"][:2]] == ["stem", "blocks.0"]
    assert doc["layers"][1]["macs"] == BLOCK_MACS and doc["layers"][1]["folded"] == 2
    assert doc["layers"][-1]["other"] is True
    assert sum(layer["macs"] for layer in doc["layers"]) == TOTAL_MACS


def test_a_dense_model_has_every_parameter_active(prof):
    doc = json.loads(render(prof, "json"))
    assert doc["params_active"] == doc["params"] == TOTAL_PARAMS
    assert all(layer["params_active"] == layer["params"] for layer in doc["layers"])
    assert "expert_tokens" not in doc  # a real pass of routed experts only
