"""The Table (raw values + display strings) and its renderers: text, Markdown, CSV, HTML.

Expected strings are written by hand: column widths are the widest cell or the header plus two, hidden
columns never show, the totals row is marked in every format, indentation (no-break spaces) survives.
"""
import csv
import io
from html.parser import HTMLParser

import pytest

from profiler.report.tables import INDENT, Column, Table, render_table, to_csv, to_html, to_markdown, to_text

NB = "\u00a0"


def _table(totals=True) -> Table:
    t = Table([Column("path", "module"), Column("depth", "depth", "right", visible=False),
               Column("macs", "MACs", "right")])
    t.add(["a", 1, 1000], [INDENT + "a", "1", "1,000"])
    t.add(["b.c", 2, 20], [INDENT * 2 + "b.c", "2", "20"])
    if totals:
        t.totals_raw, t.totals_shown = ["total", None, 1020], ["total", "", "1,020"]
    return t


def test_indent_is_two_no_break_spaces():
    assert INDENT == NB * 2


def test_records_keep_every_column():
    assert _table().records() == [{"path": "a", "depth": 1, "macs": 1000}, {"path": "b.c", "depth": 2, "macs": 20}]


def test_text():
    expected = "\n".join([
        "module      MACs",
        "--------  ------",
        f"{NB * 2}a" + " " * 8 + "1,000",  # 5 to the width, 2 between, 1 to the right edge
        f"{NB * 4}b.c" + " " * 7 + "20",
        "--------  ------",
        "total      1,020",
    ])
    assert to_text(_table()) == expected
    assert render_table(_table(), "table") == expected


def test_text_without_totals():
    assert to_text(_table(totals=False)).splitlines()[-1] == f"{NB * 4}b.c" + " " * 7 + "20"


def test_markdown():
    expected = "\n".join([
        "| module    |      MACs |",
        "|-----------|-----------|",
        f"| {NB * 2}a       |     1,000 |",
        f"| {NB * 4}b.c   |        20 |",
        "| **total** | **1,020** |",
    ])
    assert to_markdown(_table()) == expected
    assert render_table(_table(), "markdown") == expected


def test_markdown_escapes_pipes():
    t = Table([Column("x", "a|b")])
    t.add(["p|q"], ["p|q"])
    lines = to_markdown(t).splitlines()
    assert lines[0] == "| a\\|b   |" and lines[2] == "| p\\|q   |"


def test_csv_raw_values_every_column():
    expected = "path,depth,macs\na,1,1000\nb.c,2,20\ntotal,,1020"
    assert to_csv(_table()) == expected
    assert render_table(_table(), "csv") == expected
    rows = list(csv.reader(io.StringIO(expected)))
    assert sum(int(r[2]) for r in rows[1:-1]) == int(rows[-1][2])


class _Cells(HTMLParser):
    """Rows of (tag, text, style, bold) as a browser would lay them out, and the caption."""

    def __init__(self):
        super().__init__()
        self.rows, self.caption, self.tables = [], None, []
        self._row = self._cell = None
        self._in_caption = False
        self._bold = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append(a.get("class"))
        elif tag == "caption":
            self._in_caption, self.caption = True, ""
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = [tag, "", a.get("style", ""), False]
        elif tag == "strong" and self._cell is not None:
            self._cell[3] = True

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th"):
            tag_, text, style, bold = self._cell
            # HTML collapses ordinary white space at the cell's edges; no-break spaces stay
            self._row.append((tag_, text.strip(" \n"), style.replace(" ", ""), bold))
            self._cell = None
        elif tag == "tr":
            self.rows.append(self._row)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data
        elif self._in_caption:
            self.caption += data


def _parse(text):
    p = _Cells()
    p.feed(text)
    return p


def test_html_layout():
    out = to_html(_table(), caption="per layer")
    assert out.startswith('<table class="profiler-table">')  # the page embeds it as a table, not as text
    p = _parse(out)
    assert p.tables == ["profiler-table"] and p.caption == "per layer"
    left, right = "text-align:left;", "text-align:right;"
    assert p.rows == [
        [("th", "module", left, False), ("th", "MACs", right, False)],
        [("td", NB * 2 + "a", left, False), ("td", "1,000", right, False)],
        [("td", NB * 4 + "b.c", left, False), ("td", "20", right, False)],
        [("td", "total", left, True), ("td", "1,020", right, True)],  # the totals row last, in bold
    ]
    assert "depth" not in out  # the hidden column
    assert render_table(_table(), "html", "per layer") == out


def test_html_without_caption_or_totals():
    out = to_html(_table(totals=False))
    assert "<caption" not in out
    p = _parse(out)
    assert len(p.rows) == 3 and not any(c[3] for r in p.rows for c in r)


def test_html_escapes_every_cell():
    t = Table([Column("name", "name <i>"), Column("n", "n & m", "right")])
    t.add(["x", 1], ["<b>x</b>", "<td>"])
    t.totals_shown = ["<script>", "1"]
    out = to_html(t, caption="a <caption>")
    assert "<b>" not in out and "<script>" not in out and "<i>" not in out
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "&lt;td&gt;" in out and "n &amp; m" in out
    p = _parse(out)
    assert p.caption == "a <caption>"
    assert [c[1] for c in p.rows[0]] == ["name <i>", "n & m"]
    assert [c[1] for c in p.rows[1]] == ["<b>x</b>", "<td>"]
    assert [(c[1], c[3]) for c in p.rows[2]] == [("<script>", True), ("1", True)]


def test_unknown_format():
    with pytest.raises(ValueError, match="xml"):
        render_table(_table(), "xml")
