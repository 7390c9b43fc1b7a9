"""The one way in: a model name (or an ``nn.Module``) to a :class:`~profiler.core.profile.Profile`.

:func:`profile_model` resolves the name, builds the architecture (on the ``meta`` device when it can, so
nothing is allocated), makes its inputs, runs the pass and falls back to a real CPU pass, with a note, when
meta cannot run the model. Every command, study, report script and the notebook call it.

Construction on meta is tried in the order of :data:`BUILDS`: everything on meta; parameters only on meta
(for initialisers that read data, such as timm's ``x.item()`` drop-path schedules); a normal CPU build,
whose pass still runs on meta through the engine's parameter swap.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from profiler.core.engine import ProfilingError, profile
from profiler.core.profile import Profile, Source
from profiler.core.step import loss_function, optimizer_factory
from profiler.errors import UsageError
from profiler.zoo import names
from profiler.zoo.inputs import sample_shape
from profiler.zoo.names import ModelInfo

#: How a model was built, in the order they are tried.
BUILDS = ("meta", "meta-params", "cpu")


@dataclass
class Built:
    """A model, what built it and how."""
    model: nn.Module
    info: ModelInfo
    build: str  # one of BUILDS
    notes: list[str] = field(default_factory=list)


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


def _short(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg[:200]}"


def create_meta(spec: str, **kwargs) -> Built:
    """Build ``spec`` (a zoo name, see :func:`profiler.zoo.create`) without allocating its weights if possible.

    Unknown names and bad keyword arguments raise :class:`~profiler.errors.UsageError` as
    :func:`profiler.zoo.create` does; any other construction error on meta falls back to the next way in
    :data:`BUILDS`, and the note says why.
    """
    names.resolve(spec)  # an unknown name is the user's error, not a reason to fall back
    notes: list[str] = []
    for build in BUILDS:
        ctx = {"meta": lambda: torch.device("meta"), "meta-params": _params_on_meta,
               "cpu": contextlib.nullcontext}[build]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with ctx():
                    model, info = names.create(spec, **kwargs)
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - an initialiser that needs data: try the next way
            if build == "cpu":
                raise
            notes.append(f"construction on meta ({build}) failed: {_short(exc)}")
            continue
        if build == "meta-params":
            # Buffers made from data stayed on the CPU; this model is ours, so move them to meta too.
            model.to("meta")
            notes.append("built with parameters on meta (an initialiser reads data; buffers built on the CPU)")
        elif build == "cpu":
            notes.append("built with real weights on the CPU (construction on meta failed); "
                         "the pass still runs on meta")
        return Built(model, info, build, notes)
    raise AssertionError("unreachable")


def _source(built: Built, shape: tuple, batch: int, device: str, kwargs: dict) -> Source:
    return Source(zoo=built.info.zoo, name=built.info.name, input_size=tuple(shape), batch=batch,
                  build=built.build, device=device, kwargs=dict(kwargs))


def _rebuild_on_cpu(spec: str, kwargs: dict, notes: list[str]) -> Built:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = names.create(spec, **kwargs)
    return Built(model, info, "cpu", notes)


def profile_model(model, *, input=None, batch: int = 1, convention: str = "macs", device: str = "auto",
                  strict: bool = False, backward: bool = False, loss=None, optimizer=None, **kwargs) -> Profile:
    """Build ``model`` and profile one forward pass; the Profile's ``source`` says how.

    model: a zoo name (``mixnet_s``, ``torchvision:resnet50``, ``path/to/net.py:build``; see
    :func:`profiler.zoo.create`) or an ``nn.Module`` (used as it is; give ``input`` as a full sample shape
    unless it has an ``input_size`` attribute).
    input: one sample's size without the batch: ``None`` (the zoo's own), ``224``, ``(224, 320)`` (H, W) or
    the full shape ``(3, 224, 224)``.
    batch: samples per pass. convention: how totals are weighted (``Profile.total()``; ``Profile.macs`` is
    always MACs). strict: raise if an op has no counting rule.
    device: ``auto`` (default: built and counted on meta, shapes only; a real CPU pass with a note when meta
    cannot run the model), ``meta`` (shapes only, an error instead of the fallback), ``cpu`` or ``cuda``
    (a real build and pass there).
    backward, loss, optimizer: count a training step instead of one forward pass (see :func:`profiler.profile`);
    ``loss`` may also be ``"sum"`` or ``"cross-entropy"`` (random class targets of the output's shape), and
    ``optimizer`` a name: ``"sgd"``, ``"adam"``, ``"adamw"``.
    kwargs: constructor arguments (``num_classes=10`` ...).
    """
    if not isinstance(batch, int) or batch < 1:
        raise UsageError(f"batch must be a positive integer, got {batch!r}")
    device = str(device)
    if isinstance(model, nn.Module):
        built = Built(model, ModelInfo("module", type(model).__name__,
                                       tuple(getattr(model, "input_size", None) or ())), "cpu", [])
        if input is None and not built.info.input_size:
            raise UsageError(f"give input= for {type(model).__name__} (one sample's shape, e.g. (3, 224, 224))")
    elif device in ("auto", "meta"):
        built = create_meta(model, **kwargs)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m, info = names.create(model, **kwargs)
        built = Built(m, info, "cpu", [])
    info = built.info
    known = info.zoo not in ("user", "module") or hasattr(built.model, "input_size")
    shape = sample_shape(input, info.input_size or (), info.spec if info.zoo != "module" else info.name,
                         rank_known=known)
    source = _source(built, shape, batch, device, kwargs)
    run = dict(input_size=(batch, *shape), convention=convention, strict=strict, name=info.spec)
    if backward or loss is not None or optimizer is not None:
        run.update(backward=backward, loss=loss_function(loss), optimizer=optimizer_factory(optimizer))
    if device not in ("auto", "meta"):
        prof = profile(built.model, device=device, **run)
    else:
        try:
            prof = profile(built.model, device="meta", **run)
        except ProfilingError as exc:
            # Data-dependent code (``.item()``, ``nonzero`` ...) cannot run on meta: rerun on real tensors.
            if device == "meta" or isinstance(model, nn.Module) and _on_meta(model):
                raise
            cause = _short(exc.__cause__ or exc)
            if built.build != "cpu":
                built = _rebuild_on_cpu(model if isinstance(model, str) else info.spec, kwargs,
                                        built.notes + ["rebuilt with real weights on the CPU"])
            prof = profile(built.model, device="cpu", **run)
            built.notes.append(f"the pass failed on meta ({cause}); counted on real tensors on the CPU")
            source = _source(built, shape, batch, device, kwargs)
    prof.notes.extend(built.notes)
    prof.source = source
    return prof


def _on_meta(model: nn.Module) -> bool:
    return any(t.device.type == "meta" for t in (*model.parameters(), *model.buffers()))
