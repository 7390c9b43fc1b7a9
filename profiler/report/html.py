"""The HTML report: one renderer for a file (``profile-model ... --output x.html``, ``--format html``) and for
a notebook (``Profile._repr_html_``).

- A file gets a standalone page: ``<!doctype html>``, ``<meta charset="utf-8">``, the CSS inline, no script
  and no external asset (it works offline). A notebook gets the same markup without the document wrapper,
  with a ``<style>`` whose every rule is scoped to ``.profiler-report`` (the notebook keeps its own look).
- A header block: the model, input, convention (name and description), pass, the totals with unit and
  convention, the parameters and the coverage (``page.header_items``/``page.footer_items``: the text views'
  own lines, not a copy).
- The per-layer view is the module tree, collapsible with ``<details>``/``<summary>``: unfolded down to the
  terminal's automatic depth (:func:`profiler.core.rows.auto_depth`), or to ``depth`` when given; every
  module is on the page, reachable by unfolding. Each row shows the module's *own* params and cost and their
  shares (columns that add up to the totals, and to 100 %), and, apart from them, in columns of their own and
  in brackets, a container's whole subtree (a total, not a share). A bar shows each row's shares (CSS widths,
  no script). Number columns are as wide as their widest value; a narrow notebook leaves columns out
  (container queries), so the page fits its window without horizontal scrolling.
- Other views (``by`` kind/type, ``top``, ``summary``) are the text views' tables in the same page.

Nothing here counts: every number is read off the Profile (``rows.layer_rows``, ``Profile.total``/``params``).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from profiler.conventions import get_convention
from profiler.core.rows import AUTO_ROWS, auto_depth, layer_rows, percent_strings
from profiler.report import comm as C
from profiler.report import format as F

#: The class of the outermost element; every CSS rule is scoped to it (a notebook keeps its own styles).
ROOT = "profiler-report"

# Grid tracks are in ch, which follows the font's weight: rows stay at the normal weight (bold is set on cells)
# so every row's tracks line up. Every selector starts with .profiler-report (tests/report/test_html_page.py checks it): a notebook's
# output must not restyle the notebook. Colours after GitHub's light theme; numbers in tabular figures.
CSS = """
.profiler-report{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#eef1f4;--head:#f6f8fa;--hover:#f0f6ff;
  --own:#0969da;--sub:#b6d7ff;--sum:#f7f8fa;
  font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",Arial,sans-serif;
  color:var(--fg);background:#fff;max-width:100%;box-sizing:border-box;text-align:left;
  container:profiler-report/inline-size}
.profiler-report *{box-sizing:border-box}
.profiler-report h1,.profiler-report h2,.profiler-report h3{color:var(--fg);font-family:inherit;font-weight:600;
  padding:0;border:0;background:none}
.profiler-report h1{font-size:20px;line-height:1.3;margin:0 0 2px;overflow-wrap:anywhere}
.profiler-report h2{font-size:15px;margin:18px 0 6px}
.profiler-report h3{font-size:14px;margin:16px 0 6px}
.profiler-report .subtitle{color:var(--muted);margin:0 0 10px;overflow-wrap:anywhere}
.profiler-report .cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0 12px}
.profiler-report .card{border:1px solid var(--line);border-radius:6px;padding:6px 14px;min-width:11em;max-width:100%}
.profiler-report .card .label{color:var(--muted);font-size:12px}
.profiler-report .card .big{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
.profiler-report .card .exact{color:var(--muted);font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.profiler-report dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:3px 14px;margin:8px 0}
.profiler-report dt{font-weight:600;color:var(--muted)}
.profiler-report dd{margin:0;overflow-wrap:anywhere}
.profiler-report .legend{color:var(--muted);margin:6px 0 10px;max-width:110em}
.profiler-report .legend p{margin:3px 0}
.profiler-report .tree{border:1px solid var(--line);border-radius:6px;font-variant-numeric:tabular-nums}
.profiler-report .row{display:grid;grid-template-columns:var(--cols0);column-gap:1.2ch;align-items:center;
  padding:2px 1ch;border-bottom:1px solid var(--soft);min-height:23px}
.profiler-report .row>div{min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.profiler-report .head{position:sticky;top:0;z-index:2;background:var(--head);align-items:end;
  border-bottom:1px solid var(--line);border-radius:6px 6px 0 0;padding-top:5px;padding-bottom:5px}
.profiler-report .head>div{white-space:normal;overflow-wrap:normal;line-height:1.25;color:var(--fg);font-weight:600}
.profiler-report .num{text-align:right}
.profiler-report .head .num{text-align:right}
.profiler-report .sum{color:#3d444d;font-style:italic}
.profiler-report .head .sum{font-style:normal}
.profiler-report .muted,.profiler-report .type,.profiler-report .kernel,.profiler-report .shape{color:var(--muted)}
.profiler-report summary{display:grid;cursor:pointer;list-style:none}
.profiler-report summary::-webkit-details-marker{display:none}
.profiler-report summary::marker{content:""}
.profiler-report summary:hover,.profiler-report .leaf:hover{background:var(--hover)}
.profiler-report summary:focus-visible{outline:2px solid var(--own);outline-offset:-2px}
.profiler-report .name{padding-left:calc(var(--d,0) * 1.8ch)}
.profiler-report .name::before{content:"";display:inline-block;width:2ch;color:var(--muted)}
.profiler-report details>summary .name::before{content:"\\25B8"}
.profiler-report details[open]>summary .name::before{content:"\\25BE"}
.profiler-report details:not([open])>summary .name{font-weight:600}
.profiler-report .calls{color:var(--muted);font-size:11px;margin-left:4px}
.profiler-report .bar{position:relative;height:11px;background:var(--soft);border-radius:2px;overflow:hidden}
.profiler-report .bar>div{position:absolute;left:0;top:0;bottom:0}
.profiler-report .bar .s{background:var(--sub)}
.profiler-report .bar .o{background:var(--own)}
.profiler-report .key{display:inline-block;width:12px;height:10px;border-radius:2px;vertical-align:-1px}
.profiler-report .key.o{background:var(--own)}
.profiler-report .key.s{background:var(--sub)}
.profiler-report .total{border-top:2px solid var(--fg);border-bottom:0;background:var(--head);
  border-radius:0 0 6px 6px}
.profiler-report .total>div{font-weight:700}
.profiler-report pre{overflow-x:auto;max-width:100%;background:var(--head);border:1px solid var(--line);
  border-radius:6px;padding:8px 10px;margin:6px 0;font-size:12px}
.profiler-report .table-wrap{overflow-x:auto;max-width:100%;border:1px solid var(--line);border-radius:6px}
.profiler-report table.profiler-table{border-collapse:collapse;font-variant-numeric:tabular-nums;width:100%}
.profiler-report table.profiler-table caption{caption-side:top;text-align:left;color:var(--muted);padding:4px 8px}
.profiler-report table.profiler-table th,.profiler-report table.profiler-table td{padding:2px 10px;
  border-bottom:1px solid var(--soft);white-space:nowrap}
.profiler-report table.profiler-table thead th{position:sticky;top:0;background:var(--head)}
""".strip()

# Only in a file: the page itself (a notebook keeps its own body).
PAGE_CSS = "html{-webkit-text-size-adjust:100%}\nbody{margin:0;padding:16px 18px;background:#fff}"


def _e(text) -> str:
    return html.escape(str(text))


# -- the shell shared by every HTML page ---------------------------------------------------------------------

def wrap(inner: str, *, standalone: bool = True, title: str = "profile", css: str = "") -> str:
    """``inner`` in ``<div class="profiler-report">``: with ``standalone`` a whole document (doctype, charset,
    the CSS in ``<head>``), else a fragment whose ``<style>`` is scoped to ``.profiler-report``. ``css``: rules
    of this report (scoped too) after the shared ones."""
    style = CSS + ("\n" + css if css else "")
    if not standalone:
        return f'<div class="{ROOT}">\n<style>\n{style}\n</style>\n{inner}\n</div>'
    return "\n".join([
        "<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", f"<style>\n{PAGE_CSS}\n{style}\n</style>", "</head>", "<body>",
        f'<div class="{ROOT}">', inner, "</div>", "</body>", "</html>"])


def _dl(items) -> str:
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"


def _sections(sections) -> list[str]:
    # Extensions' sections are preformatted text (tables aligned with spaces): shown as such.
    return [f"<h3>{_e(title)}</h3>\n<pre>{_e(text)}</pre>" for title, text in sections]


def page(head, body, legend, extra, foot, sections, *, standalone: bool = True, title: str = "profile") -> str:
    """A page of key/value lines and one body (an HTML table, or text shown preformatted): what
    ``page._html_page`` and the other reports (``generation``) write."""
    if body.lstrip().startswith("<table"):
        main = f'<div class="table-wrap">{body}</div>'
    else:
        main = f"<pre>{_e(body)}</pre>"
    parts = [_dl(head), main]
    if extra:
        parts.append(_dl(extra))
    parts.append(_dl(list(foot) + ([("rows", legend)] if legend else [])))
    parts += _sections(sections)
    return wrap("\n".join(parts), standalone=standalone, title=title)


# -- the profile's report ------------------------------------------------------------------------------------

def report(profile, *, by: str = "layer", depth: int | str | None = None, top: int | None = None,
           summary: bool = False, sections=(), notes=(), max_rows: int = AUTO_ROWS, standalone: bool = True,
           width: int | None = None) -> str:
    """The report of ``profile`` as HTML: a standalone page, or a notebook's fragment (``standalone=False``).

    The per-layer view (``by="layer"``, no ``top``, no ``summary``) is the collapsible module tree, every
    module on the page; ``depth`` is how deep it is unfolded: an int, or None/``"auto"`` for the terminal's
    automatic depth (the deepest that shows at most ``max_rows`` rows). Other views are the tables of the text
    report. ``width`` is accepted for :func:`profiler.report.page.render`'s sake and ignored (the page wraps).
    """
    from profiler.report import page as P

    if depth is not None and depth != "auto" and not isinstance(depth, int):
        raise ValueError(f"depth is an int, None (every module) or 'auto', not {depth!r}")
    if isinstance(depth, int) and depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    title = f"{_model_name(profile)}: profile"
    head = P.header_items(profile)
    foot = P.footer_items(profile, notes)
    if by != "layer" or top or summary:
        from profiler.report.tables import render_table

        table, legend, caption, extra, _ = P._main_table(profile, by, None if depth == "auto" else depth, top,
                                                         summary)
        body = render_table(table, "html", caption)
        inner = [_title_block(profile), _dl(head + foot), f'<div class="table-wrap">{body}</div>']
        if extra:
            inner.append(_dl(extra))
        inner.append(f'<div class="legend"><p>{_e(legend)}</p></div>')
        inner += _sections(sections)
        return wrap("\n".join(inner), standalone=standalone, title=title)

    unfold = depth if isinstance(depth, int) else auto_depth(profile, max_rows)
    folded = _folded_line(profile, unfold, explicit=isinstance(depth, int), max_rows=max_rows)
    tree, css = _tree(profile, unfold)
    inner = [_title_block(profile), _dl(head + foot + ([folded] if folded else [])),
             "<h2>Modules</h2>", _legend(profile), tree]
    inner += _sections(sections)
    return wrap("\n".join(inner), standalone=standalone, title=title, css=css)


def _model_name(profile) -> str:
    src = profile.source
    return src.name if src is not None else profile.model


def _title_block(profile) -> str:
    """The model's name, its convention in a line, and the headline numbers as cards (the cost with unit and
    convention; the exact figures under the scaled ones)."""
    conv = get_convention(profile.convention)
    total = profile.total(conv)
    cov = ("complete" if not profile.coverage
           else f"{len(profile.coverage)} op(s) uncounted")
    cards = [
        (f"total {conv.unit} [{conv.name}]", F.scaled(total, conv.unit), f"{F.count(total)} {conv.unit}"),
        ("parameters", F.scaled(profile.params), f"{F.count(profile.params)} params"),
        ("modules", F.count(len(profile.layers)), "in the module tree"),
        ("coverage", cov, "every op has a counting rule" if not profile.coverage else "cost unknown, not zero"),
    ]
    html_cards = "".join(
        f'<div class="card" data-card="{_e(label.split()[0])}"><div class="label">{_e(label)}</div>'
        f'<div class="big">{_e(big)}</div><div class="exact">{_e(exact)}</div></div>'
        for label, big, exact in cards)
    return (f"<h1>{_e(_model_name(profile))}</h1>\n"
            f'<p class="subtitle">{_e(conv.unit)} under convention \u2018{_e(conv.name)}\u2019: '
            f"{_e(conv.description)}</p>\n"
            f'<div class="cards">{html_cards}</div>')


def _folded_line(profile, unfold: int | None, *, explicit: bool, max_rows: int) -> tuple[str, str] | None:
    """The header line saying how many modules start folded and why (every one is on the page)."""
    if unfold is None:
        return None
    n = sum(1 for layer in profile.layers if layer.depth > unfold)
    if not n:
        return None
    why = (f" (--depth {unfold})" if explicit
           else f": depth {unfold} is the deepest that shows at most {max_rows} rows, as in the terminal")
    return ("folded", f"{n:,} of {len(profile.layers):,} modules are folded into their depth-{unfold} ancestor"
                      f"{why}; click a \u25b8 row to unfold it (every module is on this page)")


def _legend(profile) -> str:
    unit = get_convention(profile.convention).unit
    comm = bool(profile.communication)  # a distributed pass: the tree has the bytes-sent column too
    return (
        '<div class="legend">'
        f"<p><b>own</b> ({unit}, params, % columns): what the module registers and computes itself; a blank cell "
        "is a container that owns nothing beyond its children. Own values add up to the totals and their "
        "% columns to 100 (to the rounding of the printed digits).</p>"
        "<p><b>[\u03a3 subtree]</b> (<i>italic</i>, in brackets): the module and every module under it, a total "
        "and not a share, so do not add these up. Shown for containers only (a leaf's subtree is itself).</p>"
        f'<p><b>bar</b>: <span class="key o"></span> the row\'s own share of the total {unit}, '
        f'<span class="key s"></span> its subtree\'s share (both of the whole bar = 100 %). '
        "\u25b8 / \u25be: a folded / unfolded container; click to toggle. Shapes: first call, batch first; "
        "hover a cell for the full text. A narrow window leaves out the kernel and % params columns, then the "
        f"type, [\u03a3 params]{', comm sent' if comm else ''} and the bar.</p>"
        + (f"<p><b>{_e(C.SENT_HEADER)}</b>: {_e(C.SENT_LEGEND)}; a container shows its own bytes (blank when 0), "
           "then its subtree's total in brackets (<i>italic</i>).</p>" if comm else "") + "</div>")


@dataclass
class _Col:
    cls: str  # the cells' classes (the last one names the cell: tests and the browser read it)
    header: str
    tip: str
    track: str  # its CSS grid track
    min_ch: float  # the narrowest it gets, in ch
    want_ch: float  # what its text needs (= min_ch for a number; the cap for text; the least for a share of fr)
    level: int  # 0: always shown; 1: hidden in a narrow report, 2: in a narrower one too


#: A row's horizontal padding and the gap between cells, in ch (the thresholds below are sums of ch).
PAD_CH, GAP_CH = 1, 1.2


def _columns(profile, rows, sent=None) -> list[_Col]:
    """The tree's columns: number columns as wide as their widest value (``ch``, tabular figures), the text
    columns as wide as their text up to a cap (longer text is ellipsized, its whole in the cell's tooltip), the
    module and the bar sharing what is left. Levels say which columns a narrow report leaves out."""
    conv = get_convention(profile.convention)
    unit = conv.unit

    def num(values, least=6):  # + a little for the bold totals row
        return max([least] + [len(v) for v in values]) + 0.8

    params = num([F.count(r.params) for r in rows] + [F.count(profile.params)])
    params_sum = num([_sub(r.params_inclusive) for r in rows])
    cost = num([F.count(r.cost) for r in rows] + [F.count(profile.total(conv))], 8)
    cost_sum = num([_sub(r.cost_inclusive) for r in rows])
    kernel = min(12, max([6] + [len(F.kernel_stride_groups(r.config)) for r in rows]) + 1)
    types = min(18, max([6] + [len(r.type) for r in rows]) + 1)
    shapes = min(24, max([10] + [len(F.shapes(r.output_shapes)) for r in rows]) + 1)
    # the module's name: indented 1.8ch a level, a 2ch marker; a letter is under 1ch, bold (a folded
    # container) up to ~1.2ch
    names = max([12] + [1.8 * r.depth + 3 + (1.2 if r.has_shown_children else 1.0) * len(r.path.rsplit(".", 1)[-1])
                        + (3 if r.calls > 1 else 0) for r in rows])
    names = min(30, round(names, 1))
    pct = 7
    cols = [
        _Col("name", "module", "the module's name (hover: its path)", f"minmax({names}ch,2fr)", names, names, 0),
        _Col("type", "type", "the module's class (hover: its kind)", f"minmax(8ch,{types}ch)", 8, types, 2),
        _Col("kernel", "kernel", "kernel size, s = stride, g = groups, d = dilation", f"minmax(0,{kernel}ch)", 0,
             kernel, 1),
        _Col("shape", "output shape", "the first call's output (hover: input -> output)",
             f"minmax(10ch,{shapes}ch)", 10, shapes, 0),
        _Col("num params", "params", "own parameters", f"{params}ch", params, params, 0),
        _Col("num params-pct", "% params", "own share of the parameters", f"{pct}ch", pct, pct, 1),
        _Col("num sum params-sum", "[\u03a3 params]", "the subtree's parameters (a total, not a share)",
             f"{params_sum}ch", params_sum, params_sum, 2),
        _Col("num cost", f"{unit} [{conv.name}]", f"own {unit} under convention '{conv.name}'", f"{cost}ch", cost,
             cost, 0),
        _Col("num cost-pct", f"% {unit}", f"own share of the total {unit}", f"{pct}ch", pct, pct, 0),
        _Col("barcell", f"share of {unit}", "dark: own share, light: the subtree's share (the whole bar = 100 %)",
             "minmax(6ch,1fr)", 6, 6, 2),
        _Col("num sum cost-sum", f"[\u03a3 {unit}]", f"the subtree's {unit} (a total, not a share)",
             f"{cost_sum}ch", cost_sum, cost_sum, 0),
    ]
    if sent is not None:  # a distributed pass: after the cost, what the rank sends (left out with the bar)
        width = num([_sent_cell(r, o, i) for r, (o, i) in zip(rows, sent)] + [F.count(C.sent_total(profile))], 9)
        cols.append(_Col("num comm-sent", C.SENT_HEADER, C.SENT_LEGEND, f"{width}ch", width, width, 2))
    return cols


def _sent_cell(r, own: float, inclusive: float, markup: bool = False) -> str:
    """A row's bytes sent: its own; a container's own (blank when 0) and, apart, its subtree's in brackets
    (the text tables' mark of a total; the exact count, as the [\u03a3] columns beside it), in italics as
    those with ``markup`` (without: the plain text, whose length sizes the column)."""
    if not r.has_shown_children:
        return F.count(own)
    own_text = F.count(own) if own else ""
    if round(own) == round(inclusive):
        return own_text
    total = f'<span class="sum">{_sub(inclusive)}</span>' if markup else _sub(inclusive)
    return (own_text + " " if own_text else "") + total


def _levels(cols: list[_Col]) -> tuple[list[str], list[float]]:
    """The grid template of each level (0: every column; 1, 2: fewer) and the widths (ch) below which the next
    applies: levels 0 and 1 while every column gets what its text needs, level 2 down to its columns' least
    widths (below that the tree scrolls in its box)."""
    templates, widths = [], []
    for level in range(3):
        kept = [c for c in cols if c.level == 0 or c.level > level]
        templates.append(" ".join(c.track for c in kept))
        need = [c.min_ch for c in kept] if level == 2 else [c.want_ch for c in kept]
        widths.append(round(sum(need) + GAP_CH * (len(kept) - 1) + 2 * PAD_CH + 1, 1))
    return templates, widths


def _level_css(key: str, widths: list[float]) -> str:
    """The container queries that leave columns out where the report is narrower than a level needs (a
    notebook's output area), and scroll the tree in its box below the narrowest. ``key`` is a class derived
    from these widths: two reports with the same key have the same rules."""
    tree = f".{ROOT} .tree.{key}"
    w0, w1, w2 = (f"{w:.1f}ch" for w in widths)
    return (f"@container {ROOT} (max-width:{w0}){{{tree} .row{{grid-template-columns:var(--cols1)}}"
            f"{tree} .l1{{display:none}}}}\n"
            f"@container {ROOT} (max-width:{w1}){{{tree} .row{{grid-template-columns:var(--cols2)}}"
            f"{tree} .l2{{display:none}}}}\n"
            f"@container {ROOT} (max-width:{w2}){{{tree}{{overflow-x:auto}}}}")


def _sub(n: float) -> str:
    """A subtree's inclusive total, exact and in brackets: ``[215,808]`` (the text tables' mark of a total)."""
    return f"[{F.count(n)}]"


def _tree(profile, unfold: int | None) -> tuple[str, str]:
    """The module tree (a header row, one row per module, containers as ``<details>``, the totals row) and
    the CSS of its narrow layouts."""
    conv = get_convention(profile.convention)
    rows = layer_rows(profile)  # every module, own shares (+ each subtree's inclusive sums)
    total_cost = profile.total(conv)
    total_params = profile.params
    p_params = percent_strings([r.params for r in rows], total_params)
    p_cost = percent_strings([r.cost for r in rows], total_cost)
    sent = C.row_sent(profile, rows)  # None: no collective ran, no column
    cols = _columns(profile, rows, sent)
    templates, widths = _levels(cols)
    key = "w" + "-".join(f"{round(w * 10)}" for w in widths)
    classes = [(f"l{c.level} " if c.level else "") + c.cls for c in cols]
    style = ";".join(f"--cols{i}:{t}" for i, t in enumerate(templates))
    out = [f'<div class="tree {key}" style="{style}">',
           '<div class="row head">' + "".join(f'<div class="{k}" title="{_e(c.tip)}">{_e(c.header)}</div>'
                                              for k, c in zip(classes, cols)) + "</div>"]

    def pct(v, total):
        return 0.0 if not total else max(0.0, min(100.0, 100.0 * v / total))

    def row_cells(values: list[str], attrs: list[str]) -> str:
        return "".join(f'<div class="{k}"{a}>{v}</div>' for k, v, a in zip(classes, values, attrs))

    open_containers: list[int] = []  # depths of the <details> still open in the markup
    for i, r in enumerate(rows):
        while open_containers and open_containers[-1] >= r.depth:
            open_containers.pop()
            out.append("</details>")
        container = r.has_shown_children
        blank = container  # a container's zero own share is left blank, as in the text table
        name = r.name if r.path else "(root)"
        local = name.rsplit(".", 1)[-1] if r.path else name
        calls = f'<span class="calls">\u00d7{r.calls}</span>' if r.calls > 1 else ""
        name_tip = name + (f" (called {r.calls} times)" if r.calls > 1 else "")
        shapes_out = F.shapes(r.output_shapes)
        shapes_tip = f"in {F.shapes(r.input_shapes) or '-'} \u2192 out {shapes_out or '-'}"
        own_cost, sub_cost = pct(r.cost, total_cost), pct(r.cost_inclusive, total_cost)
        bar = (f'<div class="bar"><div class="s" style="width:{sub_cost:.3f}%"></div>'
               f'<div class="o" style="width:{own_cost:.3f}%"></div></div>')
        tip_bar = (f"own {100 * r.cost / total_cost:.2f} %, subtree {100 * r.cost_inclusive / total_cost:.2f} %"
                   if total_cost else "")
        values = [
            _e(local) + calls, _e(r.type), _e(F.kernel_stride_groups(r.config)), _e(shapes_out),
            "" if blank and not r.params else F.count(r.params),
            "" if blank and not r.params else p_params[i],
            _sub(r.params_inclusive) if container else "",
            "" if blank and not r.cost else F.count(r.cost),
            "" if blank and not r.cost else p_cost[i],
            bar,
            _sub(r.cost_inclusive) if container else "",
        ]
        attrs = [f' style="--d:{r.depth}" title="{_e(name_tip)}"', f' title="{_e(r.kind)}"', "",
                 f' title="{_e(shapes_tip)}"', "", "", "", "", "", f' title="{_e(tip_bar)}"', ""]
        if sent is not None:
            own_sent, sub_sent = sent[i]
            values.append(_sent_cell(r, own_sent, sub_sent, markup=True))
            attrs.append(f' title="{_e(F.count(sub_sent))} bytes sent by the subtree"' if container else "")
        data = f'data-path="{_e(r.path)}" data-depth="{r.depth}"'
        if container:
            is_open = unfold is None or r.depth < unfold
            out.append(f'<details{" open" if is_open else ""}>'
                       f'<summary class="row" {data}>{row_cells(values, attrs)}</summary>')
            open_containers.append(r.depth)
        else:
            out.append(f'<div class="row leaf" {data}>{row_cells(values, attrs)}</div>')
    out += ["</details>"] * len(open_containers)
    full = '<div class="bar"><div class="o" style="width:100%"></div></div>' if total_cost else ""
    totals = ["total", "", "", "", F.count(total_params), "100.00" if total_params else "-", "",
              F.count(total_cost), "100.00" if total_cost else "-", full, ""]
    if sent is not None:
        totals.append(F.count(C.sent_total(profile)))
    out.append(f'<div class="row total" data-path="(total)">{row_cells(totals, [""] * len(cols))}</div>')
    out.append("</div>")
    return "\n".join(out), _level_css(key, widths)
