"""The per-layer views' ``comm sent (bytes)`` column: the bytes a rank sends over each module's collectives,
every phase and kind summed, a container's subtree total in brackets; in the text, Markdown, CSV and HTML views
of a distributed pass, and absent from every other profile's.

The profiles are real simulated tensor-parallel runs of a tiny Llama (transformers' TP plan under torch's fake
process group, one rank counted on meta); the expected bytes are the ring algorithms' closed forms, fp32."""
from __future__ import annotations

import re

import pytest
import torch
import torch.distributed as dist

from profiler.core.rows import rows_for
from profiler.report import format as F
from profiler.report.page import render
from profiler.report.views import layer_table

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="this torch build has no torch.distributed")

N = 2  # ranks of the tensor-parallel group
L, H, NH, KV, I, V, T = 1, 64, 4, 2, 128, 100, 64  # layers, hidden, heads, kv heads, MLP width, vocabulary, tokens
CFG = dict(num_hidden_layers=L, hidden_size=H, num_attention_heads=NH, num_key_value_heads=KV,
           intermediate_size=I, vocab_size=V)
FP32 = 4  # bytes an element

# The sizes S of the plan's collectives, and what one rank sends of each under the ring algorithms.
HIDDEN = T * H * FP32  # T x hidden: a rowwise layer's partial outputs (and the vocab-sharded embedding's)
LOGITS = T * V * FP32  # T x vocab: the logits lm_head (colwise_gather_output) gathers


def ring_all_reduce(s, n=N):
    return 2 * (n - 1) * s / n  # reduce-scatter then all-gather: 2 (n - 1) / n S sent by each rank


def ring_all_gather(s, n=N):
    return (n - 1) * s / n  # each rank sends its 1/n to the n - 1 others, around the ring


ATTN = "model.layers.0.self_attn"
MLP = "model.layers.0.mlp"
# Forward: the embedding and each rowwise layer (o_proj, down_proj) all_reduce their T x hidden output; lm_head
# all_gathers the logits. Every other module sends nothing.
FORWARD = {
    "model.embed_tokens": ring_all_reduce(HIDDEN),
    f"{ATTN}.o_proj": ring_all_reduce(HIDDEN),
    f"{MLP}.down_proj": ring_all_reduce(HIDDEN),
    "lm_head": ring_all_gather(LOGITS),
}


def _tp(**kw):
    from profiler.zoo import profile_model

    return profile_model("hf:llama", tp=N, input=kw.pop("input", T), **CFG, **kw)


@pytest.fixture(scope="module")
def forward():
    return _tp()


def _records(prof, **kw):
    return {r["path"]: r for r in layer_table(prof, rows_for(prof, **kw)).records()}


def test_records_are_where_the_plan_puts_them(forward):
    # the closed forms below name these modules: the records must be theirs
    assert {(c.path, c.phase, c.kind, c.group_size) for c in forward.communication} == {
        ("model.embed_tokens", "forward", "all_reduce", N), (f"{ATTN}.o_proj", "forward", "all_reduce", N),
        (f"{MLP}.down_proj", "forward", "all_reduce", N), ("lm_head", "forward", "all_gather", N)}


def test_forward_bytes_per_module_are_the_ring_closed_forms(forward):
    recs = _records(forward)
    for layer in forward.layers:
        path = layer.path or "(root)"
        assert recs[path]["comm_sent"] == FORWARD.get(layer.path, 0), path
    # containers: their own bytes (none) and, apart, their subtree's
    assert recs[ATTN]["comm_sent_inclusive"] == ring_all_reduce(HIDDEN)
    assert recs[MLP]["comm_sent_inclusive"] == ring_all_reduce(HIDDEN)
    assert recs["model.layers.0"]["comm_sent_inclusive"] == 2 * ring_all_reduce(HIDDEN)
    assert recs["model"]["comm_sent_inclusive"] == 3 * ring_all_reduce(HIDDEN)
    whole = 3 * ring_all_reduce(HIDDEN) + ring_all_gather(LOGITS)
    assert recs["(root)"]["comm_sent_inclusive"] == whole
    t = layer_table(forward, rows_for(forward))
    cols = [c.key for c in t.columns]
    assert t.totals_raw[cols.index("comm_sent")] == whole


def test_text_markdown_csv_show_the_column(forward):
    text = render(forward, "table")
    header = next(line for line in text.splitlines() if line.startswith("module"))
    assert "comm sent (bytes)" in header
    row = next(line for line in text.splitlines() if line.strip().startswith(f"{ATTN}.o_proj"))
    assert F.count(ring_all_reduce(HIDDEN)) in row.split()
    # a container: blank own share, the subtree's total in brackets (the table's other inclusive columns' mark)
    attn = next(line for line in text.splitlines() if line.strip().startswith(ATTN + " "))
    assert attn.rstrip().split()[-2] == f"[{F.scaled(ring_all_reduce(HIDDEN)).replace(' ', '')}]"
    total = next(line for line in text.splitlines() if line.startswith("total "))
    assert F.count(3 * ring_all_reduce(HIDDEN) + ring_all_gather(LOGITS)) in total.split()
    # the legend says what it is
    legend = ("comm sent (bytes): bytes this rank sends over the module's collectives in all phases "
              "(ring/pairwise algorithms)")
    assert legend in " ".join(text.split())
    md = render(forward, "markdown")
    assert "comm sent (bytes)" in md and legend in md
    csv = render(forward, "csv").splitlines()
    keys = csv[0].split(",")
    assert "comm_sent" in keys and "comm_sent_inclusive" in keys
    lm = next(line for line in csv if line.startswith("lm_head,"))
    assert lm.split(",")[keys.index("comm_sent")] == str(int(ring_all_gather(LOGITS)))


def test_a_fitted_table_names_the_column(forward):
    # wide enough: the short header with its unit, and the one-line legend says what it is
    text = render(forward, "table", width=120)
    assert max(map(len, (x for x in text.split("\n\n")[1].splitlines()))) <= 120
    assert "sent B" in text.split("\n\n")[1].splitlines()[0]
    assert "sent B: bytes this rank sends" in " ".join(text.split())
    full = " ".join(render(forward, "table", width=120, legend=True).split())
    assert "sent B: bytes this rank sends over the module's collectives in all phases" in full
    # too narrow: left out, and the legend line says so
    narrow = " ".join(render(forward, "table", width=70).split())
    assert "hidden to fit 70 columns" in narrow and "sent B" in narrow.split("hidden to fit 70 columns")[1]


def test_folded_and_other_rows_keep_the_column_summing_to_the_total(forward):
    whole = 3 * ring_all_reduce(HIDDEN) + ring_all_gather(LOGITS)
    folded = _records(forward, depth=2)
    assert folded["model.layers"]["comm_sent"] == 2 * ring_all_reduce(HIDDEN)  # its subtree folded into it
    assert sum(r["comm_sent"] for r in folded.values()) == whole
    top = _records(forward, top=2)
    assert sum(r["comm_sent"] for r in top.values()) == whole
    other = next(r for p, r in top.items() if p.endswith("other modules)"))
    assert other["comm_sent"] == whole - sum(FORWARD.get(p, 0) for p in top if not p.endswith("other modules)"))


def test_html_tree_has_the_column(forward):
    page = render(forward, "html")
    assert "comm sent (bytes)" in page
    assert "bytes this rank sends over the module&#x27;s collectives in all phases (ring/pairwise algorithms)" in page

    def cell(path):
        row = re.search(rf'data-path="{re.escape(path)}"[^>]*>(.*?)</(?:summary|div>\n)', page, re.S).group(1)
        return re.search(r'class="l2 num comm-sent"[^>]*>(.*?)</div>', row).group(1)

    assert cell("lm_head") == F.count(ring_all_gather(LOGITS))
    assert cell(f"{MLP}.up_proj") == "0"
    assert cell(MLP) == f'<span class="sum">[{F.count(ring_all_reduce(HIDDEN))}]</span>'
    total = 3 * ring_all_reduce(HIDDEN) + ring_all_gather(LOGITS)
    assert cell("(total)") == F.count(total)


def test_a_training_step_sums_every_phase():
    t = 16
    hidden, logits = t * H * FP32, t * V * FP32
    prof = _tp(input=t, backward=True)
    recs = _records(prof)
    # backward: each colwise layer (q/k/v, gate/up) all_reduces its input's gradient, T x hidden, and so does
    # lm_head (colwise, its input replicated); the forward's as above
    colwise = [f"{ATTN}.{n}" for n in ("q_proj", "k_proj", "v_proj")] + [f"{MLP}.{n}" for n in ("gate_proj", "up_proj")]
    for path in colwise:
        assert recs[path]["comm_sent"] == ring_all_reduce(hidden), path
    assert recs[f"{ATTN}.o_proj"]["comm_sent"] == ring_all_reduce(hidden)
    assert recs["lm_head"]["comm_sent"] == ring_all_gather(logits) + ring_all_reduce(hidden)
    assert {c.phase for c in prof.communication if c.path == "lm_head"} == {"forward", "backward"}
    assert recs["(root)"]["comm_sent_inclusive"] == sum(c.sent for c in prof.communication)


def test_a_plain_model_has_no_such_column():
    import profiler

    prof = profiler.profile(torch.nn.Linear(4, 4), torch.randn(2, 4))
    assert not prof.communication
    for fmt in ("table", "markdown", "csv", "html"):
        out = render(prof, fmt)
        assert "comm sent" not in out and "comm_sent" not in out and "comm-sent" not in out, fmt
    assert "sent B" not in render(prof, "table", width=60)
    assert all("comm" not in c.key for c in layer_table(prof, rows_for(prof)).columns)
