"""The Hugging Face zoo (``hf:``): transformers architectures built from their config alone (never weights).

A name is one of:

- a model type of transformers' own config registry (``gpt2``, ``bert``, ``llama``, ``t5``, ``mistral``,
  ``qwen2``, ``vit`` ...): that type's default config, nothing read from disk or network;
- a config file or a folder holding ``config.json`` (``hf:path/to/config.json``, ``hf:path/to/model``);
- a hub id (``hf:org/name``): its ``config.json`` from the local Hugging Face cache only (``HF_HUB_OFFLINE``
  semantics: nothing is fetched); an uncached id is a :class:`~profiler.errors.UsageError` that says to pass
  the config file instead.

Constructor keyword arguments (``--kwargs``) override config fields (``num_hidden_layers=2``) or are
``from_config``'s own arguments (:data:`FROM_CONFIG_ARGS`: ``dtype=bfloat16``, ``attn_implementation=eager``,
``experts_implementation=batched_mm``); any other name is refused with the closest ones. The head comes from
``task`` (:data:`TASKS`); by default the causal-LM head of a decoder, the seq2seq-LM head of an
encoder-decoder (Whisper's speech-to-text one too), else the base model.
"""
from __future__ import annotations

import difflib
import functools
import inspect
import json
import os
import re

import torch.nn as nn

from profiler.errors import UsageError, file_error

#: ``--task`` values and the transformers Auto class of each (``classification`` of an image model uses
#: ``AutoModelForImageClassification``).
TASKS = ("base", "causal-lm", "masked-lm", "seq2seq-lm", "classification")
_AUTO = {"base": "AutoModel", "causal-lm": "AutoModelForCausalLM", "masked-lm": "AutoModelForMaskedLM",
         "seq2seq-lm": "AutoModelForSeq2SeqLM", "classification": "AutoModelForSequenceClassification"}
_MAPPING = {"base": "MODEL_MAPPING_NAMES", "causal-lm": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
            "masked-lm": "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
            "seq2seq-lm": "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
            "classification": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES"}

#: Sequence length of a language model when no ``--input`` is given (calflops' default too).
DEFAULT_TOKENS = 128

#: ``PreTrainedModel.from_config``'s own arguments that --kwargs reach besides the config's fields: the
#: parameters' dtype and the attention and mixture-of-experts kernels (``_from_config`` sets the last two on the
#: config and its sub-configs).
FROM_CONFIG_ARGS = ("dtype", "attn_implementation", "experts_implementation")

# Config fields every transformers config takes besides its own (read by PretrainedConfig itself).
_COMMON_FIELDS = {"use_cache", "tie_word_embeddings",
                  "pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "decoder_start_token_id",
                  "is_decoder", "is_encoder_decoder", "add_cross_attention", "num_labels", "id2label", "label2id",
                  "problem_type", "output_attentions", "output_hidden_states", "return_dict",
                  "chunk_size_feed_forward", "tie_encoder_decoder", "cross_attention_hidden_size"}
# Position limits of a config (max_position_embeddings, max_target_positions ...); relative-position ranges
# (DeBERTa's max_relative_positions) clamp distances rather than limit the length.
_POSITIONS = re.compile(r"n_positions|max_position_embeddings|max_((?!relative)\w+_)?positions")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@functools.lru_cache(maxsize=None)
def model_types() -> tuple[str, ...]:
    """Every model type of transformers' config registry, sorted."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return tuple(sorted(CONFIG_MAPPING_NAMES))


def kind_of(name: str) -> str | None:
    """``"type"`` (a registry model type), ``"file"`` (a config file or folder), ``"hub"`` (``org/name``) or
    None (not a Hugging Face name)."""
    if not name:
        return None
    if name in set(model_types()):
        return "type"
    if name.endswith(".json") or os.path.isfile(name) or os.path.isdir(name) or name.startswith((".", "/", "~")):
        return "file"
    if _HUB_ID.match(name):
        return "hub"
    return None


# -- configs ---------------------------------------------------------------------------------------------
def _offline_hint(name: str) -> str:
    return (f"pass its config file instead: hf:path/to/config.json (the config.json of "
            f"https://huggingface.co/{name}, e.g. fetched once with `hf download {name} config.json`)")


def _read_json(path: str, spec: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{spec}: {path} is not a JSON config ({exc.msg} at line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise file_error(exc, path, f"{spec}'s config") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{spec}: {path} holds a JSON {type(raw).__name__}, not a config object")
    return raw


def _config_dict(name: str, kind: str, spec: str) -> dict:
    """The raw config dict of a file/folder or of a cached hub id."""
    if kind == "file":
        path = os.path.expanduser(name)
        if os.path.isdir(path):
            inner = os.path.join(path, "config.json")
            if not os.path.isfile(inner):
                raise UsageError(f"{spec}: folder {name!r} has no config.json; give the config file itself "
                                 "(hf:path/to/config.json)")
            path = inner
        elif not os.path.isfile(path):
            raise UsageError(f"{spec}: no such file {name!r}; give hf:path/to/config.json, a folder holding "
                             "one, a model type (hf:llama) or a cached hub id (hf:org/name)")
        return _read_json(path, spec)
    from transformers import PretrainedConfig

    cache_dir = os.environ.get("HF_HUB_CACHE") or None  # read now, not at import (tests, shells)
    try:
        raw, _ = PretrainedConfig.get_config_dict(name, local_files_only=True, cache_dir=cache_dir)
    except Exception:  # noqa: BLE001 - OSError (not cached), gated repos ...: one line with the fix
        raise UsageError(f"{spec} is not in the local Hugging Face cache (nothing is downloaded); "
                         + _offline_hint(name)) from None
    return raw


def _config_class(model_type: str, spec: str):
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        return CONFIG_MAPPING[model_type]
    except KeyError:
        close = difflib.get_close_matches(str(model_type), model_types(), n=3)
        hint = f" (close: {', '.join(close)})" if close else ""
        raise UsageError(f"{spec}: model_type {model_type!r} is not in this transformers' registry{hint}; "
                         "a model with its own code (trust_remote_code) cannot be built here") from None


def _check_fields(cls, raw: dict, kwargs: dict, spec: str) -> None:
    """Refuse --kwargs that name neither a field of the config nor an argument of ``from_config`` (a typo
    would otherwise be ignored silently)."""
    if not kwargs:
        return
    known = set(_COMMON_FIELDS) | set(FROM_CONFIG_ARGS) | set(raw) | set(getattr(cls, "attribute_map", {}) or {})
    for c in cls.__mro__:  # the config's own arguments and those of PretrainedConfig
        if "__init__" in vars(c):
            try:
                known |= set(inspect.signature(c.__init__).parameters) - {"self", "kwargs", "args"}
            except (TypeError, ValueError):
                pass
    unknown = [k for k in kwargs if k not in known]
    if not unknown:
        return
    try:
        known |= set(cls().to_dict())
    except Exception:  # noqa: BLE001 - a config without defaults: the signature is all we have
        pass
    for key in unknown:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UsageError(f"{spec} has no config field {key!r}{hint} (--kwargs set fields of {cls.__name__} "
                             f"and from_config's {', '.join(FROM_CONFIG_ARGS)})")


def load_config(name: str, kwargs: dict | None = None, spec: str | None = None, notes: list | None = None):
    """The transformers config named ``name`` (see the module doc), ``kwargs`` overriding its fields. A registry
    type's default config that transformers cannot build or run is repaired
    (:mod:`profiler.zoo.hf_repairs`, fields the user did not give only); ``notes`` receives the note saying so."""
    kwargs = dict(kwargs or {})
    spec = spec or f"hf:{name}"
    kind = kind_of(name)
    if kind is None:
        raise UsageError(f"{spec}: not a transformers model type, config file or hub id (org/name)")
    if kind == "type":
        cls = _config_class(name, spec)
        _check_fields(cls, {}, kwargs, spec)
        from profiler.zoo import hf_repairs

        fields, added = hf_repairs.fields_for(name, cls, kwargs)
        said = hf_repairs.note(name, added, sub=hf_repairs.sub_config(name))
        if said and notes is not None:
            notes.append(said)
        return _make_config(lambda: cls(**fields), kwargs, spec)
    raw = _config_dict(name, kind, spec)
    if "model_type" not in raw:
        raise UsageError(f"{spec}: the config has no model_type field (is it a transformers config.json?)")
    cls = _config_class(raw["model_type"], spec)
    _check_fields(cls, raw, kwargs, spec)
    merged = {k: v for k, v in {**raw, **kwargs}.items() if k != "model_type"}
    return _make_config(lambda: cls.from_dict(merged), kwargs, spec, from_file=True)


def _make_config(make, kwargs: dict, spec: str, from_file: bool = False):
    """``make()``, a config class refusing a value (transformers' strict dataclass validation, a config's own
    checks) being the user's error: --kwargs, or the config file they named."""
    try:
        return make()
    except (ImportError, MemoryError, RecursionError):
        raise
    except Exception as exc:  # noqa: BLE001 - StrictDataclassFieldValidationError derives from Exception only
        msg = " ".join(str(exc).split())[:300] or type(exc).__name__
        named = [f"{k}={v!r}" for k, v in kwargs.items() if re.search(rf"\b{re.escape(k)}\b", msg)] or \
            [f"{k}={v!r}" for k, v in kwargs.items()]
        if named:
            where = f"--kwargs {' '.join(named)}" + (" (or the config file)" if from_file else "")
        elif from_file:
            where = "the config file"
        else:
            raise  # a registry type's own defaults: transformers', not the user's
        raise UsageError(f"{spec}: a bad value in {where}: {msg}") from None


# -- tasks and model classes -------------------------------------------------------------------------------
def _mapping(task: str) -> dict:
    from transformers.models.auto import modeling_auto

    return getattr(modeling_auto, _MAPPING[task])


def _is_vision(config) -> bool:
    from transformers.models.auto import modeling_auto

    return config.model_type in modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES or \
        config.model_type in modeling_auto.MODEL_FOR_IMAGE_MAPPING_NAMES


def tasks_for(config) -> list[str]:
    """The :data:`TASKS` this config's model type has a head for (seq2seq-lm of a speech model such as Whisper:
    its speech-to-text one)."""
    from transformers.models.auto import modeling_auto

    mt = config.model_type
    out = [t for t in TASKS if mt in _mapping(t)]
    if "seq2seq-lm" not in out and mt in modeling_auto.MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES:
        out.append("seq2seq-lm")
    if "classification" not in out and mt in modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
        out.append("classification")
    return out


def default_task(config) -> str:
    """seq2seq-lm for an encoder-decoder, causal-lm for a decoder, else base (encoders such as BERT, whose
    causal-LM class is a decoder variant, and vision models); a type with no base model: its first head."""
    tasks = tasks_for(config)
    if getattr(config, "is_encoder_decoder", False) and "seq2seq-lm" in tasks:
        return "seq2seq-lm"
    if "causal-lm" in tasks and ("masked-lm" not in tasks or getattr(config, "is_decoder", False)):
        return "causal-lm"
    if tasks and "base" not in tasks:  # only a head (PP-LCNet's classifier, ShieldGemma 2's): the one it has
        return tasks[0]
    return "base"


def _auto_class(config, task: str, spec: str):
    import transformers

    tasks = tasks_for(config)
    if task not in tasks:
        raise UsageError(f"{spec} has no {task} model in transformers; --task takes "
                         f"{', '.join(tasks) or 'nothing for this type'}")
    name = _AUTO[task]
    if task == "classification" and config.model_type not in _mapping("classification"):
        name = "AutoModelForImageClassification"
    if task == "seq2seq-lm" and config.model_type not in _mapping("seq2seq-lm"):
        name = "AutoModelForSpeechSeq2Seq"
    return getattr(transformers, name)


def model_class(config, task: str | None = None, spec: str = "hf model"):
    """The class ``build`` would instantiate (read off the auto mapping, nothing built); a type no task builds:
    :func:`profiler.zoo.hf_registry.fallback_class`'s."""
    if task is None and not tasks_for(config):
        from profiler.zoo.hf_registry import fallback_class

        return fallback_class(config)[0]
    auto = _auto_class(config, task or default_task(config), spec)
    return auto._model_mapping[type(config)]


def check_task(task: str | None) -> None:
    if task is not None and task not in TASKS:
        close = difflib.get_close_matches(str(task), TASKS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown task {task!r}{hint}; choose one of: {', '.join(TASKS)}")


def _choice(key: str, value, valid, spec: str) -> None:
    if value not in valid:
        raise UsageError(f"{spec}: {key}={value!r} is not one of: {', '.join(valid)}")


def from_config_args(kwargs: dict, spec: str = "hf model") -> tuple[dict, dict]:
    """``(from_config's arguments, config fields)``: ``kwargs`` split by :data:`FROM_CONFIG_ARGS`, the former
    checked (a bad value is a one-line UsageError naming the valid ones) and ``dtype`` made a torch dtype
    (``"bfloat16"`` as the command line gives it, or ``torch.bfloat16``)."""
    import torch

    args = {k: kwargs[k] for k in FROM_CONFIG_ARGS if k in kwargs}
    fields = {k: v for k, v in kwargs.items() if k not in args}
    if "dtype" in args:
        value = args["dtype"]
        dtype = value if isinstance(value, torch.dtype) else \
            getattr(torch, value.removeprefix("torch."), None) if isinstance(value, str) else None
        # 1-byte floats (float8) have no initialisers: a model cannot be built in them
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point or dtype.itemsize < 2:
            raise UsageError(f"{spec}: dtype={value!r} is not one of: float32, bfloat16, float16, float64")
        args["dtype"] = dtype
    if "attn_implementation" in args:
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        _choice("attn_implementation", args["attn_implementation"],
                ["eager", *ALL_ATTENTION_FUNCTIONS.valid_keys()], spec)
    if "experts_implementation" in args:
        from transformers.integrations.finegrained_fp8 import ALL_FP8_EXPERTS_FUNCTIONS
        from transformers.integrations.moe import ALL_EXPERTS_FUNCTIONS

        _choice("experts_implementation", args["experts_implementation"],
                ["eager", *sorted(set(ALL_EXPERTS_FUNCTIONS.keys()) | set(ALL_FP8_EXPERTS_FUNCTIONS.keys()))], spec)
    return args, fields


def build(name: str, task: str | None = None, kwargs: dict | None = None) -> tuple[nn.Module, str]:
    """``(model, task)``: the architecture of ``name`` with the head of ``task`` (default
    :func:`default_task`), random weights, on the current default device (``with torch.device("meta")``
    for nothing allocated). ``kwargs``: config fields and :data:`FROM_CONFIG_ARGS`."""
    check_task(task)
    spec = f"hf:{name}"
    args, fields = from_config_args(dict(kwargs or {}), spec)
    from profiler.zoo import hf_repairs

    notes: list[str] = []  # a repaired default config's note (hf_repairs), kept for the Profile
    config = load_config(name, fields, spec, notes)
    if task is None and not tasks_for(config):
        # no task's auto class builds it (a depth estimator, a text or vision tower ...): the registry's class
        from profiler.zoo.hf_registry import fallback_class

        model = fallback_class(config)[0]._from_config(config, **args)
        hf_repairs.remember(model, notes)
        return model, None
    task = task or default_task(config)
    auto = _auto_class(config, task, spec)
    part = hf_repairs.part_to_build(name, config, auto) if kind_of(name) == "type" else None
    try:
        model = auto.from_config(config, **args) if part is None else part[0]._from_config(part[1], **args)
        hf_repairs.remember(model, notes)
        return model, task
    except (ValueError, ImportError) as exc:
        # a kernel this model or machine lacks (sdpa unsupported, flash-attn not installed): the user's choice
        msg = " ".join(str(exc).split())
        words = {"attn_implementation": ("attn", "attention"), "experts_implementation": ("expert",)}
        said = [k for k, ws in words.items() if k in args and any(w in msg.lower() for w in ws)]
        if not said:
            raise
        raise UsageError(f"{spec}: {', '.join(f'{k}={args[k]}' for k in said)} cannot be used here: "
                         f"{msg[:200]}") from None


# -- inputs --------------------------------------------------------------------------------------------------
def _forward_params(model_or_class) -> set:
    try:
        return set(inspect.signature(model_or_class.forward).parameters)
    except (AttributeError, TypeError, ValueError):
        return set()


def first_layer(model_or_class, fed: bool = False) -> nn.Module | None:
    """The first layer with weights of a built model (a Linear, a convolution or an embedding, in the order its
    modules were registered: its front end), None for a class (nothing built). ``fed``: only if a model class
    owns it (an attribute of a ``PreTrainedModel``, whose forward gives it the input as it comes: Molmo2's patch
    embedding, Granite Speech 5's input_linear), not a module of its own that reshapes the input first
    (Llama 4's unfold, Nemotron's frame stacking, RADIO's patch embedder)."""
    if not isinstance(model_or_class, nn.Module):
        return None
    for name, layer in model_or_class.named_modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding)):
            if not fed:
                return layer
            from transformers import PreTrainedModel

            owner = model_or_class.get_submodule(name.rpartition(".")[0])
            return layer if isinstance(owner, PreTrainedModel) else None
    return None


def sub_configs(config) -> list:
    """The config's sub-configs (``vision_config``, ``backbone_config``, ``sam_config`` ...), breadth first,
    a vision tower's first."""
    from transformers import PretrainedConfig

    out, todo = [], [config]
    while todo:
        c = todo.pop(0)
        subs = [(k, v) for k, v in vars(c).items() if isinstance(v, PretrainedConfig) and v is not c]
        subs.sort(key=lambda kv: (kv[0] != "vision_config", kv[0] != "sam_config", kv[0] != "backbone_config"))
        for _, v in subs:
            if all(v is not o for o in out):
                out.append(v)
                todo.append(v)
    return out


def _field(configs, *keys):
    """The first positive int (or list of them) among ``keys`` of ``configs``, in order."""
    for c in configs:
        for key in keys:
            value = getattr(c, key, None)
            if isinstance(value, bool):
                continue
            if isinstance(value, int) and value > 0 or \
                    isinstance(value, (list, tuple)) and value and all(isinstance(v, int) for v in value):
                return value
    return None


def image_size_of(config) -> tuple[int, int, int]:
    """``(C, H, W)`` of an image model's input: the config's ``image_size``, else the first one of its
    sub-configs (a vision tower's, SAM's image encoder, a backbone's: the size its position tables or prompt
    encoder are made for; SAM 2 refuses any other), else 224. A windowed ViT backbone (``num_windows``: RF-DETR's
    DINOv2; LW-DETR's ``num_windows_side``) needs sides that are a multiple of ``patch_size x num_windows``:
    rounded up to one."""
    configs = [config, *sub_configs(config)]
    size = _field(configs, "image_size") or 224
    size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    sides = [int(size[0]), int(size[-1])]
    for c in configs:
        windows = getattr(c, "num_windows_side", None) or getattr(c, "num_windows", None)
        patch = getattr(c, "patch_size", None)
        if isinstance(windows, int) and windows > 1 and isinstance(patch, int) and patch > 0:
            step = windows * patch
            sides = [-(-s // step) * step for s in sides]
            break
    return int(_field(configs, "num_channels") or 3), sides[0], sides[1]


def patches_of(model_or_class, config) -> tuple[str, tuple[int, ...]] | None:
    """``("patches", one sample's shape)`` of a vision tower whose ``pixel_values`` are patches, not an image
    (read off its first layer, a Linear): ``(N, P x P x C)`` flattened patches of a Linear patch embedding
    (Molmo2: N its ``num_position_embeddings``, else the patches of its image size), or ``(T, P, P, C)``
    patch tubes, channels last, whose first layer mixes the C channels of each pixel (Inkling: the batch
    dimension counts the patches). None for an image model, or a class."""
    first, fed = first_layer(model_or_class), first_layer(model_or_class, fed=True)
    p, c = getattr(config, "patch_size", None), getattr(config, "num_channels", None) or 3
    if not isinstance(first, nn.Linear) or not isinstance(p, int) or not isinstance(c, int):
        return None
    if first.in_features == p * p * c and fed is first:
        n = getattr(config, "num_position_embeddings", None)
        if not isinstance(n, int) or n < 1:
            _, h, w = image_size_of(config)
            n = (h // p) * (w // p)
        return "patches", (n, p * p * c)
    t = getattr(config, "temporal_patch_size", None)
    if isinstance(t, int) and t > 0 and first.in_features == c and getattr(config, "image_size", None) is None:
        return "patches", (t, p, p, c)
    return None


def image_of(config) -> tuple[int, int, int] | None:
    """``(C, H, W)`` of the image a two-tower model's vision tower takes (``config.vision_config``), else None."""
    vision = getattr(config, "vision_config", None)
    size = getattr(vision, "image_size", None)
    if size is None:
        return None
    size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    return int(getattr(vision, "num_channels", 3)), int(size[0]), int(size[-1])


def features_of(config) -> tuple[int, int] | None:
    """``(mel bins, frames)`` of Whisper's ``input_features``: its two convolutions (stride 1, then 2) make
    ``2 x max_source_positions`` frames the ``max_source_positions`` positions of its encoder, which refuses
    any other length (30 s of audio at 100 frames a second); None for a config without those fields."""
    mel, positions = getattr(config, "num_mel_bins", None), getattr(config, "max_source_positions", None)
    if not isinstance(mel, int) or not isinstance(positions, int):
        return None
    return mel, 2 * positions


def _tokens(limit) -> tuple[int]:
    # a default length past a learned position table fails (CLIP's text tower has 77 positions)
    return (min(DEFAULT_TOKENS, limit) if isinstance(limit, int) and limit > 0 else DEFAULT_TOKENS,)


def input_of(model_or_class, config) -> tuple[str, tuple[int, ...]]:
    """``(kind, one sample's default input)``: ``("tokens", (DEFAULT_TOKENS,))`` for a model that takes
    ``input_ids``; ``("text-image", (T,))`` for a two-tower text and image model (CLIP, SigLIP: ``input_ids``
    plus ``pixel_values`` of :func:`image_of`; T at most its text positions); ``("speech-text", (T,))`` for
    Whisper's encoder-decoder (``input_features`` of :func:`features_of` plus T ``decoder_input_ids``);
    ``("image", (C, H, W))`` for ``pixel_values`` (:func:`image_size_of`), ``("patches", ...)`` for a tower
    that takes them (:func:`patches_of`); a vocoder's ``("spectrogram", (frames, mel))``; audio
    (:func:`profiler.zoo.hf_registry.audio_of`): ``waveform``, ``features``, a decoder's ``latents``; else
    ``(main input name, ())`` (not made: :data:`profiler.zoo.hf_registry.INPUT_WORDS`). Token ids over audio
    codebooks (:func:`token_layout`) and the audio some token models need beside them
    (:func:`audio_beside_tokens`) are ``tokens`` too, made by :func:`profiler.zoo.inputs.text_inputs`. A built
    model's front end (:func:`first_layer`) decides layouts a class alone cannot tell."""
    from transformers.models.auto import modeling_auto

    main = getattr(model_or_class, "main_input_name", "input_ids")
    params = _forward_params(model_or_class)
    if main == "input_ids" and "input_ids" not in params and "pixel_values" in params:
        main = "pixel_values"  # a vision tower that keeps PreTrainedModel's default main_input_name
    if main in ("pixel_values", "input_values", "input_features") and params and main not in params \
            and "input_ids" in params:
        main = "input_ids"  # a text tower that keeps its family's main_input_name (PP-FormulaNet's, SAM 3's)
    if main == "input_ids":
        # a two-tower model (contrastive text and image encoders); BLIP-2's forward, led by pixel_values, places
        # the image among the tokens (placeholder ids): not made here
        if config.model_type in modeling_auto.MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES \
                and "pixel_values" in params and image_of(config) is not None:
            return "text-image", _tokens(getattr(text_config(config), "max_position_embeddings", None))
        if "last_hidden_state" in params:  # a depth decoder over another model's states (Moshi's): not made
            return "last_hidden_state", ()
        # a learned position table shorter than the default length (CLIP-like text towers: 77) bounds it
        return "tokens", _tokens(getattr(text_config(config), "max_position_embeddings", None))
    if main == "spectrogram":  # a vocoder (HiFi-GAN): mel frames to a waveform
        from profiler.zoo.hf_registry import spectrogram_of

        spectrogram = spectrogram_of(config)
        if spectrogram is not None:
            return spectrogram
    if main in ("pixel_values", "pixel_values_videos"):
        from profiler.zoo.hf_registry import video_of

        video = video_of(config, main)
        if video is not None:  # frames of a video model (VideoMAE, ViViT, V-JEPA 2 ...): (T, C, H, W)
            return video
    if main == "pixel_values":
        patches = patches_of(model_or_class, config)
        if patches is not None:  # a Linear patch embedding: pixel_values are patches (Molmo2, Inkling)
            return patches
        return "image", image_size_of(config)
    if main == "input_features" and "decoder_input_ids" in params and features_of(config) is not None:
        return "speech-text", _tokens(getattr(config, "max_target_positions", None))
    if main in ("input_values", "input_features"):  # audio: a waveform, a spectrogram or filter banks
        from profiler.zoo.hf_registry import audio_of

        audio = audio_of(model_or_class, config, main, params)
        if audio is not None:
            if "decoder_input_ids" in params:  # an encoder-decoder: the audio plus T decoder tokens
                return "speech-text", _tokens(getattr(config, "max_target_positions", None))
            return audio
    bare = isinstance(model_or_class, nn.Module) and getattr(model_or_class, "input_preprocessor", False) is None
    if main == "inputs" and bare and isinstance(getattr(config, "d_model", None), int):
        # Perceiver's bare model, built without a modality's preprocessor: its inputs are already d_model-wide
        # embeddings, T of them (T as for tokens)
        return "features", (*_tokens(getattr(config, "max_position_embeddings", None)), config.d_model)
    return main, ()


#: :func:`input_of`'s kinds that are one float tensor of (batch, *shape) (``ModelInfo.input_kind`` "tensor").
TENSOR_KINDS = ("image", "video", "waveform", "spectrogram", "features", "patches", "latents")


def token_layout(model_or_class, config, arg: str = "input_ids") -> tuple[int, int]:
    """``(rows, columns)`` of one sample's ids of ``arg``: ``(1, 1)`` for ``(batch, T)``; ``(K, 1)`` for
    ``(batch x K, T)``, a decoder over K audio codebooks whose forward documents ids of shape
    ``(batch_size * num_codebooks, sequence_length)`` (MusicGen's, Dia's decoder: K its config's
    ``num_codebooks``, or Dia's decoder's ``num_channels``); ``(1, K + 1)`` for ``(batch, T, K + 1)``: a stream
    of one text token and K audio codes per step, each code in its own ``codebook_vocab_size`` range (Kyutai's
    speech-to-text)."""
    doc = getattr(getattr(model_or_class, "forward", None), "__doc__", None) or ""
    shape = re.search(rf"\b{arg} \(`[^`]*` of shape `([^`]*)`", doc)
    forms = [" ".join(f.split()) for f in re.split(r"\||\bor\b", shape.group(1))] if shape else []
    if any("num_codebooks" in f for f in forms) and not any(f.count(",") == 1 and "codebooks" not in f
                                                              for f in forms):
        where = [getattr(config, "decoder_config", None) or getattr(config, "decoder", None)] \
            if arg.startswith("decoder_") else [text_config(config)]
        books = _field([*[c for c in where if c is not None], config], "num_codebooks", "num_channels")
        if isinstance(books, int):  # the codes last where the forward documents it (contiguous: Dia's)
            return (1, books) if any(f.rstrip(")").endswith("num_codebooks") for f in forms) else (books, 1)
    cfg = text_config(config)
    books = getattr(cfg, "num_codebooks", None)
    if arg == "input_ids" and isinstance(getattr(cfg, "codebook_vocab_size", None), int) and isinstance(books, int):
        return 1, books + 1
    return 1, 1


_MEL_KEYS = ("num_mel_bins", "feature_size", "n_mels")


def audio_beside_tokens(model_or_class, config) -> tuple[str, tuple[int, ...]] | None:
    """``("input_features", one sample's shape)`` of the audio a token model takes beside its ids, else None:
    a forward with ``input_features`` in a model that is no encoder-decoder (whose encoder would take them
    alone), no language model, and places no audio among its tokens (no audio placeholder token id: an audio
    LLM's audio is optional). CLAP's text and audio towers, CLVP's conditioning mel spectrogram: the features
    of its audio sub-config (:func:`profiler.zoo.hf_registry.audio_of`)."""
    params = _forward_params(model_or_class)
    if "input_features" not in params or "input_ids" not in params or getattr(config, "is_encoder_decoder", False):
        return None
    if {"causal-lm", "seq2seq-lm"} & set(tasks_for(config)):
        return None  # a speech LM aligns its audio with its tokens (Voxtral Realtime: one per 8 frames)
    subs = sub_configs(config)
    for c in (config, *subs):
        if any(k.startswith("audio") and ("token_id" in k or "token_index" in k) for k in vars(c)):
            return None
    audio = next((c for c in (getattr(config, "audio_config", None), *subs)
                  if c is not None and _field([c], *_MEL_KEYS) is not None), None)
    if audio is None:
        return None
    from profiler.zoo.hf_registry import audio_of

    made = audio_of(model_or_class, audio, "input_features", params)
    return ("input_features", made[1]) if made is not None else None


def speech_input(model_or_class, config) -> tuple[str, tuple[int, ...]]:
    """``(argument name, one sample's shape)`` of a speech encoder-decoder's audio (``speech-text``): Whisper's
    ``input_features`` (:func:`features_of`), another's waveform or features
    (:func:`profiler.zoo.hf_registry.audio_of`)."""
    from profiler.zoo.hf_registry import audio_of

    main = getattr(model_or_class, "main_input_name", "input_features")
    audio = audio_of(model_or_class, config, main, _forward_params(model_or_class))
    if audio is None:
        return "input_features", features_of(config)
    return main, audio[1]


def default_input(name: str, task: str | None = None) -> tuple[int, ...]:
    """One sample's default input of ``hf:name`` (tokens: the sequence length), read off its config and
    model class without building the model."""
    config = load_config(name)
    return input_of(model_class(config, task, f"hf:{name}"), config)[1]


def text_config(config):
    """The config holding the language model's fields (``vocab_size`` ...): a composite model's text config."""
    get = getattr(config, "get_text_config", None)
    if callable(get):
        try:
            return get()
        except Exception:  # noqa: BLE001 - some composite configs refuse without a sub-config
            return config
    return config


def context_note(config, tokens: int, kind: str = "tokens") -> str | None:
    """A note when ``tokens`` exceed a position limit of the config (``max_position_embeddings``,
    ``n_positions`` and every ``max_*_positions`` field: Whisper's decoder has ``max_target_positions``): the
    count follows the shapes, but a real pass would fail (a learned position table) or extrapolate (RoPE).
    ``kind`` ``speech-text``: the tokens are the decoder's only (the encoder's positions are audio frames)."""
    cfg = text_config(config)
    skip = {"max_source_positions"} if kind == "speech-text" else set()
    limits = {}
    for c in (cfg, config):  # a composite model's text config first, then its own fields
        for key, value in c.to_dict().items():
            if key in skip:
                continue
            if _POSITIONS.fullmatch(key) and isinstance(value, int) and not isinstance(value, bool) and tokens > value:
                limits.setdefault(key, value)
    if not limits:
        return None
    limit = min(limits.values())
    fields = ", ".join(k for k, v in limits.items() if v == limit)
    return (f"{tokens:,} tokens exceed the model's context of {limit:,} ({fields}): counted from the shapes; "
            "a real pass would fail (learned positions) or extrapolate (rotary positions)")
