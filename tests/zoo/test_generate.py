"""Generation: the prefill and every decode step with the KV cache against the closed forms, the same counts
as transformers' own generate() counted on the CPU, meta == CPU, the cache size, usage errors."""
import pytest
import torch
import torch.nn as nn

import profiler
from profiler import zoo
from profiler.errors import UsageError
from profiler.zoo.generate import profile_generate

D, FF, HEADS, KV, LAYERS, VOCAB = 256, 512, 8, 2, 2, 1000
HD = D // HEADS
LLAMA = dict(num_hidden_layers=LAYERS, hidden_size=D, intermediate_size=FF, num_attention_heads=HEADS,
             num_key_value_heads=KV, vocab_size=VOCAB)
# every weight matrix of the body for one token (q, o: d x d; k, v: d x kv*hd; gate, up, down), and the LM head
BODY = LAYERS * (2 * D * D + 2 * D * KV * HD + 3 * D * FF)
HEAD = D * VOCAB


def test_every_decode_step_matches_the_closed_form():
    prompt, new = 16, 9
    g = profile_generate("hf:llama", input=prompt, new_tokens=new, **LLAMA)
    assert len(g.decode) == new - 1 and g.contexts == [prompt + i for i in range(1, new)]
    for t, p in zip(g.contexts, g.decode):
        # one token through every weight, attention over the t cached keys: 2 L t n_heads d_head (GQA: all heads)
        assert p.macs == BODY + HEAD + 2 * LAYERS * t * HEADS * HD
        assert p.by_category["attention"] == 2 * LAYERS * t * HEADS * HD
    # the prefill: T tokens through the body, the LM head on the last position only (as generate() asks),
    # and the full T x T scores
    assert g.prefill.macs == prompt * BODY + HEAD + 2 * LAYERS * prompt * prompt * HEADS * HD
    assert g.macs == g.prefill.macs + sum(g.per_token_macs)
    assert g.total("flops") == 2 * g.macs


def test_batch_scales_every_step():
    one = profile_generate("hf:llama", input=8, new_tokens=3, **LLAMA)
    four = profile_generate("hf:llama", input=8, new_tokens=3, batch=4, **LLAMA)
    assert four.per_token_macs == [4 * m for m in one.per_token_macs] and four.prefill.macs == 4 * one.prefill.macs
    assert four.kv_bytes_per_token == one.kv_bytes_per_token  # per token of one sequence


def test_kv_cache_grows_by_its_closed_form():
    g = profile_generate("hf:llama", input=8, new_tokens=4, **LLAMA)
    per_token = 2 * LAYERS * KV * HD * 4  # K and V, per layer, of the 2 K/V heads, float32
    assert g.kv_bytes_per_token == per_token and g.cache_dtype == "float32"
    assert g.cache_bytes == [(8 + i) * per_token for i in range(4)]


def test_gpt2_decode_closed_form():
    d, layers, vocab, prompt = 64, 2, 100, 10
    g = profile_generate("hf:gpt2", input=prompt, new_tokens=4, n_layer=layers, n_embd=d, n_head=4, vocab_size=vocab)
    assert g.per_token_macs == [layers * 12 * d * d + d * vocab + 2 * layers * t * d for t in g.contexts]


def test_encoder_decoder_decodes_against_the_encoded_prompt():
    d, ff, vocab, layers, prompt = 64, 128, 100, 2, 12
    g = profile_generate("hf:t5", input=prompt, new_tokens=4, num_layers=layers, d_model=d, d_kv=8, num_heads=8,
                         d_ff=ff, vocab_size=vocab)
    assert g.encoder_decoder and g.contexts == [2, 3, 4]  # decoder tokens: the start token and those generated
    for t, p in zip(g.contexts, g.decode):
        # self q,k,v,o and cross q,o for one token (the prompt's cross K/V are cached), FFN, LM head;
        # self-attention over t tokens, cross-attention over the prompt
        weights = layers * (4 * d * d + 2 * d * d + 2 * d * ff) + d * vocab
        assert p.macs == weights + layers * (2 * t * d + 2 * prompt * d)


@pytest.mark.parametrize("spec,kwargs", [
    ("hf:gpt2", dict(n_layer=2, n_embd=64, n_head=4, vocab_size=100)),
    ("hf:llama", LLAMA),
    ("hf:t5", dict(num_layers=2, d_model=64, d_kv=8, num_heads=8, d_ff=128, vocab_size=100, decoder_start_token_id=0)),
])
def test_same_counts_as_transformers_generate(spec, kwargs):
    """transformers' own greedy generate(), counted by the engine on real CPU tensors, costs what the
    step-by-step count says, on meta and on the CPU."""
    model, _ = zoo.create(spec, **kwargs)
    ids = torch.randint(0, 100, (2, 6))

    class Generate(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, x):
            return self.m.generate(x, max_new_tokens=5, min_new_tokens=5, do_sample=False)

    reference = profiler.profile(Generate(), (ids,), device="cpu").macs
    cpu = profile_generate(model, ids, new_tokens=5, device="cpu")
    meta = profile_generate(model, ids, new_tokens=5)
    assert cpu.macs == meta.macs == reference
    assert cpu.device == "cpu" and meta.device == "meta" and cpu.per_token_macs == meta.per_token_macs


def test_document_and_source():
    g = profile_generate("hf:llama", input=8, new_tokens=3, **LLAMA)
    doc = g.to_dict()
    assert doc["input"] == {"kind": "tokens", "shapes": [[1, 8]], "batch": 1, "tokens": 8} and doc["new_tokens"] == 3
    assert doc["macs"] == g.macs and [s["macs"] for s in doc["per_token"]] == g.per_token_macs
    assert doc["prefill"]["macs"] == g.prefill.macs and doc["unit"] == "MACs" and doc["coverage"] == []
    assert g.source.spec == "hf:llama" and g.source.task == "causal-lm" and g.prefill.source is g.source


def test_usage_errors():
    with pytest.raises(UsageError, match="new_tokens"):
        profile_generate("hf:llama", new_tokens=0, **LLAMA)
    with pytest.raises(UsageError, match="does not take tokens"):
        profile_generate("hf:vit", num_hidden_layers=1)
    with pytest.raises(UsageError, match="not a transformers model"):
        profile_generate(nn.Linear(4, 4), torch.zeros(1, 3, dtype=torch.long))
    meta_model = zoo.build_model("hf:llama", **LLAMA).model
    with pytest.raises(UsageError, match="no weights"):
        profile_generate(meta_model, torch.zeros(1, 3, dtype=torch.long), device="cpu")
    with pytest.raises(UsageError, match="not both"):
        profile_generate(meta_model, torch.zeros(1, 3, dtype=torch.long), input=3)


# -- mixtures of experts and multi-head latent attention -----------------------------------------------------------
MIXTRAL = dict(LLAMA, num_local_experts=4, num_experts_per_tok=2)
# one token through q, o, k, v, the router (d x E) and its top-2 experts (gate, up, down each)
MOE_BODY = LAYERS * (2 * D * D + 2 * D * KV * HD + D * 4 + 2 * 3 * D * FF)


def test_moe_decode_costs_the_active_weights():
    prompt, new = 10, 4
    g = profile_generate("hf:mixtral", input=prompt, new_tokens=new, **MIXTRAL)
    assert g.prefill.params_active < g.prefill.params  # 2 of 4 experts per token
    for t, p in zip(g.contexts, g.decode):
        assert not p.coverage
        assert p.macs == MOE_BODY + HEAD + 2 * LAYERS * t * HEADS * HD
    assert g.prefill.macs == prompt * MOE_BODY + HEAD + 2 * LAYERS * prompt * prompt * HEADS * HD


# DeepSeek-V3's layout, small: the first layer dense, the second 8 routed experts in 2 groups (top-2 within the
# best group) and a shared one.
MLA = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
           num_attention_heads=4, num_key_value_heads=4, q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16,
           qk_rope_head_dim=8, v_head_dim=16, head_dim=8, n_routed_experts=8, n_shared_experts=1,
           num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=1, vocab_size=100)


def _mla_forms(c=MLA):
    d, h, qk = c["hidden_size"], c["num_attention_heads"], c["qk_nope_head_dim"] + c["qk_rope_head_dim"]
    # q through its LoRA; the compressed K/V latent and the shared rope key; o_proj
    per_token = d * c["q_lora_rank"] + c["q_lora_rank"] * h * qk + d * (c["kv_lora_rank"] + c["qk_rope_head_dim"]) \
        + h * c["v_head_dim"] * d
    kv_b = c["kv_lora_rank"] * h * (c["qk_nope_head_dim"] + c["v_head_dim"])  # the latent expanded to K and V
    dense = 3 * d * c["intermediate_size"]
    routed, shared = c["num_experts_per_tok"], c["n_shared_experts"]
    moe = d * c["n_routed_experts"] + (routed + shared) * 3 * d * c["moe_intermediate_size"]
    return dict(per_token=per_token, kv_b=kv_b, mlp=dense + moe, scores=h * (qk + c["v_head_dim"]),
                head=d * c["vocab_size"], cache=c["kv_lora_rank"] + c["qk_rope_head_dim"])


def test_mla_prefill_and_decode_closed_forms():
    prompt, new, L = 12, 4, MLA["num_hidden_layers"]
    f = _mla_forms()
    g = profile_generate("hf:deepseek_v3", input=prompt, new_tokens=new, **MLA)
    assert not g.prefill.coverage
    # T tokens through every projection and MLP (the latent's expansion included), the LM head once, and the
    # T x T scores of qk_head_dim (nope + rope) for QK^T and v_head_dim for AV
    assert g.prefill.by_category["attention"] == L * prompt * prompt * f["scores"]
    assert g.prefill.macs == prompt * (L * (f["per_token"] + f["kv_b"]) + f["mlp"]) + f["head"] + \
        L * prompt * prompt * f["scores"]
    for t, p in zip(g.contexts, g.decode):
        # transformers caches the compressed latent (kv_lora_rank + qk_rope_head_dim per token and layer) and
        # expands all t cached latents to keys and values at every step: kv_b_proj runs over t tokens
        assert p.by_category["attention"] == L * t * f["scores"]
        assert p.macs == L * (f["per_token"] + t * f["kv_b"]) + f["mlp"] + f["head"] + L * t * f["scores"]
    assert g.kv_bytes_per_token == L * f["cache"] * 4  # float32
    cpu = profile_generate("hf:deepseek_v3", input=prompt, new_tokens=new, device="cpu", **MLA)
    assert cpu.device == "cpu" and cpu.prefill.macs == g.prefill.macs and cpu.per_token_macs == g.per_token_macs
