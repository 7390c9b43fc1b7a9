"""``Profile.table()`` / ``Profile.summary()`` (the terminal views from Python, fitted to a width) and the subtree
totals on container rows (brackets in the text and Markdown tables, raw ``*_inclusive`` columns in the CSV and
the DataFrame) next to own shares that still add up to 100 %.

The model is written here with its costs by hand (input 1x4, batch 1; a Linear of in -> out: in x out MACs,
bias not counted; in x out + out params):

    (root) Sequential
      0 Sequential           fc0a: 4 -> 8 (32 MACs, 40 params), fc0b: 8 -> 2 (16 MACs, 18 params)
      1 Mix                  fc: 2 -> 2, no bias (4 MACs, 4 params); its own forward: @ w (2x3: 6 MACs, 6 params)
"""
import csv
import io
import sys
import types

import pytest
import torch
import torch.nn as nn

import profiler
from profiler.report import render

FC0A_MACS, FC0A_PARAMS = 4 * 8, 4 * 8 + 8
FC0B_MACS, FC0B_PARAMS = 8 * 2, 8 * 2 + 2
FC_MACS, FC_PARAMS = 2 * 2, 2 * 2
MIX_OWN_MACS, MIX_OWN_PARAMS = 2 * 3, 2 * 3  # (1x2) @ (2x3)
SEQ_MACS, SEQ_PARAMS = FC0A_MACS + FC0B_MACS, FC0A_PARAMS + FC0B_PARAMS  # 48, 58
MIX_MACS, MIX_PARAMS = FC_MACS + MIX_OWN_MACS, FC_PARAMS + MIX_OWN_PARAMS  # 10, 10
TOTAL_MACS, TOTAL_PARAMS = SEQ_MACS + MIX_MACS, SEQ_PARAMS + MIX_PARAMS  # 58, 68


class Mix(nn.Module):
    """A container that computes something itself: its own share and its subtree's total differ."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2, bias=False)
        self.w = nn.Parameter(torch.ones(2, 3))

    def forward(self, x):
        return self.fc(x) @ self.w


def _net():
    return nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)), Mix())


@pytest.fixture(scope="module")
def prof():
    return profiler.profile(_net(), input_size=(1, 4))


def _rows(out):
    """module name -> {header: cell} of the text table, cut at the header's dashes (cells may hold spaces)."""
    lines = out.splitlines()
    start = next(i for i, s in enumerate(lines) if s.startswith("module "))
    spans, pos = [], 0
    for dashes in lines[start + 1].split("  "):
        if dashes:
            spans.append((pos, pos + len(dashes)))
            pos += len(dashes)
        pos += 2 if dashes else 1
    header = [lines[start][a:b].strip() for a, b in spans]
    end = next(i for i in range(start + 2, len(lines)) if lines[i].startswith("---"))
    rows = {}
    for line in lines[start + 2:end]:
        cells = [line[a:b].strip() for a, b in spans]
        rows[cells[0].replace("\u00a0", "")] = dict(zip(header, cells))
    return header, rows


def test_totals_are_the_closed_forms(prof):
    assert prof.total() == TOTAL_MACS and prof.params == TOTAL_PARAMS
    assert prof.inclusive_cost("0") == SEQ_MACS and prof.inclusive_cost("1") == MIX_MACS


def test_repr_and_str_stay_one_line(prof):
    assert "\n" not in repr(prof) and str(prof) == repr(prof)
    assert f"{TOTAL_MACS:,} MACs [macs]" in repr(prof)
    assert "p.table()" in type(prof).__repr__.__doc__


@pytest.mark.parametrize("width", [60, 80, 120])
def test_table_fits_the_width(prof, width):
    out = prof.table(width=width)
    assert max(len(s) for s in out.splitlines()) <= width
    assert out == render(prof, "table", depth="auto", width=width)  # what profile-model prints


def test_table_width_follows_the_terminal(prof, monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setenv("COLUMNS", "70")  # shutil.get_terminal_size reads COLUMNS first
    assert prof.table() == prof.table(width=70)
    assert max(len(s) for s in prof.table().splitlines()) <= 70
    monkeypatch.setenv("COLUMNS", "10")  # too narrow to mean anything: the floor
    assert prof.table() == prof.table(width=40)
    monkeypatch.setenv("COLUMNS", "1000")  # prose that long is unreadable: the cap
    assert prof.table() == prof.table(width=200)
    # in Jupyter the terminal (if any) is the server's, not the notebook's: 120
    monkeypatch.setenv("COLUMNS", "70")
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert prof.table() == prof.table(width=120)


def test_table_depth(prof):
    _, rows = _rows(prof.table(depth=1, width=120))
    assert list(rows) == ["(root)", "0 (+2)", "1 (+1)"]
    assert prof.table(depth="all", width=120) == prof.table(width=120)  # 6 modules: nothing folded either way


def test_summary_fits_the_width(prof):
    out = prof.summary(width=80)
    assert max(len(s) for s in out.splitlines()) <= 80
    assert "Linear-1" in out and "Linear-2" in out and "Params size (MB)" in out
    assert out == render(prof, "table", summary=True, width=80)


def test_containers_show_their_subtree_total_in_brackets(prof):
    header, rows = _rows(prof.table(width=120))
    assert header[header.index("params") + 1] == "%" and header[header.index("MACs [macs]") + 1] == "%"
    cells = {name: (r["params"], r["MACs [macs]"]) for name, r in rows.items()}
    # root and the plain Sequential own nothing: the subtree's total alone, in brackets
    assert cells["(root)"] == (f"[{TOTAL_PARAMS}]", f"[{TOTAL_MACS}]")
    assert cells["0"] == (f"[{SEQ_PARAMS}]", f"[{SEQ_MACS}]")
    # Mix computes @ w itself: its own share, then the subtree's total
    assert cells["1"] == (f"{MIX_OWN_PARAMS} [{MIX_PARAMS}]", f"{MIX_OWN_MACS} [{MIX_MACS}]")
    # leaves: their own counts, no brackets
    assert cells["0.0"] == (str(FC0A_PARAMS), str(FC0A_MACS)) and cells["1.fc"] == (str(FC_PARAMS), str(FC_MACS))
    assert cells["0.1"] == (str(FC0B_PARAMS), str(FC0B_MACS))


def test_own_share_percent_columns_still_add_up_to_100(prof):
    recs = list(csv.DictReader(io.StringIO(render(prof, "csv"))))
    layers, total = recs[:-1], recs[-1]
    assert sum(int(r["macs"]) for r in layers) == TOTAL_MACS == int(total["macs"])
    assert sum(float(r["macs_pct"]) for r in layers) == pytest.approx(100.0)
    assert sum(float(r["params_pct"]) for r in layers) == pytest.approx(100.0)
    # the printed % cells (own shares; blank for a container that owns nothing) add up to 100 too, to the
    # rounding of their two digits; the bracketed totals are in no % cell
    header, rows = _rows(render(prof, "table"))  # long headers: "% params", "% MACs"
    for col, own in (("% params", {"0.0": FC0A_PARAMS, "0.1": FC0B_PARAMS, "1": MIX_OWN_PARAMS, "1.fc": FC_PARAMS},),
                     ("% MACs", {"0.0": FC0A_MACS, "0.1": FC0B_MACS, "1": MIX_OWN_MACS, "1.fc": FC_MACS})):
        whole = TOTAL_PARAMS if col == "% params" else TOTAL_MACS
        shares = {name: r[col] for name, r in rows.items()}
        assert shares["(root)"] == shares["0"] == ""  # own nothing
        assert {n: float(v) for n, v in shares.items() if v} == pytest.approx(
            {n: 100 * v / whole for n, v in own.items()}, abs=0.005)
        assert sum(float(v) for v in shares.values() if v) == pytest.approx(100.0, abs=0.005 * len(own))


def test_csv_and_dataframe_have_the_subtree_totals_apart(prof):
    recs = {r["path"]: r for r in csv.DictReader(io.StringIO(render(prof, "csv")))}
    assert int(recs["(root)"]["macs_inclusive"]) == TOTAL_MACS and int(recs["(root)"]["macs"]) == 0
    assert int(recs["0"]["macs_inclusive"]) == SEQ_MACS and int(recs["0"]["params_inclusive"]) == SEQ_PARAMS
    assert int(recs["1"]["macs"]) == MIX_OWN_MACS and int(recs["1"]["macs_inclusive"]) == MIX_MACS
    assert int(recs["0.1"]["macs_inclusive"]) == FC0B_MACS  # a leaf: its own
    assert recs["total"]["macs_inclusive"] == ""  # the totals row has nothing to add there
    pytest.importorskip("pandas")
    df = prof.to_dataframe()
    assert df.loc["0", "macs_inclusive"] == SEQ_MACS and df.loc["1", "params_inclusive"] == MIX_PARAMS
    assert df["macs"].sum() == TOTAL_MACS


def test_markdown_has_the_brackets_and_says_what_they_mean(prof):
    md = render(prof, "markdown")
    assert f"[{SEQ_MACS}]" in md and f"{MIX_OWN_MACS} [{MIX_MACS}]" in md
    assert "in brackets its subtree's total" in " ".join(md.split())


def test_scaled_brackets_on_a_big_container():
    # two 1000 -> 1000 linears: 10^6 MACs each, the Sequential's subtree 2 x 10^6 = "2.00M"
    p = profiler.profile(nn.Sequential(nn.Sequential(nn.Linear(1000, 1000), nn.Linear(1000, 1000))),
                         input_size=(1, 1000))
    _, rows = _rows(p.table(width=120))
    # 2,000,000 MACs and 2 x (1000 x 1000 + 1000) = 2,002,000 params: both "2.00M" at 3 significant digits
    assert rows["0"]["MACs [macs]"] == rows["(root)"]["MACs [macs]"] == "[2.00M]"
    assert rows["0"]["params"] == rows["(root)"]["params"] == "[2.00M]"
    assert rows["0.0"]["MACs [macs]"] == f"{1000 * 1000:,}"  # own counts stay exact


def test_fit_scales_a_container_own_count_only_as_the_last_resort():
    from profiler.report.tables import Column, Table, fit, text_width

    t = Table([Column("path", "module"), Column("macs", "MACs [macs]", "right")])
    t.add(["attn", 134_217_728], ["attn", "134,217,728 [5.50G]"])
    t.add(["attn.q", 2_147_483_648], ["attn.q", "2,147,483,648"])
    t.narrow = {"macs": {0: "134.22M [5.50G]"}}
    wide = text_width(t)
    fitted, _ = fit(t, wide)  # fits: the exact own count stays
    assert fitted.shown[0][1] == "134,217,728 [5.50G]"
    fitted, _ = fit(t, wide - 4)  # nothing else to drop: the narrower cell
    assert fitted.shown[0][1] == "134.22M [5.50G]" and text_width(fitted) <= wide - 4
    assert fitted.shown[1][1] == "2,147,483,648" and t.shown[0][1] == "134,217,728 [5.50G]"


def test_footer_says_a_count_under_1000_once(prof):
    from profiler.report.page import footer_items

    total = dict(footer_items(prof))["total"]
    assert total.startswith(f"{TOTAL_MACS} MACs [macs]; {TOTAL_PARAMS} params (all trainable)")
    big = profiler.profile(nn.Linear(1000, 1000), input_size=(1, 1000))
    assert dict(footer_items(big))["total"].startswith(
        f"{1000 * 1000:,} MACs [macs] = 1.00 M MACs; {1000 * 1000 + 1000:,} params = 1.00 M params")
