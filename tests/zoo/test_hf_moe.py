"""Mixtures of experts from Hugging Face configs: Mixtral-8x7B, Qwen3-30B-A3B and DeepSeek-V3 at their published
sizes (benchmarks/configs/*.json) against closed forms written here from the config fields, on meta with
transformers' default experts implementation (grouped matmuls) in float32; a small Mixtral on real CPU tensors;
and every MoE causal-LM type of transformers' registry, shrunk, counted on meta with its experts."""
import inspect
import json
import os
import warnings

import pytest
import torch

import profiler
from profiler.zoo import hf
from profiler.zoo.build import profile_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
T = 256  # tokens of every published-size pass


def _published(name: str) -> tuple[str, dict]:
    path = os.path.join(ROOT, "benchmarks", "configs", name + ".json")
    with open(path, encoding="utf-8") as fh:
        return "hf:" + path, json.load(fh)


def _scores(layers: int, t: int, heads: int, qk_dim: int, v_dim: int) -> int:
    """QK^T and AV of every layer over the full t x t scores (as the kernels compute them), in MACs."""
    return layers * t * t * heads * (qk_dim + v_dim)


# -- Mixtral-8x7B -----------------------------------------------------------------------------------------------
def mixtral_forms(c: dict) -> dict:
    """Closed forms of a Mixtral config: parameters, active parameters, MACs per token of the weights."""
    d, ff, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    H, KV, E, k = c["num_attention_heads"], c["num_key_value_heads"], c["num_local_experts"], c["num_experts_per_tok"]
    hd = d // H
    attn = 2 * d * H * hd + 2 * d * KV * hd  # q, o; k, v of the K/V heads
    expert = 3 * d * ff  # w1 (gate), w3 (up), w2 (down)
    router = d * E
    norms = 2 * d
    params = 2 * V * d + d + L * (attn + router + E * expert + norms)  # embeddings, LM head, final norm
    return {"params": params, "active": params - L * (E - k) * expert, "hd": hd,
            "per_token": L * (attn + router + k * expert) + d * V, "experts_per_token": k * expert}


# -- Qwen3-30B-A3B ---------------------------------------------------------------------------------------------
def qwen3_moe_forms(c: dict) -> dict:
    d, ff, L, V = c["hidden_size"], c["moe_intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    H, KV, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    E, k = c["num_experts"], c["num_experts_per_tok"]
    assert c["decoder_sparse_step"] == 1 and not c["mlp_only_layers"]  # every layer is a MoE layer
    attn = 2 * d * H * hd + 2 * d * KV * hd  # q, o (32 x 128 = 4096 wide, not d); k, v
    expert = 3 * d * ff
    router = d * E
    norms = 2 * d + 2 * hd  # input/post-attention norms, q_norm and k_norm (per head dim)
    params = 2 * V * d + d + L * (attn + router + E * expert + norms)
    return {"params": params, "active": params - L * (E - k) * expert,
            "per_token": L * (attn + router + k * expert) + d * V, "experts_per_token": k * expert}


# -- DeepSeek-V3 -----------------------------------------------------------------------------------------------
def mla_per_token(c: dict) -> dict:
    """Multi-head latent attention's projections for one token (MACs = their weights): q through its LoRA
    (d -> q_lora_rank -> heads x qk_head_dim), the compressed K/V latent with the shared rope key
    (d -> kv_lora_rank + qk_rope_head_dim), its expansion (kv_lora_rank -> heads x (qk_nope + v)), o_proj."""
    d, H = c["hidden_size"], c["num_attention_heads"]
    qk = c["qk_nope_head_dim"] + c["qk_rope_head_dim"]
    q = d * c["q_lora_rank"] + c["q_lora_rank"] * H * qk
    kv_a = d * (c["kv_lora_rank"] + c["qk_rope_head_dim"])
    kv_b = c["kv_lora_rank"] * H * (c["qk_nope_head_dim"] + c["v_head_dim"])
    o = H * c["v_head_dim"] * d
    return {"q": q, "kv_a": kv_a, "kv_b": kv_b, "o": o, "all": q + kv_a + kv_b + o, "qk": qk}


def deepseek_v3_forms(c: dict) -> dict:
    d, L, V = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    E, k, shared = c["n_routed_experts"], c["num_experts_per_tok"], c["n_shared_experts"]
    dense_layers = c["first_k_dense_replace"]  # the first layers keep a dense MLP
    moe_layers = L - dense_layers
    assert c["moe_layer_freq"] == 1
    mla = mla_per_token(c)["all"]
    mla_norms = c["q_lora_rank"] + c["kv_lora_rank"]  # q_a_layernorm, kv_a_layernorm
    expert = 3 * d * c["moe_intermediate_size"]
    dense = 3 * d * c["intermediate_size"]
    router = d * E  # its e_score_correction_bias is a buffer
    norms = 2 * d
    params = (2 * V * d + d + L * (mla + mla_norms + norms) + dense_layers * dense
              + moe_layers * (router + (E + shared) * expert))
    per_token = L * mla + dense_layers * dense + moe_layers * (router + (k + shared) * expert) + d * V
    return {"params": params, "active": params - moe_layers * (E - k) * expert, "per_token": per_token,
            "experts_per_token": k * expert}


def _qkv_heads(c: dict) -> tuple[int, int, int]:
    """(heads, qk head dim, v head dim) of a config's attention scores."""
    if "kv_lora_rank" in c:
        return c["num_attention_heads"], c["qk_nope_head_dim"] + c["qk_rope_head_dim"], c["v_head_dim"]
    hd = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
    return c["num_attention_heads"], hd, hd


PUBLISHED = [
    # config, closed forms, exact parameters, the published total (billions, 2 decimals), the published active
    # count (billions: the model cards' 12.9B, 3.3B and 37B), the experts module of the first MoE layer
    ("mixtral-8x7b-v0.1", mixtral_forms, 46_702_792_704, 46.70, 12.9, "model.layers.0.mlp.experts"),
    ("qwen3-30b-a3b", qwen3_moe_forms, 30_532_122_624, 30.53, 3.3, "model.layers.0.mlp.experts"),
    ("deepseek-v3", deepseek_v3_forms, 671_026_404_352, 671.03, 37.0, "model.layers.3.mlp.experts"),
]


@pytest.mark.parametrize("name,forms,exact,billions,active,experts", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_published_moe_configs_on_meta(name, forms, exact, billions, active, experts):
    spec, c = _published(name)
    f = forms(c)
    p = profile_model(spec, input=T, device="meta")
    assert p.device == "meta" and not p.coverage
    assert p.params == f["params"] == exact and round(p.params / 1e9, 2) == billions
    heads, qk, v = _qkv_heads(c)
    scores = _scores(c["num_hidden_layers"], T, heads, qk, v)
    # every token through the attention projections, the router, its top-k experts (and the shared or dense
    # MLPs where the config has them), the LM head; the scores over the full T x T
    assert p.by_category["attention"] == scores
    assert p.by_category["linear"] == T * f["per_token"]
    assert p.macs == T * f["per_token"] + scores
    # grouped matmuls over the T x top-k rows routed to the experts, in the experts module itself
    assert p.layer(experts).counts()["linear"] == T * f["experts_per_token"]
    # what one token's forward multiplies: the total less the unrouted (E - k) / E of every MoE layer's experts
    assert p.params_active == f["active"]
    assert abs(p.params_active / (active * 1e9) - 1) < 0.03


def test_published_totals_are_the_closed_forms():
    """The exact integers above follow from the configs (no profile needed): a typo in a config file or in a
    closed form shows here first."""
    for name, forms, exact, billions, active, _ in PUBLISHED:
        f = forms(_published(name)[1])
        assert f["params"] == exact and round(exact / 1e9, 2) == billions, name
        assert abs(f["active"] / (active * 1e9) - 1) < 0.03, name


# -- a small Mixtral: real CPU pass, meta, and the experts implementations ---------------------------------------
SMALL = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=100, num_local_experts=4, num_experts_per_tok=2)
SMALL_T = 12


def _small_forms() -> dict:
    return mixtral_forms({**hf.load_config("mixtral", SMALL).to_dict(), **SMALL})


def test_small_mixtral_real_cpu_pass_is_the_closed_form():
    f = _small_forms()
    scores = _scores(2, SMALL_T, 4, f["hd"], f["hd"])
    real = profile_model("hf:mixtral", input=SMALL_T, batch=2, device="cpu", **SMALL)
    meta = profile_model("hf:mixtral", input=SMALL_T, batch=2, device="meta", **SMALL)
    assert real.device == "cpu" and meta.device == "meta"
    assert not real.coverage and not meta.coverage  # grouped matmuls, histc and the routing ops all have rules
    assert real.macs == meta.macs == 2 * SMALL_T * f["per_token"] + 2 * scores
    for c in ("linear", "attention"):
        assert meta.by_category[c] == real.by_category[c]
    assert real.params == meta.params == f["params"] and real.params_active == meta.params_active == f["active"]


def _small_model(implementation: str):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoModelForCausalLM.from_config(hf.load_config("mixtral", SMALL),
                                                experts_implementation=implementation)


@pytest.mark.parametrize("implementation", ["eager", "batched_mm", "grouped_mm"])
def test_experts_implementations_count_the_same(implementation):
    """transformers' three ways of running the experts cost the same on real tensors: the routed rows x top-k,
    whatever the loop (eager: one matmul per expert hit; batched: gathered weights; grouped: one kernel)."""
    f = _small_forms()
    model = _small_model(implementation)
    ids = torch.randint(0, 100, (2, SMALL_T))
    p = profiler.profile(model, {"input_ids": ids}, device="cpu")
    assert not p.coverage
    assert p.by_category["linear"] == 2 * SMALL_T * f["per_token"]


# -- every MoE causal-LM type of transformers' registry, shrunk, on meta ----------------------------------------
EXPERT_FIELDS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
# The MoE causal-LM types of transformers 5.25's registry: a config field naming the experts (EXPERT_FIELDS).
# Found by moe_types() below; test_the_moe_list_is_the_registrys says when transformers adds or drops one.
MOE_TYPES = [
    "afmoe", "aria_text", "axk1", "axk2", "bailing_hybrid", "beam", "cohere2_moe", "deepseek_v2", "deepseek_v3",
    "deepseek_v32", "deepseek_v4", "doge", "dots1", "dots3_note_text", "ergo", "ernie4_5_moe", "exaone_moe",
    "flex_olmo", "flint", "gemma4_text", "glm4_moe", "glm4_moe_lite", "glm_moe_dsa", "gpt_oss", "granitemoe",
    "granitemoe_swa", "granitemoehybrid", "granitemoeshared", "hunyuan_v1_moe", "hy_v3", "hy_v4",
    "inkling2_loop_text", "inkling2_text", "inkling_text", "jamba", "jetmoe", "kimi_linear", "kolibri1",
    "kolibri1_1", "laguna", "lara_mini", "lfm2_moe", "llama4_text", "longcat_flash", "mellum", "mimo_v2_flash",
    "minicpm5_moe", "minimax", "minimax_m2", "minimax_m3_vl_text", "mixtral", "nemotron_h", "olmoe", "param2moe",
    "phimoe", "qwen2_moe", "qwen3_5_moe_text", "qwen3_moe", "qwen3_next", "qwen4_exp_text", "sarvam_mla",
    "sarvam_moe", "solar_open", "zaya",
]
# Small widths for every type (a field is set only where the config has it); the experts' count and top-k stay.
TINY = dict(num_hidden_layers=2, num_layers=2, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
            shared_expert_intermediate_size=32, moe_shared_expert_intermediate_size=32, expert_ffn_hidden_size=32,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=128, first_k_dense_replace=1)
# Multi-head latent attention: its rope runs on qk_rope_head_dim (the config's head_dim), one K/V per head.
TINY_MLA = dict(q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                head_dim=8, num_key_value_heads=4)
# What two layers need to keep a MoE layer (and an attention layer, which transformers' masks require) in them,
# or to turn the experts on where the default config has none.
TINY_BY_TYPE = {
    "bailing_hybrid": dict(layer_types=["linear_attention", "full_attention"]),
    "beam": dict(mlp_layer_types=["dense", "sparse"]),
    "deepseek_v2": dict(num_experts_per_tok=6),  # DeepSeek-V2's; the default config leaves it unset
    "doge": dict(is_moe=True),
    "dots1": dict(n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=2),
    "flint": dict(mlp_only_layers=[0]),
    "gemma4_text": dict(enable_moe_block=True, num_experts=8, top_k_experts=2),
    "granitemoehybrid": dict(layer_types=["mamba", "attention"]),
    "jamba": dict(attn_layer_period=2, attn_layer_offset=1),
    "kimi_linear": dict(layer_types=["linear_attention", "full_attention"]),
    "kolibri1_1": dict(layer_types=["sliding_attention", "indexed_attention"], index_layers=[1], index_num_heads=2,
                       mlp_only_layers=[0]),
    "lfm2_moe": dict(num_dense_layers=1, layer_types=["conv", "full_attention"]),
    "qwen3_5_moe_text": dict(layer_types=["linear_attention", "full_attention"]),
    "qwen3_next": dict(layer_types=["linear_attention", "full_attention"]),
    "qwen4_exp_text": dict(layer_types=["linear_attention", "indexed_attention"], indexer_n_heads=2,
                           indexer_kv_heads=1, indexer_head_dim=16, indexer_budget=8, indexer_compress_ratio=4),
}
# Where a type's experts are not a module named experts: Doge's are two embedding tables inside its MoE MLP.
EXPERTS_MODULE = {"doge": "mlp"}


# Types whose routing reads values (JetMoe's gating .tolist(), Kolibri's unique, Qwen4-Exp's QSA indexer nonzero):
# the meta pass works those values out from the shapes (balanced top-k choices) and says so in a note.
READS_ROUTING = ("jetmoe", "kolibri1_1", "qwen4_exp_text")


def _fields(cls) -> set:
    out = set(cls().to_dict())
    for c in cls.__mro__:
        if "__init__" in vars(c):
            out |= set(inspect.signature(c.__init__).parameters)
    return out


def moe_types() -> list[str]:
    """Causal-LM model types whose config names its experts."""
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    out = []
    for t in sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES):
        try:
            if _fields(CONFIG_MAPPING[t]) & set(EXPERT_FIELDS):
                out.append(t)
        except Exception:  # noqa: BLE001 - a default config that does not validate (gemma4_assistant) has none
            pass
    return out


def tiny_kwargs(model_type: str) -> dict:
    from transformers import CONFIG_MAPPING

    cls = CONFIG_MAPPING[model_type]
    fields = _fields(cls)
    kw = {k: v for k, v in TINY.items() if k in fields}
    if "kv_lora_rank" in fields:
        kw.update({k: v for k, v in TINY_MLA.items() if k in fields})
    pad = getattr(cls(), "pad_token_id", None)
    if isinstance(pad, int) and pad >= TINY["vocab_size"]:
        kw["pad_token_id"] = 0  # the embedding's padding row must exist in the small vocabulary
    return {**kw, **TINY_BY_TYPE.get(model_type, {})}


def test_the_moe_list_is_the_registrys():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert moe_types() == MOE_TYPES


@pytest.mark.parametrize("model_type", MOE_TYPES)
def test_every_moe_type_counts_its_experts_on_meta(model_type):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = profile_model("hf:" + model_type, input=16, **tiny_kwargs(model_type))
    assert p.device == "meta"
    if model_type in READS_ROUTING:
        assert any("values the model reads" in n for n in p.notes), p.notes
    assert p.macs > 0
    assert not p.coverage, [u.op for u in p.coverage]
    # the experts' own matmuls (grouped, batched or per expert), in the modules named experts and below them
    name = EXPERTS_MODULE.get(model_type, "experts")
    experts = [layer.path for layer in p.layers if layer.path.rsplit(".", 1)[-1] == name]
    assert experts
    assert sum(sub.counts().get("linear", 0) for path in experts for sub in p.subtree(path)) > 0
