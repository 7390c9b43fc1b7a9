"""The causal convention: attention's query-key pairs under a causal mask, T(T+1)/2 of T x T."""
import pytest
import torch

import profiler


@pytest.mark.parametrize("t", [1, 7, 32])
def test_gpt2_prefill_attention_under_causal_is_the_lower_triangle(t):
    from transformers import GPT2Config, GPT2LMHeadModel

    layers, d, heads = 2, 64, 4
    config = GPT2Config(n_layer=layers, n_embd=d, n_head=heads, vocab_size=100, n_positions=64)
    config._attn_implementation = "eager"
    with torch.device("meta"):
        model = GPT2LMHeadModel(config)
    ids = torch.zeros(1, t, dtype=torch.long, device="meta")
    prof = profiler.profile(model, {"input_ids": ids}, convention="causal")
    full = prof.by_category["attention"]
    assert full == 2 * layers * t * t * d  # QK^T and AV over every T x T pair, as the kernels run them
    causal_attention = 2 * layers * d * t * (t + 1) // 2
    assert prof.total() == prof.macs - full + causal_attention
    assert prof.total("macs") == prof.macs  # the default convention keeps the full square
