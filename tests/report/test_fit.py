"""The terminal view: the automatic depth (the deepest whose table has at most N rows, never less than 1), a
table fitted to a width (short headers, columns left out in a fixed order, what still fits put back), the
footer saying what was folded and left out, and prose lines wrapped. Expected depths and counts come from the
toy model's module tree, written here: root; stem, blocks, pool, fc; blocks.0, blocks.1; their dw and pw."""
import pytest
from _toy import TOTAL_MACS, toy_profile

from profiler.core.rows import auto_depth, folded_modules, layer_rows
from profiler.report import render
from profiler.report.tables import INDENT, Column, Table, fit, text_width, to_text

# modules per depth of the toy: 1 root, 4 at depth 1, 2 at depth 2, 4 at depth 3 (11 in all)
CUMULATIVE = {0: 1, 1: 5, 2: 7, 3: 11}


@pytest.fixture(scope="module")
def prof():
    return toy_profile()


@pytest.mark.parametrize("max_rows,expected", [(11, None), (50, None), (10, 2), (7, 2), (6, 1), (5, 1), (2, 1),
                                               (1, 1)])
def test_auto_depth_is_the_deepest_that_fits(prof, max_rows, expected):
    assert len(prof.layers) == CUMULATIVE[3]
    assert auto_depth(prof, max_rows) == expected


def test_folded_count_is_the_modules_not_shown(prof):
    for depth, shown in CUMULATIVE.items():
        rows = layer_rows(prof, depth=depth)
        assert len(rows) == shown and folded_modules(rows) == CUMULATIVE[3] - shown


def _table_lines(out):
    lines = out.splitlines()
    start = next(i for i, s in enumerate(lines) if s.startswith("module "))
    end = next(i for i in range(start + 2, len(lines)) if lines[i].startswith("---"))
    return lines[start + 2:end]


def test_render_auto_folds_and_says_so(prof):
    out = render(prof, "table", depth="auto", max_rows=7)
    body = _table_lines(out)
    assert len(body) == CUMULATIVE[2] and not any("blocks.0.dw" in s for s in body)
    assert any((INDENT * 2 + "blocks.0 (+2)") in s for s in body)
    folded = next(s for s in out.splitlines() if s.startswith("folded "))
    assert f"{CUMULATIVE[3] - CUMULATIVE[2]} of {CUMULATIVE[3]} modules folded into depth-2 rows" in folded
    assert "to keep 7 rows" in folded and "--depth all shows them all" in folded
    # the totals do not move
    assert f"{TOTAL_MACS:,} MACs [macs]" in out


def test_render_auto_without_folding_has_no_folded_line(prof):
    out = render(prof, "table", depth="auto")  # 11 modules <= 60 rows
    assert len(_table_lines(out)) == CUMULATIVE[3] and "\nfolded " not in out
    with pytest.raises(ValueError, match="depth"):
        render(prof, "table", depth="deep")


def test_explicit_depth_says_what_it_folded_in_every_page_format(prof):
    for fmt in ("table", "markdown", "html"):
        out = render(prof, fmt, depth=1)
        assert f"{CUMULATIVE[3] - CUMULATIVE[1]} of {CUMULATIVE[3]} modules" in out and "folded" in out, fmt
        assert "--depth 1" in out, fmt


def _wide_table():
    t = Table([Column("path", "module"),
               Column("a", "a very long header", "right", short="a", drop=2),
               Column("b", "b header", "right", drop=1),
               Column("cost", "MACs [macs]", "right", tiny="MACs", tiny_at=3),
               Column("z", "zeros", "right", drop_zero=True),
               Column("hidden", "hidden", visible=False)])
    t.add(["x", 1, 2, 3, 0, 9], ["x", "1" * 20, "2" * 20, "3", "0", "9"])
    t.totals_raw, t.totals_shown = ["total", None, None, 3, 0, None], ["total", "", "", "3", "", ""]
    return t


def test_text_width_is_what_to_text_writes():
    t = _wide_table()
    assert text_width(t) == max(len(s) for s in to_text(t).splitlines())


def test_fit_leaves_out_zero_columns_then_in_order_and_puts_back_what_fits():
    t = _wide_table()
    full = text_width(t)
    fitted, dropped = fit(t, full)  # fits already: short headers only
    assert [c.header for c in fitted.columns if c.visible] == ["module", "a", "b header", "MACs [macs]", "zeros"]
    assert dropped == []
    fitted, dropped = fit(t, full - 5)  # the all-zero column goes first
    assert [c.key for c in dropped] == ["z"] and text_width(fitted) <= full - 5
    fitted, dropped = fit(t, 45)  # then b (drop 1); a (drop 2) stays
    assert [c.key for c in dropped] == ["z", "b"] and text_width(fitted) <= 45
    fitted, dropped = fit(t, 23)  # a goes too, and the cost header shortens; then "MACs [macs]" fits back
    assert [c.key for c in dropped] == ["z", "b", "a"]
    assert [c.header for c in fitted.columns if c.visible] == ["module", "MACs [macs]"] and text_width(fitted) == 23
    fitted, dropped = fit(t, 5)  # cannot fit: module and cost stay, the cost header at its tiniest
    assert [c.header for c in fitted.columns if c.visible] == ["module", "MACs"]
    # raw values and the original table are untouched
    assert fitted.raw == t.raw and t.columns[1].header == "a very long header" and t.columns[4].visible


def test_fitted_page_fits_and_explains_every_column(prof):
    out = render(prof, "table", width=80, legend=True)  # the full legend (profile-model --legend)
    assert max(len(s) for s in out.splitlines()) <= 80
    columns = " ".join(s.strip() for s in out.split("\ncolumns")[1].split("\nrows")[0].splitlines())
    assert "MACs: the row's own MACs under convention 'macs'" in columns or "MACs [macs]: the row's own" in columns
    assert "--wide shows them" in columns and "input shape" in columns
    # every header of a number or shape is explained: its unit and convention are said
    header = out.split("\nmodule ")[1].splitlines()[0].split()
    assert {"params", "%", "output"} <= set(header)
    for h in ("params", "%", "output", "kernel", "out elems", "input"):
        if h in header:
            assert f"{h}:" in columns or f"/{h}:" in columns or f"{h}/" in columns, h


def test_wide_is_todays_page(prof):
    wide = render(prof, "table")
    assert "output activations (elements)" in wide and "kernel/stride/groups" in wide and "% MACs" in wide
    assert "\ncolumns " not in wide
    assert render(prof, "table", width=None) == wide


def test_flops_fitted_headers_carry_unit_and_convention():
    out = render(toy_profile("flops"), "table", width=120)
    assert "FLOPs [flops]" in out.split("\nmodule ")[1].splitlines()[0]
    out = render(toy_profile("flops"), "table", width=120, legend=True)
    assert "under convention 'flops'" in " ".join(out.split())
