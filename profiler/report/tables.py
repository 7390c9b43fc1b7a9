"""A table as data (raw values for machines, display strings for people) and its renderers.

Formats: ``table`` (tabulate's plain text), ``markdown`` (GitHub pipes), ``csv`` (raw values, one header line),
``html`` (tabulate's ``<table>``; cells escaped). A totals row is kept apart so every format can mark it.
"""
from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field

INDENT = "\u00a0\u00a0"  # no-break spaces: survive tabulate, Markdown and HTML whitespace collapsing


@dataclass
class Column:
    key: str  # the record key (CSV header, DataFrame column)
    header: str  # what people read, unit included
    align: str = "left"  # left | right
    visible: bool = True  # False: machine formats only (CSV, records), e.g. the depth beside an indented path


@dataclass
class Table:
    columns: list[Column]
    raw: list[list] = field(default_factory=list)  # machine values per row
    shown: list[list[str]] = field(default_factory=list)  # display strings per row
    totals_raw: list | None = None
    totals_shown: list[str] | None = None

    def add(self, raw: list, shown: list[str]) -> None:
        self.raw.append(raw)
        self.shown.append(shown)

    def records(self) -> list[dict]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, r)) for r in self.raw]


def _tabulate(rows, headers, fmt, aligns):
    import inspect

    import tabulate as tb

    kw = dict(headers=headers, tablefmt=fmt, colalign=aligns, disable_numparse=True)
    # Keep the indentation of module paths: a keyword since tabulate 0.10, a module global before.
    if "preserve_whitespace" in inspect.signature(tb.tabulate).parameters:
        return tb.tabulate(rows, preserve_whitespace=True, **kw)
    old = getattr(tb, "PRESERVE_WHITESPACE", False)
    tb.PRESERVE_WHITESPACE = True
    try:
        return tb.tabulate(rows, **kw)
    finally:
        tb.PRESERVE_WHITESPACE = old


def _visible(table: Table):
    """(columns, shown rows, shown totals) restricted to the visible columns."""
    idx = [i for i, c in enumerate(table.columns) if c.visible]
    cols = [table.columns[i] for i in idx]
    rows = [[r[i] for i in idx] for r in table.shown]
    totals = [table.totals_shown[i] for i in idx] if table.totals_shown is not None else None
    return cols, rows, totals


def to_text(table: Table) -> str:
    import tabulate as tb

    cols, rows, totals = _visible(table)
    if totals is not None:
        rows += [tb.SEPARATING_LINE, totals]
    return _tabulate(rows, [c.header for c in cols], "simple", [c.align for c in cols])


def to_markdown(table: Table) -> str:
    cols, rows, totals = _visible(table)
    rows = [[_md_cell(x) for x in r] for r in rows]
    if totals is not None:
        rows.append([f"**{x}**" if x else "" for x in (_md_cell(x) for x in totals)])
    return _tabulate(rows, [_md_cell(c.header) for c in cols], "github", [c.align for c in cols])


def _md_cell(x: str) -> str:
    return str(x).replace("|", "\\|")


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.key for c in table.columns])
    for r in table.raw:
        w.writerow(["" if x is None else x for x in r])
    if table.totals_raw is not None:
        w.writerow(["" if x is None else x for x in table.totals_raw])
    return buf.getvalue().rstrip("\n")


def to_html(table: Table, caption: str = "") -> str:
    """tabulate's HTML table (``class="profiler-table"``, the caption first); every cell escaped, numbers
    right-aligned, the totals row last and in bold. Indentation is no-break spaces, so it survives HTML."""
    e = html.escape
    cols, rows, totals = _visible(table)
    # "unsafehtml" so the totals can be marked up; every cell is escaped here instead.
    cells = [[e(str(x)) for x in r] for r in rows]
    if totals is not None:
        cells.append([f"<strong>{e(str(x))}</strong>" if x else "" for x in totals])
    body = str(_tabulate(cells, [e(c.header) for c in cols], "unsafehtml", [c.align for c in cols]))
    # tabulate styles right-aligned cells only; notebooks right-align every cell and browsers centre <th>,
    # so the left ones are said too (no cell text can hold "<td>": it is escaped).
    body = body.replace("<th>", '<th style="text-align: left;">').replace("<td>", '<td style="text-align: left;">')
    head = '<table class="profiler-table">' + (f"\n<caption>{e(caption)}</caption>" if caption else "")
    return head + body.removeprefix("<table>")


def render_table(table: Table, fmt: str, caption: str = "") -> str:
    if fmt == "table":
        return to_text(table)
    if fmt == "markdown":
        return to_markdown(table)
    if fmt == "csv":
        return to_csv(table)
    if fmt == "html":
        return to_html(table, caption)
    raise ValueError(f"unknown table format {fmt!r}; choose one of: table, markdown, csv, html")
