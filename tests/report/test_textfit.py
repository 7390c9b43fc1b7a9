"""profiler.report.textfit: prose wrapped with a hanging indent, tables whose headers and text columns wrap to a
width while their number columns stay whole. Inputs are made here; expected lines are written by hand."""
import argparse

from profiler.report.textfit import fit_table, widest, width_for, wrap_header, wrap_item, wrap_line


def test_wrap_line_hangs_under_its_own_indent():
    assert wrap_line("short", 10) == "short" and wrap_line("x " * 100, None) == "x " * 100
    assert wrap_line("  aaa bbb ccc ddd eee", 14).splitlines() == ["  aaa bbb ccc", "      ddd eee"]
    # a word longer than the line is broken; the indent never takes more than half the width
    assert wrap_line("a" * 25, 10).splitlines() == ["a" * 10, "    " + "a" * 6, "    " + "a" * 6, "    " + "aaa"]
    assert wrap_line(" " * 8 + "aaa bbb ccc", 10).splitlines() == ["     aaa", "     bbb", "     ccc"]


def test_wrap_item_hangs_under_the_value():
    assert wrap_item("note: ", "one two three four five six seven", 30).splitlines() == [
        "note: one two three four five", "      six seven"]
    assert wrap_item("note: ", "fits", 14) == "note: fits"


def test_wrap_header_at_words_never_breaking_one():
    assert wrap_header("ours (their convention)", 11) == "ours (their\nconvention)"
    assert wrap_header("unexplained / theirs", 3) == "unexplained\n/ theirs"  # the longest word sets the width
    assert wrap_header("MACs", 2) == "MACs"


def test_fit_table_keeps_numbers_and_wraps_text():
    rows = [["a.long.module.path.name", "1,234,567,890", "an explanation in several words"],
            ["b", "7", "short"]]
    headers = ["layer", "MACs", "reason (their count minus ours)"]
    assert fit_table(rows, headers, None) == fit_table(rows, headers, 1000)  # fits: tabulate's table as it is
    # tabulate pads a header by 2: 23 + 13 + (31 + 2) columns and 2 x 2 between = 73; to fit 50 (23 off), the
    # path and the reason both wrap at 15 columns: 23 - 15 + 31 - 15 = 24 >= 23 (at 16 only 22 would be)
    text = fit_table(rows, headers, 50, wrap=(0, 2))
    assert widest(text) <= 50
    lines = text.splitlines()
    assert [line.split() for line in lines[:3]] == [["layer", "MACs", "reason", "(their"], ["count", "minus"],
                                                    ["ours)"]]
    assert lines[4].split() == ["a.long.module.p", "1,234,567,890", "an", "explanation"]
    assert lines[5].split() == ["ath.name", "in", "several"]
    cells = " ".join(text.split())
    assert "1,234,567,890" in text.split()  # a number whole, on one line
    for word in ("explanation", "several", "words", "short", "their", "count", "minus", "ours)"):
        assert word in cells
    # nothing to wrap: the table stays wider than asked, every cell whole
    assert "1,234,567,890" in fit_table([["1,234,567,890"] * 5], ["a"] * 5, 20).split()


def test_width_for_follows_wide_and_output():
    ns = argparse.Namespace
    assert width_for(ns()) == 120 and width_for(ns(wide=False, output=None)) == 120
    assert width_for(ns(wide=True, output=None)) is None and width_for(ns(wide=False, output="x.txt")) is None
    assert width_for(ns(format="tree")) == 120 and width_for(ns(format="table", output=None)) == 120
    assert width_for(ns(format="markdown")) is None and width_for(ns(format="html")) is None
