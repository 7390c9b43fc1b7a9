"""Rendering a whole report: every format carries units, the convention, shares and a totals row;
CSV is machine-readable and adds up; HTML is escaped; Profile's notebook hooks delegate here."""
import csv
import io
import json
import re
import sys

import pytest
from _toy import DW_MACS, STEM_MACS, TOTAL_MACS, TOTAL_PARAMS, toy_profile

from profiler.core.profile import Layer, Profile, UncoveredOp
from profiler.report import render, to_dataframe, to_html
from profiler.report.tables import INDENT


@pytest.fixture(scope="module")
def prof():
    return toy_profile()


def test_text_table(prof):
    out = render(prof, "table")
    assert "MACs [macs]" in out and "% MACs" in out and "% params" in out
    assert "output activations (elements)" in out and "kernel/stride/groups" in out
    assert "convention  macs = multiply-accumulates" in out  # the convention is spelled out
    assert INDENT * 2 + "blocks.0.dw" in out  # indented by depth
    assert "3x3 s1 g8" in out and "3x3 s2" in out  # depthwise: groups shown
    total_line = next(line for line in out.splitlines() if line.startswith("total ") and "100.00" in line)
    assert f"{TOTAL_PARAMS:,}" in total_line and f"{TOTAL_MACS:,}" in total_line
    assert f"{TOTAL_MACS:,} MACs [macs] = 39.50 K MACs" in out
    assert "coverage  complete" in out


def test_flops_convention_headers_and_values():
    out = render(toy_profile("flops"), "table")
    assert "FLOPs [flops]" in out and "% FLOPs" in out and f"{2 * TOTAL_MACS:,}" in out


def test_csv_adds_up(prof):
    recs = list(csv.DictReader(io.StringIO(render(prof, "csv", depth=2))))
    body, total = recs[:-1], recs[-1]
    assert total["path"] == "total" and int(total["macs"]) == TOTAL_MACS
    assert sum(int(r["macs"]) for r in body) == TOTAL_MACS
    assert sum(int(r["params"]) for r in body) == TOTAL_PARAMS
    assert sum(float(r["macs_pct"]) for r in body) == pytest.approx(100)
    assert {r["convention"] for r in recs} == {"macs"}
    blocks0 = next(r for r in body if r["path"] == "blocks.0")
    assert int(blocks0["folded"]) == 2 and int(blocks0["depth"]) == 2


def test_markdown_and_top(prof):
    out = render(prof, "markdown", top=2)
    assert "| module" in out and "**total**" in out and "**100.00**" in out
    assert "(9 other modules)" in out
    stem = next(line for line in out.splitlines() if "| stem" in line)
    assert f"{STEM_MACS:,}" in stem and f"{100 * STEM_MACS / TOTAL_MACS:.2f}" in stem


def test_by_kind_view(prof):
    out = render(prof, "table", by="kind")
    line = next(s for s in out.splitlines() if s.startswith("conv_depthwise"))
    assert f"{2 * DW_MACS:,}" in line and f"{100 * 2 * DW_MACS / TOTAL_MACS:.2f}" in line
    assert "embedding" not in out  # kinds without modules are left out of the text


def test_html_is_escaped():
    p = toy_profile()
    p.model = "<b>x</b>"
    out = render(p, "html")
    assert "<details" in out and "&lt;b&gt;x&lt;/b&gt;" in out and "<b>x</b>" not in out
    # the notebook shows the same renderer's fragment (tests/report/test_html_page.py tests the page)
    assert p._repr_html_() == to_html(p) and "&lt;b&gt;x&lt;/b&gt;" in p._repr_html_()


def test_json_and_tree(prof):
    doc = json.loads(render(prof, "json"))
    assert doc["macs"] == TOTAL_MACS and doc["params"] == TOTAL_PARAMS
    tree = render(prof, "tree", depth=1)
    blocks = next(line for line in tree.splitlines() if line.strip().startswith("blocks"))
    assert "25.60 K MACs" in blocks  # inclusive: two blocks of 12,800
    assert f"({100 * 25600 / TOTAL_MACS:.3f}% MACs)" in blocks
    assert "blocks.0" not in tree


def test_summary_view(prof):
    out = render(prof, "table", summary=True)
    assert "Layer (type)" in out and "Conv2d-1" in out and "Estimated Total Size (MB)" in out
    assert "Sequential" not in out.split("Layer (type)")[1].split("Total params")[0]


def test_coverage_and_zero_totals_are_reported():
    layer = Layer(path="", type="Net", kind="other", depth=0, calls=1)
    p = Profile(model="net", inputs=[[1, 4]], convention="macs", layers=[layer],
                coverage=[UncoveredOp("aten.weird", 3, ["", "a.b"])], params_trainable=0, params_frozen=0,
                buffers=0)
    out = render(p, "table")
    assert "1 op(s) have no counting rule" in out and "aten.weird x3 in (root), a.b" in out
    assert "unknown (not zero)" in out
    # shares of a zero total print as "-" (no ZeroDivisionError, no fake 0.00 %)
    assert re.search(r"^total\s+0\s+-\s+0\s+-", out, re.M)


def test_unknown_format(prof):
    with pytest.raises(ValueError, match="xml"):
        render(prof, "xml")


def test_to_dataframe(prof):
    pytest.importorskip("pandas")
    df = prof.to_dataframe()
    assert df.loc["blocks.0.dw", "macs"] == DW_MACS and df["macs"].sum() == TOTAL_MACS
    assert df.loc["blocks.0", "macs_inclusive"] == 12800
    assert df.attrs["convention"] == "macs"
    assert len(to_dataframe(prof, depth=1)) == 5


def test_to_dataframe_without_pandas(prof, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ImportError, match="pip install pandas"):
        prof.to_dataframe()


def test_totals_line_of_a_dense_model_says_nothing_of_active_params(prof):
    from profiler.report.page import footer_items

    items = dict(footer_items(prof))
    assert "active" not in items["total"] and "experts" not in items


def _with_source(prof, **kw):
    from dataclasses import replace

    from profiler.core.profile import Source

    copy = replace(prof)
    copy.source = Source(**{"zoo": "timm", "name": "resnet50", "input_size": (3, 16, 16), **kw})
    return copy


def test_a_bare_name_of_several_zoos_says_what_to_type_for_the_others(prof):
    p = _with_source(prof, also=["torchvision:resnet50", "pytorchcv:resnet50"])
    head = render(p, "table", width=None).splitlines()[0]
    assert head == ("model       resnet50 (built by timm as timm:resnet50; also torchvision:resnet50, "
                    "pytorchcv:resnet50; architecture only, random weights)")
    fitted = render(p, "table", width=120).splitlines()
    assert fitted[0].startswith("model       resnet50 (built by timm as timm:resnet50; also torchvision:resnet50,")
    assert len(fitted[0]) <= 120 and fitted[1].startswith(" " * 12)  # wrapped under its value
    one = render(_with_source(prof), "table", width=None).splitlines()[0]
    assert one == "model       resnet50 (built by timm as timm:resnet50; architecture only, random weights)"


def test_no_phrase_said_twice_in_the_header_and_the_tree(prof):
    """The convention's description once (the header), on a tree page too; 'shapes only' once (issue 25)."""
    from profiler.conventions import get_convention

    described = get_convention("macs").description
    for fmt in ("table", "tree"):
        out = render(prof, fmt, width=120 if fmt == "table" else None)
        assert " ".join(out.split()).count(" ".join(described.split())) == 1, fmt
        assert out.count("shapes only") == 1
    assert "MACs under convention 'macs', defined above)" in render(prof, "tree")


def test_the_tree_page_wraps_to_the_width_and_not_without_it(prof):
    narrow = render(prof, "tree", depth=None, width=60)
    assert max(len(line) for line in narrow.splitlines()) <= 60
    wide = render(prof, "tree", depth=None, width=None)
    longest = max(wide.splitlines(), key=len)
    assert len(longest) > 60 and longest in wide  # one line each, unwrapped


def test_page_width_is_textfit_width():
    from profiler.report import page, textfit

    assert page.TEXT_WIDTH is textfit.TEXT_WIDTH == 120
