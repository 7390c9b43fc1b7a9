"""profiler.formulas against hand calculations written here from the published formulas: Megatron-LM's
num_floating_point_operations (dense GPT, Mixtral-like MoE, DeepSeek-V3's MLA + MoE, a Nemotron-H hybrid) and
nanoGPT's estimate_mfu (6N + 12LHQT) for GPT-2 small at 1024 tokens."""
import json
import os
from fractions import Fraction
from types import SimpleNamespace

import pytest

from profiler.formulas import megatron_flops, megatron_padded_vocab, palm_flops, shape_of

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "configs")


def test_dense_gpt_is_narayanan_et_al_72_b_s_l_h2():
    # Narayanan et al. 2021 (Megatron-LM at scale), section 5.1: 72 B s l h^2 (1 + s/(6h) ... ) with a 4h MLP
    # and no GQA; Megatron's code counts causal attention at s/2, so the attention term is s/(12h) here.
    h, layers, heads, s, b, vocab = 768, 12, 12, 1024, 8, 50257
    cfg = SimpleNamespace(model_type="gpt2", n_embd=h, n_layer=layers, n_head=heads, vocab_size=vocab)
    padded = 50304  # 50257 rounded up to a multiple of 128
    assert megatron_padded_vocab(vocab) == padded
    expected = 72 * b * s * layers * h * h * (1 + Fraction(s, 12 * h) + Fraction(padded, 12 * h * layers))
    assert megatron_flops(shape_of(cfg), b, s).flops == expected


def test_mixtral_like_moe():
    h, layers, s, b = 4096, 32, 4096, 1
    cfg = json.load(open(os.path.join(CONFIGS, "mixtral-8x7b-v0.1.json")))
    est = megatron_flops(shape_of(SimpleNamespace(**cfg)), b, s)
    q, kv = 32 * 128, 8 * 128
    attention = 6 * (h * (q + kv + kv) + q * s // 2 * 2 + q * h)  # qkv proj, QK^T and AV at s/2, out proj
    experts = 6 * h * 14336 * 2 * 3  # top-2 of 8 experts, SwiGLU (3 matrices); the router not counted
    logits = 6 * h * 32000  # 32000 is a multiple of 128
    assert est.flops == b * s * (layers * (attention + experts) + logits)


def test_deepseek_v3_mla_and_moe():
    cfg = json.load(open(os.path.join(CONFIGS, "deepseek-v3.json")))
    s, b = 4096, 1
    est = megatron_flops(shape_of(SimpleNamespace(**cfg)), b, s)
    # MLA as Megatron writes it: q LoRA (+ its norm), kv LoRA (+ its norm), the rope key, o proj, causal core
    mla = 6 * (1536 * (7168 + 128 * (128 + 64) + 1) + 512 * (7168 + 128 * (128 + 128) + 1) + 7168 * 64
               + 128 * 128 * 7168 + s * 128 * (128 + 64) // 2 + s * 128 * 128 // 2)
    # 3 dense layers (first_k_dense_replace) of 18432, 58 MoE layers: top-8 routed + 1 shared expert of 2048
    mlp = 6 * 7168 * (18432 * 3 * 3 + 2048 * 8 * 3 * 58 + 2048 * 3 * 58)
    logits = 6 * 7168 * 129280  # 129280 = 1010 x 128
    assert est.flops == b * s * (61 * mla + mlp + logits)


def test_nemotron_h_hybrid_pattern():
    pattern = "M-M*-ME-M*E"
    h, s, b = 1024, 2048, 2
    cfg = SimpleNamespace(model_type="nemotron_h", hybrid_override_pattern=pattern, num_hidden_layers=len(pattern),
                          hidden_size=h, num_attention_heads=8, num_key_value_heads=2, head_dim=128,
                          intermediate_size=4096, n_routed_experts=8, num_experts_per_tok=2,
                          moe_intermediate_size=512, moe_shared_expert_intermediate_size=1024, mamba_num_heads=32,
                          mamba_head_dim=64, ssm_state_size=128, n_groups=8, vocab_size=131072)
    # Megatron's hybrid_flops, forward per token: p = kv_channels * heads / h = 1, g/n = 2/8
    attention = 4 * h * (h + h * 2 // 8 + Fraction(s, 2))
    mlp = 4 * 4096 * h  # squared-ReLU MLP: two matrices (no SwiGLU)
    d_in = 2 * h  # Megatron hard-codes d_in = 2 h
    mamba = 2 * h * (2 * d_in + 2 * 8 * 128 + 32) + 7 * d_in * 128 + 2 * d_in * h
    moe = 4 * h * 512 * 2 + 4 * h * 1024
    logits = 2 * h * 131072
    forward = 4 * mamba + 2 * attention + 3 * mlp + 2 * moe + logits  # M x4, * x2, - x3, E x2
    assert megatron_flops(shape_of(cfg), b, s).flops == 3 * b * s * forward


def test_palm_rule_is_nanogpt_gpt2_small_at_1024_tokens():
    # nanoGPT's get_num_params() of GPT-2 small: every parameter but wpe (wte tied to lm_head, counted once)
    per_layer = (2 * 768 + 768 * 2304 + 2304 + 768 * 768 + 768 + 2 * 768 + 768 * 3072 + 3072 + 3072 * 768 + 768)
    n = 50257 * 768 + 12 * per_layer + 2 * 768
    assert n == 123_653_376  # nanoGPT prints "number of parameters: 123.65M"
    est = palm_flops(n, 12, 12, 64, 64, 1024, 1)
    assert est.per_token == 6 * n + 12 * 12 * 12 * 64 * 1024  # flops_per_token = 6*N + 12*L*H*Q*T
    assert est.flops == (6 * n + 12 * 12 * 12 * 64 * 1024) * 1024  # flops_per_fwdbwd = flops_per_token * T


def test_shape_reads_moe_layouts():
    qwen = SimpleNamespace(model_type="qwen2_moe", hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                           num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
                           shared_expert_intermediate_size=96, decoder_sparse_step=2, mlp_only_layers=[3],
                           intermediate_size=128, vocab_size=100)
    s = shape_of(qwen)
    assert (s.pattern, s.shared_ffn, s.moe_ffn, s.top_k) == ("*-*E*-*-", 96, 32, 2)
    with pytest.raises(ValueError, match="not a language model"):
        shape_of(SimpleNamespace(vocab_size=10))
