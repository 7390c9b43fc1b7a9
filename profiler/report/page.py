"""A whole report of one model: a header (model, zoo, input, convention), the chosen table, the totals,
the coverage, extra sections; in text, Markdown, CSV (the table only), JSON, HTML or a tree."""
from __future__ import annotations

import html
import json

from profiler.conventions import get_convention
from profiler.report import format as F
from profiler.core.rows import rows_for
from profiler.report.tables import render_table
from profiler.report.tree import tree
from profiler.report.views import group_table, layer_table, summary_footer, summary_table

FORMATS = ("table", "markdown", "csv", "json", "html", "tree")
GROUPINGS = ("layer", "kind", "type")


def describe_device(device: str) -> str:
    if str(device) == "meta":
        return "meta device: shapes only, no arithmetic run (the counts are exact: they depend on shapes only)"
    return f"{device}: one forward pass on random inputs"


def describe_pass(profile) -> str:
    text = describe_device(profile.device)
    if profile.is_step:
        step = ", ".join(p for p in profile.phases if p != "recompute")
        text = text.replace("one forward pass", "one training step") + f"; a training step: {step}"
    return text


def header_items(profile) -> list[tuple[str, str]]:
    conv = get_convention(profile.convention)
    src = profile.source
    if src is not None and src.zoo == "user":
        model = f"{src.name} (your factory; random weights as it builds them)"
    elif src is not None and src.zoo != "module":
        task = f", {src.task} head" if src.task else ""
        model = f"{src.name} (built by {src.zoo} as {src.spec}{task}; architecture only, random weights)"
    else:
        model = profile.model
    inputs = "; ".join(F.shape(s) for s in profile.inputs)
    if src is not None and src.input_kind == "tokens":
        inputs = f"{src.input_size[0]:,} tokens x batch {src.batch} (token ids: {inputs})"
    else:
        inputs += f" (batch {profile.inputs[0][0]})" if len(profile.inputs) == 1 and profile.inputs[0] else ""
    return [("model", model), ("input", inputs), ("convention", f"{conv.name} = {conv.description}"),
            ("pass", describe_pass(profile))]


def footer_items(profile, extra_notes=()) -> list[tuple[str, str]]:
    conv = get_convention(profile.convention)
    total = profile.total(conv)
    items = [
        ("total", f"{F.count(total)} {conv.unit} [{conv.name}] = {F.scaled(total, conv.unit)}; "
                  f"{F.count(profile.params)} params = {F.scaled(profile.params)} params "
                  f"(trainable {F.count(profile.params_trainable)}, frozen {F.count(profile.params_frozen)}); "
                  f"{F.count(profile.buffers)} buffer elements"),
        ("coverage", coverage_line(profile)),
    ]
    if profile.is_step:
        items.insert(1, ("phases", phase_line(profile)))
    for note in list(profile.notes) + list(extra_notes):
        items.append(("note", note))
    return items


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


LAYER_LEGEND = ("each row holds the module's own params and {unit} (what it registers and computes itself); "
                "a blank cell is a container whose children are listed below it; (+N) = N sub-modules folded "
                "into that row (--depth). Percent columns are shares of the totals: they add up to 100 "
                "(to the rounding of the printed digits).")
GROUP_LEGEND = ("own params and {unit} of every module of that {by}, summed; shares of the totals, adding up to 100 "
                "(to the rounding of the printed digits).")


def _main_table(profile, by, depth, top, summary):
    """(table, legend, caption, footer_rows) for the chosen view."""
    unit = get_convention(profile.convention).unit
    if summary:
        legend = ("torchsummary-style: every executed module but the root and plain containers, each after its "
                  "children as torchsummary lists them; sizes as torchsummary estimates them (float32, "
                  "MB = 2^20 bytes)")
        return summary_table(profile), legend, "summary", summary_footer(profile)
    if by in ("kind", "type"):
        return group_table(profile, by), GROUP_LEGEND.format(unit=unit, by=by), f"by {by}", []
    rows = rows_for(profile, depth, top)
    return layer_table(profile, rows, indent=not top), LAYER_LEGEND.format(unit=unit), "per layer", []


def render(profile, fmt: str = "table", *, by: str = "layer", depth: int | None = None,
           top: int | None = None, summary: bool = False, sections=(), notes=()) -> str:
    """The report as a string.

    fmt: one of :data:`FORMATS`; ``csv`` is the table alone (raw numbers), ``json`` the document
    (``Profile.to_dict``; :func:`to_json` adds extension keys).
    by: ``layer`` (per module; ``depth`` folds deeper subtrees, ``top`` keeps the heaviest rows), ``kind`` or
    ``type``; summary: the torchsummary-style view. sections: ``(title, text)`` pairs appended (text formats).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}; choose one of: {', '.join(GROUPINGS)}")
    if fmt == "json":
        return to_json(profile.to_dict(depth=depth, top=top))
    head, foot = header_items(profile), footer_items(profile, notes)
    if fmt == "tree":
        body, legend, caption, extra = tree(profile, depth), "", "tree", []
    else:
        table, legend, caption, extra = _main_table(profile, by, depth, top, summary)
        if fmt == "csv":
            return render_table(table, "csv")
        body = render_table(table, fmt, caption)
    if fmt == "html":
        return _html_page(head, body, legend, extra, foot, sections)
    if fmt == "markdown":
        return _markdown_page(head, body, legend, extra, foot, sections)
    return _text_page(head, body, legend, extra, foot, sections)


def _kv_lines(items) -> list[str]:
    width = max((len(k) for k, _ in items), default=0)
    return [f"{k.ljust(width)}  {v}" for k, v in items]


def _text_page(head, body, legend, extra, foot, sections) -> str:
    parts = ["\n".join(_kv_lines(head)), body]
    if extra:
        parts.append("\n".join(_kv_lines(extra)))
    parts.append("\n".join(_kv_lines(foot + ([("rows", legend)] if legend else []))))
    for title, text in sections:
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
    e = html.escape
    dl = lambda items: "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items) + "</dl>"  # noqa: E731
    if body.lstrip().startswith("<table"):
        main = body
    else:  # the tree is preformatted text
        main = f"<pre>{e(body)}</pre>"
    parts = ['<div class="profiler-report">', dl(head), main]
    if extra:
        parts.append(dl(extra))
    parts.append(dl(foot + ([("rows", legend)] if legend else [])))
    for title, text in sections:
        parts.append(f"<h3>{e(title)}</h3><pre>{e(text)}</pre>")
    parts.append("</div>")
    return "\n".join(parts)


def to_json(document: dict) -> str:
    """A JSON document (``Profile.to_dict()``, maybe with extension keys) as indented text."""
    return json.dumps(document, indent=2, default=str)


def to_html(profile, **kwargs) -> str:
    """The report as an HTML fragment (what a notebook shows for a Profile)."""
    return render(profile, "html", **kwargs)


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
