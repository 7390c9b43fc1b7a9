"""Model names -> ``nn.Module`` across zoos, architectures only (weights are never downloaded).

Names are ``NAME`` or ``ZOO:NAME`` with ZOO one of :data:`ZOOS`; unqualified names resolve in that order
(builtin first, Hugging Face's model types last). A user's own model is ``path/to/file.py:factory`` or
``package.module:factory`` (zoo ``user``). Each zoo's default input resolution comes from its own config:
timm's pretrained cfg, the crop size of torchvision's default weights' transforms, pytorchcv's ``in_size``,
the builtin registry; a Hugging Face language model takes tokens (:data:`profiler.zoo.hf.DEFAULT_TOKENS`),
its vision models their config's image size. ``hf:`` names are described in :mod:`profiler.zoo.hf`.
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import importlib
import importlib.util
import inspect
import os
import re
import sys
import warnings
from dataclasses import dataclass

import torch.nn as nn

from profiler.errors import UnknownModelError, UsageError

ZOOS = ("builtin", "timm", "torchvision", "pytorchcv", "hf")

#: How a model takes its input (``ModelInfo.input_kind``; an ``hf:`` model may name another main input, such as
#: ``input_values``): one float tensor of (batch, *input_size); a language model's token ids; token ids plus an
#: image at the config's vision size (``text-image``: CLIP, SigLIP); log-mel features at the config's size plus
#: decoder token ids (``speech-text``: Whisper); a list of ``batch`` 3-D images (torchvision's detection
#: models); two tensors of (batch, *input_size) (optical flow); the arguments :data:`PYTORCHCV_INPUTS` lists
#: (``fixed``).
INPUT_KINDS = ("tensor", "tokens", "text-image", "speech-text", "images", "image-pair", "fixed")
#: The kinds whose ``input_size`` is ``(tokens,)`` (``--input N`` = N tokens) and whose inputs
#: :func:`profiler.zoo.inputs.text_inputs` makes whole (the image or the audio features from the config).
from profiler.core.profile import TOKEN_KINDS  # noqa: E402 - the Profile's Source reads it too

_F, _ID = "float32", "int64"
#: The inputs of pytorchcv models whose forward takes several arguments its metadata does not describe, as
#: pytorchcv's own ``_test()`` builds them (at batch 1 where the batch is one): per positional argument,
#: (shape, dtype, fill value or None for random values), or a plain int. Input kind ``fixed``: ``--input``
#: and ``--batch`` cannot change them.
PYTORCHCV_INPUTS: dict[str, tuple] = {
    # speech-driven faces: audio windows (16 x 29 DeepSpeech features) and a subject id (3)
    "voca8flame": (((1, 1, 16, 29), _F, None), ((1,), _ID, 3)),
    "nvpattexp116bazel76": (((1, 8, 16, 29), _F, None), ((1,), _ID, 3)),
    # VisemeNet slides over its 34 rows as over time (34 windows of 8 x 195 features give 2 outputs): its
    # test's 34, fewer fail
    "visemenet20": (((34, 8, 195), _F, None), ((34, 76), _ID, 3)),
    # video inpainting at 240x432, 5 frames: the recurrent flow completion takes masked flows and masks;
    # the image propagation step (no weights) frames, masks and the 4 flows between them, no batch;
    # ProPainter itself masked frames, updated and original masks, the 4 completed flows, and how many
    # frames are local (all 5 here: no reference frames). pytorchcv's own test calls it with two tensors
    # only, which its forward refuses.
    "propainter_rfc": (((1, 5, 2, 240, 432), _F, None), ((1, 5, 1, 240, 432), _F, None)),
    "propainter_ip": (((5, 3, 240, 432), _F, None), ((5, 1, 240, 432), _F, None), ((4, 4, 240, 432), _F, None)),
    "propainter": (((1, 5, 3, 240, 432), _F, None), ((1, 5, 1, 240, 432), _F, None),
                   ((1, 5, 1, 240, 432), _F, None), ((1, 4, 4, 240, 432), _F, None), 5),
}

#: One RAFT image pair's size: torchvision's weights metadata gives no size for optical flow (its transforms
#: only convert and normalise); its published ``_ops`` (raft_large 211.007, raft_small 47.655 GFLOPS, 1 per
#: MAC) are those of a pair of 3x512x512 images, which this count reproduces exactly (RAFT needs H and W
#: divisible by 8).
OPTICAL_FLOW_SIZE = (3, 512, 512)


class MissingDependencyError(UsageError):
    """The zoo builds this model with an optional package that is not installed (pytorchcv's speech models
    import librosa): the message names it and the pip command; ``package`` holds its name."""

    def __init__(self, message: str, package: str = ""):
        super().__init__(message)
        self.package = package


@dataclass(frozen=True)
class ModelInfo:
    zoo: str  # builtin | timm | torchvision | pytorchcv | hf | user
    name: str
    input_size: tuple[int, ...]  # (C, H, W) (video: (C, T, H, W)), no batch dimension; TOKEN_KINDS: (tokens,)
    # "tensor" (one float tensor), "tokens" (a language model's input_ids), "text-image" and "speech-text"
    # (tokens plus an image or audio features, see INPUT_KINDS), "images" (a detection model: a list of 3-D
    # images), "image-pair" (optical flow: two image tensors, each of input_size), "fixed" (PYTORCHCV_INPUTS;
    # input_size is the first argument's shape, batch included)
    input_kind: str = "tensor"
    task: str | None = None  # the head of an hf: model (profiler.zoo.hf.TASKS)
    # a bare name that other zoos have too: what to type for theirs ("torchvision:resnet50" ...; also_in)
    also: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        return f"{self.zoo}:{self.name}"


# -- per-zoo name lists (cached: listing timm or pytorchcv costs a second) --------------------------------
@functools.lru_cache(maxsize=None)
def _names(zoo: str) -> tuple[str, ...]:
    if zoo == "builtin":
        from profiler.models import list_models
        return tuple(list_models())
    if zoo == "timm":
        import timm
        return tuple(timm.list_models())
    if zoo == "torchvision":
        import torchvision
        return tuple(torchvision.models.list_models())
    if zoo == "pytorchcv":
        from pytorchcv.model_provider import _models
        return tuple(sorted(_models))
    if zoo == "hf":
        from profiler.zoo.hf import model_types
        return model_types()
    raise UsageError(f"unknown zoo {zoo!r}; choose one of: {', '.join(ZOOS)}")


def _has(zoo: str, name: str) -> bool:
    if zoo == "builtin":
        from profiler.models import is_builtin
        return is_builtin(name)  # grammars (crossnet...) are wider than the listed examples
    if zoo == "hf":
        from profiler.zoo.hf import kind_of
        return kind_of(name) is not None  # model types, config files and folders, hub ids
    return name in _name_set(zoo)


@functools.lru_cache(maxsize=None)
def _name_set(zoo: str) -> frozenset:
    return frozenset(_names(zoo))


def list_names(pattern: str | None = None, zoos=ZOOS) -> list[tuple[str, str]]:
    """(zoo, name) pairs whose name matches the glob ``pattern`` (substring match if it has no wildcard)."""
    if pattern and not any(ch in pattern for ch in "*?["):
        pattern = f"*{pattern}*"
    out = []
    for zoo in zoos:
        out.extend((zoo, n) for n in _names(zoo) if not pattern or fnmatch.fnmatch(n, pattern))
    return out


def _is_user_spec(spec: str) -> bool:
    """``path/to/file.py:factory`` or ``package.module:factory`` (a plain ``module:factory`` too, when that
    module is importable and not a zoo's name)."""
    head, sep, tail = spec.rpartition(":")
    if not sep or not head or not tail or head in ZOOS:
        return False
    if head.endswith(".py") or os.sep in head or "/" in head or "." in head:
        return True
    try:
        return importlib.util.find_spec(head) is not None
    except (ImportError, ValueError):
        return False


def resolve(spec: str) -> tuple[str, str]:
    """``(zoo, name)`` for a model spec; raises :class:`UnknownModelError` with the closest names."""
    if not spec or not isinstance(spec, str):
        raise UsageError("give a model name, e.g. mixnet_s or timm:mixnet_s")
    if _is_user_spec(spec):
        return "user", spec
    zoo, sep, name = spec.partition(":")
    if sep:
        if zoo not in ZOOS:
            close = difflib.get_close_matches(zoo, ZOOS, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]}:{name}?)" if close else ""
            raise UsageError(f"unknown zoo {zoo!r} in {spec!r}{hint}; choose one of: {', '.join(ZOOS)} "
                             "(or path/to/file.py:factory / package.module:factory for your own model)")
        if not _has(zoo, name):
            raise UnknownModelError(_unknown_message(name, (zoo,)))
        return zoo, name
    for zoo in ZOOS:
        if zoo == "hf" and spec not in _name_set("hf"):
            continue  # unqualified: model types only; config paths and hub ids need hf:
        if _has(zoo, spec):
            return zoo, spec
    raise UnknownModelError(_unknown_message(spec, ZOOS))


#: Each zoo's package (builtin: our own, none): imported, a zoo's names cost nothing more to ask; the sweep
#: imports it before a worker's first model.
ZOO_PACKAGES = {"timm": "timm", "torchvision": "torchvision", "pytorchcv": "pytorchcv.model_provider",
                "hf": "transformers"}


def _loaded(zoo: str) -> bool:
    """Whether asking ``zoo`` for a name imports nothing new (its package is imported already)."""
    return zoo == "builtin" or ZOO_PACKAGES.get(zoo) in sys.modules


def _cached_names() -> dict[str, frozenset]:
    """zoo -> its names, from ``profile-model list``'s names cache where it has them (nothing is built)."""
    from profiler import name_cache  # stdlib only: reading it imports no zoo (and not the command line)

    return {z: frozenset(row[0] for row in rows) for z, rows in name_cache.cached().items()}


def also_in(zoo: str, name: str) -> tuple[str, ...]:
    """The specs of the other zoos that have the bare ``name`` too (``resnet50`` built by timm:
    ``("torchvision:resnet50", "pytorchcv:resnet50")``), in :data:`ZOOS` order, for the report to say what to
    type for theirs. Cheap: a zoo is asked only when its package is imported already, else the names cache of
    ``profile-model list`` (:func:`profiler.name_cache.cached`) answers; a zoo neither can answer is left
    out (no zoo is imported for this). For ``hf``, model types only, as bare names resolve."""
    found, cached = [], None
    for other in ZOOS:
        if other == zoo:
            continue
        if _loaded(other):
            try:
                has = name in _name_set("hf") if other == "hf" else _has(other, name)
            except Exception:  # noqa: BLE001 - a zoo that cannot list its names has none to offer here
                has = False
        else:
            if cached is None:
                cached = _cached_names()
            has = name in cached.get(other, ())
        if has:
            found.append(f"{other}:{name}")
    return tuple(found)


def suggestions(name: str, zoos=ZOOS, n: int = 5) -> list[str]:
    """Closest ``zoo:name`` specs: names containing ``name`` (shortest first), then fuzzy matches."""
    pool: dict[str, str] = {}
    for zoo in zoos:
        for cand in _names(zoo):
            pool.setdefault(cand, zoo)
    low = name.lower()
    contained = sorted((c for c in pool if low and low in c.lower()), key=lambda c: (len(c), c))[:3]
    fuzzy = difflib.get_close_matches(name, list(pool), n=n, cutoff=0.6)
    picked = list(dict.fromkeys(contained + fuzzy))[:n]
    return [f"{pool[c]}:{c}" for c in picked]


def _unknown_message(name: str, zoos) -> str:
    close = suggestions(name, zoos)
    where = " or ".join(zoos)
    hint = f"; did you mean: {', '.join(close)}?" if close else \
        "; list names with `profile-model list PATTERN`"
    return f"unknown model {name!r} in {where}{hint}"


# -- default input sizes ---------------------------------------------------------------------------------
def default_input(zoo: str, name: str, model: nn.Module | None = None) -> tuple[int, ...]:
    """The model's own default input (C, H, W) from its zoo's config."""
    if zoo == "builtin":
        from profiler.models import default_input_size
        return tuple(default_input_size(name))
    if zoo == "timm":
        import timm
        cfg = timm.get_pretrained_cfg(name)
        if cfg is not None and getattr(cfg, "input_size", None):
            return tuple(cfg.input_size)
        return (3, 224, 224)
    if zoo == "torchvision":
        return _torchvision_input(name, model)
    if zoo == "hf":
        from profiler.zoo import hf
        if model is not None:
            return hf.input_of(model, model.config)[1]
        return hf.default_input(name)
    if zoo == "pytorchcv":
        if model is not None and forward_kind(model) == "image-pair":
            return OPTICAL_FLOW_SIZE  # pytorchcv's RAFT is torchvision's architecture (same weight counts)
        size = getattr(model, "in_size", None) if model is not None else None
        channels = getattr(model, "in_channels", None) if model is not None else None
        if not isinstance(channels, int) and model is not None:
            # no in_channels attribute: a first convolution on 1 channel marks a grayscale network
            # (superpointnet); other counts may follow a reshuffle of the image (i-RevNet's space-to-depth
            # gives its first convolution 6 of 12 channels), so they do not say what the image has
            conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
            channels = 1 if conv is not None and conv.in_channels == 1 else None
        channels = channels if isinstance(channels, int) and channels > 0 else 3
        if isinstance(size, (tuple, list)) and len(size) == 2:
            return (int(channels), int(size[0]), int(size[1]))
        return (channels, 224, 224)
    return (3, 224, 224)


def required_inputs(model: nn.Module) -> list[str]:
    """The names of ``model.forward``'s required positional parameters (those without a default)."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.default is p.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def describe_fixed(name: str) -> str:
    """``1x1x16x29 float32, 1 int64 = 3`` for a model of :data:`PYTORCHCV_INPUTS`."""
    return ", ".join(str(a) if isinstance(a, int) else
                     "x".join(map(str, a[0])) + f" {a[1]}" + (f" = {a[2]}" if a[2] is not None else "")
                     for a in PYTORCHCV_INPUTS[name])


def forward_kind(model: nn.Module) -> str:
    """``image-pair`` for a forward taking two images (``image1, image2``: optical flow), else ``tensor``."""
    names_ = required_inputs(model)
    return "image-pair" if len(names_) == 2 and all(n.startswith("image") for n in names_) else "tensor"


def torchvision_family(name: str) -> str:
    """classification, detection, segmentation, video, optical_flow or quantization: the torchvision
    package its builder lives in."""
    import torchvision
    parts = torchvision.models.get_model_builder(name).__module__.split(".")
    return parts[2] if len(parts) > 3 else "classification"


def _torchvision_input(name: str, model: nn.Module | None = None) -> tuple[int, ...]:
    """The input the published figures (weights metadata ``_ops``) were counted at, as the built model takes it.

    Classification and quantized models: the crop of the default weights' transforms, unless the architecture
    built without weights fixes another size (``image_size``: vit_h_14's default weights are 518-pixel SWAG
    ones, the architecture is built for 224). Segmentation: the transforms' ``resize_size`` (a square image
    keeps it). Video: a 16-frame clip of the crop, (C, T, H, W). Detection: the square image the model's own
    transform resizes to (``transform.min_size``: 800, 320 for the ``_320_`` and ssdlite models, 300 for
    ssd300); any larger image is resized to it, so the count is the same. Optical flow: each image of the pair,
    :data:`OPTICAL_FLOW_SIZE`.
    """
    import torchvision
    family = torchvision_family(name)
    if family == "optical_flow":
        return OPTICAL_FLOW_SIZE
    if family == "detection":
        transform = getattr(model, "transform", None)
        side = getattr(transform, "min_size", None)
        if isinstance(side, (tuple, list)) and side:
            side = side[-1]  # eval mode resizes to the last of the training sizes
        side = int(side) if isinstance(side, (int, float)) and side > 0 else 800
        return (3, side, side)
    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except Exception:
        return (3, 224, 224)
    kw = getattr(weights.transforms, "keywords", {}) or {}
    crop = kw.get("resize_size" if family == "segmentation" else "crop_size", 224)
    crop = crop[0] if isinstance(crop, (list, tuple)) else crop
    fixed = getattr(model, "image_size", None)
    if isinstance(fixed, int) and fixed > 0 and family in ("classification", "quantization"):
        crop = fixed  # the architecture's own size (built without weights) wins over the weights' crop
    if family == "video":
        return (3, 16, int(crop), int(crop))  # (C, T, H, W): the clip length torchvision's video docs use
    return (3, int(crop), int(crop))


def _torchvision_kind(name: str) -> str:
    family = torchvision_family(name)
    return {"detection": "images", "optical_flow": "image-pair"}.get(family, "tensor")


def torchvision_notes(name: str, model: nn.Module) -> list[str]:
    """What a torchvision architecture built without weights differs in from the published weights' one, and
    what the default build adds that a user may not expect."""
    notes = []
    if getattr(model, "aux_classifier", None) is not None:
        notes.append("built with the auxiliary FCN head (aux_loss=True), which runs in eval mode too, as in "
                     "torchvision's published weights and their GFLOPS; --kwargs aux_loss=False counts the main "
                     "head only")
    return notes + _frozen_bn_notes(name, model)


def _frozen_bn_notes(name: str, model: nn.Module) -> list[str]:
    import torchvision
    builder = torchvision.models.get_model_builder(name)
    try:
        module = inspect.getmodule(builder)
        source = inspect.getsource(builder)
        helpers = [getattr(module, h, None) for h in set(re.findall(r"\b(_[a-z]\w*)\(", source))]
        source += "".join(inspect.getsource(h) for h in helpers if inspect.isfunction(h))
    except (OSError, TypeError):
        return []
    if "FrozenBatchNorm2d if is_trained" not in source:
        return []
    affine = sum(m.weight.numel() + m.bias.numel() for m in model.modules()
                 if isinstance(m, nn.BatchNorm2d) and m.affine)
    if not affine:
        return []
    return [f"built without weights, torchvision gives this backbone BatchNorm2d, whose weight and bias are "
            f"{affine:,} parameters; its published weights use FrozenBatchNorm2d, where they are buffers, so the "
            f"published num_params is {affine:,} lower (the MACs are the same)"]


# -- building --------------------------------------------------------------------------------------------
def create(spec: str, *, task: str | None = None, **kwargs) -> tuple[nn.Module, ModelInfo]:
    """Build the architecture named ``spec`` (random weights, eval mode) and say which zoo built it.

    ``kwargs`` go to the zoo's constructor (``num_classes=10`` ...) or to the user's factory, or override
    the config fields of an ``hf:`` model; arguments the constructor refuses raise :class:`UsageError`
    naming its signature. ``task`` picks the head of an ``hf:`` model (:data:`profiler.zoo.hf.TASKS`).
    """
    zoo, name = resolve(spec)
    model, info = _create_resolved(spec, zoo, name, task, kwargs)
    if zoo != "user" and ":" not in spec:  # a bare name: the other zoos that have it (after the build, whose
        info = dataclasses.replace(info, also=also_in(zoo, name))  # imports then cost nothing)
    return model, info


def hf_info(model: nn.Module, zoo: str, name: str, task: str | None = None) -> ModelInfo:
    """The :class:`ModelInfo` of a built Hugging Face model: its inputs' kind and default size."""
    from profiler.zoo import hf
    kind, size = hf.input_of(model, model.config)
    # tokens (alone, with an image, or a decoder's after audio features), an image (pixel_values, "tensor" as
    # every other zoo's), or another main input (input_values ...) that profile_model cannot make
    # (a tensor kind with no shape is an argument of that name not made: Mimi's decoder takes ``latents`` too)
    made = kind in hf.TENSOR_KINDS and bool(size)
    return ModelInfo(zoo, name, size, "tensor" if made else kind, task)


def is_hf_model(model) -> bool:
    """A transformers ``PreTrainedModel`` (without importing transformers where the model is none)."""
    tf = sys.modules.get("transformers")
    return tf is not None and isinstance(model, tf.PreTrainedModel)


def _create_resolved(spec: str, zoo: str, name: str, task: str | None, kwargs: dict) -> tuple[nn.Module, ModelInfo]:
    if task is not None and zoo != "hf":
        raise UsageError(f"a task ({task!r}) picks the head of a Hugging Face model (hf:NAME); {zoo}:{name} "
                         "has one architecture per name")
    if zoo != "user":  # a user's own factory may give its arguments any meaning
        check_values(f"{zoo}:{name}", kwargs)
    if zoo == "hf":
        from profiler.zoo import hf
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, task = hf.build(name, task, kwargs)
        model.eval()
        return model, hf_info(model, "hf", name, task)
    if zoo == "user":
        model = _build_user(name, kwargs)
        model.eval()
        size = getattr(model, "input_size", None)
        size = tuple(size) if isinstance(size, (tuple, list)) and size else (3, 224, 224)
        return model, ModelInfo("user", name, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zoo deprecation/init warnings are not the user's business
        try:
            model = _build(zoo, name, kwargs)
        except ModuleNotFoundError as exc:
            package = (exc.name or "").split(".")[0]
            if not package or package == zoo:
                raise
            raise MissingDependencyError(f"{zoo}:{name} needs optional dependency {package} "
                                         f"(pip install {package})", package) from exc
        except TypeError as exc:
            if not kwargs:
                raise
            raise UsageError(f"{zoo}:{name} rejected the constructor arguments {kwargs}: {exc}") from None
    _check_types(f"{zoo}:{name}", type(model).__init__, type(model).__name__, kwargs)
    model.eval()
    if zoo == "pytorchcv" and name in PYTORCHCV_INPUTS:
        return model, ModelInfo(zoo, name, PYTORCHCV_INPUTS[name][0][0], "fixed")
    kind = _torchvision_kind(name) if zoo == "torchvision" else forward_kind(model)
    return model, ModelInfo(zoo, name, default_input(zoo, name, model), kind)


#: Constructor arguments that count something (``num_classes``, ``n_layer``, ``num_hidden_layers`` ...): never
#: negative. timm builds no head for ``num_classes=-5`` and a transformers config takes ``num_hidden_layers=-1``,
#: whose pass then fails far from the cause.
_COUNT = re.compile(r"^(num|n)_\w+$|^\w+_(layers|heads|classes|experts)$")
#: Arguments that are probabilities (``drop_rate``, ``drop_path_rate``, ``hidden_dropout_prob``, ``attn_pdrop``):
#: in [0, 1]; a dropout outside it fails only in the forward pass.
_PROBABILITY = re.compile(r"(drop(_path)?_rate|dropout(_rate|_prob|_p)?|pdrop|_prob)$")


def check_values(spec: str, kwargs: dict) -> None:
    """Refuse a zoo model's constructor argument whose value cannot be right whatever the model: a negative
    count, a probability outside [0, 1]."""
    for key, value in kwargs.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if _COUNT.search(key) and value < 0:
            raise UsageError(f"{spec}: --kwargs {key}={value!r}: a count cannot be negative")
        if _PROBABILITY.search(key) and not 0 <= value <= 1:
            raise UsageError(f"{spec}: --kwargs {key}={value!r}: a probability must be between 0 and 1")


def _check_types(spec: str, fn, who: str, kwargs: dict) -> None:
    """Refuse a word where ``fn``'s signature defaults to a number (``drop_rate=abc``): constructors store it
    as it is, and only the forward pass fails on it."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    for key, value in kwargs.items():
        default = params[key].default if key in params else None
        if isinstance(value, str) and isinstance(default, (int, float)) and not isinstance(default, bool):
            raise UsageError(f"{spec}: --kwargs {key}={value!r}: {who} takes a number there "
                             f"(default {default!r})")


def parse_kwargs(items) -> dict:
    """``["num_classes=10", "act='relu'", "width=0.5"]`` -> keyword arguments.

    Values are read as Python literals when they are one (numbers, True/None, tuples, quoted strings) and
    kept as plain strings otherwise (``act=relu`` -> ``"relu"``).
    """
    import ast

    out = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--kwargs takes key=value pairs (e.g. num_classes=10), got {item!r}")
        if key in out:  # the last one would win silently
            raise UsageError(f"--kwargs {key} is given twice ({key}={out[key]!r} and {item.strip()}): give it once")
        try:
            out[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            out[key] = value.strip()
    return out


def _build(zoo: str, name: str, kwargs: dict) -> nn.Module:
    if zoo == "builtin":
        from profiler.models import create_model
        return create_model(name, **kwargs)
    if zoo == "timm":
        import timm
        return timm.create_model(name, pretrained=False, **kwargs)
    if zoo == "torchvision":
        import torchvision
        if name in ("googlenet", "inception_v3", "quantized_googlenet", "quantized_inception_v3"):
            # The published figures (and the deployed networks) have no auxiliary heads.
            kwargs = {"aux_logits": False, "init_weights": False, **kwargs}
        accepts = inspect.signature(torchvision.models.get_model_builder(name)).parameters
        if "weights_backbone" in accepts:
            # Detection/segmentation builders default to an ImageNet backbone: a download. Architecture only.
            kwargs = {"weights_backbone": None, **kwargs}
        if "aux_loss" in accepts:
            # FCN and DeepLabV3's published weights (and their _ops, num_params) carry the auxiliary FCN head,
            # which runs in eval mode too; --kwargs aux_loss=False drops it.
            kwargs = {"aux_loss": True, **kwargs}
        return torchvision.models.get_model(name, weights=None, **kwargs)
    if zoo == "pytorchcv":
        from pytorchcv.model_provider import get_model
        return get_model(name, pretrained=False, **kwargs)
    raise UsageError(f"unknown zoo {zoo!r}")


def _build_user(spec: str, kwargs: dict) -> nn.Module:
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py") or os.sep in target or "/" in target:
        if os.path.isdir(target):
            raise UsageError(f"{target!r} is a folder; give path/to/file.py:factory")
        if not os.path.isfile(target):
            raise UsageError(f"no such file {target!r}; give path/to/file.py:factory")
        mod_name = "_profiler_user_" + os.path.splitext(os.path.basename(target))[0]
        loc = importlib.util.spec_from_file_location(mod_name, target)
        module = importlib.util.module_from_spec(loc)
        sys.modules[mod_name] = module
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        try:
            loc.loader.exec_module(module)
        except (SyntaxError, UnicodeDecodeError, ImportError, OSError) as exc:
            # the file is not Python this interpreter can load (a typo, a binary file, a missing package)
            sys.modules.pop(mod_name, None)
            where = f" line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
            why = exc.msg if isinstance(exc, SyntaxError) else " ".join(str(exc).split())
            raise UsageError(f"cannot load {target!r}: {type(exc).__name__}{where}: {why}; fix the file or give "
                             "another path/to/file.py:factory") from None
        finally:
            sys.path.pop(0)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise UsageError(f"cannot import {target!r} ({exc}); give package.module:factory "
                             "importable from here, or path/to/file.py:factory") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        found = sorted(n for n, v in vars(module).items()
                       if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__)
        close = difflib.get_close_matches(attr, found, n=1)
        hint = f" (did you mean {target}:{close[0]}?)" if close else ""
        raise UsageError(f"{target!r} has no callable {attr!r}{hint}; found: {', '.join(found) or 'none'}")
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:  # checked before the call, so a TypeError inside the factory stays the model's
        raise UsageError(f"{attr}{_signature(factory)} does not take --kwargs {kwargs}: {exc}") from None
    except ValueError:  # no signature to check (builtins, C extensions): let the call decide
        pass
    _check_types(spec, factory, f"{attr}()", kwargs)
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise UsageError(f"{attr}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _signature(fn) -> str:
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "(...)"
