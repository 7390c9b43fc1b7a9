"""The HTML report (profiler/report/html.py), read as markup: a standalone page for files, a scoped fragment
for notebooks, the module tree collapsible and folded to the terminal's automatic depth, own shares apart
from subtree totals. Expected numbers come from closed forms (tests/_toy.py and the small models below), not
from our own output; the browser's view of the page is tests/report/test_html_browser.py."""
import json
import re
from html.parser import HTMLParser

import pytest
import torch.nn as nn
from _toy import BLOCK_MACS, BLOCK_PARAMS, MIX_MACS, TOTAL_MACS, TOTAL_PARAMS, C, toy_profile

import profiler
from profiler.report import render, to_html
from profiler.report.html import CSS, ROOT


VOID = {"meta", "br", "img", "link", "input", "hr", "wbr"}  # elements without an end tag


class Tree(HTMLParser):
    """The tree's rows: path -> {"open": the row's <details> is open (None for a leaf), "cells": class -> text}
    (a cell is a row's child element; its last class names it)."""

    def __init__(self, text):
        super().__init__()
        self.rows, self._stack, self._details = {}, [], []
        self._row = None  # (stack depth of the row's element, its record)
        self._cell = None  # (stack depth of the cell's element, its name)
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        a = dict(attrs)
        self._stack.append(tag)
        level = len(self._stack)
        if tag == "details":
            self._details.append("open" in a)
        if "data-path" in a:
            record = {"open": self._details[-1] if tag == "summary" else None, "cells": {}}
            self.rows[a["data-path"]] = record
            self._row = (level, record)
        elif self._row is not None and self._cell is None and level == self._row[0] + 1 and a.get("class"):
            self._cell = (level, a["class"].split()[-1])
            self._row[1]["cells"][self._cell[1]] = ""

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        level = len(self._stack)
        self._stack.pop()
        if tag == "details":
            self._details.pop()
        if self._cell is not None and level == self._cell[0]:
            self._cell = None
        if self._row is not None and level == self._row[0]:
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._row[1]["cells"][self._cell[1]] += data


def cell(tree, path, name):
    return tree.rows[path]["cells"][name]


@pytest.fixture(scope="module")
def toy():
    return toy_profile()


@pytest.fixture(scope="module")
def page(toy):
    return render(toy, "html")


def test_standalone_page_works_offline(page):
    assert page.startswith("<!doctype html>\n<html")
    assert '<meta charset="utf-8">' in page and "<style>" in page and page.rstrip().endswith("</html>")
    assert "http" not in page  # no asset fetched: no link, script, font or image from anywhere
    assert not re.search(r"<(script|link|img|iframe)\b|@import|url\(|\b(src|href)=", page)
    assert "<details" in page and "<summary" in page and "position:sticky" in page


def test_notebook_fragment_is_scoped(toy, page):
    frag = toy._repr_html_()
    assert frag == to_html(toy)
    assert frag.startswith(f'<div class="{ROOT}">') and "<style>" in frag
    assert not re.search(r"<!doctype|<html|<head|<body|<meta", frag, re.I)
    # every rule of the style the notebook gets is scoped: nothing restyles the notebook around it (the rules
    # inside the report's container queries included)
    style = frag[frag.index("<style>") + 7:frag.index("</style>")]
    assert CSS in style and "@container" in style
    rules = re.sub(r"@container[^{]*\{", "", style).split("}")
    selectors = [sel.strip() for rule in rules if "{" in rule for sel in rule.split("{")[0].split(",")]
    assert len(selectors) > 40 and all(s.startswith(f".{ROOT}") for s in selectors), selectors
    # the same report as the file's page: the tree's markup is identical
    assert frag[frag.index('<div class="tree '):frag.rindex("</div>")] in page


def test_header_reuses_the_text_views_lines(toy, page):
    assert "<dt>model</dt><dd>toy</dd>" in page and "<dt>input</dt><dd>1x3x16x16 (batch 1)</dd>" in page
    assert "<dt>convention</dt><dd>macs = multiply-accumulates" in page
    assert f"<dt>total</dt><dd>{TOTAL_MACS:,} MACs [macs]" in page and f"{TOTAL_PARAMS:,} params" in page
    assert "<dt>coverage</dt><dd>complete" in page
    # the page says which numbers are own shares and which are subtree totals
    assert "add up to the totals" in page and "a total and not a share" in page


def test_totals_row_equals_the_profile_and_the_json(toy, page):
    tree = Tree(page)
    doc = json.loads(render(toy, "json"))
    total = tree.rows["(total)"]["cells"]
    assert total["cost"] == f"{TOTAL_MACS:,}" == f"{doc['macs']:,}" == f"{toy.total():,}"
    assert total["params"] == f"{TOTAL_PARAMS:,}" == f"{doc['params']:,}"
    assert total["cost-pct"] == total["params-pct"] == "100.00"


def test_every_module_is_a_row_and_own_shares_add_up(toy, page):
    tree = Tree(page)
    assert set(tree.rows) - {"(total)"} == {name for name, _ in toy_module_names()}
    own = [cell(tree, p, "cost") for p in tree.rows if p != "(total)"]
    assert sum(int(v.replace(",", "")) for v in own if v) == TOTAL_MACS
    pct = [cell(tree, p, "cost-pct") for p in tree.rows if p != "(total)"]
    assert sum(float(v) for v in pct if v) == pytest.approx(100, abs=0.01 * len(pct))


def toy_module_names():
    from _toy import Toy

    return list(Toy().named_modules())


def test_subtree_totals_of_the_toy_are_hand_sums(page):
    tree = Tree(page)
    # blocks = two Blocks of dw + pw + the Block's own einsum; the Block owns its einsum and its scale
    assert cell(tree, "blocks", "cost-sum") == f"[{2 * BLOCK_MACS:,}]"
    assert cell(tree, "blocks", "params-sum") == f"[{2 * BLOCK_PARAMS:,}]"
    assert cell(tree, "blocks", "cost") == ""  # a plain container owns nothing: blank, not "0"
    assert cell(tree, "blocks.0", "cost-sum") == f"[{BLOCK_MACS:,}]"
    assert cell(tree, "blocks.0", "cost") == f"{MIX_MACS:,}" and cell(tree, "blocks.0", "params") == f"{C * C:,}"
    assert cell(tree, "", "cost-sum") == f"[{TOTAL_MACS:,}]"
    assert cell(tree, "stem", "cost-sum") == ""  # a leaf: its subtree is itself


def test_subtree_totals_of_a_nested_sequential():
    # Linear(4, 8) = 32 MACs + 40 params; Linear(8, 2) = 16 MACs + 18 params; Linear(2, 3) = 6 MACs + 9 params
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 2))),
                          nn.Linear(2, 3))
    prof = profiler.profile(model, input_size=(1, 4))
    tree = Tree(render(prof, "html"))
    assert cell(tree, "0", "cost-sum") == "[48]" and cell(tree, "0", "params-sum") == "[58]"
    assert cell(tree, "0.2", "cost-sum") == "[16]" and cell(tree, "0.2", "params-sum") == "[18]"
    assert cell(tree, "", "cost-sum") == "[54]" and cell(tree, "", "params-sum") == "[67]"
    assert cell(tree, "(total)", "cost") == "54" and cell(tree, "(total)", "params") == "67"
    assert prof.inclusive_cost("0") == 48 and prof.inclusive_params("0") == 58  # what the cells read


def test_explicit_depth_unfolds_that_deep(toy):
    tree = Tree(render(toy, "html", depth=1))
    opened = {p: r["open"] for p, r in tree.rows.items() if r["open"] is not None}
    assert opened == {"": True, "blocks": False, "blocks.0": False, "blocks.1": False}
    assert "6 of 11 modules are folded into their depth-1 ancestor (--depth 1)" in render(toy, "html", depth=1)


def _wide_model():
    # the root, 8 blocks of 8 Linear(2, 2): 1 + 8 = 9 rows down to depth 1, 1 + 8 + 64 = 73 down to depth 2
    return nn.Sequential(*[nn.Sequential(*[nn.Linear(2, 2) for _ in range(8)]) for _ in range(8)])


def test_folded_by_default_to_the_terminals_automatic_depth():
    prof = profiler.profile(_wide_model(), input_size=(1, 2))
    for out in (render(prof, "html"), render(prof, "html", depth="auto"), prof._repr_html_()):
        tree = Tree(out)
        assert len(tree.rows) - 1 == 73  # every module is on the page, reachable by unfolding
        opened = {p: r["open"] for p, r in tree.rows.items() if r["open"] is not None}
        assert opened == {"": True, **{str(i): False for i in range(8)}}  # 73 > 60 rows: depth 1
        assert "64 of 73 modules are folded into their depth-1 ancestor" in out
        # a folded block still shows its subtree: 8 x (2 x 2 MACs, 6 params)
        assert cell(tree, "3", "cost-sum") == "[32]" and cell(tree, "3", "params-sum") == "[48]"
    assert all(r["open"] for r in Tree(render(prof, "html", depth=2)).rows.values() if r["open"] is not None)


def test_small_model_is_all_unfolded(toy, page):
    assert not [p for p, r in Tree(page).rows.items() if r["open"] is False]
    assert "are folded" not in page


def test_model_name_is_escaped():
    prof = toy_profile()
    prof.model = "<script>x</script>"
    out = render(prof, "html")
    assert "<script>" not in out and "&lt;script&gt;x&lt;/script&gt;" in out


def test_other_views_are_tables_in_the_same_page(toy):
    out = render(toy, "html", by="kind")
    assert out.startswith("<!doctype html>") and '<table class="profiler-table">' in out
    assert f"{TOTAL_MACS:,}" in out
    frag = to_html(toy, top=2)
    assert frag.startswith(f'<div class="{ROOT}">') and "(9 other modules)" in frag


def test_bad_depth_is_refused(toy):
    with pytest.raises(ValueError, match="depth"):
        render(toy, "html", depth="deep")
