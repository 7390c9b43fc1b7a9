"""The one way in: a model name (or an ``nn.Module``) to a :class:`~profiler.core.profile.Profile`.

:func:`profile_model` resolves the name, builds the architecture (on the ``meta`` device when it can, so
nothing is allocated), makes its inputs, runs the pass and falls back to a real CPU pass, with a note, when
meta cannot run the model. Every command, study, report script and the notebook call it. A real build (that
fallback, or ``device="cpu"``/``"cuda"``) is first estimated from the meta build and refused in one line
(:class:`profiler.zoo.memory.TooBigError`) where it would not fit in the memory available.

Construction on meta is tried in the order of :data:`BUILDS`: everything on meta; parameters only on meta
(for initialisers that read data, such as timm's ``x.item()`` drop-path schedules); a normal CPU build,
whose pass still runs on meta through the engine's parameter swap.
"""
from __future__ import annotations

import contextlib
import re
import sys
import warnings
from dataclasses import dataclass, field, replace

import torch
import torch.nn as nn

from profiler.core.devices import check_device
from profiler.core.engine import ProfilingError, profile
from profiler.core.meta_kernels import FastMeta
from profiler.core.profile import Profile, Source
from profiler.core.step import check_can_step, loss_function, optimizer_factory
from profiler.errors import UsageError, short_error
from profiler.zoo import memory, names
from profiler.zoo.inputs import float_dtype, sample_shapes, text_inputs
from profiler.zoo.names import ModelInfo

#: How a model was built, in the order they are tried.
BUILDS = ("meta", "meta-params", "cpu")


@dataclass
class Built:
    """A model, what built it and how (``kwargs``: the constructor arguments, to build it again)."""
    model: nn.Module
    info: ModelInfo
    build: str  # one of BUILDS
    notes: list[str] = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)


@contextlib.contextmanager
def _params_on_meta():
    """Move every parameter to meta as it is registered; factory calls and buffers are left alone."""
    original = nn.Module.register_parameter
    moved: dict[int, tuple] = {}  # id(cpu parameter) -> (cpu parameter, its meta copy): ties stay tied

    def register_parameter(self, name, param):
        if type(param) is nn.Parameter and param.device.type != "meta":
            entry = moved.get(id(param))
            if entry is None:
                entry = moved[id(param)] = (param, nn.Parameter(param.to("meta"), param.requires_grad))
            param = entry[1]
        original(self, name, param)

    nn.Module.register_parameter = register_parameter
    try:
        yield
    finally:
        nn.Module.register_parameter = original


@contextlib.contextmanager
def _seeded(seed: int = 0):
    """Random weights and inputs made from ``seed`` (the caller's random state is restored after): a pass
    whose cost depends on the data (detection heads) then counts the same every run."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def create_meta(spec: str, *, task: str | None = None, **kwargs) -> Built:
    """Build ``spec`` (a zoo name, see :func:`profiler.zoo.create`) without allocating its weights if possible.

    Unknown names and bad keyword arguments raise :class:`~profiler.errors.UsageError` as
    :func:`profiler.zoo.create` does; any other construction error on meta falls back to the next way in
    :data:`BUILDS`, and the note says why.
    """
    return _create(spec, task, kwargs, BUILDS)


def _cpu_build_guard(spec: str):
    """A real construction after the meta ones failed has no meta model to estimate from: its CPU allocations
    are summed as they are made, and the one that would pass the memory available is refused before it is made
    (a default config whose own error comes after a 7.8 GiB embedding, cohere_compass_text, was built for
    nothing)."""
    hint = "a smaller config (--kwargs num_hidden_layers=2)" if spec.startswith("hf:") else \
        "smaller constructor arguments (--kwargs)"
    return memory.allocation_guard(what=spec, why="its construction failed on meta", hints=[hint])


def _create(spec: str, task: str | None, kwargs: dict, builds: tuple) -> Built:
    """:func:`create_meta` trying only ``builds``; the last one's construction error is raised."""
    names.resolve(spec)  # an unknown name is the user's error, not a reason to fall back
    if task is not None:
        kwargs["task"] = task
    notes: list[str] = []
    failed = None  # the last construction that failed
    for build in builds:
        ctx = {"meta": lambda: torch.device("meta"), "meta-params": _params_on_meta,
               "cpu": lambda: _cpu_build_guard(spec)}[build]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # FastMeta: timm's and torch's initialisers (trunc_normal_'s clamp_, normal_ ...) on meta
                # weights through fast in-place kernels; torch's Python ones were half the build time.
                with ctx(), (FastMeta() if build != "cpu" else contextlib.nullcontext()):
                    model, info = names.create(spec, **kwargs)
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - an initialiser that needs data: try the next way
            if build == builds[-1]:
                blame = _blame_kwargs(spec, task, kwargs, exc, builds)
                if blame is not None:
                    raise blame from None
                if isinstance(exc, memory.TooBigError) and failed is not None:
                    raise exc from failed  # refused for memory: why the ways before failed is the reason
                raise
            notes.append(f"construction on meta ({build}) failed: {short_error(exc)}")
            failed = exc
            continue
        if build == "meta" and any(t.device.type != "meta" for t in model.parameters()):
            # Legacy constructors (torch.Tensor(*shape)) ignore the default device: this model is ours, so the
            # stragglers go to meta too (a pass would meet CPU and meta tensors in one op).
            model.to("meta")
        if build == "meta-params":
            # Buffers made from data stayed on the CPU; this model is ours, so move them to meta too.
            model.to("meta")
            notes.append("built with parameters on meta (an initialiser reads data; buffers built on the CPU)")
        elif build == "cpu":
            notes.append("built with real weights on the CPU (construction on meta failed); "
                         "the pass still runs on meta")
        kwargs.pop("task", None)
        return Built(model, info, build, notes + _zoo_notes(model, info), kwargs)
    raise AssertionError("unreachable")


def _blame_kwargs(spec: str, task: str | None, kwargs: dict, exc: BaseException, builds: tuple = BUILDS):
    """The user's error when ``spec``'s constructor raised ``exc`` on ``kwargs`` but builds without them: a
    UsageError naming the arguments and the constructor's message; None when it fails either way (the
    model's own failure) or no argument was given."""
    given = {k: v for k, v in kwargs.items() if k != "task"}
    if not given or isinstance(exc, (ImportError, MemoryError, RecursionError)):
        return None
    try:
        _create(spec, task, {}, builds)
    except Exception:  # noqa: BLE001 - it fails without them too
        return None
    named = [k for k in given if re.search(rf"\b{re.escape(k)}\b", str(exc))] or list(given)
    said = " ".join(f"{k}={given[k]!r}" for k in named)
    them = "it" if len(given) == 1 else "them"
    return UsageError(f"{spec} cannot be built with --kwargs {said} (it builds without {them}): the constructor "
                      f"raised {short_error(exc)}")


def _source(built: Built, shape: tuple, batch: int, device: str) -> Source:
    return Source(zoo=built.info.zoo, name=built.info.name, input_size=tuple(shape), batch=batch,
                  build=built.build, device=device, kwargs=dict(built.kwargs), input_kind=built.info.input_kind,
                  task=built.info.task, also=list(built.info.also))


def _zoo_notes(model: nn.Module, info: ModelInfo) -> list[str]:
    if info.zoo == "hf":  # a repaired default config says so (profiler.zoo.hf_repairs)
        from profiler.zoo.hf_repairs import notes_of
        return notes_of(model)
    return names.torchvision_notes(info.name, model) if info.zoo == "torchvision" else []


def _guard(model: nn.Module, info: ModelInfo, device: str, why: str, *, training: bool = False,
           hint: str = "--device meta to see the meta error") -> None:
    """Refuse (:class:`~profiler.zoo.memory.TooBigError`, one line: ``why``, the GiB needed and available,
    what to do) a real build and pass of ``model`` on ``device`` that would not fit in the memory there.
    ``model`` is read, not run: built on meta it tells the sizes without anything being allocated."""
    need = memory.estimate(model, training=training)
    what = info.spec if info.zoo != "user" else info.name
    hints = ["a smaller config (--kwargs num_hidden_layers=2)" if info.zoo == "hf"
             else "smaller constructor arguments (--kwargs)"]
    if any(path.rpartition(".")[2] == "experts" for path, _ in model.named_modules()):
        hints.append("another experts_implementation (--kwargs experts_implementation=batched_mm)")
    hints.append(hint)
    if device == "cpu":
        memory.check(need, memory.available("cpu"), what=what, where="a real pass on the CPU", why=why, hints=hints)
        return
    # Built on the host, then moved: the weights must fit there first, the whole pass on the device.
    memory.check(replace(need, activations=0, training=0), memory.available("cpu"), what=what,
                 where=f"building it on the CPU for {device}", why=why, hints=hints)
    memory.check(need, memory.available(device), what=what, where=f"a real pass on {device}", why=why, hints=hints)


def _rebuild_on_cpu(built: Built, notes: list[str], why: str = "meta could not run it", *,
                    training: bool = False, hint: str = "--device meta to see the meta error") -> Built:
    """``built`` (on meta) again with real weights on the CPU, after :func:`_guard` found that it fits."""
    _guard(built.model, built.info, "cpu", why, training=training, hint=hint)
    with warnings.catch_warnings(), _seeded():
        warnings.simplefilter("ignore")
        model, info = names.create(built.info.spec if built.info.zoo != "user" else built.info.name,
                                   task=built.info.task, **built.kwargs)
    return Built(model, info, "cpu", notes, dict(built.kwargs))


def build_model(model, *, device: str = "auto", task: str | None = None, **kwargs) -> Built:
    """Resolve and construct ``model`` as :func:`profile_model` does, without profiling it: on meta for
    ``device`` ``auto``/``meta`` (see :func:`create_meta`), with real weights there otherwise. An
    ``nn.Module`` (or a :class:`Built`) is taken as it is."""
    if isinstance(model, Built):
        return model
    if isinstance(model, nn.Module):
        if task is not None or kwargs:
            raise UsageError("task= and constructor arguments describe a model built by name, not an nn.Module")
        if names.is_hf_model(model):  # token ids (or the image, audio ...) its config describes, as hf: names get
            return Built(model, names.hf_info(model, "module", type(model).__name__), "cpu", [])
        return Built(model, ModelInfo("module", type(model).__name__,
                                      tuple(getattr(model, "input_size", None) or ())), "cpu", [])
    device = str(device)
    if device != "auto":
        check_device(device, also=("auto",))
    if device in ("auto", "meta"):
        return create_meta(model, task=task, **kwargs)
    try:  # on meta first (fast, nothing allocated), to refuse a real build that cannot fit
        shapes_only = _create(model, task, dict(kwargs), BUILDS[:2])
    except UsageError:
        raise
    except Exception:  # noqa: BLE001 - cannot be built without data: nothing to estimate from, build as before
        shapes_only = None
    if shapes_only is not None:
        _guard(shapes_only.model, shapes_only.info, device, f"a real build on {device} was asked for",
               hint="--device auto or meta (shapes only, nothing allocated)")
        del shapes_only
    try:
        with warnings.catch_warnings(), _seeded():
            warnings.simplefilter("ignore")
            m, info = names.create(model, task=task, **kwargs)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's arguments, or the model's own failure
        blame = _blame_kwargs(model, task, kwargs, exc)
        if blame is not None:
            raise blame from None
        raise
    return Built(m, info, "cpu", _zoo_notes(m, info), dict(kwargs))


def _inputs(built: Built, shapes: tuple, batch: int, device: str) -> dict:
    """``profile()``'s input arguments for one pass of ``built`` at ``shapes`` (one sample shape per input,
    :func:`profiler.zoo.inputs.sample_shapes`; tokens: ``((T,),)``) on ``device``."""
    info = built.info
    where = "meta" if device in ("auto", "meta") else "cpu"  # the engine moves them to a GPU
    if info.input_kind in names.TOKEN_KINDS:  # tokens, and the image or audio features their config sizes
        return {"inputs": text_inputs(built.model, shapes[0][0], batch, device=where)}
    if info.input_kind == "fixed":
        return {"inputs": tuple(a if isinstance(a, int) else _fixed_input(*a, where)
                                for a in names.PYTORCHCV_INPUTS[info.name])}
    if info.input_kind not in ("tensor", "images", "image-pair"):
        raise UsageError(f"{info.spec} takes {info.input_kind}, which profile_model cannot make yet; profile it "
                         f"in Python: profiler.profile(model, {{'{info.input_kind}': tensor}})")
    if info.input_kind == "tensor" and len(shapes) == 1:
        return {"input_size": (batch, *shapes[0])}
    dtype = float_dtype(built.model)

    def image(shape):  # pixel values in [0, 1), as a detection or flow model's images are; fixed seed
        if where == "meta":
            return torch.empty(shape, dtype=dtype, device="meta")
        return torch.rand(shape, dtype=dtype, generator=torch.Generator().manual_seed(len(made)))

    made: list = []
    if info.input_kind == "images":  # a list of 3-D images, each given shape ``batch`` times
        for shape in shapes:
            for _ in range(batch):
                made.append(image(tuple(shape)))
        return {"inputs": (made,)}
    for shape in shapes:  # several positional tensors (an image pair ...)
        made.append(image((batch, *shape)))
    return {"inputs": tuple(made)}


def _fixed_input(shape, dtype: str, fill, where: str) -> torch.Tensor:
    """One of :data:`profiler.zoo.names.PYTORCHCV_INPUTS`' tensors: ``fill`` everywhere (an id), or random
    values (fixed seed); storage-free on meta."""
    dt = getattr(torch, dtype)
    if fill is not None:
        return torch.full(shape, fill, dtype=dt, device=where)
    if where == "meta":
        return torch.empty(shape, dtype=dt, device="meta")
    return torch.randn(shape, dtype=dt, generator=torch.Generator().manual_seed(0))


class InputsError(UsageError):
    """The model's forward takes inputs profile_model cannot make (several tensors of shapes no metadata
    gives): the message names them and how to profile the model in Python."""


def _check_arity(built: Built, shapes: tuple) -> None:
    """Refuse, before the pass, a model whose forward needs more positional inputs than it would get."""
    info = built.info
    if info.input_kind not in ("tensor", "images", "image-pair") or info.zoo == "hf":
        return  # tokens and fixed inputs are made whole
    given = 1 if info.input_kind == "images" else len(shapes)
    required = names.required_inputs(built.model)
    if len(required) <= given:
        return
    who = info.spec if info.zoo != "module" else info.name
    where = {"pytorchcv": "pytorchcv's metadata gives no shapes for them (only its _test() builds them)",
             "torchvision": "torchvision's metadata gives no shapes for them"}.get(
        info.zoo, "give one shape per input: --input 3x32x32,3x32x32")
    raise InputsError(f"{who} takes {len(required)} inputs ({', '.join(required)}), got {given}: {where}; profile "
                      f"it in Python: profiler.profile(model, ({', '.join(required)}))")


# -- passes whose cost depends on the data ---------------------------------------------------------------
def _detection_types():
    if "torchvision" not in sys.modules:  # no torchvision detector can have been built: importing it costs ~1 s
        return None
    try:
        from torchvision.models.detection.fcos import FCOS
        from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
        from torchvision.models.detection.retinanet import RetinaNet
        from torchvision.models.detection.roi_heads import RoIHeads
        from torchvision.models.detection.ssd import SSD
    except ImportError:  # pragma: no cover - torchvision is a dependency
        return None
    return GeneralizedRCNN, RoIHeads, (RetinaNet, FCOS, SSD)


def data_dependent(model: nn.Module) -> list[str]:
    """What in ``model`` costs an amount that depends on the data, one phrase each: torchvision's detection
    heads that run on the boxes NMS keeps (Faster/Mask/Keypoint R-CNN's box, mask and keypoint heads) and the
    one-stage detectors' post-processing (score threshold, top-k, NMS). [] for a data-independent model."""
    types = _detection_types()
    if types is None:
        return []
    two_stage, roi_heads, one_stage = types
    out = []
    for path, m in model.named_modules():
        pre = f"{path}." if path else ""
        if isinstance(m, roi_heads):
            heads = [f"{pre}box_head"]
            heads += [f"{pre}mask_head"] if m.has_mask() else []
            heads += [f"{pre}keypoint_head"] if m.has_keypoint() else []
            out.append(", ".join(heads) + " (run on the boxes that survive NMS)")
        elif isinstance(m, one_stage):
            out.append(f"{type(m).__name__}'s post-processing ({path or 'the root module'}: score threshold, "
                       "top-k and NMS keep a data-dependent number of boxes)")
    return out


def _rows(prof: Profile, path: str) -> int | None:
    try:
        layer = prof.layer(path)
    except KeyError:
        return None
    if layer is None or not layer.input_shapes or not layer.input_shapes[0]:
        return None
    return int(layer.input_shapes[0][0])


def _dependence_notes(model: nn.Module, prof: Profile) -> list[str]:
    """After a real pass: how many boxes each data-dependent head ran on, and what bounds it."""
    types = _detection_types()
    if types is None:
        return []
    two_stage, roi_heads, one_stage = types
    notes = []
    for path, m in model.named_modules():
        pre = f"{path}." if path else ""
        if isinstance(m, two_stage) and isinstance(getattr(m, "roi_heads", None), roi_heads):
            rh, rpn = m.roi_heads, m.rpn
            cap = rpn._post_nms_top_n.get("testing") if isinstance(rpn._post_nms_top_n, dict) else None
            n = _rows(prof, f"{pre}roi_heads.box_head")
            said = [f"{pre}roi_heads.box_head and box_predictor ran on {n if n is not None else 0} proposals, those "
                    f"the RPN kept after its score threshold ({rpn.score_thresh:g}) and NMS ({rpn.nms_thresh:g}; "
                    f"at most {cap})"]
            for head in ("mask", "keypoint"):
                if getattr(rh, f"{head}_head", None) is not None:
                    k = _rows(prof, f"{pre}roi_heads.{head}_head")
                    said.append(f"{pre}roi_heads.{head}_head and {head}_predictor on {k if k is not None else 0} "
                                f"detections (score > {rh.score_thresh:g} after NMS {rh.nms_thresh:g}; at most "
                                f"{rh.detections_per_img})")
            notes.append("data-dependent: " + "; ".join(said) + ": their MACs depend on the weights and the image "
                         "(here random weights and random images, seed 0), so the count is this pass's, not the "
                         "model's (torchvision's published _ops come from its trained weights)")
        elif isinstance(m, one_stage):
            notes.append(f"data-dependent: {type(m).__name__}'s post-processing (score threshold, top-k, NMS) keeps "
                         "a number of boxes that depends on the weights and the image; it has no MACs (only element "
                         "ops, counted under --convention all), the network's MACs do not depend on the data")
    return notes


def profile_model(model, *, input=None, batch: int = 1, convention: str = "macs", device: str = "auto",
                  strict: bool = False, backward: bool = False, loss=None, optimizer=None, task: str | None = None,
                  tp: int | None = None, rank: int = 0, ep: int | None = None, dp_shard: int | None = None,
                  param_dtype: str | None = None, **kwargs) -> Profile:
    """Build ``model`` and profile one forward pass; the Profile's ``source`` says how.

    model: a zoo name (``mixnet_s``, ``torchvision:resnet50``, ``hf:gpt2``, ``path/to/net.py:build``; see
    :func:`profiler.zoo.create`) or an ``nn.Module`` (used as it is; give ``input`` as a full sample shape
    unless it has an ``input_size`` attribute).
    input: one sample's size without the batch: ``None`` (the zoo's own), ``224``, ``(224, 320)`` (H, W) or
    the full shape ``(3, 224, 224)``; for a language model (``hf:``) the sequence length in tokens (default
    128), fed as ``input_ids`` (:func:`profiler.zoo.inputs.text_inputs`).
    batch: samples per pass. convention: how totals are weighted (``Profile.total()``; ``Profile.macs`` is
    always MACs). strict: raise if an op has no counting rule.
    device: ``auto`` (default: built and counted on meta, shapes only; a real CPU pass with a note when meta
    cannot run the model), ``meta`` (shapes only, an error instead of the fallback), ``cpu`` or ``cuda``
    (a real build and pass there). A real build or pass that would not fit in the memory available raises
    :class:`profiler.zoo.memory.TooBigError` before anything is allocated (:mod:`profiler.zoo.memory`).
    backward, loss, optimizer: count a training step instead of one forward pass (see :func:`profiler.profile`);
    ``loss`` may also be ``"sum"`` or ``"cross-entropy"`` (random class targets of the output's shape), and
    ``optimizer`` a name: ``"sgd"``, ``"adam"``, ``"adamw"``.
    task: the head of an ``hf:`` model: base, causal-lm, masked-lm, seq2seq-lm, classification.
    tp, rank: simulate rank ``rank`` of ``tp`` tensor-parallel ranks: the model sharded with its config's own
    tensor-parallel plan under torch's fake process group (:mod:`profiler.zoo.sharded`); ``macs``/``params``
    are then this rank's, ``macs_global``/``params_global`` the logical model's, ``communication`` the collectives.
    ep, rank: simulate rank ``rank`` of ``ep`` expert-parallel ranks sharing one batch: the config's expert-parallel
    plan with transformers' all_to_all dispatch (:func:`profiler.zoo.sharded.profile_ep`); with ``tp`` equal to
    ``ep``, the config's tensor-parallel plan on the same ranks too.
    dp_shard, rank: rank ``rank`` of ``tp`` (default 1) x ``dp_shard`` ranks, each decoder layer and the root
    sharded with FSDP2 over ``dp_shard`` ranks after the tensor-parallel plan, counted on fake tensors (nothing
    allocated) or with ``device="cpu"`` on real ones (:func:`profiler.zoo.sharded.profile_fsdp`); ``param_dtype``
    ("bfloat16") gives FSDP's mixed precision (parameters gathered in it, gradients reduced in float32).
    kwargs: constructor arguments (``num_classes=10`` ...; an ``hf:`` model's config fields).
    """
    if param_dtype is not None and dp_shard is None:
        raise UsageError("param_dtype is FSDP's mixed precision: give dp_shard= too (e.g. dp_shard=8)")
    if ep is not None:
        from profiler.zoo.sharded import profile_ep

        if dp_shard is not None:
            raise UsageError("ep= and dp_shard= together are not simulated (FSDP runs on fake tensors, which hold "
                             "no values for the router's choices): give one of them")
        return profile_ep(model, ep=ep, rank=rank, tp=tp, input=input, batch=batch, convention=convention, device=device,
                          strict=strict, backward=backward, loss=loss, optimizer=optimizer, task=task, **kwargs)
    if tp is not None or dp_shard is not None:
        from profiler.zoo.sharded import profile_tp

        return profile_tp(model, tp=1 if tp is None else tp, dp_shard=1 if dp_shard is None else dp_shard, rank=rank,
                          param_dtype=param_dtype, input=input, batch=batch, convention=convention, device=device,
                          strict=strict, backward=backward, loss=loss, optimizer=optimizer, task=task, **kwargs)
    if rank != 0:
        raise UsageError(f"rank={rank} is a rank of a simulated layout: give tp=, ep= or dp_shard= too (e.g. tp=8)")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise UsageError(f"batch must be a positive integer, got {batch!r}")
    if backward or loss is not None or optimizer is not None:
        check_can_step()  # before the build: nothing to wait for
    device = str(device)
    built = build_model(model, device=device, task=task, **kwargs)
    if built.info.zoo == "module" and input is None and not built.info.input_size:
        raise UsageError(f"give input= for {built.info.name} (one sample's shape, e.g. (3, 224, 224))")
    info = built.info
    known = info.zoo not in ("user", "module") or hasattr(built.model, "input_size")
    if info.input_kind == "fixed":  # inputs only the zoo's own test code describes: as it builds them
        if input is not None or batch != 1:
            raise UsageError(f"{info.spec} takes the fixed inputs of pytorchcv's own test code "
                             f"({names.describe_fixed(info.name)}): leave out --input and --batch")
        shapes = tuple(a[0] for a in names.PYTORCHCV_INPUTS[info.name] if not isinstance(a, int))
    else:
        shapes = sample_shapes(input, info.input_size or (), info.spec if info.zoo != "module" else info.name,
                               rank_known=known, kind=info.input_kind)
    shape = shapes[0] if len(set(shapes)) == 1 else shapes  # Source.input_size: one shape, or one per input
    source = _source(built, shape, batch, device)
    _check_arity(built, shapes)
    run = dict(convention=convention, strict=strict, name=info.spec, **_inputs(built, shapes, batch, device))
    training = bool(backward or loss is not None or optimizer is not None)
    if training:
        run.update(backward=backward, loss=loss_function(loss), optimizer=optimizer_factory(optimizer))
    dependent = data_dependent(built.model)
    if dependent and device == "meta":
        raise UsageError(f"{info.spec if info.zoo != 'module' else info.name}: the cost of "
                         f"{'; '.join(dependent)} depends on the data, which the meta device has none of: "
                         "use device 'auto' (the default: a real CPU pass) or 'cpu' (--device cpu)")
    if device not in ("auto", "meta"):
        prof = profile(built.model, device=device, **run)
    elif dependent:
        # NMS keeps a data-dependent number of boxes: meta cannot run it, count on real tensors directly.
        if built.build != "cpu" and info.zoo != "module":
            built = _rebuild_on_cpu(built, built.notes, f"the cost of {'; '.join(dependent)} depends on the data, "
                                    "which meta has none of", training=training, hint="a smaller --input or --batch")
        run.update(_inputs(built, shapes, batch, "cpu"))
        prof = profile(built.model, device="cpu", **run)
        built.notes.append("counted on real tensors on the CPU (random weights, seed 0): the meta device cannot "
                           "run detection post-processing")
        source = _source(built, shape, batch, device)
    else:
        try:
            prof = profile(built.model, device="meta", **run)
        except ProfilingError as exc:
            # Data-dependent code (``.item()``, ``nonzero`` ...) cannot run on meta: rerun on real tensors.
            if device == "meta" or info.zoo == "module" and _on_meta(built.model):
                raise
            cause = short_error(exc.__cause__ or exc)
            if info.zoo != "module":
                # A fresh model even when this one was built on the CPU: the meta pass may have left meta
                # tensors in plain attributes (torchvision's AnchorGenerator caches its cell anchors there).
                built = _rebuild_on_cpu(built, built.notes + (["rebuilt with real weights on the CPU"]
                                                              if built.build != "cpu" else []),
                                        f"the pass failed on meta ({cause})", training=training)
            else:
                built = Built(built.model, built.info, built.build, list(built.notes), built.kwargs)
            run.update(_inputs(built, shapes, batch, "cpu"))
            prof = profile(built.model, device="cpu", **run)
            built.notes.append(f"the pass failed on meta ({cause}); counted on real tensors on the CPU")
            source = _source(built, shape, batch, device)
    if dependent:
        built.notes.extend(_dependence_notes(built.model, prof))
    prof.notes.extend(built.notes)
    if info.input_kind in names.TOKEN_KINDS and getattr(built.model, "config", None) is not None:
        from profiler.zoo.hf import context_note

        note = context_note(built.model.config, shape[0], info.input_kind)
        if note:
            prof.notes.append(note)
    prof.source = source
    return prof


def profile_lengths(model, lengths, *, batch: int = 1, convention: str = "macs", device: str = "auto",
                    strict: bool = False, task: str | None = None, **kwargs) -> list[Profile]:
    """One forward pass of a language model at each sequence length of ``lengths`` (tokens): the model is
    built once (on meta by default, see :func:`profile_model`), each Profile's ``source`` says its length.

    MACs grow linearly with the length for every matrix product over tokens and quadratically for
    attention's scores and weighted sum (category ``attention``): ``p.by_category["attention"] / p.macs``
    is the share the quadratic term takes at that length.
    """
    lengths = [int(n) for n in lengths]
    if not lengths or any(n < 1 for n in lengths):
        raise UsageError(f"sequence lengths must be integers >= 1, got {lengths!r}")
    built = build_model(model, device=device, task=task, **kwargs)
    if built.info.input_kind != "tokens":
        raise UsageError(f"{built.info.spec} takes {'images' if built.info.input_kind == 'tensor' else built.info.input_kind}, "
                         "not tokens: several sequence lengths apply to language models (hf:gpt2, hf:llama ...)")
    return [profile_model(built, input=n, batch=batch, convention=convention, device=device, strict=strict)
            for n in lengths]


def _on_meta(model: nn.Module) -> bool:
    return any(t.device.type == "meta" for t in (*model.parameters(), *model.buffers()))
