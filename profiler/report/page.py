"""A whole report of one model: a header (model, zoo, input, convention), the chosen table, the totals,
the coverage, extra sections; in text, Markdown, CSV (the table only), JSON, HTML or a tree."""
from __future__ import annotations

import json
import textwrap

from profiler.conventions import get_convention
from profiler.report import comm as C
from profiler.report import format as F
from profiler.core.rows import AUTO_ROWS, auto_depth, folded_modules, rows_for
from profiler.report.tables import fit, render_table
from profiler.report.textfit import TEXT_WIDTH
from profiler.report.tree import tree
from profiler.report.views import group_table, layer_table, summary_footer, summary_table

FORMATS = ("table", "markdown", "csv", "json", "html", "tree")
GROUPINGS = ("layer", "kind", "type")
# TEXT_WIDTH (imported above, from profiler.report.textfit): the columns of the terminal the CLI's text view
# fits by default (``--wide``: no limit); importable from here too (``page.TEXT_WIDTH``).
#: The narrowest and widest :func:`terminal_width` answers: below 40 columns the table's kept columns (module,
#: output, params, cost, shares) cannot fit anyway and the prose would wrap every few words; above 200 the
#: table already shows every column and the prose lines would be too long to read.
FIT_WIDTH_RANGE = (40, 200)


def terminal_width() -> int:
    """Columns to fit a view printed from Python to (``Profile.table()``): the terminal's, as
    ``shutil.get_terminal_size`` reads it (``COLUMNS`` first), kept within :data:`FIT_WIDTH_RANGE`; 120
    (:data:`TEXT_WIDTH`) where it is unknown, and in Jupyter, whose kernel may see the terminal that started
    the server, not the notebook."""
    import shutil
    import sys

    if "ipykernel" in sys.modules:
        return TEXT_WIDTH
    low, high = FIT_WIDTH_RANGE
    return max(low, min(high, shutil.get_terminal_size((TEXT_WIDTH, 40)).columns))


def describe_device(device: str) -> str:
    if str(device) == "meta":
        return "meta device: shapes only, no arithmetic run (the counts are exact: they depend on nothing else)"
    if str(device) == "fake":
        return ("fake tensors on the CPU (torch's FakeTensorMode): shapes only, no arithmetic run, nothing "
                "allocated, the CPU's kernel choices (the counts are exact: they depend on nothing else)")
    return f"{device}: one forward pass on random inputs"


def describe_pass(profile) -> str:
    text = _describe_pass(profile)
    d = profile.distributed
    if d is not None and profile.is_sharded:
        text += (f"; DTensor model: every figure is rank {d.rank} of {d.world_size}'s (its shards' kernels and "
                 "elements) but the footer's 'global' (the logical model)")
    return text


def _describe_pass(profile) -> str:
    text = describe_device(profile.device)
    if profile.is_step:  # "training step" once: "cpu: one training step (forward, ...) on random inputs"
        step = ", ".join(p for p in profile.phases if p != "recompute")
        if "one forward pass" in text:
            return text.replace("one forward pass", f"one training step ({step})")
        text += f"; one training step: {step}"
    return text


def model_line(src, fallback: str) -> str:
    """The header's ``model`` line: which zoo built it and how to name it; a bare name other zoos have too
    says what to type for theirs (``also torchvision:resnet50``)."""
    if src is not None and src.zoo == "user":
        return f"{src.name} (your factory; random weights as it builds them)"
    if src is None or src.zoo == "module":
        return fallback
    task = f", {src.task} head" if src.task else ""
    also = f"; also {', '.join(src.also)}" if getattr(src, "also", None) else ""
    return f"{src.name} (built by {src.zoo} as {src.spec}{task}{also}; architecture only, random weights)"


def header_items(profile) -> list[tuple[str, str]]:
    conv = get_convention(profile.convention)
    src = profile.source
    model = model_line(src, profile.model)
    inputs = "; ".join(F.shape(s) for s in profile.inputs)
    if src is not None and src.input_kind == "tokens":
        inputs = f"{src.input_size[0]:,} tokens x batch {src.batch} (token ids: {inputs})"
    elif src is not None and src.input_kind == "text-image":
        inputs = f"{src.input_size[0]:,} tokens and an image x batch {src.batch} ({inputs})"
    elif src is not None and src.input_kind == "speech-text":
        inputs = f"log-mel features and {src.input_size[0]:,} decoder tokens x batch {src.batch} ({inputs})"
    elif src is not None and src.input_kind == "images":  # a detection model's list of 3-d images
        inputs = f"a list of {len(profile.inputs)} image(s) {inputs} (--batch {src.batch} per --input shape)"
    elif src is not None and src.input_kind == "fixed":
        inputs += " (the inputs pytorchcv's own test builds, batch 1)"
    elif src is not None and src.input_kind == "image-pair":
        inputs += f" (an image pair, batch {src.batch})"
    else:
        inputs += f" (batch {profile.inputs[0][0]})" if len(profile.inputs) == 1 and profile.inputs[0] else ""
    return [("model", model), ("input", inputs), ("convention", f"{conv.name} = {conv.description}"),
            ("pass", describe_pass(profile))]


def exact_and_scaled(n: int, unit: str, tag: str = "") -> str:
    """``4,134,606 params = 4.13 M params``; a count under 1,000 once (``618 params``), its scaled form being
    the same digits. ``tag`` follows the exact count's unit (the convention: ``MACs [macs]``)."""
    exact = f"{F.count(n)} {unit}{tag}"
    scaled = F.scaled(n, unit)
    return exact if F.count(n) == F.scaled(n) else f"{exact} = {scaled}"


def _same_or_scaled(n: int) -> str:
    """``4,134,606 = 4.13 M`` (the unit follows), or ``618`` once."""
    return F.count(n) if F.count(n) == F.scaled(n) else f"{F.count(n)} = {F.scaled(n)}"


def footer_items(profile, extra_notes=()) -> list[tuple[str, str]]:
    conv = get_convention(profile.convention)
    total = profile.total(conv)
    if profile.distributed is not None:
        return _distributed_footer(profile, conv, extra_notes)
    items = [
        ("total", f"{exact_and_scaled(total, conv.unit, f' [{conv.name}]')}; "
                  f"{exact_and_scaled(profile.params, 'params')} "
                  + (f"(all trainable); " if not profile.params_frozen else
                     f"(trainable {F.count(profile.params_trainable)}, frozen {F.count(profile.params_frozen)}); ")
                  + (f"{_same_or_scaled(profile.params_active)} active params (what "
                     "one token uses: routed experts at top-k / experts); " if profile.is_moe else "")
                  + f"{F.count(profile.buffers)} buffer elements"),
        ("coverage", coverage_line(profile)),
    ]
    if any(layer.expert_tokens for layer in profile.layers):
        items.insert(1, ("experts", experts_line(profile)))
    if profile.is_step:
        items.insert(1, ("phases", phase_line(profile)))
    for note in list(profile.notes) + list(extra_notes):
        items.append(("note", note))
    return items


def _distributed_footer(profile, conv, extra_notes) -> list[tuple[str, str]]:
    """The footer of a distributed pass: the totals of this rank and of the logical model, each named, and the
    communication (:mod:`profiler.core.distributed`); the rest as for any model."""
    d = profile.distributed
    items = footer_items(_plain(profile), extra_notes)
    who = f"rank {d.rank} of {d.world_size}"
    if profile.is_sharded:
        total, params = profile.total(conv), profile.params
        glob = profile.global_view()
        items[0] = ("total", f"this rank ({who}): {exact_and_scaled(total, conv.unit, f' [{conv.name}]')}; "
                             f"{exact_and_scaled(params, 'params')} (its shards); global (the logical model): "
                             f"{exact_and_scaled(glob.total(conv), conv.unit)}; "
                             f"{exact_and_scaled(glob.params, 'params')}; {F.count(profile.buffers)} buffer elements")
    items.insert(1, ("communication", communication_line(profile, who)))
    return items


def _bytes(n) -> str:
    return f"{_same_or_scaled(int(round(n)))} bytes"


def _plain(profile):
    from dataclasses import replace

    return replace(profile, distributed=None)


def communication_line(profile, who: str = "this rank") -> str:
    """The collectives of the pass per kind: calls, size and the bytes this rank sends and receives."""
    kinds: dict[str, list] = {}
    for c in profile.communication:
        k = kinds.setdefault(c.kind, [0, 0, 0, 0, set(), set()])
        k[0] += c.calls
        k[1] += c.bytes
        k[2] += c.sent
        k[3] += c.received
        k[4].add(c.group_size)
        k[5].add(c.phase)
    if not kinds:
        return f"no collective ran on {who}"
    parts = [f"{kind} x{k[0]} ({', '.join(sorted(k[5]))}; {'/'.join(map(str, sorted(k[4])))} ranks): "
             f"{_bytes(k[1])} in all, {_bytes(k[2])} sent and {_bytes(k[3])} received"
             for kind, k in kinds.items()]
    return (f"{who}: " + "; ".join(parts) + " (bytes per rank under ring / pipeline algorithms: an all_reduce of S "
            "bytes on n ranks sends 2(n-1)/n S; per module and phase: --format json, 'distributed')")


def experts_line(profile) -> str:
    """A real pass's routing in one line: how unevenly the experts were loaded (the counts are in the JSON)."""
    layers = [x for x in profile.layers if sum(x.expert_tokens)]
    idle = sum(n == 0 for x in layers for n in x.expert_tokens)
    line = f"token-expert pairs per expert (this input's routing) in {len(layers)} layer(s)"
    if layers:
        load, path = max((max(x.expert_tokens) * len(x.expert_tokens) / sum(x.expert_tokens), x.path) for x in layers)
        line += f": the busiest expert got {load:.2f} x its layer's mean at most ({path})"
    return line + (f"; {idle} of {sum(len(x.expert_tokens) for x in layers)} experts got none; "
                   "per expert: --format json, 'expert_tokens'")


def phase_line(profile) -> str:
    """A training step's totals per phase and the backward/forward ratio (against the '3x' rule of thumb)."""
    conv = get_convention(profile.convention)
    ph = profile.by_phase
    parts = [f"{name} {F.count(ph[name])}" for name in ("forward", "loss", "backward", "optimizer")]
    line = f"{'; '.join(parts)} {conv.unit} [{conv.name}]"
    if profile.recomputed:
        line += f" (the backward includes {F.count(profile.recomputed)} re-run by activation checkpointing)"
    if ph["forward"]:
        ratio = ph["backward"] / ph["forward"]
        line += (f"; backward/forward = {ratio:.3f} (the '3x' rule of thumb assumes 2.000: a whole step = "
                 f"{(ph['forward'] + ph['backward']) / ph['forward']:.3f} x the forward)")
    return line


def coverage_line(profile) -> str:
    if not profile.coverage:
        return "complete: every op of the pass has a counting rule"
    parts = []
    for u in profile.coverage:
        where = ", ".join(m or "(root)" for m in u.modules[:3]) + (" ..." if len(u.modules) > 3 else "")
        parts.append(f"{u.op} x{u.calls} in {where}" + (f" ({u.error})" if u.error else ""))
    return (f"{len(profile.coverage)} op(s) have no counting rule, their cost is unknown (not zero): "
            + "; ".join(parts))


#: What a subtree's total in brackets means (the per-layer tables' containers, ``views.subtree_total``).
SUBTREE_LEGEND = ("a container whose children are listed below it shows its own share (blank when 0), then in "
                  "brackets its subtree's total where the children add to it: [1.23G] = the module and every "
                  "module under it, in the column's unit, K/M/G/T = 10^3/10^6/10^9/10^12; a total, not a share, so "
                  "it is left out of the column's sum and of the percent columns (a table fitted to a narrow "
                  "terminal may scale the own share beside it too: 134.22M [5.50G])")
LAYER_LEGEND = ("each row holds the module's own params and {unit} (what it registers and computes itself); "
                + SUBTREE_LEGEND + "; (+N) = N sub-modules folded into that row (--depth). Percent columns are "
                "shares of the totals: they add up to 100 (to the rounding of the printed digits).")
GROUP_LEGEND = ("own params and {unit} of every module of that {by}, summed; shares of the totals, adding up to 100 "
                "(to the rounding of the printed digits).")


FIT_LEGEND = ("each row holds the module's own params and {unit} (what it registers and computes itself); "
              + SUBTREE_LEGEND + "; (+N) = N sub-modules folded into that row. Shares add up to 100 (to the "
              "rounding of the printed digits).")


def _main_table(profile, by, depth, top, summary):
    """(table, legend, caption, footer_rows, rows) for the chosen view; rows: the per-layer rows, or None."""
    unit = get_convention(profile.convention).unit
    if summary:
        legend = ("torchsummary-style: every executed module but the root and plain containers, each after its "
                  "children as torchsummary lists them; sizes as torchsummary estimates them (float32, "
                  "MB = 2^20 bytes)")
        return summary_table(profile), legend, "summary", summary_footer(profile), None
    if by in ("kind", "type"):
        return group_table(profile, by), GROUP_LEGEND.format(unit=unit, by=by), f"by {by}", [], None
    rows = rows_for(profile, depth, top)
    legend = LAYER_LEGEND.format(unit=unit) + C.legend(profile)
    return layer_table(profile, rows, indent=not top), legend, "per layer", [], rows


def folded_item(profile, rows, depth, auto: bool, max_rows: int = AUTO_ROWS) -> tuple[str, str] | None:
    """The footer line saying how many modules a depth cut-off folded, and how to see them all."""
    n = folded_modules(rows)
    if not n or depth is None:
        return None
    why = f"to keep {max_rows} rows" if auto else f"by --depth {depth}"
    return ("folded", f"{n:,} of {len(profile.layers):,} modules folded into depth-{depth} rows, marked (+N), {why}; "
                      "--depth all shows them all")


def _columns_item(profile, table, dropped, width) -> tuple[str, str]:
    """The legend of a per-layer text table fitted to ``width`` columns: what each short header means, with
    units and convention, and which columns were left out."""
    conv = get_convention(profile.convention)
    key = conv.unit.lower()
    shown = {c.key: c for c in table.columns if c.visible}
    parts = [f"{shown[key].header}: the row's own {conv.unit} under convention '{conv.name}' (defined above); "
             "params: parameter count; %: the row's share of the total in the column to its left"]
    phases = [c.header for c in table.columns if c.visible and c.key.startswith(f"{key}_")
              and not c.key.endswith("_pct")]
    if phases:
        words = {"fwd": "fwd = forward", "bwd": "bwd = backward with any checkpointed re-runs",
                 "opt": "opt = optimizer step"}
        said = [w for k, w in words.items() if any(h.startswith(k + " ") for h in phases)]
        parts.append(f"{', '.join(phases)}: the same per phase of the step" + (f" ({', '.join(said)})" if said else ""))
    if "kernel_stride_groups" in shown:
        parts.append("kernel: size, s = stride, g = groups, d = dilation")
    shapes = [c.header for c in table.columns if c.visible and c.key in ("input_shape", "output_shape")]
    if shapes:
        several = any(" (+" in row[i] for row in table.shown for i, c in enumerate(table.columns)
                      if c.visible and c.key in ("input_shape", "output_shape"))
        parts.append(f"{'/'.join(shapes)}: tensor shape{'s' if len(shapes) > 1 else ''} (first call, batch first)"
                     + ("; 'shape (+N)': the first of N + 1 tensors" if several else ""))
    if "activations" in shown:
        parts.append(f"{shown['activations'].header}: elements of the output tensors (first call)")
    if "comm_sent" in shown:
        parts.append(f"{shown['comm_sent'].header}: {C.SENT_LEGEND}, the unit B = bytes")
    zero = [c.header for c in dropped if c.drop_zero]
    if zero:
        parts.append(f"not shown, 0 in every row: {', '.join(zero)}")
    other = [c.header for c in dropped if not c.drop_zero]
    if other:
        parts.append(f"not shown, to fit {width} columns (--wide shows them): {', '.join(other)}")
    return ("columns", "; ".join(parts) + ".")


def _key_item(profile, table, dropped, width) -> tuple[str, str]:
    """The one line that stands for the legend under a per-layer text table fitted to ``width`` columns (the
    full ``columns`` and ``rows`` legend is ``legend=True``, ``profile-model --legend``): what the brackets
    mean, the convention if the cost header lost it, which columns were left out."""
    conv = get_convention(profile.convention)
    shown = {c.key: c for c in table.columns if c.visible}
    parts = []
    key = conv.unit.lower()
    counts = [i for i, c in enumerate(table.columns) if c.visible and c.key in ("params", key, "comm_sent")]
    if any(row[i].endswith("]") for row in table.shown for i in counts):
        parts.append("[x]: the subtree's total")
    if "comm_sent" in shown:  # its short header needs saying: B = bytes, and whose
        parts.append(f"{shown['comm_sent'].header}: bytes this rank sends")
    if key in shown and f"[{conv.name}]" not in shown[key].header:
        parts.append(f"{conv.unit} under convention '{conv.name}'")
    zero = [c.short or c.header for c in dropped if c.drop_zero]
    if zero:
        parts.append(f"0 in every row: {', '.join(zero)}")
    other = [c.short or c.header for c in dropped if not c.drop_zero]
    if other:
        parts.append(f"hidden to fit {width} columns (--wide): {', '.join(other)}")
    parts.append("--legend: all columns")
    return ("legend", "; ".join(parts))


def render(profile, fmt: str = "table", *, by: str = "layer", depth: int | str | None = None,
           top: int | None = None, summary: bool = False, sections=(), notes=(), width: int | None = None,
           max_rows: int = AUTO_ROWS, legend: bool = False) -> str:
    """The report as a string.

    fmt: one of :data:`FORMATS`; ``csv`` is the table alone (raw numbers), ``json`` the document
    (``Profile.to_dict``; :func:`to_json` adds extension keys).
    by: ``layer`` (per module; ``depth`` folds deeper subtrees, ``top`` keeps the heaviest rows), ``kind`` or
    ``type``; summary: the torchsummary-style view. sections: ``(title, text)`` pairs appended (text formats).
    depth: an int, None (every module) or ``"auto"``: the deepest depth whose per-layer table has at most
    ``max_rows`` rows (:func:`profiler.core.rows.auto_depth`; the footer says what was folded).
    width: the text format (``table``) fitted to that many columns: short headers (the ``columns`` legend
    of ``legend=True`` explains them), columns left out while a line is wider (``views.FIT_ORDER``), the header
    and footer lines wrapped; None (default) writes every column with its long header, lines unwrapped.
    legend: the per-layer table's full legend (``columns`` and ``rows``: what each column and cell means)
    under a table fitted to ``width`` too; without it such a table gets one ``legend`` line (brackets, columns
    left out). Every other page (not fitted, another format or view) always has its legend.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}; choose one of: {', '.join(GROUPINGS)}")
    if fmt == "html":  # one HTML renderer (profiler.report.html): a standalone page; to_html: a notebook's
        from profiler.report.html import report as html_report

        return html_report(profile, by=by, depth=depth, top=top, summary=summary, sections=sections, notes=notes,
                           max_rows=max_rows)
    auto = depth == "auto"
    if auto:
        depth = auto_depth(profile, max_rows) if by == "layer" and not summary and not top else None
    elif isinstance(depth, str):
        raise ValueError(f"depth is an int, None (every module) or 'auto', not {depth!r}")
    if fmt == "json":
        return to_json(profile.to_dict(depth=depth, top=top))
    legend_wanted = legend
    head, foot = header_items(profile), footer_items(profile, notes)
    if fmt == "tree":
        # the header defines the convention: the tree's closing line names it without repeating it
        body, legend, caption, extra = tree(profile, depth, width=width, describe=False), "", "tree", []
    else:
        table, legend, caption, extra, rows = _main_table(profile, by, depth, top, summary)
        if fmt == "csv":
            return render_table(table, "csv")
        if rows is not None and not top:
            item = folded_item(profile, rows, depth, auto, max_rows)
            foot += [item] if item else []
        if fmt == "table" and width and rows is not None:
            table, dropped = fit(table, width)
            if legend_wanted:
                foot.append(_columns_item(profile, table, dropped, width))
                legend = FIT_LEGEND.format(unit=get_convention(profile.convention).unit) + C.legend(profile)
            else:
                foot.append(_key_item(profile, table, dropped, width))
                legend = ""
        body = render_table(table, fmt, caption)
    if fmt == "markdown":
        return _markdown_page(head, body, legend, extra, foot, sections)
    return _text_page(head, body, legend, extra, foot, sections, width=width)


def _kv_lines(items, width: int | None = None) -> list[str]:
    """``key  value`` lines, keys padded to one width; with ``width``, values wrapped under themselves."""
    keys = max((len(k) for k, _ in items), default=0)
    lines = []
    for k, v in items:
        first = f"{k.ljust(keys)}  "
        if width is None or len(first) + len(v) <= width:
            lines.append(first + v)
        else:
            lines += textwrap.wrap(v, width, initial_indent=first, subsequent_indent=" " * len(first),
                                   break_long_words=False, break_on_hyphens=False)
    return lines


def _text_page(head, body, legend, extra, foot, sections, width: int | None = None) -> str:
    """Header lines, the body, the extra and footer lines, sections; ``width`` wraps the prose lines (the
    header, footer and section titles) to that many columns (tables and sections' text are left as given)."""
    parts = ["\n".join(_kv_lines(head, width)), body]
    if extra:
        parts.append("\n".join(_kv_lines(extra, width)))
    parts.append("\n".join(_kv_lines(foot + ([("rows", legend)] if legend else []), width)))
    for title, text in sections:
        if width and len(title) > width:
            title = textwrap.fill(title, width, break_long_words=False, break_on_hyphens=False)
        parts.append(f"{title}\n{text}")
    return "\n\n".join(parts)


def _markdown_page(head, body, legend, extra, foot, sections) -> str:
    md = lambda items: "\n".join(f"- **{k}**: {v}" for k, v in items)  # noqa: E731
    parts = [md(head), body]
    if extra:
        parts.append(md(extra))
    parts.append(md(foot + ([("rows", legend)] if legend else [])))
    for title, text in sections:
        parts.append(f"### {title}\n\n```\n{text}\n```")
    return "\n\n".join(parts)


def _html_page(head, body, legend, extra, foot, sections) -> str:
    """A standalone HTML page of key/value lines and one body (an HTML table, or text shown preformatted)."""
    from profiler.report.html import page

    return page(head, body, legend, extra, foot, sections)


def to_json(document: dict) -> str:
    """A JSON document (``Profile.to_dict()``, maybe with extension keys) as indented text."""
    return json.dumps(document, indent=2, default=str)


def to_html(profile, standalone: bool = False, **kwargs) -> str:
    """The report as HTML (:mod:`profiler.report.html`): by default the fragment a notebook shows for a
    Profile (its CSS scoped to ``.profiler-report``); ``standalone=True``: the page ``render(.., "html")`` gives."""
    from profiler.report.html import report as html_report

    return html_report(profile, standalone=standalone, **kwargs)


def to_dataframe(profile, depth: int | None = None, top: int | None = None):
    """One row per module (the JSON ``layers`` records), indexed by module path; needs pandas."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("Profile.to_dataframe() needs pandas, which is not installed: pip install pandas") from None
    records = profile.to_dict(depth=depth, top=top)["layers"]
    df = pd.DataFrame.from_records(records)
    unit = get_convention(profile.convention).unit
    df.attrs.update(model=profile.model, convention=profile.convention, unit=unit)
    return df.set_index("path")
