"""The meta pass's shims (profiler.core.meta_shims): transformers' value checks answered, the settings training
uses (use_cache=False, gradient checkpointing) and the encoder-decoders' decoders count on meta what a real CPU
pass counts, per layer and category, with SDPA on the kernel the CPU picks; experts loops run grouped.
Closed forms from the small configs below."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

import profiler
from profiler.core import engine, meta_shims
from profiler.zoo.build import profile_model

T = 16
D, FF, HEADS, KV, LAYERS, VOCAB = 64, 128, 4, 2, 2, 100
HD = D // HEADS
LLAMA = dict(num_hidden_layers=LAYERS, hidden_size=D, intermediate_size=FF, num_attention_heads=HEADS,
             num_key_value_heads=KV, vocab_size=VOCAB)
MACS = ("linear", "attention", "conv")

# One decoder layer for one token: q, o (D x D), k, v (D x KV*HD), gate, up, down (D x FF).
PROJ = 2 * D * D + 2 * D * KV * HD + 3 * D * FF
SCORES = 2 * T * T * HEADS * HD  # QK^T and AV over the full T x T scores, per layer
FORWARD = LAYERS * (T * PROJ + SCORES) + T * D * VOCAB


def _layer_counts(prof, categories=None):
    out = {}
    for layer in prof.layers:
        for phase, counts in layer.phases.items():
            kept = {c: n for c, n in counts.items() if n and (categories is None or c in categories)}
            if kept:
                out[(layer.path, phase)] = kept
    return out


def _llama(**extra):
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(LlamaConfig(**LLAMA, use_cache=False, **extra))


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_use_cache_false_counts_on_meta_as_on_the_cpu(attn):
    meta = profile_model("hf:llama", input=T, use_cache=False, attn_implementation=attn, **LLAMA)
    real = profile_model("hf:llama", input=T, device="cpu", use_cache=False, attn_implementation=attn, **LLAMA)
    assert meta.device == "meta" and not meta.coverage and not real.coverage
    assert meta.macs == real.macs == FORWARD
    assert _layer_counts(meta) == _layer_counts(real)  # every layer, every category
    assert meta_shims.NOTE in meta.notes and meta_shims.NOTE not in real.notes


def test_training_step_on_meta_with_use_cache_false():
    model = _llama()
    x = profiler.text_inputs(model, T)
    meta = profiler.profile(model, x, device="meta", backward=True)
    real = profiler.profile(model, x, device="cpu", backward=True)
    assert meta.by_phase["forward"] == real.by_phase["forward"] == FORWARD
    # every product's two gradients (the token embedding's input has none: a lookup, 0 MACs), and the fused
    # attention backward the CPU runs (and meta, as the CPU would) recomputes QK^T once per layer
    assert meta.by_phase["backward"] == real.by_phase["backward"] == 2 * FORWARD + LAYERS * T * T * HEADS * HD
    assert _layer_counts(meta) == _layer_counts(real)
    assert any("recomputes the scores" in n for n in meta.notes)


def test_training_step_with_eager_attention_is_twice_the_forward():
    model = _llama(attn_implementation="eager")
    x = profiler.text_inputs(model, T)
    meta = profiler.profile(model, x, device="meta", backward=True)
    real = profiler.profile(model, x, device="cpu", backward=True)
    # no fused kernel, no recomputation: each product's input and weight gradients, twice its MACs
    assert meta.by_phase["backward"] == real.by_phase["backward"] == 2 * FORWARD
    assert _layer_counts(meta) == _layer_counts(real)


def test_checkpointing_recomputes_on_meta_what_torch_reruns():
    model = _llama()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    x = profiler.text_inputs(model, T)
    meta = profiler.profile(model, x, device="meta", backward=True)
    real = profiler.profile(model, x, device="cpu", backward=True)
    # Each checkpointed decoder layer is re-run until the last tensor its backward saved is made again:
    # torch's early stop leaves out the down projection (its saved input is the product before it).
    recompute = LAYERS * (T * PROJ + SCORES - T * D * FF)
    for prof in (meta, real):
        assert "recompute" in prof.phases
        assert prof.recomputed == recompute
    assert meta.by_phase["backward"] == real.by_phase["backward"] == \
        2 * FORWARD + LAYERS * T * T * HEADS * HD + recompute
    assert _layer_counts(meta) == _layer_counts(real)


BART = dict(encoder_layers=1, decoder_layers=1, d_model=32, encoder_attention_heads=2, decoder_attention_heads=2,
            encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=100)
T5 = dict(num_layers=1, num_decoder_layers=1, d_model=32, d_kv=8, num_heads=4, d_ff=64, vocab_size=100)
WHISPER_DECODER = dict(decoder_layers=1, d_model=32, decoder_attention_heads=2, decoder_ffn_dim=64, vocab_size=100,
                       pad_token_id=0, bos_token_id=0, eos_token_id=0, decoder_start_token_id=0,
                       max_target_positions=64)


@pytest.mark.parametrize("spec,kwargs", [("hf:bart", BART), ("hf:t5", T5)])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_encoder_decoders_count_on_meta_as_on_the_cpu(spec, kwargs, attn):
    meta = profile_model(spec, input=T, attn_implementation=attn, **kwargs)
    real = profile_model(spec, input=T, device="cpu", attn_implementation=attn, **kwargs)
    assert meta.device == "meta" and not meta.coverage
    assert _layer_counts(meta) == _layer_counts(real)


def test_whisper_decoder_counts_on_meta_as_on_the_cpu():
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperDecoder

    torch.manual_seed(0)
    decoder = WhisperDecoder(WhisperConfig(**WHISPER_DECODER, attn_implementation="eager"))
    ids = torch.zeros((1, T), dtype=torch.long)
    meta = profiler.profile(decoder, {"input_ids": ids, "use_cache": False}, device="meta")
    real = profiler.profile(decoder, {"input_ids": ids, "use_cache": False}, device="cpu")
    assert not meta.coverage and _layer_counts(meta) == _layer_counts(real)
    # self-attention q,k,v,o and fc1/fc2 for T tokens, plus the T x T scores (no encoder states: no cross-attention)
    d, ff = WHISPER_DECODER["d_model"], WHISPER_DECODER["decoder_ffn_dim"]
    assert meta.macs == T * (4 * d * d + 2 * d * ff) + 2 * T * T * d


def test_the_checks_are_put_back_also_when_the_pass_fails():
    import transformers.masking_utils as mu

    before = {n: getattr(mu, n) for n in meta_shims.CHECKS if hasattr(mu, n)}
    sdpa = mu.ALL_MASK_ATTENTION_FUNCTIONS["sdpa"]

    class Fails(torch.nn.Module):
        def forward(self, x):
            assert mu.find_packed_sequence_indices is not before["find_packed_sequence_indices"]
            raise RuntimeError("boom")

    with pytest.raises(profiler.ProfilingError):
        profiler.profile(Fails(), torch.zeros(2), device="meta")
    assert {n: getattr(mu, n) for n in before} == before
    assert mu.ALL_MASK_ATTENTION_FUNCTIONS["sdpa"] is sdpa


def test_only_boolean_reads_inside_the_checks_are_answered():
    class ReadsAValue(torch.nn.Module):
        def forward(self, x):
            return x * float(x.sum())  # a model's own read: meta cannot answer it, and the error says so

    with pytest.raises(profiler.ProfilingError, match="meta"):
        profiler.profile(ReadsAValue(), torch.zeros(2), device="meta")


EXPERTS, TOP_K = 4, 2


def _mixtral(impl):
    from transformers import AutoModelForCausalLM, MixtralConfig

    torch.manual_seed(0)
    cfg = MixtralConfig(**LLAMA, num_local_experts=EXPERTS, num_experts_per_tok=TOP_K)
    return AutoModelForCausalLM.from_config(cfg, experts_implementation=impl)


def test_an_eager_experts_loop_runs_grouped_on_meta_with_the_loops_macs():
    model = _mixtral("eager")
    x = profiler.text_inputs(model, T)
    meta = profiler.profile(model, x, device="meta")
    real = profiler.profile(model, x, device="cpu")  # the loop over the experts the router picked
    # per token: attention projections, the router (D x E) and top-k experts' gate, up and down (D x FF each)
    per_token = 2 * D * D + 2 * D * KV * HD + D * EXPERTS + TOP_K * 3 * D * FF
    assert meta.macs == real.macs == LAYERS * (T * per_token + SCORES) + T * D * VOCAB
    assert _layer_counts(meta, MACS) == _layer_counts(real, MACS) and not meta.coverage
    assert any("grouped_mm experts implementation instead of the model's 'eager' loop" in n and "2 experts" in n
               for n in meta.notes)
    assert model.config._experts_implementation == "eager"  # the model's choice is put back


def test_the_experts_implementation_is_put_back_when_the_pass_fails():
    model = _mixtral("eager")
    seen = []

    def fail(module, args):
        seen.append(module.config._experts_implementation)
        raise RuntimeError("boom")

    handle = model.model.layers[1].mlp.experts.register_forward_pre_hook(fail)
    with pytest.raises(profiler.ProfilingError, match="boom"):
        profiler.profile(model, profiler.text_inputs(model, T), device="meta")
    handle.remove()
    assert seen == ["grouped_mm"] and model.config._experts_implementation == "eager"



@settings(max_examples=200)  # tiny tensors: ~1 ms an example
@given(b=st.integers(1, 2), hq=st.sampled_from([1, 2, 4]), group=st.sampled_from([1, 2]), lq=st.integers(1, 5),
       lk=st.integers(1, 5), dqk=st.sampled_from([4, 8]), dv=st.sampled_from([4, 8]),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
       mask=st.sampled_from([None, "bool", "float", "2d", "bad"]), dropout=st.sampled_from([0.0, 0.1]),
       causal=st.booleans(), gqa=st.booleans(), strided=st.booleans(), grad_mask=st.booleans())
def test_the_cpu_backend_choice_from_meta_shapes_is_torchs(b, hq, group, lq, lk, dqk, dv, dtype, mask, dropout,
                                                           causal, gqa, strided, grad_mask):
    hk = max(1, hq // group) if gqa else hq  # (0 key heads crash torch's own choice: SIGFPE)
    q = torch.empty(b, hq, lq, dqk, dtype=dtype)
    k = torch.empty(b, hk, lk, dqk, dtype=dtype)
    v = torch.empty(b, hk, lk, 2 * dv, dtype=dtype)[..., ::2] if strided else torch.empty(b, hk, lk, dv, dtype=dtype)
    m = {None: None, "bool": torch.ones(b, 1, lq, lk, dtype=torch.bool), "float": torch.zeros(1, hq, lq, lk, dtype=dtype),
         "2d": torch.zeros(lq, lk, dtype=dtype), "bad": torch.zeros(b, 1, lq + 1, lk, dtype=dtype)}[mask]
    if m is not None and m.is_floating_point():
        m.requires_grad_(grad_mask)
    kw = dict(dropout_p=dropout, is_causal=causal and m is None, scale=None, enable_gqa=gqa)
    try:
        expected = int(torch._fused_sdp_choice(q, k, v, m, **kw))
    except RuntimeError:
        return  # arguments SDPA itself refuses: no kernel to pick
    meta = [torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta").requires_grad_(t.requires_grad)
            if t is not None else None for t in (q, k, v, m)]  # (.to would make a strided tensor contiguous)
    assert meta_shims.cpu_sdpa_choice(*meta, **kw) == expected


def test_the_cpu_backend_choice_follows_the_backends_enabled():
    """With flash attention disabled the CPU runs SDPA's math path, and so does a meta pass, also after a pass
    that asked the same question with it enabled (the answer is remembered per signature and setting)."""
    q = torch.empty(1, 2, 4, 8, device="meta")
    engine.clear_caches()
    fused = meta_shims._cpu_sdpa_choice_unseen(q, q, q)
    was = torch.backends.cuda.flash_sdp_enabled()
    torch.backends.cuda.enable_flash_sdp(False)
    try:
        math = meta_shims._cpu_sdpa_choice_unseen(q, q, q)
        want = int(torch._fused_sdp_choice(*(torch.empty(1, 2, 4, 8),) * 3))
    finally:
        torch.backends.cuda.enable_flash_sdp(was)
    assert fused == 1 and math == want == 0
