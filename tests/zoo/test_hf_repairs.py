"""Repairs of transformers' default configs that cannot be built or run (profiler.zoo.hf_repairs): the repaired
fields against closed forms written here from the architecture (Q/K/V/O, MLP, the T^2 attention terms, the LM
head), the note that says so, user fields never overridden, config files never repaired. Small configs on meta."""
import json
import warnings

import pytest
import torch

from profiler.zoo import hf, hf_repairs
from profiler.zoo.build import profile_model

T = 16
D, L, H, V, FF = 256, 2, 8, 1000, 512  # a small decoder: width, layers, heads, vocabulary, MLP width


def _profile(spec: str, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return profile_model(spec, input=T, device="meta", **kwargs)


def _repair_notes(p) -> list[str]:
    return [n for n in p.notes if "transformers' default config" in n]


def _scores(layers: int, heads: int, qk: int, v: int) -> int:
    """QK^T and AV over the full T x T scores of every layer (as the kernels compute them), in MACs."""
    return layers * T * T * heads * (qk + v)


# -- the table ----------------------------------------------------------------------------------------------------
def test_every_repair_names_its_error_and_source():
    types = set(hf.model_types())
    for name, repair in hf_repairs.REPAIRS.items():
        assert name in types, name
        assert repair.error and repair.why and (repair.fields or repair.sub_config), name
        assert repair.stage in ("built", "run"), name


@pytest.mark.parametrize("name", sorted(hf_repairs.REPAIRS))
def test_every_repaired_default_config_builds(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        notes: list = []
        config = hf.load_config(name, notes=notes)
    assert len(notes) == 1 and notes[0].startswith(f"hf:{name}: transformers' default config ")
    assert "repaired: " in notes[0]
    fields = hf_repairs.REPAIRS[name].fields
    for key, value in fields.items():
        if not callable(value) and not isinstance(value, dict):
            assert getattr(config, key) == value, key


# -- closed forms: Ministral (head_dim), Nemotron (K/V heads), DeepSeek-V2 (top-k) ----------------------------------
def llama_like(d, layers, heads, kv, hd, ff, vocab, mlp_mats=3) -> int:
    """MACs of one token through the weights: q and o (d x heads*hd), k and v (d x kv*hd), the MLP's matrices
    (gate/up/down: 3 of d x ff; Nemotron's up/down: 2) per layer, and the LM head (d x vocab)."""
    return layers * (2 * d * heads * hd + 2 * d * kv * hd + mlp_mats * d * ff) + d * vocab


MINISTRAL = dict(num_hidden_layers=L, hidden_size=D, intermediate_size=FF, num_attention_heads=H,
                 num_key_value_heads=2, vocab_size=V)


def test_ministral_head_dim_is_repaired_and_said():
    p = _profile("hf:ministral", **MINISTRAL)
    hd = D // H  # the repaired head_dim: hidden_size // num_attention_heads
    assert not p.coverage
    assert p.by_category["attention"] == _scores(L, H, hd, hd)
    assert p.macs == T * llama_like(D, L, H, 2, hd, FF, V) + _scores(L, H, hd, hd)
    notes = _repair_notes(p)
    assert len(notes) == 1 and notes[0].startswith("hf:ministral: transformers' default config cannot be built (")
    assert "repaired: head_dim=32 " in notes[0] and "NoneType" in notes[0]


def test_a_user_head_dim_is_not_overridden():
    p = _profile("hf:ministral", head_dim=64, **MINISTRAL)  # 8 heads of 64: q is 256 -> 512 wide
    assert p.macs == T * llama_like(D, L, H, 2, 64, FF, V) + _scores(L, H, 64, 64)
    assert not _repair_notes(p)


def test_nemotron_kv_heads_default_to_the_heads():
    kw = dict(num_hidden_layers=L, hidden_size=D, intermediate_size=FF, num_attention_heads=H, vocab_size=V)
    p = _profile("hf:nemotron", **kw)
    hd = D // H
    # multi-head attention (num_key_value_heads = num_attention_heads), relu2 MLP of up and down only
    assert not p.coverage
    assert p.macs == T * llama_like(D, L, H, H, hd, FF, V, mlp_mats=2) + _scores(L, H, hd, hd)
    (note,) = _repair_notes(p)
    assert "repaired: num_key_value_heads=8 " in note
    # a user's GQA is kept
    gqa = _profile("hf:nemotron", num_key_value_heads=2, **kw)
    assert gqa.macs == T * llama_like(D, L, H, 2, hd, FF, V, mlp_mats=2) + _scores(L, H, hd, hd)
    assert not _repair_notes(gqa)


def test_deepseek_v2_top_k_is_repaired_and_the_users_expert_width_kept():
    q_lora, kv_lora, nope, rope, v, E, m = 64, 32, 16, 8, 16, 8, 32
    kw = dict(num_hidden_layers=L, hidden_size=D, num_attention_heads=4, vocab_size=V, q_lora_rank=q_lora,
              kv_lora_rank=kv_lora, qk_nope_head_dim=nope, qk_rope_head_dim=rope, v_head_dim=v,
              n_routed_experts=E, moe_intermediate_size=m)
    p = _profile("hf:deepseek_v2", **kw)
    heads, qk, k, shared = 4, nope + rope, 6, 2  # top-6 (repaired) of 8 experts, 2 shared ones (the default)
    # multi-head latent attention: q through its LoRA, the K/V latent with the shared rope key, its expansion, o
    mla = D * q_lora + q_lora * heads * qk + D * (kv_lora + rope) + kv_lora * heads * (nope + v) + heads * v * D
    moe = D * E + (k + shared) * 3 * D * m  # router, the top-k experts and the shared ones (gate/up/down)
    assert not p.coverage
    assert p.by_category["attention"] == _scores(L, heads, qk, v)
    assert p.macs == T * (L * (mla + moe) + D * V) + _scores(L, heads, qk, v)
    (note,) = _repair_notes(p)
    assert "cannot run its forward" in note and "repaired: num_experts_per_tok=6 " in note
    assert "moe_intermediate_size=1408" not in note  # the user's 32 stands


# -- when repairs apply -------------------------------------------------------------------------------------------
def test_nested_fields_are_completed_not_overwritten():
    from transformers import DbrxConfig

    args, added = hf_repairs.fields_for("dbrx", DbrxConfig, {"attn_config": {"clip_qkv": 4}})
    assert args["attn_config"] == {"clip_qkv": 4, "rope_theta": 500000}
    assert added == {"attn_config": {"rope_theta": 500000}}
    args, added = hf_repairs.fields_for("dbrx", DbrxConfig, {"attn_config": {"clip_qkv": 4, "rope_theta": 1.0}})
    assert added == {} and args["attn_config"] == {"clip_qkv": 4, "rope_theta": 1.0}
    assert hf_repairs.fields_for("llama", object, {"num_hidden_layers": 2}) == ({"num_hidden_layers": 2}, {})


def test_aliased_fields_count_as_given():
    from transformers import BambaConfig, LlamaConfig

    assert hf_repairs.fields_for("bamba", BambaConfig, {"use_cache": True})[1] == {}
    assert hf_repairs._given(LlamaConfig, {}) == set()


def test_a_config_file_is_never_repaired(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = hf.load_config("ministral", MINISTRAL).to_dict()
        assert cfg["head_dim"] == 32
        cfg["head_dim"] = None
        path = tmp_path / "config.json"
        path.write_text(json.dumps(cfg))
        notes: list = []
        assert hf.load_config(str(path), notes=notes).head_dim is None and notes == []
        with pytest.raises(TypeError, match="NoneType"):
            with torch.device("meta"):
                hf.build(str(path))


SMALL = {
    "bamba": dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=100, mamba_n_heads=8, mamba_d_state=16, mamba_chunk_size=16),
    "dbrx": dict(n_layers=2, d_model=64, n_heads=4, vocab_size=100, ffn_config={"ffn_hidden_size": 128}),
    "dots1": dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                  num_attention_heads=4, num_key_value_heads=2, vocab_size=100),
    "esm": dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4),
    "funnel": dict(block_sizes=[1, 1, 1], d_model=64, n_head=4, d_head=16, d_inner=128, vocab_size=100),
    "hunyuan_v1_dense": dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                             vocab_size=100),
    "lfm2_moe": dict(num_hidden_layers=4, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                     num_attention_heads=4, num_key_value_heads=2, vocab_size=100),
    "xmod": dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, vocab_size=100),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_repaired_types_count_on_meta_and_say_so(name):
    p = _profile("hf:" + name, **SMALL[name])
    assert p.device == "meta" and p.macs > 0 and not p.coverage
    (note,) = _repair_notes(p)
    assert note.startswith(f"hf:{name}: ") and hf_repairs.REPAIRS[name].error in note


def test_musicgen_is_built_from_its_decoder_config():
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model, task = hf.build("musicgen", None, {"decoder": {"num_hidden_layers": 2}})
    assert task == "causal-lm" and type(model).__name__ == "MusicgenForCausalLM"
    assert type(model.config).__name__ == "MusicgenDecoderConfig" and model.config.num_hidden_layers == 2
    (note,) = hf_repairs.notes_of(model)
    assert "model built from config.decoder" in note


# -- self-contradictory defaults repaired from published configs: GLM-4.1V, Llama 4 vision, Qwen3-Omni ---------------
def test_glm4v_text_partial_rotary_factor_is_repaired_and_said():
    # hidden 256 over 2 heads keeps head_dim 128 (the default's): without the factor 0.5 its 64 rotary frequencies
    # miss the default mrope_section [8, 12, 12]; the repaired pass runs, q/k/v/o as their closed forms at 128 tokens
    t, d = 128, 256
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = profile_model("hf:glm4v_text", input=t, device="meta", num_hidden_layers=1, hidden_size=d,
                          num_attention_heads=2, num_key_value_heads=2, intermediate_size=256, vocab_size=100)
    assert not p.coverage
    for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
        assert p.layer(f"layers.0.self_attn.{proj}").counts()["linear"] == t * d * 2 * 128, proj
    (note,) = _repair_notes(p)
    assert note.startswith("hf:glm4v_text: ") and "partial_rotary_factor=0.5" in note and "GLM-4.1V" in note


def test_llama4_vision_hidden_size_is_repaired_and_said():
    # 112 px in patches of 14: 8 x 8 = 64 patches, pixel-shuffled at 0.5 to 16 tokens of 1408 x 4 = 5632 features
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = profile_model("hf:llama4_vision_model", device="meta", num_hidden_layers=1, image_size=112,
                          projector_input_dim=64, projector_output_dim=64)
    assert p.layer("vision_adapter.mlp.fc1").counts()["linear"] == 16 * 5632 * 64
    (note,) = _repair_notes(p)
    assert "repaired: hidden_size=1408 " in note and "Llama-4" in note


def test_qwen3_omni_text_head_dim_is_repaired_and_said():
    kw = dict(num_hidden_layers=1, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, vocab_size=100)
    p = _profile("hf:qwen3_omni_moe_text", **kw)  # 28 heads of 128 (published), not 2048 // 28 = 73
    assert p.layer("layers.0.self_attn.q_proj").counts()["linear"] == T * 2048 * 28 * 128
    (note,) = _repair_notes(p)
    assert "repaired: head_dim=128 " in note and "Qwen3-Omni" in note


def test_nested_sub_configs_are_completed_at_any_depth():
    from transformers import AutoConfig

    cls = type(AutoConfig.for_model("qwen3_omni_moe"))
    args, added = hf_repairs.fields_for("qwen3_omni_moe", cls, {"thinker_config": {"text_config": {"head_dim": 64}}})
    assert args["thinker_config"] == {"text_config": {"head_dim": 64}}  # the user's head_dim stands
    assert added == {"talker_config": {"spatial_merge_size": 2, "text_config": {"shared_expert_intermediate_size": 768}}}
    # a function of a nested field gets that sub-config: HunYuanVL's head_dim from the user's text widths
    cls = type(AutoConfig.for_model("hunyuan_vl"))
    args, _ = hf_repairs.fields_for("hunyuan_vl", cls, {"text_config": {"hidden_size": 256, "num_attention_heads": 4}})
    assert args["text_config"]["head_dim"] == 64 and args["text_config"]["rope_parameters"]["mrope_section"] == [8] * 4
