"""The Hugging Face zoo (hf:): names (model types, config files, cached hub ids), config overrides, heads, token
inputs, and exact counts against hand formulas. Configs are shrunk (few layers) where the formula allows;
everything is built on meta (no weights) unless a test compares with a real CPU pass."""
import importlib.util
import json
import os

import pytest

import profiler
from profiler import zoo
from profiler.errors import UnknownModelError, UsageError
from profiler.zoo import hf
from profiler.zoo.build import profile_model

# A small grouped-query Llama: 8 query heads sharing 2 K/V heads of 32 dims.
LLAMA = dict(num_hidden_layers=2, hidden_size=256, intermediate_size=512, num_attention_heads=8,
             num_key_value_heads=2, vocab_size=1000)


def llama_weights_per_token(d=256, ff=512, heads=8, kv=2, layers=2, vocab=1000, head=True):
    """MACs of every weight matrix for one token: q and o (d x d), k and v (d x kv*hd), gate/up/down
    (3 d x ff) per layer, and the LM head (d x vocab)."""
    hd = d // heads
    per_layer = 2 * d * d + 2 * d * kv * hd + 3 * d * ff
    return layers * per_layer + (d * vocab if head else 0)


# -- names ----------------------------------------------------------------------------------------------------
def test_model_types_resolve_after_the_other_zoos():
    assert zoo.resolve("hf:gpt2") == ("hf", "gpt2")
    assert zoo.resolve("gpt2") == ("hf", "gpt2")  # no other zoo has it
    assert zoo.resolve("resnet18") == ("timm", "resnet18")  # hf has no such type; timm still first
    assert zoo.resolve("hf:mobilenet_v2") == ("hf", "mobilenet_v2")
    assert zoo.resolve("mobilenet_v2")[0] != "hf"  # torchvision's name wins unqualified
    with pytest.raises(UnknownModelError):
        zoo.resolve("meta-llama/Llama-3-8B")  # a hub id needs hf:
    assert ("hf", "llama") in zoo.list_names("llama", ("hf",))


def test_unknown_hf_type_suggests_close_ones():
    with pytest.raises(UnknownModelError, match="hf:llama"):
        zoo.resolve("hf:lama")


def test_config_file_and_folder(tmp_path):
    cfg = {"model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 100, "n_positions": 64}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    for spec in (f"hf:{tmp_path / 'config.json'}", f"hf:{tmp_path}"):
        prof = profile_model(spec, input=16)
        # 2 layers of 12 d^2 per token, the tied LM head d x vocab, attention 2 L T^2 d
        assert prof.macs == 16 * (2 * 12 * 64 * 64 + 64 * 100) + 2 * 2 * 16 * 16 * 64
        assert prof.source.zoo == "hf" and prof.source.input_kind == "tokens"
    # --kwargs override a file's fields too
    assert profile_model(f"hf:{tmp_path}", input=16, n_layer=1).macs == \
        16 * (12 * 64 * 64 + 64 * 100) + 2 * 16 * 16 * 64


def test_bad_config_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        hf.load_config(str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match="has no config.json"):
        hf.load_config(str(tmp_path))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="not a JSON config"):
        hf.load_config(str(bad))
    bad.write_text(json.dumps({"n_layer": 2}))
    with pytest.raises(UsageError, match="no model_type"):
        hf.load_config(str(bad))
    bad.write_text(json.dumps({"model_type": "my_own_arch"}))
    with pytest.raises(UsageError, match="trust_remote_code"):
        hf.load_config(str(bad))


def test_uncached_hub_id_says_to_pass_a_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache: nothing there, nothing fetched
    with pytest.raises(UsageError) as exc:
        zoo.create("hf:some-org/some-model")
    msg = str(exc.value)
    assert "not in the local Hugging Face cache" in msg and "hf:path/to/config.json" in msg and "\n" not in msg


def test_cached_hub_id_reads_the_cache(tmp_path, monkeypatch):
    # The layout huggingface_hub writes: models--ORG--NAME/{refs/main, snapshots/REV/config.json}
    repo = tmp_path / "models--some-org--tiny-llama"
    snap = repo / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    (snap / "config.json").write_text(json.dumps({"model_type": "llama", **LLAMA}))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    prof = profile_model("hf:some-org/tiny-llama", input=8)
    assert prof.params == 2 * 1000 * 256 + llama_weights_per_token(head=False) + (2 * 2 + 1) * 256
    assert prof.source.name == "some-org/tiny-llama"


def test_kwargs_override_fields_and_typos_are_refused():
    config = hf.load_config("llama", LLAMA)
    assert config.num_hidden_layers == 2 and config.head_dim == 32  # derived in the constructor
    with pytest.raises(UsageError, match="did you mean num_hidden_layers"):
        hf.load_config("llama", {"num_hiden_layers": 2})
    # fields of every config (PretrainedConfig's own) are accepted
    assert hf.load_config("t5", {"decoder_start_token_id": 0}).decoder_start_token_id == 0


def test_heads_by_task():
    assert hf.default_task(hf.load_config("gpt2")) == "causal-lm"
    assert hf.default_task(hf.load_config("t5")) == "seq2seq-lm"
    assert hf.default_task(hf.load_config("bert")) == "base"  # an encoder: its causal head is a decoder variant
    assert hf.default_task(hf.load_config("vit")) == "base"
    model, info = zoo.create("hf:bert", task="masked-lm", num_hidden_layers=1)
    assert type(model).__name__ == "BertForMaskedLM" and info.task == "masked-lm"
    with pytest.raises(UsageError, match="no seq2seq-lm model"):
        zoo.create("hf:gpt2", task="seq2seq-lm")
    with pytest.raises(UsageError, match="did you mean causal-lm"):
        zoo.create("hf:gpt2", task="causal_lm")
    with pytest.raises(UsageError, match="head of a Hugging Face model"):
        zoo.create("timm:resnet18", task="base")


def test_vision_models_take_images():
    model, info = zoo.create("hf:vit", num_hidden_layers=1)
    assert info.input_size == (3, 224, 224) and info.input_kind == "tensor"
    prof = profile_model("hf:vit", input=32, num_hidden_layers=1, image_size=32, patch_size=16)
    d, n = 768, (32 // 16) ** 2 + 1  # 4 patches + the class token
    patch = 4 * 3 * 16 * 16 * d  # the patch embedding: a 16x16 stride-16 conv
    assert prof.macs == patch + n * 12 * d * d + 2 * n * n * d + d * d  # one layer, attention, the pooler (CLS)


# -- exact counts ---------------------------------------------------------------------------------------------
def test_gpt2_small_at_128_tokens():
    prof = profile_model("hf:gpt2", input=128)
    d, layers, vocab, t = 768, 12, 50257, 128
    assert prof.params == 124_439_808 == vocab * d + 1024 * d + layers * (12 * d * d + 13 * d) + 2 * d
    assert prof.macs == 16_114_089_984 == t * (layers * 12 * d * d + d * vocab) + 2 * layers * t * t * d
    assert not prof.coverage


def test_bert_base_against_its_formula():
    prof = profile_model("hf:bert", input=128)
    d, layers, t = 768, 12, 128
    assert prof.params == 109_482_240  # BertModel with its pooler
    # q, k, v, o (4 d^2) and the FFN (8 d^2) per token, full T x T attention, the pooler on the CLS token
    assert prof.macs == t * layers * 12 * d * d + 2 * layers * t * t * d + d * d


def test_t5_small_against_its_formula():
    t, d, ff, vocab, layers = 16, 512, 2048, 32128, 2
    prof = profile_model("hf:t5", input=t, num_layers=layers)  # T5-small's widths, 2 + 2 layers
    enc = layers * t * (4 * d * d + 2 * d * ff) + layers * 2 * t * t * d
    # decoder: self q,k,v,o; cross q,o over decoder tokens and k,v over encoder tokens; FFN; self and cross attention
    dec = layers * t * (4 * d * d + 2 * d * d + 2 * d * d + 2 * d * ff) + layers * (2 * t * t * d + 2 * t * t * d)
    assert prof.macs == enc + dec + t * d * vocab
    assert [list(s) for s in prof.inputs] == [[1, t], [1, t]]  # input_ids and decoder_input_ids


def test_gqa_llama_against_its_formula():
    t = 32
    prof = profile_model("hf:llama", input=t, **LLAMA)
    # grouped-query attention shares K/V heads: the score MACs are those of all 8 query heads
    assert prof.macs == t * llama_weights_per_token() + 2 * 2 * t * t * 8 * 32
    assert prof.by_category["attention"] == 2 * 2 * t * t * 8 * 32


@pytest.mark.parametrize("spec,kwargs", [
    ("hf:gpt2", dict(n_layer=2, n_embd=64, n_head=4, vocab_size=100)),
    ("hf:llama", LLAMA),
    ("hf:t5", dict(num_layers=2, d_model=64, d_kv=8, num_heads=8, d_ff=128, vocab_size=100)),
    ("hf:bert", dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                     vocab_size=100)),
])
def test_meta_counts_what_a_real_cpu_pass_counts(spec, kwargs):
    meta = profile_model(spec, input=12, batch=2, **kwargs)
    real = profile_model(spec, input=12, batch=2, device="cpu", **kwargs)
    assert meta.device == "meta" and real.device == "cpu"
    assert meta.macs == real.macs and meta.params == real.params
    # the CPU runs fused attention kernels, meta their decomposition: MAC categories agree
    for c in ("linear", "attention", "conv"):
        assert meta.by_category[c] == real.by_category[c]


def test_text_inputs():
    model, _ = zoo.create("hf:t5", num_layers=1)
    x = profiler.text_inputs(model.config, 7, batch=3, decoder_len=2, attention_mask=True)
    assert {k: tuple(v.shape) for k, v in x.items()} == {"input_ids": (3, 7), "attention_mask": (3, 7),
                                                         "decoder_input_ids": (3, 2), "decoder_attention_mask": (3, 2)}
    assert int(x["input_ids"].max()) < model.config.vocab_size and x["input_ids"].device.type == "cpu"
    meta = zoo.build_model("hf:gpt2", n_layer=1).model
    assert profiler.text_inputs(meta, 5)["input_ids"].device.type == "meta"  # a meta model: meta ids
    with pytest.raises(TypeError, match="transformers model or config"):
        profiler.text_inputs(object(), 5)
    with pytest.raises(UsageError, match="seq_len"):
        profiler.text_inputs(model, 0)


def test_other_main_inputs_are_refused_in_one_line():
    with pytest.raises(UsageError, match="takes past_values"):  # a time series: no shapes made for it
        profile_model("hf:patchtst", num_hidden_layers=1)
    # raw audio is made: one second of waveform at the config's rate (16 kHz by default)
    assert profile_model("hf:wav2vec2", num_hidden_layers=1).source.input_size == (16000,)


def test_lengths_past_the_context_are_noted():
    gpt2 = dict(n_layer=1, n_embd=64, n_head=4, vocab_size=100, n_positions=32)
    assert not profile_model("hf:gpt2", input=32, **gpt2).notes
    notes = profile_model("hf:gpt2", input=33, **gpt2).notes
    assert len(notes) == 1 and "exceed the model's context of 32" in notes[0]
    g = profiler.profile_generate("hf:gpt2", input=30, new_tokens=4, **gpt2)  # the last token fed is the 33rd
    assert any("33 tokens exceed" in n for n in g.notes)


# -- from_config's own arguments (--kwargs beside config fields) ----------------------------------------------
MIXTRAL = dict(num_hidden_layers=1, hidden_size=64, intermediate_size=128, num_attention_heads=4,
               num_key_value_heads=2, num_local_experts=4, vocab_size=100)


def test_from_config_arguments_reach_the_model():
    import torch

    # checked on the built model, not by profiling it: what runs on meta is another test's business
    model = zoo.build_model("hf:mixtral", experts_implementation="batched_mm", **MIXTRAL).model
    assert model.config._experts_implementation == "batched_mm"  # transformers' default is grouped_mm
    assert zoo.build_model("hf:mixtral", attn_implementation="eager", **MIXTRAL).model.config._attn_implementation \
        == "eager"  # the default is sdpa
    for dtype in ("bfloat16", torch.bfloat16):  # the command line gives a string
        params = list(zoo.build_model("hf:mixtral", dtype=dtype, **MIXTRAL).model.parameters())
        assert {p.dtype for p in params} == {torch.bfloat16}
    assert {p.dtype for p in zoo.build_model("hf:mixtral", **MIXTRAL).model.parameters()} == {torch.float32}


@pytest.mark.parametrize("kwargs, message", [
    ({"experts_implementaton": "eager"}, "did you mean experts_implementation"),
    ({"atn_implementation": "eager"}, "did you mean attn_implementation"),
    ({"torch_dtype": "bfloat16"}, "did you mean dtype"),
    ({"experts_implementation": "foo"}, "experts_implementation='foo' is not one of: eager, batched_mm, .*grouped_mm"),
    ({"attn_implementation": "foo"}, "attn_implementation='foo' is not one of: eager, .*sdpa"),
    ({"dtype": "int8"}, "dtype='int8' is not one of: float32, bfloat16, float16, float64"),
    ({"dtype": 16}, "dtype=16 is not one of"),
])
def test_from_config_typos_and_bad_values_are_one_line(kwargs, message):
    with pytest.raises(UsageError, match=message) as exc:
        zoo.build_model("hf:mixtral", **MIXTRAL, **kwargs)
    assert "\n" not in str(exc.value)


@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is not None, reason="flash-attn is installed here")
def test_a_kernel_this_machine_lacks_is_one_line():
    with pytest.raises(UsageError, match="attn_implementation=flash_attention_2 cannot be used here") as exc:
        zoo.build_model("hf:mixtral", attn_implementation="flash_attention_2", **MIXTRAL)
    assert "\n" not in str(exc.value)


# -- two-tower and speech models ------------------------------------------------------------------------------
TOWER = dict(num_hidden_layers=1, hidden_size=64, intermediate_size=128, num_attention_heads=4)


def tower_macs(tokens, patches, d=64, ff=128):
    """One transformer layer over ``tokens`` (q, k, v, o and the MLP per token, full attention) and a patch
    embedding conv (3 channels, 8x8 patches) over ``patches``: what both towers of CLIP and SigLIP run."""
    return tokens * (4 * d * d + 2 * d * ff) + 2 * tokens * tokens * d, patches * 3 * 8 * 8 * d


def test_clip_takes_tokens_and_an_image_at_its_config_size():
    prof = profile_model("hf:clip", text_config=TOWER, vision_config=dict(TOWER, image_size=32, patch_size=8))
    t, n, d, proj = 77, (32 // 8) ** 2, 64, 512  # 77: the text's positions; projection_dim 512 (default)
    text, _ = tower_macs(t, 0)
    vision, patch = tower_macs(n + 1, n)  # the class token
    # each tower's pooled token projected to 512, then one text-image similarity (1 x 512 @ 512 x 1)
    assert prof.macs == text + vision + patch + 2 * d * proj + proj
    assert [list(s) for s in prof.inputs] == [[1, t], [1, 3, 32, 32]]
    assert prof.source.input_kind == "text-image" and prof.source.input_size == (t,)
    assert prof.device == "meta" and not prof.coverage


def test_siglip_takes_tokens_and_an_image_at_its_config_size():
    prof = profile_model("hf:siglip", text_config=TOWER, vision_config=dict(TOWER, image_size=32, patch_size=8))
    t, n, d, ff = 64, (32 // 8) ** 2, 64, 128  # 64: SigLIP's text positions; no class token
    text, _ = tower_macs(t, 0)
    vision, patch = tower_macs(n, n)
    # the text head (d x d on the last token); the vision head: one probe query attending the n patches
    # (q and o on the probe, k and v on the patches, its scores) and its MLP; the similarity (1 x d @ d x 1)
    map_head = 2 * d * d + 2 * n * d * d + 2 * n * d + 2 * d * ff
    assert prof.macs == text + d * d + vision + patch + map_head + d
    assert [list(s) for s in prof.inputs] == [[1, t], [1, 3, 32, 32]] and not prof.coverage


# A tiny Whisper: 16 mel bins, 50 encoder positions (100 frames), 64 wide, one layer each side.
WHISPER = dict(d_model=64, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
               encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=16, max_source_positions=50,
               max_target_positions=40, vocab_size=100, pad_token_id=0, bos_token_id=0, eos_token_id=0,
               decoder_start_token_id=0)


def whisper_macs(t, mel=16, s=50, d=64, ff=128, vocab=100, head=True):
    """Whisper over 2s frames and t decoder tokens, one layer each side: conv1 (mel -> d, k=3) over 2s frames,
    conv2 (d -> d, k=3, stride 2) to s positions; the encoder layer (q, k, v, o, MLP, s x s attention); the
    decoder layer (self q, k, v, o; cross q, o over its tokens and k, v over the s encoder positions; MLP;
    t x t and t x s attention); proj_out (d x vocab, tied to the token embedding)."""
    conv = 2 * s * mel * d * 3 + s * d * d * 3
    enc = s * (4 * d * d + 2 * d * ff) + 2 * s * s * d
    dec = t * (6 * d * d + 2 * d * ff) + s * 2 * d * d + 2 * t * t * d + 2 * t * s * d
    return conv + enc + dec + (t * d * vocab if head else 0)


def test_whisper_is_the_whole_encoder_decoder_fed_audio_features():
    assert hf.default_task(hf.load_config("whisper")) == "seq2seq-lm"
    assert hf.model_class(hf.load_config("whisper")).__name__ == "WhisperForConditionalGeneration"
    prof = profile_model("hf:whisper", input=12, **WHISPER)
    assert prof.macs == whisper_macs(12)
    assert [list(s) for s in prof.inputs] == [[1, 16, 100], [1, 12]]  # input_features, decoder_input_ids
    assert prof.source.task == "seq2seq-lm" and prof.source.input_kind == "speech-text" and not prof.coverage
    base = profile_model("hf:whisper", input=12, task="base", batch=2, **WHISPER)  # WhisperModel: no proj_out
    assert base.macs == 2 * whisper_macs(12, head=False) and [list(s) for s in base.inputs][0] == [2, 16, 100]
    real = profile_model("hf:whisper", input=12, device="cpu", **WHISPER)
    assert real.macs == prof.macs and real.params == prof.params


def test_the_context_note_reads_every_position_limit():
    whisper = hf.load_config("whisper")
    assert hf.context_note(whisper, 448) is None  # max_target_positions; the 1500 source positions are frames
    assert "449 tokens exceed the model's context of 448 (max_target_positions)" in hf.context_note(whisper, 449)
    assert "context of 77 (max_position_embeddings)" in hf.context_note(hf.load_config("clip"), 78)
    # DeBERTa's relative-position range clamps distances: not a length limit
    assert hf.context_note(hf.load_config("deberta-v2", {"max_relative_positions": 16}), 100) is None
