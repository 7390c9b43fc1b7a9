"""The whole transformers registry as a zoo to sweep (``profile-model sweep --zoo hf``): the model class of a type
no task's auto mapping builds by default, the inputs of audio models, and every type that is not counted named
with its reason (:func:`classify`).

A type's model: its default task's class (:func:`profiler.zoo.hf.default_task`); a type no task of
:data:`profiler.zoo.hf.TASKS` has (a depth estimator, a segmenter, a tower of a two-tower model ...) is built
from the first other auto mapping that names it, else from the class of its own modeling module whose
``config_class`` is its config (:func:`fallback_class`). A config with neither (a prompt encoder or mask decoder
built inside SAM, a vocoder config of a composite model) has no model of its own: :class:`NotBuildableError`.
"""
from __future__ import annotations

import functools
import importlib
import math
import re

import torch.nn as nn

from profiler.errors import UsageError

#: Statuses of a sweep row of the hf zoo besides the sweep's own (profiler.studies.sweep): none of them is a
#: failure of our counting. ``not-buildable``: the default config is not meant to be built alone (no model
#: class of its own); ``remote-code``: the model's code lives on the hub only (trust_remote_code);
#: ``hf-error``: transformers' own error building its default config (quoted); ``hf-forward``: transformers'
#: forward code raised (its own check or a field its default config leaves None) on the default config and our
#: default input, or the default config contradicts itself (:data:`CONFIG_CONFLICTS`: two of its parts cannot
#: meet whatever the input, as a real CPU pass shows). A pass failing elsewhere (an op's shapes, our meta
#: kernels) stays ``failed``: ours, or not told apart.
HF_STATUSES = ("not-buildable", "remote-code", "hf-error", "hf-forward")

#: Default configs of transformers that contradict themselves: two parts built from different fields that cannot
#: meet whatever the input (a neck made for 384 channels behind a backbone giving 1024). Model type -> (the error
#: the pass raises, a regular expression; what disagrees). Each was proved by a real CPU pass failing with the
#: same error: the default config, or a small one keeping the disagreeing fields. A repair of the default
#: config (profiler.zoo.hf_repairs) supersedes an entry: the pass then runs, and the error no longer matches.
CONFIG_CONFLICTS: dict[str, tuple[str, str]] = {
    "pp_ocrv6_small_det": (r"weight of size \[96, 12, 1, 1\], expected input\[1, 384,",
                           "the neck's first insert convolution takes layer_list_out_channels[0] = 12 channels, "
                           "the backbone's default out_indices [4] give its last stage, stage_out_channels[-1] = 384"),
    "deepseek_ocr2_vision": (r"Expected size 896 but got size 4096",
                             "the SAM encoder's last downsample_channels (896, the published encoder width) are "
                             "concatenated with learned queries of encoder_config.hidden_size 4096"),
}

#: What each main input a model takes but profile_model does not make is, in words (the sweep's reason).
INPUT_WORDS = {
    "pixel_values_videos": "video frames", "past_values": "time series (past values, time features, masks)",
    "latents": "audio codec latents", "states": "RL trajectories (states, actions, rewards, timesteps)",
    "inputs": "a modality-specific encoder's inputs (Perceiver, speech encoder-decoder)",
    "noise_embeds": "diffusion noise embeddings", "inputs_embeds": "embeddings (no token ids)",
    "audio_mel": "audio mel frames with their mask", "state": "robot state and action embeddings",
    "hidden_states": "another model's hidden states", "input_points": "point prompts",
    "last_hidden_state": "another model's hidden states beside the tokens (a depth decoder's)",
    "pixel_values+task_inputs": "an image and task tokens", "point_cloud": "point clouds",
    "bbox": "bbox inputs", "audio_codes": "audio codes", "input_ids": "token ids beside the image",
    "image": "an image under another argument name (image)", "query_embeds": "query embeddings (a Q-Former)",
    "inputs_embeds+shared_kv_states": "another model's embeddings and KV states (an assistant/draft model)",
}

#: One second of audio at this rate when the config gives none.
SAMPLING_RATE = 16000
#: Frames of log-mel (or filter-bank) features of a speech encoder that is not Whisper-like (10 s at 10 ms).
FEATURE_FRAMES = 1000


class NotBuildableError(UsageError):
    """A registry type whose default config has no model class of its own (a sub-config of a composite model)."""


class RemoteCodeError(UsageError):
    """A registry type whose model code is on the hub only (trust_remote_code): no class here builds it."""


@functools.lru_cache(maxsize=None)
def _auto_mappings() -> tuple:
    from transformers.models.auto import modeling_auto

    names = sorted(n for n in dir(modeling_auto) if n.startswith("MODEL_") and n.endswith("_MAPPING_NAMES"))
    names.remove("MODEL_MAPPING_NAMES")
    return tuple((n[len("MODEL_FOR_"):-len("_MAPPING_NAMES")].lower(), getattr(modeling_auto, n)) for n in names)


def _class_by_name(name) -> type | None:
    import transformers

    for n in (name if isinstance(name, (list, tuple)) else (name,)):
        try:
            cls = getattr(transformers, n, None)
        except Exception:  # noqa: BLE001 - a lazy import transformers cannot make (a missing extra)
            cls = None
        if isinstance(cls, type):
            return cls
    return None


def fallback_class(config) -> tuple[type, str]:
    """``(model class, where it was found)`` for a config no task of :data:`profiler.zoo.hf.TASKS` builds:
    another auto mapping's class (``depth_estimation``, ``semantic_segmentation`` ...) or the class of the
    type's modeling module whose ``config_class`` is the config's (a text or vision tower). Raises
    :class:`RemoteCodeError` or :class:`NotBuildableError` when there is none."""
    mt = config.model_type
    for where, mapping in _auto_mappings():
        if mt in mapping:
            cls = _class_by_name(mapping[mt])
            if cls is not None:
                return cls, where
    from transformers import PreTrainedModel

    cfg_cls = type(config)
    module_name = cfg_cls.__module__.replace(".configuration_", ".modeling_")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        module = None
    if module is not None:
        found = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, PreTrainedModel)
                 and getattr(c, "config_class", None) is cfg_cls and c.__module__ == module.__name__
                 and not c.__name__.endswith("PreTrainedModel")]
        # the bare tower before its heads (...Model before ...ForXxx)
        found.sort(key=lambda c: ("For" in c.__name__, not c.__name__.endswith("Model"), len(c.__name__)))
        if found:
            return found[0], "own class"
    family = cfg_cls.__module__.split(".")[2] if cfg_cls.__module__.count(".") >= 2 else "?"
    if getattr(cfg_cls, "model_type", mt) not in ("", mt) and module is None:
        raise RemoteCodeError(f"hf:{mt}: the registry maps it to {cfg_cls.__name__} ({family}), whose model "
                              "code is on the hub only (trust_remote_code): no class of transformers builds it")
    raise NotBuildableError(f"hf:{mt}: {cfg_cls.__name__} has no model class of its own: a part of the "
                            f"{family} family's composite model, built inside it")


def quiet() -> None:
    """Silence transformers' logging (its docstring checks print [ERROR] lines on stdout, its kernels say they
    fall back to PyTorch code) in a sweep's worker: every type's outcome is in its row."""
    try:
        from transformers.utils import logging
    except ImportError:
        return
    logging.set_verbosity(logging.CRITICAL + 10)
    logging.disable_progress_bar()


# -- inputs of audio models ------------------------------------------------------------------------------------
def audio_of(model_or_class, config, main: str, params: set) -> tuple[str, tuple[int, ...]] | None:
    """``(kind, one sample's shape)`` of an audio model's main input, or None when it is no audio input made
    here. ``input_values``: one second of waveform (``(samples,)`` for wav2vec2's family, which takes
    ``mask_time_indices``, and for a model whose first layer is a Linear over samples; ``(channels, samples)``
    for a convolution over the channels: codecs, OmniASR), rounded up to a multiple of the config's
    ``samples_per_token`` (Muse Spark refuses others); an audio tokenizer's decoder whose first convolution
    takes ``hidden_size`` channels (VibeVoice's): ``("latents", (hidden_size, frames))``, one second of them
    (:func:`latents_of`). ``input_features``: Whisper-like ``(mel bins, 2 x max_source_positions)``, else
    ``FEATURE_FRAMES`` frames laid out as the model's front end reads them (:func:`features_layout`); CLAP's
    spectrogram-as-an-image (``spec_size``): ``(channels, FEATURE_FRAMES, mel bins)``, 4 channels with
    ``enable_fusion``. AST's ``input_values``: its ``(max_length, num_mel_bins)`` spectrogram."""
    from profiler.zoo.hf import first_layer

    rate = getattr(config, "sampling_rate", None)
    rate = int(rate) if isinstance(rate, int) and rate > 0 else SAMPLING_RATE
    first = first_layer(model_or_class)
    if main == "input_values":
        mel, length = getattr(config, "num_mel_bins", None), getattr(config, "max_length", None)
        if isinstance(mel, int) and isinstance(length, int) and "audio-spectrogram" in config.model_type:
            return "spectrogram", (length, mel)
        latents = latents_of(model_or_class, config)
        if latents is not None:
            return latents
        step = getattr(config, "samples_per_token", None)
        if isinstance(step, int) and step > 1:
            rate = -(-rate // step) * step
        if "mask_time_indices" in params or "attention_mask" in params:
            return "waveform", (rate,)  # wav2vec2's family, speech encoder-decoders: (batch, samples)
        if isinstance(first, nn.Conv1d):  # a convolution over the waveform's channels: (batch, channels, samples)
            return "waveform", (int(first.in_channels), rate)
        if isinstance(first, nn.Linear) or hasattr(config, "conv_dim"):
            return "waveform", (rate,)
        channels = getattr(config, "audio_channels", None) or getattr(config, "channels", None) or 1
        return "waveform", (int(channels) if isinstance(channels, int) else 1, rate)
    if main == "input_features":
        from profiler.zoo.hf import features_of

        whisper = features_of(config)
        if whisper is not None:
            return "features", whisper
        spec, mel = getattr(config, "spec_size", None), getattr(config, "num_mel_bins", None)
        if isinstance(spec, int) and isinstance(mel, int):  # CLAP's HTS-AT: the spectrogram as a 1- or 4-channel image
            return "features", (4 if getattr(config, "enable_fusion", False) else 1, FEATURE_FRAMES, mel)
        for cfg in (config, getattr(config, "encoder_config", None)):  # NeMo-style models: their encoder's
            for key in ("num_mel_bins", "feature_projection_input_dim", "feature_size", "input_feat_per_channel",
                        "input_dim", "n_mels"):
                value = getattr(cfg, key, None)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    if key == "input_feat_per_channel":
                        value *= int(getattr(cfg, "input_channels", 1) or 1)
                    return "features", features_layout(model_or_class, key, value)
    return None


def features_layout(model_or_class, key: str, value: int) -> tuple[int, int]:
    """One sample's ``input_features`` of ``value`` features a frame (config field ``key``), as the model's
    front end reads them: ``(value, FEATURE_FRAMES)`` for a convolution over the mel bins (a Conv1d of
    ``value`` input channels, Whisper-like: GLM-ASR's, Voxtral Realtime's encoders; S2T's subsampler, whose
    ``input_feat_per_channel`` it transposes itself, is not one); ``(FEATURE_FRAMES, k x value)`` for a first
    Linear of ``k x value`` inputs that the model's forward feeds as they come (frames stacked k to a row:
    Granite Speech 5 concatenates each frame with its delta and stacks pairs, k = 4; Nemotron's stacking module,
    which stacks them itself, is not one: :func:`profiler.zoo.hf.first_layer`); else ``(FEATURE_FRAMES, value)``.
    A class (nothing built): the last."""
    from profiler.zoo.hf import first_layer

    first = first_layer(model_or_class)
    if isinstance(first, nn.Linear) and first is first_layer(model_or_class, fed=True) \
            and first.in_features != value and first.in_features % value == 0:
        return FEATURE_FRAMES, int(first.in_features)
    if key in ("num_mel_bins", "feature_size", "n_mels") and isinstance(model_or_class, nn.Module):
        conv = next((m for m in model_or_class.modules() if isinstance(m, nn.Conv1d)), None)
        if conv is not None and conv.in_channels == value and not isinstance(first, nn.Linear):
            return value, FEATURE_FRAMES
    return FEATURE_FRAMES, value


def _hop(config) -> int | None:
    """Samples per frame of an audio decoder: the product of its up- or down-sampling ratios."""
    for key in ("upsample_rates", "upsampling_ratios", "downsampling_ratios"):
        ratios = getattr(config, key, None)
        if isinstance(ratios, (list, tuple)) and ratios and all(isinstance(r, int) and r > 0 for r in ratios):
            return int(math.prod(ratios))
    return None


def _frames(config, hop: int) -> int:
    rate = getattr(config, "sampling_rate", None)
    rate = int(rate) if isinstance(rate, int) and rate > 0 else SAMPLING_RATE
    return max(1, -(-rate // hop))


def spectrogram_of(config) -> tuple[str, tuple[int, int]] | None:
    """``("spectrogram", (frames, mel bins))`` of a vocoder (HiFi-GAN: ``model_in_dim`` mel bins a frame, its
    ``upsample_rates`` making each frame their product of samples): one second of output audio at the config's
    sampling rate (else ``SAMPLING_RATE``), frames rounded up. None without those fields."""
    mel = getattr(config, "model_in_dim", None) or getattr(config, "num_mel_bins", None)
    hop = _hop(config)
    if not isinstance(mel, int) or mel < 1 or hop is None:
        return None
    return "spectrogram", (_frames(config, hop), mel)


def latents_of(model_or_class, config) -> tuple[str, tuple[int, int]] | None:
    """``("latents", (hidden_size, frames))`` of an audio tokenizer's decoder (VibeVoice's acoustic decoder):
    its first layer a Conv1d over ``hidden_size`` latent channels (an encoder's takes the waveform's
    ``channels``), one second of frames at its ``upsampling_ratios``/``downsampling_ratios`` hop. None else."""
    from profiler.zoo.hf import first_layer

    first, hidden, hop = first_layer(model_or_class), getattr(config, "hidden_size", None), _hop(config)
    channels = getattr(config, "channels", None) or getattr(config, "audio_channels", None) or 1
    if not isinstance(first, nn.Conv1d) or hop is None or not isinstance(hidden, int) \
            or first.in_channels != hidden or hidden == channels:
        return None
    return "latents", (hidden, _frames(config, hop))


def video_of(config, main: str) -> tuple[str, tuple[int, ...]] | None:
    """``("video", (frames, C, H, W))`` of a video model (``pixel_values_videos``, or ``pixel_values`` of a
    config with ``num_frames``: VideoMAE, ViViT, TimeSformer) from its config (or vision config), else None."""
    for cfg in (config, getattr(config, "vision_config", None)):
        if cfg is None:
            continue
        frames = getattr(cfg, "num_frames", None) or getattr(cfg, "frames_per_clip", None)
        if not isinstance(frames, int) or frames < 1:
            continue
        if main == "pixel_values" and cfg is not config:
            return None
        size = getattr(cfg, "image_size", None) or getattr(cfg, "crop_size", None)
        size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        if not all(isinstance(d, int) and d > 0 for d in size):
            return None
        return "video", (frames, int(getattr(cfg, "num_channels", 3)), int(size[0]), int(size[-1]))
    return None


# -- the sweep's reasons -----------------------------------------------------------------------------------------
_MAKE = re.compile(r"takes (.+?), which profile_model cannot make yet")
_NO_FORWARD = re.compile(r'missing the required "forward" function|_forward_unimplemented')
_REQUIRES = re.compile(r"requires the (\w+) library")
_META_LIMIT = re.compile(r"torch\.nonzero\(\)|Cannot copy out of meta tensor|aten::\w+: attempted to run this "
                         r"operator with Meta tensors|_local_scalar_dense|\.item\(\)")
_SPECIFY = re.compile(r"You (?:have|need) to (?:specify|provide|pass) `?(\w+)`?")
_SHARED_KV = re.compile(r"inputs_embeds and shared_kv_states cannot be None")
_MISSING = re.compile(r"forward\(\) missing \d+ required positional arguments?: (.+)$")


def input_words(kind: str) -> str:
    """An input kind not made yet, in words with its argument names: ``video frames (pixel_values_videos)``."""
    key = kind.strip("[]").replace("'", "").replace(", ", "+")
    return f"{INPUT_WORDS.get(key, key)} ({key})"


def classify(exc: BaseException, name: str) -> tuple[str, str]:
    """``(status, error)`` of a registry type whose profile raised ``exc``: the reason named, and one that
    is transformers' (its own default config refused, or its construction raising) told from ours
    (``failed``: the pass on meta or our inputs)."""
    from profiler.core.engine import ProfilingError
    from profiler.zoo.memory import TooBigError

    msg = " ".join(str(exc).split())
    if isinstance(exc, RemoteCodeError):
        return "remote-code", msg
    if isinstance(exc, NotBuildableError):
        return "not-buildable", msg
    needs = _REQUIRES.search(msg) if isinstance(exc, ImportError) else None
    if needs:  # transformers' own check for an optional package (natten, scipy, torchaudio ...)
        package = needs.group(1)
        return "missing-dependency", f"needs optional dependency {package} (pip install {package})"
    made = _MAKE.search(msg)
    if made:
        return "needs-inputs", f"input kind not made yet: {input_words(made.group(1))}"
    if isinstance(exc, TooBigError) and exc.__cause__ is not None and not isinstance(exc.__cause__, ProfilingError):
        # the construction failed on meta, and the CPU construction tried next would not fit: the first is why
        status, error = classify(exc.__cause__, name)
        return status, f"{error} (the CPU construction tried next would not fit in memory)"
    if isinstance(exc, TooBigError) and isinstance(exc.__context__, ProfilingError):
        # the pass failed on meta and the real CPU pass it falls back to would not fit: the meta failure is why
        status, error = classify(exc.__context__, name)
        need = re.search(r"would need [^;:()]*", msg)
        return status, f"{error} (the CPU fallback {need.group(0).strip() if need else 'would not fit'})"
    if isinstance(exc, ProfilingError):
        cause = exc.__cause__
        conflict = CONFIG_CONFLICTS.get(name)
        if conflict is not None and re.search(conflict[0], msg):
            text = " ".join(str(cause if cause is not None else exc).split())[:300]
            return "hf-forward", (f"transformers' default config is self-inconsistent: {conflict[1]}; a real CPU "
                                  f"pass fails the same: {type(cause or exc).__name__}: {text}")
        if "in module '(root)'" in msg and _NO_FORWARD.search(str(cause or "")):
            return "not-buildable", (f"hf:{name}: {type(cause).__name__}: its model class has no forward of its "
                                     "own (sub-models run by generate or by a pipeline)")
        if _SHARED_KV.search(str(cause or "")):  # Gemma 4's assistant: the target model's embeddings and KV cache
            return "needs-inputs", f"input kind not made yet: {input_words('inputs_embeds+shared_kv_states')}"
        missing = _MISSING.search(str(cause or ""))
        if missing and "in module '(root)'" in msg:  # the model's forward wants an input we do not make
            args = [a.strip(" '") for a in re.split(r",|\band\b", missing.group(1)) if a.strip(" '")]
            return "needs-inputs", f"input kind not made yet: {input_words('+'.join(args))}"
        wanted = _SPECIFY.search(str(cause or ""))
        if wanted and wanted.group(1) not in ("input_ids", "inputs_embeds"):  # LayoutLM-like: "specify bbox"
            return "needs-inputs", f"input kind not made yet: {input_words(wanted.group(1))}"
        if cause is not None and _raised_in_transformers(cause):
            where = re.search(r"in module '[^']*' \(\w+\)", msg)
            text = " ".join(str(cause).split())[:300]
            return "hf-forward", (f"transformers' forward raised {where.group(0) if where else ''}: "
                                  f"{type(cause).__name__}: {text}")
        why = f" [{type(cause).__name__}]" if cause is not None else ""
        limit = _META_LIMIT.search(str(cause or ""))
        if limit:  # data-dependent code meta cannot run (the CPU fallback, where it fits, counts it)
            return "failed", (f"meta cannot run data-dependent code ({limit.group(0)}); {type(exc).__name__}: "
                              f"{msg[:300]}{why}")
        return "failed", f"{type(exc).__name__}: {msg[:400]}{why}"
    if isinstance(exc, UsageError):
        return "failed", f"{type(exc).__name__}: {msg[:400]}"
    if isinstance(exc, (MemoryError, RecursionError)):
        return "failed", f"{type(exc).__name__}: {msg[:300]}"
    # anything else was raised while transformers built the model from its default config
    return "hf-error", f"transformers' own error building the default config: {type(exc).__name__}: {msg[:300]}"


def _raised_in_transformers(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by a line of transformers' own code (a ``raise`` of its checks, or Python
    failing on a value of its config), not inside torch's ops or the profiler."""
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and "/transformers/" in last.tb_frame.f_code.co_filename


def reason(row: dict) -> str:
    """The reason a row of the hf sweep groups under (its status and the error without the type's details)."""
    status, error = row.get("status", ""), row.get("error", "") or ""
    if status in ("ok", "uncovered"):
        return status
    if status in ("needs-inputs", "missing-dependency"):
        return error
    if status == "not-buildable":
        if "no forward of its own" in error:
            return "not-buildable: a model class with no forward of its own (sub-models run by generate)"
        return "not-buildable: a sub-config with no model class of its own (a part of a composite model)"
    if status == "remote-code":
        return "remote-code: model code on the hub only"
    if status == "hf-forward" and error.startswith("transformers' default config is self-inconsistent"):
        return "hf-forward: the default config contradicts itself (two parts cannot meet; a real CPU pass fails too)"
    if status == "failed" and error.startswith("meta cannot run data-dependent code"):
        return "failed: meta cannot run a data-dependent op, and the real CPU pass it falls back to is too big"
    if status in ("timeout", "memory", "crashed"):
        head = re.sub(r"\d[\d.,]*", "N", error.split(":")[0])
        return f"{status}: {head}"
    text = re.sub(r"^transformers' own error building the default config: |^transformers' forward raised "
                  r"in module '[^']*' \(\w+\): ", "", error)
    text = re.sub(r"hf:[\w.-]+", "hf:TYPE", text.split(" with input shapes ")[0])
    text = re.sub(r"\(the CPU fallback [^)]*\)", "", text)
    text = re.sub(r"'[^']*'|`[^`]*`|<[^>]*>", "'...'", text)
    text = re.sub(r"\d+", "N", text).strip()
    return f"{status}: {text[:110]}"
