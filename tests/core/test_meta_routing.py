"""Data-dependent routing on meta (profiler.core.meta_shims.routing_values): where a meta pass fails for want of
values (``nonzero``, ``.tolist()``, ``unique``, ``.item()`` over a router's choices), the engine runs it again with
the values that follow from the shapes: factories and inputs keep theirs, a top-k/argmax/sort over values meta
does not have takes balanced round-robin indices, token ids compare unequal to special ids. Each case: the meta
count equals the real CPU pass's (total and per category) and a closed form written here; with the mechanism
off, the meta pass fails."""
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import profiler
from profiler.core import meta_shims
from profiler.core.engine import ProfilingError


def _both(model, inputs):
    """(CPU pass, meta pass) of ``model`` on ``inputs``."""
    return profiler.profile(model, inputs, device="cpu"), profiler.profile(model, inputs, device="meta")


def _same(cpu, meta, categories=None):
    assert meta.device == "meta" and cpu.device == "cpu"
    assert meta.macs == cpu.macs
    for c in categories or cpu.by_category:
        assert meta.by_category[c] == cpu.by_category[c], c


def _routed_note(p) -> str:
    return next(n for n in p.notes if "were worked out from the shapes" in n)


@pytest.fixture
def mechanism_off(monkeypatch):
    """The retry with routing values never runs: the meta pass fails as it did before."""
    monkeypatch.setattr(meta_shims, "reads_values", lambda exc: False)


# -- a listed-experts loop (Mixtral's eager loop, written out) ------------------------------------------------
class Experts(nn.Module):
    """Top-k of E SwiGLU-free experts (two linears each), the loop visiting only the experts hit."""

    def __init__(self, d=16, f=32, e=4, k=2):
        super().__init__()
        self.k, self.e = k, e
        self.router = nn.Linear(d, e, bias=False)
        self.up = nn.ModuleList(nn.Linear(d, f, bias=False) for _ in range(e))
        self.down = nn.ModuleList(nn.Linear(f, d, bias=False) for _ in range(e))

    def forward(self, x):
        x = x.reshape(-1, x.shape[-1])
        weights, chosen = self.router(x).softmax(-1).topk(self.k, dim=-1)
        mask = F.one_hot(chosen, self.e).permute(2, 1, 0)  # (E, k, tokens)
        out = torch.zeros_like(x)
        for e in (mask.sum((-1, -2)) > 0).nonzero():
            slot, rows = torch.where(mask[e].squeeze(0))
            y = self.down[e](F.relu(self.up[e](x[rows]))) * weights[rows, slot, None]
            out.index_add_(0, rows, y)
        return out


def test_an_experts_loop_counts_on_meta_as_on_the_cpu():
    torch.manual_seed(0)
    model, x = Experts(), torch.randn(3, 10, 16)
    cpu, meta = _both(model, x)
    _same(cpu, meta)
    tokens, d, f, e, k = 30, 16, 32, 4, 2
    assert meta.by_category["linear"] == tokens * d * e + tokens * k * 2 * d * f  # router + k experts a token
    note = _routed_note(meta)
    assert "balanced round robin" in note and "per-expert split is assumed" in note and "capacity" in note
    assert "failed on meta" not in " ".join(meta.notes)


def test_with_the_mechanism_off_the_meta_pass_fails(mechanism_off):
    with pytest.raises(ProfilingError, match="nonzero"):
        profiler.profile(Experts(), torch.randn(3, 10, 16), device="meta")


def test_the_model_and_the_process_are_left_as_they_were():
    model, x = Experts(), torch.randn(2, 5, 16)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    fmt, hot = torch.Tensor.__format__, F.one_hot
    profiler.profile(model, x, device="meta")
    assert torch.Tensor.__format__ is fmt and F.one_hot is hot
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert all(p.device.type == "cpu" for p in model.parameters()) and model.training
    assert not model._forward_hooks and not model._forward_pre_hooks


class Decoder(nn.Module):
    """Greedy decoding until every row emits the last class: its length is data, not shapes."""

    def __init__(self, d=8, n=5, steps=6):
        super().__init__()
        self.cell, self.out, self.n, self.steps = nn.Linear(d + n, d), nn.Linear(d, n), n, steps

    def forward(self, h):
        last = torch.zeros(h.shape[0], dtype=torch.long, device=h.device)
        for _ in range(self.steps):
            h = torch.tanh(self.cell(torch.cat([h, F.one_hot(last, self.n).to(h.dtype)], -1)))
            last = self.out(h).argmax(-1)
            if (last == self.n - 1).all():
                break
        return h


def test_a_choice_between_paths_made_on_assumed_values_is_refused():
    """An early exit read from argmax over values meta does not have: the meta pass refuses (auto: the CPU)."""
    with pytest.raises(ProfilingError):
        profiler.profile(Decoder(), torch.randn(2, 8), device="meta")
    p = profiler.profile(Decoder(), torch.randn(2, 8))
    assert p.device == "cpu" and any("failed on meta" in n for n in p.notes)


class Grid(nn.Module):
    """Sizes made with torch.tensor(data, device=...) and read back with .tolist() (a vision tower's grid)."""

    def __init__(self, d=8):
        super().__init__()
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        grid = torch.tensor([[1, x.shape[1] // 2, 2]], device=x.device)
        t, h, w = grid.tolist()[0]
        return self.proj(x[:, : t * h * w]) + torch.arange(h * w, device=x.device)[None, :, None]


def test_sizes_made_from_data_on_meta_are_read():
    cpu, meta = _both(Grid(), torch.randn(2, 7, 8))
    _same(cpu, meta)
    assert meta.by_category["linear"] == 2 * 6 * 8 * 8


class Capacity(nn.Module):
    """Top-1 routing with an expert capacity: a token past it is dropped (Switch, NLLB)."""

    def __init__(self, d=8, e=4, capacity=3):
        super().__init__()
        self.e, self.capacity = e, capacity
        self.router = nn.Linear(d, e, bias=False)
        self.experts = nn.ModuleList(nn.Linear(d, d, bias=False) for _ in range(e))

    def forward(self, x):
        mask = F.one_hot(self.router(x).argmax(-1), self.e)
        mask = mask * (torch.cumsum(mask, 0) <= self.capacity)  # past the capacity: dropped
        out = torch.zeros_like(x)
        for i, expert in enumerate(self.experts):
            rows = mask[:, i].bool()
            out[rows] = expert(x[rows])
        return out


def test_a_capacity_drops_nothing_under_the_balanced_assumption_and_the_note_says_so():
    torch.manual_seed(0)
    x = torch.randn(12, 8)
    meta = profiler.profile(Capacity(), x, device="meta")
    assert meta.by_category["linear"] == 12 * 8 * 4 + 12 * 8 * 8  # router; every token kept (12 = 4 experts x 3)
    assert "a capacity limit drops no token under it (a real pass may drop some)" in _routed_note(meta)
    cpu = profiler.profile(Capacity(), x, device="cpu")
    assert cpu.by_category["linear"] <= meta.by_category["linear"]  # random routing: some dropped, or none


# -- transformers' routing loops ------------------------------------------------------------------------------
def _hf(model_type: str, **kwargs):
    from profiler.zoo.build import build_model

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_model("hf:" + model_type, device="cpu", **kwargs).model


def _ids(batch, length, vocab=128):
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(0))


JETMOE = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
              num_key_value_heads=2, kv_channels=16, vocab_size=128, num_local_experts=4, num_experts_per_tok=2)


@pytest.mark.parametrize("ids_on", ["cpu", "meta"])
def test_jetmoe_gating_tolist_counts_on_meta(ids_on):
    """JetMoeTopKGating reads its experts' sizes with .tolist(); mixture-of-attention and MLP experts alike.
    Token ids given on meta have no values: the same totals (they never decide a count here)."""
    model = _hf("jetmoe", **JETMOE)
    ids = _ids(2, 16)
    cpu = profiler.profile(model, {"input_ids": ids}, device="cpu")
    meta = profiler.profile(model, {"input_ids": ids.to(ids_on)}, device="meta")
    _same(cpu, meta)
    c = JETMOE
    d, f, e, k, L, V = (c["hidden_size"], c["intermediate_size"], c["num_local_experts"], c["num_experts_per_tok"],
                        c["num_hidden_layers"], c["vocab_size"])
    h = c["kv_channels"] * c["num_key_value_heads"]  # one attention expert's width
    per_layer = (d * e + k * 2 * d * h + 2 * d * h  # MoA: router, k experts' q and o, the shared kv projection
                 + d * e + k * 3 * d * f)  # MoE: router, k experts of d -> 2f (gate and up), f -> d
    assert meta.by_category["linear"] == 32 * (L * per_layer + d * V)
    assert "balanced round robin" in _routed_note(meta)


NLLB = dict(encoder_layers=2, decoder_layers=2, d_model=64, encoder_ffn_dim=128, decoder_ffn_dim=128,
            encoder_attention_heads=4, decoder_attention_heads=4, vocab_size=128, num_experts=4,
            encoder_sparse_step=2, decoder_sparse_step=2)


def test_nllb_moe_listed_experts_count_on_meta():
    model = _hf("nllb-moe", **NLLB)
    cpu, meta = _both(model, {"input_ids": _ids(2, 16), "decoder_input_ids": _ids(2, 16)})
    _same(cpu, meta)
    d, f, e, V, n = 64, 128, 4, 128, 32  # n tokens on each side
    # transformers 5.25's NllbMoeExperts one-hots the one-hot top-1 mask: expert_0 runs every (token, expert)
    # pair the mask holds 0 for, expert_1 those it holds 1 for; N x E rows through d -> f -> d in all
    sparse = d * e + e * 2 * d * f
    encoder = n * (2 * 4 * d * d + 2 * d * f + sparse)
    decoder = n * (2 * 4 * d * d + 2 * 2 * d * d + 2 * d * f + sparse + d * V) + n * 2 * 2 * d * d  # cross k, v
    assert meta.by_category["linear"] == encoder + decoder


GLM = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
           num_attention_heads=4, num_key_value_heads=4, n_routed_experts=8, num_experts_per_tok=2, kv_lora_rank=16,
           q_lora_rank=32, qk_nope_head_dim=16, v_head_dim=16, qk_head_dim=16, vocab_size=128, pad_token_id=0,
           index_topk=8, index_head_dim=16, index_n_heads=2, index_kpool=4, linear_head_dim=16, linear_num_heads=4,
           layer_types=["linear_attention", "indexed_attention"], mlp_layer_types=["dense", "sparse"],
           indexer_types=["full", "full"])


def test_glm5_next_sparse_attention_indexer_counts_on_meta():
    """Glm5NextTextIndexer keeps the valid key pools with a boolean mask (nonzero) and takes a top-k of them."""
    model = _hf("glm5_next_text", **GLM)
    cpu, meta = _both(model, {"input_ids": _ids(2, 48)})
    _same(cpu, meta)
    b, s, d, q, heads, hd, pool = 2, 48, 64, 32, 2, 16, 4
    pools = s // pool  # every pool complete and visible to some query: all kept
    projections = b * s * (d * hd + q * heads * hd + d * hd + d * heads)  # gate, wq_b, wk, weights_proj
    scores = b * s * heads * pools * (hd + 1)  # q . pooled keys, then the heads' weighted sum
    indexer = [layer for layer in meta.layers if layer.path.startswith("layers.1.self_attn.indexer")]
    assert sum(layer.ops[op].counts.get("linear", 0) for layer in indexer for op in layer.ops) == \
        projections + scores
    experts = next(layer for layer in meta.layers if layer.path == "layers.1.mlp.experts")
    assert sum(st.counts.get("linear", 0) for st in experts.ops.values()) == b * s * 2 * 3 * d * 32


KOLIBRI = dict(num_hidden_layers=2, hidden_size=64, moe_intermediate_size=32, shared_expert_intermediate_size=32,
               num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=128,
               layer_types=["sliding_attention", "indexed_attention"], index_layers=[1], index_num_heads=2,
               mlp_only_layers=[0], index_topk=8, index_pool_size=16, index_compression=4, index_num_local_tokens=2,
               index_num_sink_tokens=1, num_local_experts=8, num_experts_per_tok=2)


def test_kolibri_indexer_unique_counts_on_meta():
    """Kolibri1_1Indexer groups its queries with unique().tolist() and nonzero; 48 tokens pass its budget (8 + 2
    + 1 keys), so the block and token selections run."""
    model = _hf("kolibri1_1", **KOLIBRI)
    cpu, meta = _both(model, {"input_ids": _ids(2, 48)})
    _same(cpu, meta)
    experts = next(layer for layer in meta.layers if layer.path == "model.layers.1.mlp.experts")
    assert sum(st.counts.get("linear", 0) for st in experts.ops.values()) == 2 * 48 * 2 * 3 * 64 * 32


HIGGS = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
             head_dim=16, vocab_size=128, pad_token_id=0, bos_token_id=1, eos_token_id=2, audio_bos_token_id=3,
             audio_token_id=88, audio_delay_token_id=67, num_codebooks=2, codebook_size=32)


def test_higgs_audio_token_routing_counts_on_meta():
    """HiggsAudioV2DecoderLayer sends audio tokens (ids 88 and 67: five of these ids) to its audio MLP, the rest to
    its text MLP, through boolean masks. Ids given on the CPU: the very split; on meta: none is an audio token
    (the note says so), and the same totals, the two MLPs being alike."""
    model = _hf("higgs_audio_v2", **HIGGS)
    ids = _ids(2, 16)
    cpu, exact = _both(model, {"input_ids": ids})
    _same(cpu, exact)
    assert [layer.ops == c.ops for layer, c in zip(exact.layers, cpu.layers)] == [True] * len(cpu.layers)
    audio = sum(st.counts.get("linear", 0) for layer in exact.layers if ".audio_mlp." in layer.path
                for st in layer.ops.values())
    assert audio == 2 * 5 * 3 * 64 * 128  # two layers, five audio tokens, gate/up/down
    assumed = profiler.profile(model, {"input_ids": ids.to("meta")}, device="meta")
    _same(cpu, assumed, ["linear", "attention", "norm", "activation"])
    assert "special token's id answered 'none of them'" in _routed_note(assumed)
    mlp = sum(st.counts.get("linear", 0) for layer in assumed.layers if "mlp." in layer.path
              for st in layer.ops.values())
    assert mlp == 2 * 32 * 3 * 64 * 128  # every token through one of the two MLPs
