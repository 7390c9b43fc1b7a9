"""Text renderings of a published-figures check (table, Markdown, JSON): the results of
:func:`profiler.published.run_check` as people read them. Renderers never count."""
from __future__ import annotations

import json

from tabulate import tabulate

from profiler.published.check import EntryResult, FigureResult, summary
from profiler.report.tables import markdown_table
from profiler.report.textfit import TEXT_WIDTH, fit_table, widest, wrap_line

_SCALE = {"K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9, "T": 1e12}


def _scale_of(text: str) -> tuple[str, float]:
    t = text.strip()
    return (t[-1], _SCALE[t[-1]]) if t and t[-1] in _SCALE else ("", 1.0)


def fmt_counted(f: FigureResult) -> str:
    """The counted value in the published figure's unit, one digit more precise than the printed one."""
    if f.counted is None:
        return "-"
    suffix, scale = _scale_of(f.text)
    if not suffix:
        return f"{f.counted:,}"
    decimals = len(f.text.rstrip("KMGBT").split(".")[1]) if "." in f.text else 0
    return f"{f.counted / scale:,.{decimals + 2}f}{suffix}"


def _unit_label(f: FigureResult) -> str:
    return f"{f.unit} [{f.convention}]" if f.metric == "macs" else f"params [{f.convention}]"


def _cells(r: EntryResult, metric: str) -> list[str]:
    f = r.figures.get(metric)
    if f is None:
        return ["", "", "", ""]
    delta = "-" if f.delta is None else f"{f.delta:+.2f}"
    return [f"{f.text} {_unit_label(f)}", fmt_counted(f), delta, f.status]


HEADERS = ["id", "model @ input", "MACs published", "counted", "delta %", "status",
           "params published", "counted", "delta %", "status", "entry"]


def rows(results: list[EntryResult]) -> list[list[str]]:
    out = []
    for r in results:
        e = r.entry
        size = "x".join(str(v) for v in e.input[1:])
        out.append([e.id, f"{e.model} @ {size}", *_cells(r, "macs"), *_cells(r, "params"), r.status])
    return out


def _notes(results: list[EntryResult], markdown: bool) -> list[str]:
    lines = []
    for r in results:
        if r.status == "ok" and not r.error:
            continue
        parts = []
        for f in r.figures.values():
            if f.status == "explained":
                parts.append(f"{f.metric}: {f.reason}")
            elif f.status == "mismatch":
                parts.append(f"{f.metric} MISMATCH: {f.detail}")
        if r.error:
            parts.append(f"error: {r.error}")
        bullet = "- " if markdown else "  "
        name = f"`{r.entry.id}`" if markdown else r.entry.id
        lines.append(f"{bullet}{name} ({r.status}): " + " ".join(parts))
    return lines


def _footer(results: list[EntryResult]) -> str:
    s = summary(results)
    return f"{len(results)} entries: {s['ok']} ok, {s['explained']} explained, {s['mismatch']} mismatch"


#: The text table's columns when the one-line-per-entry table is too wide: a line per figure.
STACKED_HEADERS = ["id (entry status)\n  model @ input", "figure", "published", "counted", "delta %", "status"]


def stacked_rows(results: list[EntryResult]) -> list[list[str]]:
    """:func:`rows` with each entry's figures on lines of their own: the id and the entry's status over the model
    and input, then per figure its unit and convention, the published and counted values (in that unit), the
    delta and the figure's status."""
    out = []
    for r in results:
        e = r.entry
        size = "x".join(str(v) for v in e.input[1:])
        figs = [f for f in (r.figures.get("macs"), r.figures.get("params")) if f is not None]
        cells = [[_unit_label(f), f.text, fmt_counted(f), "-" if f.delta is None else f"{f.delta:+.2f}", f.status]
                 for f in figs]
        out.append([f"{e.id} ({r.status})\n  {e.model} @ {size}", *("\n".join(c[i] for c in cells) for i in range(5))])
    return out


def render_table(results: list[EntryResult], width: int | None = TEXT_WIDTH) -> str:
    """The check as text: the table, the differences, the summary. ``width``: a table wider than that many
    columns gets one line per figure (:func:`stacked_rows`), the notes wrapped (None: one line per entry)."""
    text = tabulate(rows(results), headers=HEADERS, tablefmt="simple", disable_numparse=True)
    if width is not None and widest(text) > width:
        text = fit_table(stacked_rows(results), STACKED_HEADERS, width, wrap=(0, 1),
                         colalign=("left", "left", "right", "right", "right", "left"))
    notes = [wrap_line(n, width) for n in _notes(results, markdown=False)]
    out = [text, ""]
    if notes:
        out += ["Differences (explained or not):", *notes, ""]
    out.append(_footer(results))
    return "\n".join(out)


def render_markdown(results: list[EntryResult], *, title: str = "Published figures vs counted",
                    preamble: str = "") -> str:
    out = [f"# {title}", ""]
    if preamble:
        out += [preamble.strip(), ""]
    out += [f"**{_footer(results)}.**", ""]
    out.append(markdown_table(rows(results), HEADERS))
    notes = _notes(results, markdown=True)
    if notes:
        out += ["", "## Differences", "", *notes]
    out += ["", "## Sources and notes", ""]
    sources = {r.entry.source for r in results}
    if len(results) > 1 and len(sources) == 1 and not any(
            r.entry.accuracy or r.entry.reported or r.entry.note for r in results):
        # One source for every entry (a zoo's results file): said once.
        out.append(f"- all {len(results)} entries: {sources.pop()}")
        return "\n".join(out) + "\n"
    for r in results:
        e = r.entry
        acc = ", ".join(f"{k} {v}" for k, v in e.accuracy.items())
        extra = f"; {acc}" if acc else ""
        rep = f"; also reported: {', '.join(f'{k} {v}' for k, v in e.reported.items())}" if e.reported else ""
        note = f" {e.note}" if e.note else ""
        out.append(f"- `{e.id}`: {e.source}{extra}{rep}.{note}")
    return "\n".join(out) + "\n"


def render_json(results: list[EntryResult]) -> str:
    return json.dumps([r.to_dict() for r in results], indent=1)
