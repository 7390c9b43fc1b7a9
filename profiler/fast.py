"""Shape-only profiling: build a zoo model on the ``meta`` device and profile it without allocating weights
or activations.

A meta tensor has a shape, a dtype and no storage, so the pass costs the same at 224x224 as at 2048x2048
and a 1B-parameter model needs no more memory than a small one. The counts are those of a real pass: every
op runs its shape function instead of its kernel, and the engine observes the same aten ops.

Construction on meta is tried in two ways, then given up with a note:

1. ``with torch.device("meta")``: every factory call makes meta tensors (fastest; nothing is allocated);
2. parameters only: each parameter is moved to meta as it is registered, while plain tensors made during
   ``__init__`` stay on the CPU. This is for initialisers that read data (timm's ``[x.item() for x in
   torch.linspace(...)]`` drop-path schedules, position tables computed with numpy ...);
3. a normal build (random weights on the CPU); the pass itself still runs on meta through the engine's
   parameter swap, so only construction costs memory.

When the pass cannot run on meta (data-dependent shapes: ``nonzero``, ``.item()`` in ``forward``), it is
rerun on real tensors on the CPU, with a note.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from profiler.engine import ProfilingError, profile
from profiler.errors import UsageError

#: How a model was built, in the order they are tried.
BUILDS = ("meta", "meta-params", "cpu")


@dataclass
class MetaBuild:
    """A model built for shape-only profiling and how it was built."""
    model: nn.Module
    info: object  # profiler.zoo.ModelInfo
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


def create_meta(spec: str, **kwargs) -> MetaBuild:
    """Build ``spec`` (a zoo name, see :func:`profiler.zoo.create`) without allocating its weights if possible.

    Unknown names and bad keyword arguments raise :class:`~profiler.errors.UsageError` as
    :func:`profiler.zoo.create` does; any other construction error on meta falls back to the next way in
    :data:`BUILDS`, and the note says why.
    """
    from profiler import zoo

    zoo.resolve(spec)  # an unknown name is the user's error, not a reason to fall back
    notes: list[str] = []
    for build in BUILDS:
        ctx = {"meta": lambda: torch.device("meta"), "meta-params": _params_on_meta,
               "cpu": contextlib.nullcontext}[build]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with ctx():
                    model, info = zoo.create(spec, **kwargs)
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
        return MetaBuild(model, info, build, notes)
    raise AssertionError("unreachable")


def profile_spec(spec: str, input_size=None, *, batch: int = 1, device: str = "meta",
                 convention: str = "macs", strict: bool = False, model_kwargs: dict | None = None):
    """Build ``spec`` and profile it; returns ``(Profile, MetaBuild)``.

    input_size: ``(C, H, W)`` without the batch dimension (default: the zoo's own size).
    device: ``"meta"`` (shape only: nothing allocated, cost independent of resolution) or a real device
    (then the model is built normally and the pass runs there).
    Notes on how the model was built and where the pass ran are in ``Profile.notes``.
    """
    if batch < 1:
        raise UsageError(f"batch must be a positive integer, got {batch}")
    if str(device) != "meta":
        from profiler import zoo
        model, info = zoo.create(spec, **(model_kwargs or {}))
        built = MetaBuild(model, info, "cpu", [])
        size = tuple(input_size or info.input_size)
        prof = profile(model, input_size=(batch, *size), convention=convention, device=device,
                       strict=strict, name=info.spec)
        return prof, built

    built = create_meta(spec, **(model_kwargs or {}))
    size = tuple(input_size or built.info.input_size)
    try:
        prof = profile(built.model, input_size=(batch, *size), convention=convention, device="meta",
                       strict=strict, name=built.info.spec)
    except ProfilingError as exc:
        # Data-dependent code (``.item()``, ``nonzero`` ...) cannot run on meta: rerun on real tensors.
        cause = _short(exc.__cause__ or exc)
        if built.build != "cpu":
            from profiler import zoo
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model, info = zoo.create(spec, **(model_kwargs or {}))
            built = MetaBuild(model, info, "cpu", built.notes + ["rebuilt with real weights on the CPU"])
        prof = profile(built.model, input_size=(batch, *size), convention=convention, device="cpu",
                       strict=strict, name=built.info.spec)
        built.notes.append(f"the pass failed on meta ({cause}); counted on real tensors on the CPU")
    prof.notes.extend(built.notes)
    return prof, built
