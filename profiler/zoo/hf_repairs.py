"""Repairs of transformers' default configs that cannot be built or run as they are (``hf:TYPE`` only).

A few model types of transformers' registry leave a field their own model code needs unset in the default config
(``head_dim=None`` read as a number, ``num_experts_per_tok=None`` given to ``topk``), or ask a check their default
fails. :data:`REPAIRS` names, for each, the fewest config fields that make the default config build and run, each
with the error it repairs and where its value comes from: the config class's docstring, or the family's published
config (named by hub id); a value that is only a placeholder says so.

A repair applies only to a registry type's default config (``hf:TYPE``, never a config file or hub id), and only
to the fields the user did not give (``--kwargs``; a nested dict such as ``text_config`` is completed key by key,
never overwritten). The Profile says so in a note (:func:`note`): a repaired count is never silently another
model's.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

_NOTES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Repair:
    """What a default config lacks. ``fields``: config field -> value, or a function ``(config, arguments)`` of
    the config built from the user's fields alone and of the arguments so far giving the value (None: nothing
    to repair; the field is left out where that config cannot be built); ``error``: what
    transformers raises without it (quoted, short); ``why``: where the values come from, one line;
    ``sub_config``: the sub-config the model class is built from (its ``config_class``), when the registry
    maps a composite config to a class of one of its parts."""
    error: str
    why: str
    fields: dict[str, Any] = field(default_factory=dict)
    sub_config: str | None = None
    stage: str = "built"  # "built": the default config cannot be built; "run": its forward raises


def _head_dim(config, out: dict) -> int:
    return config.hidden_size // config.num_attention_heads


def _mha(config, out: dict) -> int:
    return config.num_attention_heads


def _qwen4_rope(config, out: dict) -> dict | None:
    """The released partial rotary factor (0.25) where the indexer's head would not hold the rotary dims
    (Qwen4ExpTextConfig's check: head_dim x partial_rotary_factor <= indexer_head_dim), else None (fits)."""
    rope = dict(config.rope_parameters or {})
    index_dim = out.get("indexer_head_dim")
    if index_dim is None or config.head_dim * rope.get("partial_rotary_factor", 1.0) <= index_dim:
        return None
    return {**rope, "partial_rotary_factor": 0.25}


# LiquidAI/LFM2-8B-A1B's config.json: 24 layers, attention at 2, 6, 10, 14, 18 and 21, short convolutions else.
_LFM2_MOE_ATTENTION = (2, 6, 10, 14, 18, 21)


def _lfm2_moe_layers(config, out: dict) -> list[str]:
    return ["full_attention" if i % 24 in _LFM2_MOE_ATTENTION else "conv" for i in range(config.num_hidden_layers)]


def _glm4v_rope(config, out: dict) -> dict | None:
    """GLM-4.1V's partial rotary factor (0.5) added to the config's rope_parameters, where they give none."""
    rope = dict(config.rope_parameters or {})
    return None if "partial_rotary_factor" in rope else {**rope, "partial_rotary_factor": 0.5}


def _xd_rope(config, out: dict) -> dict | None:
    """tencent/HunyuanOCR's XD-RoPE sections (xdrope_section [16, 16, 16, 16]: half of head_dim 128 in four equal
    parts), scaled to the head_dim set (half of it in four parts), added to the config's rope_parameters."""
    rope = dict(config.rope_parameters or {})
    head_dim = out.get("head_dim") or config.head_dim or config.hidden_size // config.num_attention_heads
    if rope.get("mrope_section") is not None or (head_dim // 2) % 4:
        return None
    return {**rope, "mrope_section": [head_dim // 8] * 4}


def _first_dense(config, out: dict) -> list[str]:
    """deepseek-community/DeepSeek-OCR-2's MLP pattern (a dense first layer, sparse after) over num_hidden_layers."""
    return ["dense"] + ["sparse"] * (config.num_hidden_layers - 1)


_GLM4V_WHY = ("partial_rotary_factor 0.5 as zai-org/GLM-4.1V-9B-Thinking's config.json (its text_config; transformers "
              "keeps it in rope_parameters): the rotary half of head_dim 128 is then 32 frequencies, as the modeling "
              "code's default mrope_section [8, 12, 12] covers")
_GLM4V_ERR = ("RuntimeError: split_with_sizes expects split_sizes to sum exactly to 64, but got split_sizes=[8, 12, 12] "
              "(rope_parameters give no partial_rotary_factor)")
_GLM4V_MOE_WHY = ("head_dim 128 as zai-org/GLM-4.5V's config.json (its text_config): half of it rotary is the 32 "
                  "frequencies the default mrope_section [8, 12, 12] covers (the default derives 4096 // 96 = 42)")
_GLM4V_MOE_ERR = ("RuntimeError: split_with_sizes expects split_sizes to sum exactly to 11, but got split_sizes="
                  "[8, 12, 12] (no head_dim: 4096 // 96 = 42)")
_EDGETAM_BACKBONE = {"model_type": "timm_wrapper", "architecture": "repvit_m1", "num_classes": 2,
                     "model_args": {"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]}}
_EDGETAM_WHY = ("the backbone sub-config's own default init_kwargs (and the num_classes 2 they end with), their misspelled key 'archirecture' spelled "
                "'architecture' (RepViT-M1, as yonigozlan/EdgeTAM-hf, the config class's checkpoint; its channels "
                "[384, 192, 96, 48] are the neck's backbone_channel_list); timm builds it, no weights loaded")
_EDGETAM_ERR = ("RuntimeError: Given groups=1, weight of size [256, 384, 1, 1], expected input[1, 1024, 14, 14] to "
                "have 384 channels (timm_wrapper's default resnet50 behind a neck made for RepViT-M1)")
_QWEN_OMNI_WHY = "head_dim 128 as Qwen/Qwen3-Omni-30B-A3B-Instruct's config.json (thinker_config.text_config)"
_QWEN_OMNI_ERR = ("RuntimeError: The size of tensor a (73) must match the size of tensor b (74) (no head_dim: "
                  "2048 // 28 = 73, an odd head dim)")
_COMPASS_ROPE = {"sliding_attention": {"mrope_interleaved": True, "mrope_section": [24, 20, 20], "rope_type": "default",
                                       "rope_theta": 50000.0},
                 "full_attention": None}
_COMPASS_WHY = ("rope_parameters keyed by layer type, as CohereLabs/North-Micro-Vision-Instruct's config.json (its "
                "text_config, as third-party ports quote it, the file itself not seen here): interleaved M-RoPE of "
                "theta 50000 on sliding-window layers, none (NoPE) on full-attention ones; the default layer_types "
                "are all full_attention (no rotary MACs either way)")
_COMPASS_ERR = "KeyError: 'full_attention' (CohereCompassRotaryEmbedding reads rope_parameters[layer_type])"


_HEAD_DIM = "hidden_size // num_attention_heads, the default the config's docstring gives for None"
_POW = "TypeError: unsupported operand type(s) for ** or pow(): 'NoneType' and 'float'"
_QSA = {"indexer_n_heads": 4, "indexer_kv_heads": 1, "indexer_head_dim": 128, "indexer_budget": 2048,
        "indexer_compress_ratio": 4}
_QSA_WHY = ("the QSA indexer fields and partial rotary factor of the released Qwen4-Exp text config, as "
            "third-party ports of Qwen/Qwen4-Exp quote its config.json (the file itself not seen here); the default "
            "config's indexed_attention layers build the indexer from them, and the config's check wants the "
            "rotary dims (head_dim x partial_rotary_factor) within indexer_head_dim")
_MUSICGEN = ("the auto mapping gives the composite {cfg} to {cls}, whose config_class is {sub}: built from the "
             "composite's own decoder sub-config, as {cls} expects (the text encoder and audio codec are not part "
             "of the causal LM)")

_HUNYUAN_VL_WHY = (_HEAD_DIM + " (128, as tencent/HunyuanOCR's config.json); then the rotary's mrope_section "
                   "(len(None) else), as its xdrope_section [16, 16, 16, 16] (quoted by ports of tencent/HunyuanOCR): "
                   "half of head_dim in four equal parts (no MAC count changes)")

#: model type -> its repair. Values are those of the family's published config unless ``why`` says otherwise.
REPAIRS: dict[str, Repair] = {
    "dbrx": Repair(
        "AttributeError: 'DbrxAttentionConfig' object has no attribute 'rope_theta' (then clip_qkv None in "
        "clamp(min=None, max=None))",
        "DbrxAttention reads attn_config.rope_theta, a field DbrxAttentionConfig lacks, and clamps q, k, v to "
        "clip_qkv unconditionally; rope_theta 500000 and clip_qkv 8 as databricks/dbrx-instruct's config.json "
        "(the rotary embedding reads "
        "rope_parameters, a clamp has no MACs: no MAC count changes)",
        {"attn_config": {"rope_theta": 500000, "clip_qkv": 8}}),
    "dots1": Repair(
        "TypeError: empty() takes 1 positional argument but 3 were given (torch.empty(None, ...): "
        "n_routed_experts is None)",
        "as rednote-hilab/dots.llm1.base's "
        "config.json (the config class's checkpoint; its defaults leave all three None)",
        {"n_routed_experts": 128, "num_experts_per_tok": 6, "n_shared_experts": 2}),
    "esm": Repair(
        "TypeError: empty(): argument 'size' must be tuple of ints, but found element of type NoneType "
        "(vocab_size is None; then pad_token_id None in input_ids.ne(padding_idx))",
        "vocab_size 33 as the config class's docstring example (EsmConfig(vocab_size=33)) and, with "
        "pad_token_id 1 (where the position ids start), as facebook/esm-1b's config.json",
        {"vocab_size": 33, "pad_token_id": 1}),
    "funnel": Repair(
        "TypeError: 'NoneType' object is not iterable (the auto factory iterates config.architectures to pick "
        "FunnelModel or FunnelBaseModel; the default config leaves it None)",
        "no architecture named, which the auto factory reads as its mapping's first class (FunnelModel), as "
        "its own comment says; no layer of the config changes",
        {"architectures": []}),
    "gemma4_assistant": Repair(
        "StrictDataclassClassValidationError: validate_architecture: hidden_size_per_layer_input must be 0, "
        "got 256",
        "the values "
        "Gemma4AssistantConfig.validate_architecture itself demands (the default gemma4_text sub-config has "
        "256 and 262144: the per-layer inputs the assistant does not have)",
        {"text_config": {"hidden_size_per_layer_input": 0, "vocab_size_per_layer_input": 0}}),
    "hunyuan_v1_dense": Repair(_POW, _HEAD_DIM + " (128, as tencent/Hunyuan-7B-Instruct's config.json)",
                               {"head_dim": _head_dim}),
    "hunyuan_v1_moe": Repair(_POW, _HEAD_DIM + " (128, as tencent/Hunyuan-A13B-Instruct's config.json)",
                             {"head_dim": _head_dim}),
    "ministral": Repair(_POW, _HEAD_DIM + " (128, as mistralai/Ministral-8B-Instruct-2410's config.json)",
                        {"head_dim": _head_dim}),
    "lfm2_moe": Repair(
        "TypeError: 'NoneType' object is not subscriptable (config.layer_types[layer_idx]: layer_types is None)",
        "LiquidAI/LFM2-8B-A1B's pattern (full attention at layers 2, 6, 10, 14, 18, 21 of 24, "
        "short convolutions else), repeated over num_hidden_layers (the default's 32 exceed the published 24)",
        {"layer_types": _lfm2_moe_layers}),
    "musicgen": Repair(
        "AttributeError: 'MusicgenConfig' object has no attribute 'dropout'",
        _MUSICGEN.format(cfg="MusicgenConfig", cls="MusicgenForCausalLM", sub="MusicgenDecoderConfig"),
        sub_config="decoder"),
    "musicgen_melody": Repair(
        "AttributeError: 'MusicgenMelodyConfig' object has no attribute 'dropout'",
        _MUSICGEN.format(cfg="MusicgenMelodyConfig", cls="MusicgenMelodyForCausalLM",
                         sub="MusicgenMelodyDecoderConfig"),
        sub_config="decoder"),
    "nemotron": Repair(
        "TypeError: unsupported operand type(s) for //: 'int' and 'NoneType' (num_key_value_heads is None)",
        "num_attention_heads, the default the config's docstring gives when it is not specified (multi-head "
        "attention)",
        {"num_key_value_heads": _mha}),
    "qwen4_exp": Repair(
        "TypeError: unsupported operand type(s) for //: 'NoneType' and 'NoneType' (indexer_budget // "
        "indexer_compress_ratio)",
        _QSA_WHY,
        {"text_config": {**_QSA, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                     "partial_rotary_factor": 0.25}}}),  # the default theta
    "qwen4_exp_text": Repair(
        "TypeError: unsupported operand type(s) for //: 'NoneType' and 'NoneType' (indexer_budget // "
        "indexer_compress_ratio)",
        _QSA_WHY,
        {**_QSA, "rope_parameters": _qwen4_rope}),
    "glm4v_text": Repair(_GLM4V_ERR, _GLM4V_WHY, {"rope_parameters": _glm4v_rope}, stage="run"),
    "glm_image_text": Repair(_GLM4V_ERR, _GLM4V_WHY, {"rope_parameters": _glm4v_rope}, stage="run"),
    **{t: Repair(_GLM4V_ERR, _GLM4V_WHY, {"text_config": {"rope_parameters": _glm4v_rope}}, stage="run")
       for t in ("glm46v", "glm4v", "glmga", "glm_image")},
    "glm4v_moe_text": Repair(_GLM4V_MOE_ERR, _GLM4V_MOE_WHY, {"head_dim": 128}, stage="run"),
    "glm4v_moe": Repair(_GLM4V_MOE_ERR, _GLM4V_MOE_WHY, {"text_config": {"head_dim": 128}}, stage="run"),
    "edgetam_vision_model": Repair(_EDGETAM_ERR, _EDGETAM_WHY, {"backbone_config": _EDGETAM_BACKBONE}, stage="run"),
    "edgetam": Repair(_EDGETAM_ERR, _EDGETAM_WHY, {"vision_config": {"backbone_config": _EDGETAM_BACKBONE}},
                      stage="run"),
    "uvdoc": Repair(
        "RuntimeError: Given groups=1, weight of size [128, 768, 1, 1], expected input[1, 128, 14, 14] to have 768 "
        "channels (the backbone's default out_indices keep its last stage only)",
        "the backbone's out_indices for all 6 bridge stages, the 6 x 128 = 768 channels the head's bridge_connector "
        "(the config's own default) concatenates, as PaddlePaddle/UVDoc_safetensors (the config class's checkpoint) "
        "must have them for its weights (the file itself not seen here)",
        {"backbone_config": {"model_type": "uvdoc_backbone", "out_indices": [1, 2, 3, 4, 5, 6]}}, stage="run"),
    "lw_detr": Repair(
        "ValueError: torch.cat(): expected a non-empty list of Tensors (projector_scale_factors () makes no "
        "feature level)",
        "projector_scale_factors [1.0] (one P4 level) as transformers' LW-DETR conversion script gives its 'small' "
        "size, the config class's checkpoint AnnaZhang/lwdetr_small_60e_coco",
        {"projector_scale_factors": [1.0]}, stage="run"),
    "llama4_vision_model": Repair(
        "RuntimeError: mat1 and mat2 shapes cannot be multiplied (256x3072 and 5632x4096) (hidden_size 768 pixel-"
        "shuffled is 3072 features, the adapter's fc1 takes intermediate_size 5632)",
        "hidden_size 1408 as meta-llama/Llama-4-Scout-17B-16E's config.json (vision_config): pixel-shuffled at 0.5 "
        "it is the 5632 (= intermediate_size) features the vision adapter's fc1 takes",
        {"hidden_size": 1408}, stage="run"),
    "qwen3_omni_moe_text": Repair(_QWEN_OMNI_ERR, _QWEN_OMNI_WHY, {"head_dim": 128}, stage="run"),
    "qwen3_omni_moe_thinker": Repair(_QWEN_OMNI_ERR, _QWEN_OMNI_WHY, {"text_config": {"head_dim": 128}}, stage="run"),
    "qwen3_omni_moe": Repair(
        "AttributeError: 'Qwen3OmniMoeTalkerTextConfig' object has no attribute 'shared_expert_intermediate_size' "
        "(then the thinker's head_dim 2048 // 28 = 73)",
        "shared_expert_intermediate_size 768 (talker_config.text_config), the talker's spatial_merge_size 2 and "
        "head_dim 128 "
        "(thinker_config.text_config) as Qwen/Qwen3-Omni-30B-A3B-Instruct's config.json",
        {"thinker_config": {"text_config": {"head_dim": 128}},
         "talker_config": {"spatial_merge_size": 2, "text_config": {"shared_expert_intermediate_size": 768}}}),
    "hunyuan_vl_text": Repair(_POW, _HUNYUAN_VL_WHY, {"head_dim": _head_dim, "rope_parameters": _xd_rope}),
    "hunyuan_vl": Repair(_POW, _HUNYUAN_VL_WHY, {"text_config": {"head_dim": _head_dim, "rope_parameters": _xd_rope}}),
    "cohere_compass_text": Repair(_COMPASS_ERR, _COMPASS_WHY, {"rope_parameters": _COMPASS_ROPE}),
    "cohere_compass": Repair(_COMPASS_ERR, _COMPASS_WHY, {"text_config": {"rope_parameters": _COMPASS_ROPE}}),
    "deepseek_ocr2": Repair(
        "TypeError: 'NoneType' object is not subscriptable (config.mlp_layer_types[layer_idx]: mlp_layer_types is "
        "None)",
        "deepseek-community/DeepSeek-OCR-2's text_config, as third-party ports quote it (the file itself not seen "
        "here): a dense first layer then sparse ones over num_hidden_layers (the default's 32 exceed the published "
        "12), top-6 experts, expert width 896 (the default's num_experts_per_tok None fails topk, and its 1407 the "
        "grouped_mm strides, as deepseek_v2's)",
        {"text_config": {"mlp_layer_types": _first_dense, "num_experts_per_tok": 6, "moe_intermediate_size": 896}}),
    # -- the default config builds, but transformers' forward raises on it ------------------------------------
    "bamba": Repair(
        "ValueError: `get_mask_sizes` can only be called on Attention layers, and the current Cache seem to "
        "only contain LinearAttention layers",
        "the default layer pattern has no attention layer (attn_layer_indices None), and the "
        "mask is sized from a cache holding only Mamba layers; one forward pass computes the same without a "
        "cache (no count changes)",
        {"use_cache": False}, stage="run"),
    "granitemoehybrid": Repair(
        "ValueError: `get_mask_sizes` can only be called on Attention layers, and the current Cache seem to "
        "only contain LinearAttention layers",
        "the default layer_types are all linear_attention (Mamba), and the mask is sized from a "
        "cache holding only Mamba layers; one forward pass computes the same without a cache (no count changes)",
        {"use_cache": False}, stage="run"),
    "blt": Repair(
        "AttributeError: 'BltConfig' object has no attribute 'num_hidden_layers' (the cache BltModel makes "
        "reads it)",
        "one forward pass computes the same without the cache whose construction fails "
        "(no count changes)",
        {"use_cache": False}, stage="run"),
    "deepseek_v2": Repair(
        "TypeError: topk(): argument 'k' must be int, not NoneType (num_experts_per_tok is None)",
        "num_experts_per_tok 6 and moe_intermediate_size 1408 as deepseek-ai/DeepSeek-V2-Lite's config.json "
        "(the config class's checkpoint); the default's "
        "moe_intermediate_size 1407 makes the experts' rows 5628 bytes, which torch's grouped_mm refuses (its "
        "CPU kernel too: 'strides should be multiple of 16 bytes')",
        {"num_experts_per_tok": 6, "moe_intermediate_size": 1408}, stage="run"),
    "xmod": Repair(
        "ValueError: Input language unknown. Please call `XmodPreTrainedModel.set_default_language()`",
        "what set_default_language('en_XX') sets: the only language of the default config's languages (its "
        "docstring's default), so every token goes through that adapter",
        {"default_language": "en_XX"}, stage="run"),
}


def _given(cls, kwargs: dict) -> set:
    """The fields ``kwargs`` set, under both names of an aliased field (``attribute_map``)."""
    amap = dict(getattr(cls, "attribute_map", {}) or {})
    given = set(kwargs)
    for alias, target in amap.items():
        if alias in given or target in given:
            given |= {alias, target}
    return given


def _sub(probe, key):
    """``probe``'s sub-config ``key`` (None where ``probe`` is None or has none)."""
    return getattr(probe, key, None) if probe is not None else None


def _fill(fields: dict, kwargs: dict, given: set, probe) -> tuple[dict, dict]:
    """``kwargs`` completed with ``fields`` (see :func:`fields_for`); ``probe()``: the config the user's fields
    alone build (None where they do not), for the values that are functions of it."""
    out, added = dict(kwargs), {}
    for key, value in fields.items():
        if isinstance(value, dict):
            user = kwargs.get(key)
            nested = key.endswith("config")  # a sub-config: completed key by key, at any depth
            if user is None and key not in given:
                sub, extra = _fill(value, {}, set(), lambda: _sub(probe(), key)) if nested else (dict(value), value)
                if extra:
                    out[key], added[key] = sub, extra
            elif isinstance(user, dict) and nested:
                sub, extra = _fill(value, user, set(user), lambda: _sub(probe(), key))
                if extra:
                    out[key], added[key] = sub, extra
            continue  # a sub-config object the user built, or a whole dict field they gave: theirs
        if key in given:
            continue
        if callable(value):
            config = probe()
            if config is None:
                continue
            value = value(config, out)
            if value is None:
                continue
        out[key] = added[key] = value
    return out, added


def fields_for(model_type: str, cls, kwargs: dict) -> tuple[dict, dict]:
    """``(config arguments, repaired fields)`` of registry type ``model_type`` (config class ``cls``) given the
    user's ``kwargs``: ``kwargs`` plus the repair's fields the user did not give (a sub-config's dict, a key
    ending in ``config``, completed key by key at any depth; a function of a nested field gets that sub-config).
    No repair for the type: ``(kwargs, {})``."""
    repair = REPAIRS.get(model_type)
    if repair is None or not repair.fields:
        return dict(kwargs), {}
    built: list = []

    def probe():
        if not built:
            try:
                built.append(cls(**kwargs))
            except Exception:  # noqa: BLE001 - the user's fields alone do not build: nothing to derive from
                built.append(None)
        return built[0]

    return _fill(repair.fields, kwargs, _given(cls, kwargs), probe)


def sub_config(model_type: str) -> str | None:
    """The sub-config a registry type's model class is built from (:attr:`Repair.sub_config`), or None."""
    repair = REPAIRS.get(model_type)
    return repair.sub_config if repair is not None else None


def _text(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list) and len(value) > 6:
        return f"[{', '.join(repr(v) for v in value[:6])}, ... ({len(value)})]"
    return repr(value)


def note(model_type: str, added: dict, *, sub: str | None = None) -> str | None:
    """The Profile's note for a repaired default config: what transformers raised, what was set and why."""
    repair = REPAIRS.get(model_type)
    if repair is None or not added and sub is None:
        return None
    what = "cannot be built" if repair.stage == "built" else "cannot run its forward"
    done = ", ".join(f"{k}={_text(v)}" for k, v in added.items())
    if sub is not None:
        done = (done + "; " if done else "") + f"model built from config.{sub}"
    return f"hf:{model_type}: transformers' default config {what} ({repair.error}); repaired: {done} ({repair.why})"


def remember(model, notes: list[str]) -> None:
    """Keep ``notes`` for ``model`` until the Profile is made (:func:`notes_of`)."""
    if notes:
        _NOTES[model] = list(notes)


def notes_of(model) -> list[str]:
    """The repair notes :func:`remember` kept for ``model`` ([] for any other model)."""
    try:
        return list(_NOTES.get(model, ()))
    except TypeError:  # an object that cannot be weakly referenced
        return []


def part_to_build(model_type: str, config, auto) -> tuple[type, Any] | None:
    """``(model class, sub-config)`` when :attr:`Repair.sub_config` applies: the class ``auto`` maps ``config``
    to declares the sub-config's class as its ``config_class`` (MusicgenForCausalLM: MusicgenDecoderConfig), not
    the composite config's; else None (build from ``config`` as usual)."""
    sub = sub_config(model_type)
    if sub is None:
        return None
    try:
        cls = auto._model_mapping[type(config)]
    except (AttributeError, KeyError):
        return None
    want, part = getattr(cls, "config_class", None), getattr(config, sub, None)
    if isinstance(want, type) and not isinstance(config, want) and isinstance(part, want):
        return cls, part
    return None
