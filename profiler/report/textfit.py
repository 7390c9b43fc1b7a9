"""Plain text that fits a terminal of :data:`TEXT_WIDTH` columns: tables whose headers and text columns wrap
(numbers never do), and prose wrapped with a hanging indent. Imports tabulate and textwrap only (no torch),
so the torch-free commands (``profile-model list``) use it too."""
from __future__ import annotations

import textwrap

#: Columns of the terminal every default text output fits (``profiler.report.page.TEXT_WIDTH`` too).
TEXT_WIDTH = 120
#: The narrowest a wrapped text column gets.
MIN_WRAP = 10

__all__ = ["TEXT_WIDTH", "widest", "wrap_line", "wrap_lines", "wrap_item", "fit_table", "width_for", "wrap_header"]


def widest(text: str) -> int:
    """Columns of the longest line of ``text``."""
    return max((len(line) for line in text.splitlines()), default=0)


def wrap_line(line: str, width: int | None = TEXT_WIDTH, indent: int = 4) -> str:
    """One line wrapped to ``width``, its continuation lines under its own leading spaces plus ``indent``; a
    line that fits, or ``width`` None, is returned as it is. A word longer than the line is broken."""
    if width is None or len(line) <= width:
        return line
    lead = min(len(line) - len(line.lstrip(" ")), width // 2)  # a deep line keeps half the width for its words
    return "\n".join(textwrap.wrap(line.lstrip(" "), width, initial_indent=" " * lead,
                                   subsequent_indent=" " * min(lead + indent, width // 2), break_long_words=True,
                                   break_on_hyphens=False) or [line])


def wrap_lines(text: str, width: int | None = TEXT_WIDTH, indent: int = 4) -> str:
    """:func:`wrap_line` on every line of ``text``."""
    return "\n".join(wrap_line(line, width, indent) for line in text.split("\n"))


def wrap_item(head: str, text: str, width: int | None = TEXT_WIDTH) -> str:
    """``head`` then ``text`` wrapped to ``width``, the continuation lines under the text's first word (a
    hanging indent under the key, as the report pages' ``key  value`` lines)."""
    first = head + text
    if width is None or len(first) <= width:
        return first
    pad = " " * len(head) if len(head) <= width // 3 else " " * 4
    return "\n".join(textwrap.wrap(text, width, initial_indent=head, subsequent_indent=pad,
                                   break_long_words=True, break_on_hyphens=False))


def _cell_width(cell) -> int:
    return max((len(line) for line in str(cell).split("\n")), default=0)


def _wrap_cell(cell, width: int) -> str:
    text = str(cell)
    if _cell_width(text) <= width:
        return text
    out = []
    for line in text.split("\n"):  # continuation lines keep the line's own indentation
        lead = " " * min(len(line) - len(line.lstrip(" ")), width // 2)
        out += textwrap.wrap(line.strip(" "), width, initial_indent=lead, subsequent_indent=lead,
                             break_long_words=True, break_on_hyphens=False) or [""]
    return "\n".join(out)


def fit_table(rows, headers, width: int | None = TEXT_WIDTH, *, wrap=(), tablefmt: str = "simple",
              **kw) -> str:
    """``tabulate(rows, headers, tablefmt, **kw)`` with its lines fitted to ``width`` columns, if it can: first
    each header wrapped at its words to no wider than its column's widest cell, then the text columns named in
    ``wrap`` (indices) wrapped, the widest first and to one level (each as wide as the excess needs, none
    narrower than another it was wider than, :data:`MIN_WRAP` columns at least; a longer word is broken).
    Other columns (numbers) are never touched, so every number is kept whole; a table that cannot fit stays
    wider. ``width`` None: tabulate's table as it is."""
    from tabulate import tabulate

    kw.setdefault("disable_numparse", True)
    rows = [list(r) for r in rows]
    headers = list(headers)
    text = tabulate(rows, headers=headers, tablefmt=tablefmt, **kw)
    if width is None or widest(text) <= width or not headers:
        return text
    n = len(headers)
    given = ([list(r) for r in rows], list(headers))  # each narrowing wraps the text as given, not a wrapped one
    cells = [max([_cell_width(r[i]) for r in rows if i < len(r)] + [1]) for i in range(n)]
    headers = [wrap_header(h, cells[i]) for i, h in enumerate(headers)]
    text = tabulate(rows, headers=headers, tablefmt=tablefmt, **kw)
    wrap = [i for i in wrap if 0 <= i < n]
    while widest(text) > width:
        now = {i: max([_cell_width(r[i]) for r in rows if i < len(r)] + [_cell_width(headers[i])]) for i in wrap}
        excess = widest(text) - width
        # the widest wrappable columns narrowed to one level: the highest that takes off the excess
        level = max(now.values(), default=0)
        while level > MIN_WRAP and sum(max(0, w - level) for w in now.values()) < excess:
            level -= 1
        todo = [i for i in wrap if now[i] > level]
        if not todo:
            break
        for i in todo:
            for r, r0 in zip(rows, given[0]):
                if i < len(r) and r0[i] is not None:
                    r[i] = _wrap_cell(r0[i], level)
            headers[i] = _wrap_cell(given[1][i], level)
        text = tabulate(rows, headers=headers, tablefmt=tablefmt, **kw)
    return text


def width_for(args) -> int | None:
    """The width the profile command's text sections fit: :data:`TEXT_WIDTH` for the terminal's text page
    (``--format table`` or ``tree``), or None (unwrapped, every line whole) with ``--wide``, ``--output FILE``
    or another format (Markdown and HTML show sections as written), as the page itself (``profile_cmd``)."""
    if getattr(args, "wide", False) or getattr(args, "output", None):
        return None
    return TEXT_WIDTH if (getattr(args, "format", None) or "table") in ("table", "tree") else None


def wrap_header(header: str, limit: int) -> str:
    """``header`` on several lines at its words, none wider than ``limit`` (or its longest word); a header of
    several lines has each wrapped."""
    words = str(header).split()
    limit = max([limit] + [len(w) for w in words])
    if _cell_width(header) <= limit:
        return str(header)
    return "\n".join(part for line in str(header).split("\n")  # each of its own lines wrapped
                     for part in textwrap.wrap(line, limit, break_long_words=False, break_on_hyphens=False) or [""])
