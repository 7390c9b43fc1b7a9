"""transformers' value checks on meta (profiler.core.meta_shims): the settings training uses (use_cache=False,
gradient checkpointing) and the encoder-decoders' decoders count on meta what a real CPU pass counts.

Closed forms from the small configs below; the CPU runs SDPA's fused kernel and meta its decomposition (the same
MACs; the fused backward recomputes QK^T, named in the notes), so documents are compared whole with eager
attention and by MAC category with SDPA."""
import pytest
import torch

import profiler
from profiler.core import meta_shims
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
    if attn == "eager":  # the same kernels: the whole document per layer, every category
        assert _layer_counts(meta) == _layer_counts(real)
    else:
        assert _layer_counts(meta, MACS) == _layer_counts(real, MACS)
    assert meta_shims.NOTE in meta.notes and meta_shims.NOTE not in real.notes


def test_training_step_on_meta_with_use_cache_false():
    model = _llama()
    x = profiler.text_inputs(model, T)
    meta = profiler.profile(model, x, device="meta", backward=True)
    real = profiler.profile(model, x, device="cpu", backward=True)
    assert meta.by_phase["forward"] == real.by_phase["forward"] == FORWARD
    # every product's two gradients (the token embedding's input has none: a lookup, 0 MACs)
    assert meta.by_phase["backward"] == 2 * FORWARD
    # the CPU's fused attention backward recomputes QK^T once per layer (its notes say so)
    assert real.by_phase["backward"] == 2 * FORWARD + LAYERS * T * T * HEADS * HD
    assert any("recomputes the scores" in n for n in real.notes)


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
    assert meta.by_phase["backward"] == 2 * FORWARD + recompute
    # per layer and phase the same MACs, but for the attention backward (the fused kernel's recomputed QK^T)
    def outside_attention_backward(prof):
        return {k: v for k, v in _layer_counts(prof, MACS).items()
                if not (k[0].endswith("self_attn") and k[1] == "backward")}

    assert outside_attention_backward(meta) == outside_attention_backward(real)


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
    assert _layer_counts(meta, None if attn == "eager" else MACS) == \
        _layer_counts(real, None if attn == "eager" else MACS)


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
