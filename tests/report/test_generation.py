"""Pages and pictures of generation and of sequence-length scaling: numbers read off the Profiles, units and
conventions written, every step in CSV/JSON, sampled rows said so, figures carrying the counted values."""
import csv
import io
import json
import re

import pytest

import profiler
from profiler.report.generation import (generation_page, non_embedding_params, plot_generation, plot_scaling,
                                        scaling_document, scaling_page)

GPT2 = dict(n_layer=2, n_embd=64, n_head=4, vocab_size=100)
D, L, V = 64, 2, 100


@pytest.fixture(scope="module")
def gen():
    return profiler.profile_generate("hf:gpt2", input=10, new_tokens=6, **GPT2)


@pytest.fixture(scope="module")
def long_gen():
    return profiler.profile_generate("hf:gpt2", input=4, new_tokens=60, **GPT2)


@pytest.fixture(scope="module")
def lengths():
    return profiler.profile_lengths("hf:gpt2", [16, 32, 64], **GPT2)


def test_text_page_has_units_conventions_and_the_totals(gen):
    text = generation_page(gen)
    assert "convention  macs = " in text and "MACs [macs]" in text
    assert f"{gen.macs:,} MACs [macs]" in text
    assert "prefill (1 pass, 10 tokens)" in text and "decode (5 passes, 5 tokens)" in text
    per_token = 2 * L * D * 4  # K and V (d each) of every layer, float32
    assert f"{per_token:,} bytes per token per sequence (float32)" in text
    assert "coverage       complete" in text
    for t, m in zip(gen.contexts, gen.per_token_macs):
        assert f"{m:,}" in text and m == L * 12 * D * D + D * V + 2 * L * t * D


def test_non_macs_convention_gets_its_own_column(gen):
    flops = profiler.profile_generate("hf:gpt2", input=10, new_tokens=2, convention="flops", **GPT2)
    text = generation_page(flops, "markdown")
    assert "FLOPs [flops]" in text and f"{2 * flops.macs:,}" in text


def test_csv_and_json_hold_every_step(long_gen):
    rows = list(csv.DictReader(io.StringIO(generation_page(long_gen, "csv"))))
    assert [r["step"] for r in rows[:2]] == ["prefill", "decode"]
    assert [int(r["macs"]) for r in rows[2:-1]] == long_gen.per_token_macs  # all 59 steps
    assert rows[-1]["step"] == "total" and int(rows[-1]["macs"]) == long_gen.macs
    doc = json.loads(generation_page(long_gen, "json"))
    assert doc["macs"] == long_gen.macs and len(doc["per_token"]) == 59


def test_long_generations_are_sampled_and_say_so(long_gen):
    text = generation_page(long_gen)
    shown = [line for line in text.splitlines() if re.match(r"decode \d", line)]
    assert len(shown) == 32 and shown[0].startswith("decode 1 ") and shown[-1].startswith("decode 59 ")
    assert "32 of 59 decode steps shown" in " ".join(text.split())  # the legend wraps at 120 columns


def test_rule_of_thumb_uses_the_body_params(gen):
    n = L * (12 * D * D + 13 * D) + 2 * D  # blocks and the final norm; token/position tables and the tied head out
    assert gen.body_params == n == non_embedding_params(gen.prefill)  # GPT-2's LM head is tied: no params of its own
    assert f"N = {n:,} params outside the embedding tables and the LM head" in generation_page(gen)
    untied = profiler.profile_generate("hf:llama", input=4, new_tokens=2, num_hidden_layers=1, hidden_size=64,
                                       intermediate_size=128, num_attention_heads=4, vocab_size=100)
    assert untied.body_params == non_embedding_params(untied.prefill) - 64 * 100  # the LM head left out


def test_scaling_page_and_document(lengths):
    doc = scaling_document(lengths)
    assert [r["tokens"] for r in doc["lengths"]] == [16, 32, 64]
    for r in doc["lengths"]:
        t = r["tokens"]
        assert r["attention_macs"] == 2 * L * t * t * D
        assert r["macs_per_token"] == pytest.approx(L * 12 * D * D + D * V + 2 * L * t * D)
    text = scaling_page(lengths)
    assert "MACs per token" in text and "attention %" in text and "convention  macs" in text
    assert json.loads(scaling_page(lengths, "json"))["input"] == {
        "kind": "tokens", "batch": 1, "tokens": [16, 32, 64], "shapes": [[1, 16], [1, 32], [1, 64]]}
    assert scaling_page(lengths, "csv").splitlines()[0] == "tokens,total,macs,macs_per_token,attention_macs,attention_pct"
    assert "<table" in scaling_page(lengths, "html")


def test_plots_draw_the_counted_values(gen, lengths):
    fig = plot_generation(gen)
    ax = fig.axes[0]
    assert "MACs" in ax.get_ylabel() and "context" in fig.axes[1].get_xlabel()  # the panels share x
    top = ax.collections[-1].get_paths()[0].vertices[:, 1].max()  # the stacked attention band's top
    assert top == pytest.approx(max(gen.per_token_macs))
    fig = plot_scaling(lengths)
    share = fig.axes[1].lines[0].get_ydata()
    assert list(share) == pytest.approx([r["attention_pct"] for r in scaling_document(lengths)["lengths"]])


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig.canvas.get_renderer()


def _overlaps(a, b):
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 0 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0


def test_token_plot_shows_the_growth_and_keeps_its_legends_off_the_data(long_gen):
    fig = plot_generation(long_gen)
    renderer = _drawn(fig)
    ax, ax_share = fig.axes
    per_step = [p.macs for p in long_gen.decode]
    lo, hi = ax.get_ylim()
    # the y axis is the data's range, not 0..max: the growth per token fills a visible part of the height
    assert 0 < lo <= min(per_step) and max(per_step) <= hi
    growth = per_step[-1] - per_step[0]
    # each decode step adds 2·L·t·d -> 2·L·(t+1)·d: 2·L·d more attention MACs per extra key (GPT2 dims above)
    assert growth == 2 * L * D * (len(per_step) - 1)
    assert growth / (hi - lo) > 0.5
    # attention's share of every step, on its own axis (from the data too)
    share = ax_share.lines[0].get_ydata()
    att = [p.by_category["attention"] for p in long_gen.decode]
    assert list(share) == pytest.approx([100 * a / m for a, m in zip(att, per_step)])
    assert ax_share.get_ylim()[0] > 0 and "%" in ax_share.get_ylabel()
    # no legend covers a plotted point
    for a in (ax, ax_share):
        legend = a.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        for line in a.lines:
            for x, y in a.transData.transform(line.get_xydata()):
                assert not box.contains(x, y)
        assert not _overlaps(box, a.get_window_extent(renderer))


def test_scaling_plot_axes_from_the_data(lengths):
    fig = plot_scaling(lengths)
    renderer = _drawn(fig)
    ax, share = fig.axes
    rows = scaling_document(lengths)["lengths"]
    per_tok = [r["macs_per_token"] for r in rows]
    assert list(ax.lines[0].get_ydata()) == pytest.approx(per_tok)
    assert 0 < ax.get_ylim()[0] < min(per_tok) and share.get_ylim()[0] > 0
    legend = ax.get_legend().get_window_extent(renderer)
    assert not _overlaps(legend, ax.get_window_extent(renderer))
