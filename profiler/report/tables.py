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
    short: str | None = None  # the header of a text table fitted to a width (:func:`fit`); None = ``header``
    drop: int = 0  # the order in which :func:`fit` leaves the column out of a too wide text table (1 first; 0 never)
    tiny: str | None = None  # an even shorter header :func:`fit` falls back to at step ``tiny_at``
    tiny_at: int = 0
    drop_zero: bool = False  # :func:`fit` leaves it out first when every cell shown is 0 (or blank)


@dataclass
class Table:
    columns: list[Column]
    raw: list[list] = field(default_factory=list)  # machine values per row
    shown: list[list[str]] = field(default_factory=list)  # display strings per row
    totals_raw: list | None = None
    totals_shown: list[str] | None = None
    # Narrower display strings some cells have (column key -> row index -> string), which :func:`fit` falls
    # back to when nothing else makes the text fit (a container's "own [subtree]" count, scaled).
    narrow: dict[str, dict[int, str]] = field(default_factory=dict)

    def add(self, raw: list, shown: list[str]) -> None:
        self.raw.append(raw)
        self.shown.append(shown)

    def records(self) -> list[dict]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, r)) for r in self.raw]


def markdown_table(rows, headers) -> str:
    """A GitHub-Markdown table of ``rows`` (cells shown as given: no number re-formatting), for the report
    pages and the benchmark reports."""
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


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


MIN_PADDING = 2  # tabulate pads every header by 2 (its MIN_PADDING), so a column is at least its header + 2


def text_width(table: Table) -> int:
    """Columns of the widest line :func:`to_text` writes (tabulate's "simple": 2 spaces between columns)."""
    cols, rows, totals = _visible(table)
    if totals is not None:
        rows = rows + [totals]
    widths = [max([len(str(r[i])) for r in rows] + [len(c.header) + MIN_PADDING]) for i, c in enumerate(cols)]
    return sum(widths) + 2 * max(len(widths) - 1, 0)


def fit(table: Table, width: int) -> tuple[Table, list[Column]]:
    """The table for a ``width``-column terminal: short headers (``Column.short``), then, while a line is still
    wider, the next step: leaving out ``drop_zero`` columns that show only zeros, then a column's ``tiny``
    header or leaving columns out by ``Column.drop``.

    Returns the fitted table (the same rows; the left-out columns invisible) and the visible columns it
    left out, in order (``drop_zero`` set on those left out for showing only zeros, cleared on the others). A table that cannot fit (a module path longer than the width) keeps what is never
    dropped. Raw values and records are untouched: only what the text view shows changes.
    """
    from dataclasses import replace

    start = [replace(c, header=c.short or c.header) for c in table.columns]
    out = Table(list(start), table.raw, table.shown, table.totals_raw, table.totals_shown, table.narrow)
    changed: list[int] = []  # columns given a tiny header or left out, in order
    rows = table.shown + ([table.totals_shown] if table.totals_shown is not None else [])
    zero = {i for i, c in enumerate(start) if c.drop_zero and all(r[i] in ("", "0") for r in rows)}
    steps = sorted({c.drop for c in start if c.visible and c.drop}
                   | {c.tiny_at for c in start if c.visible and c.tiny} | ({0} if zero else set()))
    for step in steps:
        if text_width(out) <= width:
            break
        for i, c in enumerate(out.columns):
            if step == 0 and i in zero and c.visible:
                out.columns[i] = replace(c, visible=False)
                changed.append(i)
            elif step == 0:
                continue
            elif c.visible and c.tiny and c.tiny_at == step:
                out.columns[i] = replace(c, header=c.tiny)
                changed.append(i)
            elif c.visible and c.drop == step:
                out.columns[i] = replace(c, visible=False)
                changed.append(i)
    # A later step can make room for an earlier one: undo what still fits, the most needed first.
    for i in reversed(changed):
        now = out.columns[i]
        out.columns[i] = start[i]
        if text_width(out) > width:
            out.columns[i] = now
    if text_width(out) > width:  # a module with many outputs (a detector's feature maps): the first, and a count
        shapes = [i for i, c in enumerate(out.columns) if c.visible and c.key in _SHAPE_KEYS]
        out.shown = [[_first_shape(v) if i in shapes else v for i, v in enumerate(row)] for row in out.shown]
    if text_width(out) > width and table.narrow:  # the last resort: the cells' narrower strings
        cols = {i: table.narrow[c.key] for i, c in enumerate(out.columns) if c.key in table.narrow}
        out.shown = [[cols[i].get(n, v) if i in cols else v for i, v in enumerate(row)]
                     for n, row in enumerate(out.shown)]
    # drop_zero on a left-out column says why it is out (every cell 0), not only that it could have been
    dropped = [replace(table.columns[i], drop_zero=i in zero) for i in changed if not out.columns[i].visible]
    return out, dropped


_SHAPE_KEYS = ("output_shape", "input_shape")


def _first_shape(cell: str) -> str:
    """``1x672x20x20, 1x480x10x10, 1x512x5x5`` -> ``1x672x20x20 (+2)``: the first of several shapes."""
    parts = cell.split(", ")
    return cell if len(parts) == 1 else f"{parts[0]} (+{len(parts) - 1})"


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
