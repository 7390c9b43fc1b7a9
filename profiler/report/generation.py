"""Pages and pictures of a language model's costs: generation (the prefill and each decode step with the KV
cache, :class:`profiler.zoo.generate.Generation`) and sequence-length scaling (one Profile per length,
:func:`profiler.zoo.build.profile_lengths`). Renderers only: every number is read off the Profiles.

Formats: ``table`` (text), ``markdown``, ``html``, ``csv`` (the per-step or per-length table, raw numbers),
``json`` (:meth:`Generation.to_dict`, :func:`scaling_document`).
"""
from __future__ import annotations

from profiler.conventions import get_convention
from profiler.core.document import input_record
from profiler.report import format as F
from profiler.report.page import _html_page, _markdown_page, _text_page, describe_device, model_line, to_json
from profiler.report.tables import Column, Table, render_table
from profiler.report.tables import text_width
from profiler.report.textfit import TEXT_WIDTH, wrap_header

#: Per-step rows shown in text pages before they are sampled (every row is in the CSV and the JSON).
MAX_ROWS = 32

__all__ = ["generation_page", "scaling_page", "scaling_document", "plot_generation", "plot_scaling",
           "non_embedding_params"]


def _pct(part: float, whole: float) -> str:
    return F.percent(100 * part / whole if whole else None, 2)


def non_embedding_params(profile) -> int:
    """Parameters outside the embedding tables (an untied LM head is in; see
    :func:`profiler.zoo.generate.body_params` for Kaplan et al.'s N, which leaves it out)."""
    return profile.params - sum(layer.params for layer in profile.layers if layer.kind == "embedding")


def _model_line(src, fallback: str) -> str:
    return model_line(src, fallback)


def _page(fmt: str, head, table: Table, caption: str, legend: str, foot, width: int | None = None) -> str:
    """The page in ``fmt``; ``width``: the text page's header and footer lines wrapped to that many columns."""
    if fmt == "csv":
        return render_table(table, "csv")
    body = render_table(_fit_headers(table, width) if fmt == "table" else table, fmt, caption)
    if fmt == "html":
        return _html_page(head, body, legend, [], foot, [])
    if fmt == "markdown":
        return _markdown_page(head, body, legend, [], foot, [])
    return _text_page(head, body, legend, [], foot, [], width=width)


def _fit_headers(table: Table, width: int | None) -> Table:
    """The text table with its headers wrapped at their words to no wider than their column's widest cell, when
    it is wider than ``width`` (the cells, every number, unchanged)."""
    if width is None or text_width(table) <= width:
        return table
    from dataclasses import replace

    rows = table.shown + ([table.totals_shown] if table.totals_shown is not None else [])
    cols = [replace(c, header=wrap_header(c.header, max(len(str(r[i])) for r in rows) if rows else 0))
            for i, c in enumerate(table.columns)]
    return Table(cols, table.raw, table.shown, table.totals_raw, table.totals_shown)


def _coverage(profiles) -> str:
    ops = sorted({u.op for p in profiles for u in p.coverage})
    if not ops:
        return "complete: every op of every pass has a counting rule"
    return f"{len(ops)} op(s) have no counting rule, their cost is unknown (not zero): {', '.join(ops)}"


def _sampled(n: int, keep: int = MAX_ROWS) -> list[int]:
    """Indices 0..n-1 to show: all when n <= keep, else evenly spaced ones with the first and the last."""
    if n <= keep:
        return list(range(n))
    step = (n - 1) / (keep - 1)
    return sorted({round(i * step) for i in range(keep)})


# -- generation ------------------------------------------------------------------------------------------------
def _rule_line(gen) -> str:
    n = gen.body_params
    if not gen.decode or not n:
        return ""
    first, last = f"{gen.decode[0].macs / n / gen.batch:.4f}", f"{gen.decode[-1].macs / n / gen.batch:.4f}"
    counted = f"{first} N" if first == last else f"{first} N to {last} N"
    return (f"N = {F.count(n)} params outside the embedding tables and the LM head: Kaplan et al.'s 2N "
            f"says N MACs (2N FLOPs) per token plus attention; the decode steps count {counted} per token "
            f"(the LM head's d x vocab and 2·L·t·d of attention come on top of the weights; norm weights and "
            f"biases are in N but cost no MACs)")


def _sequences(batch: int) -> str:
    """`` (all 4 sequences)`` after a byte count of the whole batch; nothing for one (the prompt line has the batch)."""
    return f" (all {batch} sequences)" if batch > 1 else ""


def generation_page(gen, fmt: str = "table", width: int | None = TEXT_WIDTH) -> str:
    """The report of one generation: header, the prefill/decode/total table then the per-step table (text
    pages; ``csv`` is the per-step table alone, ``json`` the document). ``width``: the text page's prose
    wrapped to that many columns (None: one line per item)."""
    if fmt == "json":
        return to_json(gen.to_dict())
    conv = get_convention(gen.convention)
    unit = conv.unit
    src = gen.source
    steps = len(gen.decode)
    head = [("model", _model_line(src, gen.prefill.model)),
            ("prompt", f"{gen.prompt_tokens} tokens x batch {gen.batch}"),
            ("generated", f"{gen.new_tokens} new tokens per sequence, greedy: the first from the prefill, then "
                          f"{steps} decode step(s), one token each"),
            ("convention", f"{conv.name} = {conv.description}"),
            ("pass", describe_device(gen.device).replace("one forward pass", "each forward pass"))]

    pre, dec = gen.prefill, gen.decode
    pre_att, dec_att = pre.by_category["attention"], sum(p.by_category["attention"] for p in dec)
    pre_tot, dec_tot = pre.total(conv), sum(p.total(conv) for p in dec)
    summary = [("prefill", 1, gen.prompt_tokens * gen.batch, pre_tot, pre.macs, pre_att),
               ("decode", steps, steps * gen.batch, dec_tot, gen.decode_macs, dec_att)]
    cols = [Column("step", "step"), Column("context", "context (keys attended)", "right"),
            Column("total", f"{unit} [{conv.name}]", "right", visible=conv.name != "macs"),
            Column("macs", "MACs", "right"), Column("attention_macs", "attention MACs", "right"),
            Column("attention_pct", "attention %", "right")]
    table = Table(cols)
    for label, passes, tokens, tot, macs, att in summary:
        table.add([label, None, tot, macs, att, round(100 * att / macs, 6) if macs else None],
                  [f"{label} ({passes} pass{'es' if passes != 1 else ''}, {F.count(tokens)} tokens)", "",
                   F.count(tot), F.count(macs), F.count(att), _pct(att, macs)])
    shown = _sampled(steps) if fmt != "csv" else list(range(steps))
    for i in shown:
        p = dec[i]
        att = p.by_category["attention"]
        table.add([i + 1, gen.contexts[i], p.total(conv), p.macs, att, round(100 * att / p.macs, 6) if p.macs else None],
                  [f"decode {i + 1}", F.count(gen.contexts[i]), F.count(p.total(conv)), F.count(p.macs),
                   F.count(att), _pct(att, p.macs)])
    total = gen.total(conv)
    table.totals_raw = ["total", None, total, gen.macs, pre_att + dec_att, None]
    table.totals_shown = ["total", "", F.count(total), F.count(gen.macs), F.count(pre_att + dec_att),
                          _pct(pre_att + dec_att, gen.macs)]

    kv = gen.kv_bytes_per_token
    kv_line = (f"{F.count(kv)} bytes per token per sequence ({gen.cache_dtype}); {F.count(gen.cache_bytes[-1])} bytes "
               f"held after the last step{_sequences(gen.batch)}" if kv is not None else
               f"{F.count(gen.cache_bytes[0])} bytes held after the prefill ({gen.cache_dtype}){_sequences(gen.batch)}")
    if gen.encoder_decoder:
        kv_line += "; the cross-attention cache of the prompt is held from the prefill on"
    foot = [("total", f"{F.count(total)} {unit} [{conv.name}] = {F.scaled(total, unit)}: prefill "
                      f"{F.scaled(pre_tot, unit)}, decode {F.scaled(dec_tot, unit)}; {F.count(pre.params)} params"),
            ("kv cache", kv_line)]
    rule = _rule_line(gen)
    if rule:
        foot.append(("rule of thumb", rule))
    foot.append(("coverage", _coverage([pre, *dec])))
    for note in gen.notes:
        foot.append(("note", note))
    sampled = len(shown) < steps
    legend = ("prefill = the prompt's forward pass (LM head on its last position only, as generate() runs it); "
              "decode N = the forward pass of the N-th token fed back, with the KV cache of every token before it; "
              "context = keys its "
              "self-attention attends (decode MACs grow by 2·L·n_heads·d_head per step)"
              + (f"; {len(shown)} of {steps} decode steps shown, evenly spaced (all in --format csv or json)"
                 if sampled else ""))
    return _page(fmt, head, table, "generation", legend, foot, width)


# -- scaling -------------------------------------------------------------------------------------------------
def scaling_document(profiles) -> dict:
    """Plain data of :func:`profiler.zoo.build.profile_lengths`'s Profiles (what ``--format json`` writes); its
    ``input`` is the record every document has (:func:`profiler.core.document.input_record`), ``tokens`` the
    list of lengths and ``shapes`` each length's input_ids."""
    first = profiles[0]
    conv = get_convention(first.convention)
    src = first.source
    rows = []
    for p in profiles:
        tokens = p.source.input_size[0] if p.source is not None else p.inputs[0][-1]
        att = p.by_category["attention"]
        rows.append({"tokens": tokens, "total": p.total(conv), "macs": p.macs, "attention_macs": att,
                     "attention_pct": round(100 * att / p.macs, 6) if p.macs else None,
                     "macs_per_token": p.macs / (tokens * (src.batch if src else 1))})
    return {"model": src.name if src is not None else first.model, "zoo": src.zoo if src else None,
            "task": src.task if src else None, "also": list(src.also) if src else [],
            "input": input_record("tokens", [p.inputs[0] for p in profiles], src.batch if src else first.inputs[0][0],
                                  [r["tokens"] for r in rows]),  # each length's input_ids, one pass each
            "convention": conv.name, "unit": conv.unit, "convention_description": conv.description,
            "device": first.device, "params": first.params, "lengths": rows,
            "coverage": sorted({u.op for p in profiles for u in p.coverage}),
            "notes": list(dict.fromkeys(n for p in profiles for n in p.notes))}


def scaling_page(profiles, fmt: str = "table", width: int | None = TEXT_WIDTH) -> str:
    """MACs and the attention share at each sequence length; ``width``: the text page's prose wrapped to that
    many columns (None: one line per item)."""
    doc = scaling_document(profiles)
    if fmt == "json":
        return to_json(doc)
    conv = get_convention(doc["convention"])
    unit = conv.unit
    first = profiles[0]
    head = [("model", _model_line(first.source, first.model)),
            ("input", f"batch {doc['input']['batch']}; "
                      f"{', '.join(F.count(t) for t in doc['input']['tokens'])} tokens, one forward pass each"),
            ("convention", f"{conv.name} = {conv.description}"), ("pass", describe_device(first.device))]
    table = Table([Column("tokens", "tokens", "right"),
                   Column("total", f"{unit} [{conv.name}]", "right", visible=conv.name != "macs"),
                   Column("macs", "MACs", "right"), Column("macs_per_token", "MACs per token", "right"),
                   Column("attention_macs", "attention MACs", "right"),
                   Column("attention_pct", "attention %", "right")])
    for r in doc["lengths"]:
        table.add([r[c.key] for c in table.columns],
                  [F.count(r["tokens"]), F.count(r["total"]), F.count(r["macs"]), F.count(r["macs_per_token"]),
                   F.count(r["attention_macs"]), F.percent(r["attention_pct"])])
    foot = [("params", f"{F.count(doc['params'])} params ({F.count(non_embedding_params(first))} outside embeddings)"),
            ("coverage", _coverage(profiles))] + [("note", n) for n in doc["notes"]]
    legend = ("attention MACs = QK^T and the weighted sum over the full T x T scores (2·L·T²·d, quadratic in the "
              "length); every other product is linear in it, so MACs per token grow only by attention")
    return _page(fmt, head, table, "sequence lengths", legend, foot, width)


# -- pictures -------------------------------------------------------------------------------------------------
def _headroom(lo: float, hi: float, pad: float = 0.08) -> tuple[float, float]:
    """y limits around the data (not from 0): a flat series gets a band of 1% of its value around it."""
    span = hi - lo
    if span <= 0:
        span = abs(hi) * 0.02 or 1.0
    return lo - pad * span, hi + pad * span


def _fine_formatter(lo: float, hi: float, nticks: int = 6):
    """Tick labels with as many digits as the tick step needs (53.12M, 53.14M: never two alike), SI-scaled."""
    import math

    from profiler.report.plots import _scale

    div, prefix = _scale(max(abs(lo), abs(hi)))
    step = max((hi - lo) / nticks, abs(hi) * 1e-9, 1e-12) / div
    decimals = max(0, -math.floor(math.log10(step)) + 1)
    return lambda v, _pos=None: f"{v / div:.{decimals}f}{prefix}"


def plot_generation(gen):
    """MACs per decode step against the context length (a matplotlib Figure; write it with
    :func:`profiler.report.plots.save_figure`). Top: the total per step, its y axis from the data (not from 0),
    so that the growth with the context shows; bottom: attention's part alone (QK^T and AV over the cache, the
    part that grows) against the rest (weights, constant per token), in percent of the step. Legends sit
    outside the data, above each panel."""
    from matplotlib.figure import Figure

    from profiler.report.plots import KIND_COLOURS, si

    fig = Figure(figsize=(8, 6), layout="constrained")
    ax, ax_share = fig.subplots(2, 1, sharex=True, height_ratios=[1.6, 1])
    x = list(gen.contexts)
    att = [p.by_category["attention"] for p in gen.decode]
    total = [p.macs for p in gen.decode]
    rest = [t - a for t, a in zip(total, att)]
    if x:
        ax.plot(x, total, color=KIND_COLOURS["linear"], lw=1.8, marker="o" if len(x) <= 40 else None, ms=3,
                label="all MACs of the step (weights + attention)")
        ax.plot(x, [r + att[0] for r in rest], color="#555555", lw=1, ls="--",
                label="weights + the first step's attention (no growth)")
        ax.fill_between(x, [r + att[0] for r in rest], total, color=KIND_COLOURS["attention"], alpha=0.5, lw=0,
                        label="attention's growth with the context (2·L·d MACs per extra key)")
        ax.set_ylim(*_headroom(min(total), max(total)))
        ax.yaxis.set_major_formatter(_fine_formatter(*ax.get_ylim()))
        ax.set_xlim(min(x), max(x) if max(x) > min(x) else min(x) + 1)
        ax_share.plot(x, [100 * a / t if t else 0 for a, t in zip(att, total)], color=KIND_COLOURS["attention"],
                      lw=1.8, label="attention (QK^T, AV over the cache)")
        shares = [100 * a / t for a, t in zip(att, total) if t]
        if shares:
            ax_share.set_ylim(*_headroom(min(shares), max(shares)))
    ax.set_ylabel("MACs per decoded token\n(y axis from the data, not 0)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncols=1, fontsize=8, frameon=False, borderaxespad=0)
    ax_share.set_ylabel("attention share\nof the step's MACs (%)")
    ax_share.set_xlabel("context length t (keys attended by the decoded token)")
    ax_share.yaxis.set_major_formatter(lambda v, _: f"{v:.3g}%")
    ax_share.grid(alpha=0.3)
    name = gen.source.spec if gen.source is not None else gen.prefill.model
    fig.suptitle(f"{name}: {gen.new_tokens} tokens after a {gen.prompt_tokens}-token prompt (batch {gen.batch})\n"
                 f"prefill {si(gen.prefill.macs)} MACs, decode {si(gen.decode_macs)} MACs [convention 'macs']",
                 fontsize=10)
    return fig


def plot_scaling(profiles):
    """MACs per token against the sequence length (log x). Top: the total per token, its y axis from the data
    (not from 0), the weights' constant part dashed and attention's growth filled between; bottom: the
    attention share of the MACs (%), its axis from the data too. Legends above each panel, off the data."""
    from matplotlib.figure import Figure

    from profiler.report.plots import KIND_COLOURS

    doc = scaling_document(profiles)
    rows = doc["lengths"]
    x = [r["tokens"] for r in rows]
    per_tok = [r["macs_per_token"] for r in rows]
    per_tok_att = [r["attention_macs"] / (r["tokens"] * (doc["input"]["batch"] or 1)) for r in rows]
    per_tok_rest = [t - a for t, a in zip(per_tok, per_tok_att)]
    fig = Figure(figsize=(8, 6), layout="constrained")
    ax, share = fig.subplots(2, 1, sharex=True, height_ratios=[1.6, 1])
    ax.plot(x, per_tok, color=KIND_COLOURS["linear"], lw=1.8, marker="o", ms=4,
            label="all MACs per token (weights + attention)")
    ax.plot(x, per_tok_rest, color="#555555", lw=1, ls="--", label="weights alone (the same at every length)")
    ax.fill_between(x, per_tok_rest, per_tok, color=KIND_COLOURS["attention"], alpha=0.5, lw=0,
                    label="attention (QK^T and AV over T keys: grows with T)")
    ax.set_ylim(*_headroom(min(per_tok_rest), max(per_tok)))
    ax.yaxis.set_major_formatter(_fine_formatter(*ax.get_ylim()))
    ax.set_ylabel("MACs per token (one forward pass / T)\n(y axis from the data, not 0)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), fontsize=8, frameon=False, borderaxespad=0)
    pct = [r["attention_pct"] or 0 for r in rows]
    share.plot(x, pct, color="black", marker="o", linewidth=1.2, ms=4)
    share.set_ylim(*_headroom(min(pct), max(pct)))
    share.yaxis.set_major_formatter(lambda v, _: f"{v:.3g}%")
    share.set_ylabel("attention share\nof the MACs (%)")
    share.grid(alpha=0.3)
    share.set_xscale("log", base=2)
    share.set_xticks(x)
    share.set_xticklabels([str(t) for t in x], fontsize=8)
    share.minorticks_off()
    share.set_xlabel("sequence length T (tokens, log scale)")
    fig.suptitle(f"{doc['zoo'] + ':' if doc['zoo'] else ''}{doc['model']}: cost of one forward pass by sequence "
                 f"length [convention 'macs']", fontsize=10)
    return fig
