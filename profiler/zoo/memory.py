"""Whether a real build and pass of a model fit in memory, decided before anything is allocated.

Where meta cannot run a model, :func:`profiler.zoo.profile_model` falls back to real weights on the CPU; for a
Mixtral-8x7B config that is 187 GB of float32 parameters. :func:`estimate` reads a model built on meta (shapes
and dtypes, no storage), :func:`available` what the machine has free, and :func:`check` refuses in one line when
the first exceeds the second. Every size here is in bytes.

The rule, stated in every refusal: a real build and pass allocate the parameters (each tensor once, tied ones
once) and the buffers at their dtypes' sizes, plus as much again for the pass's activations and working memory
(a forward pass runs without autograd, so only a few layers' outputs are alive at once: for language models at
usual lengths that is far below the weights; a small-weight model at a very large input can exceed it), plus,
for a training step, three times the trainable parameters (their gradients and Adam's two moments, the most
state any optimizer of :func:`profiler.core.step.optimizer_factory` keeps).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from profiler.core.engine import ProfilingError

GiB = 1 << 30


class TooBigError(ProfilingError):
    """A real build or pass would need more memory than is available: refused before allocating anything.
    The CLI prints it as one line and exits 1 (the model cannot be counted here; the input was not wrong)."""


@dataclass(frozen=True)
class Estimate:
    """Bytes a real build and pass of a model allocate (see the module docstring for the rule)."""
    params: int  # parameter bytes, each tensor once
    buffers: int  # buffer bytes
    activations: int = 0  # the pass's activations and working memory (the rule: as much as the weights again)
    training: int = 0  # gradients and optimizer state of a training step
    count: int = 0  # parameters (elements), for the message
    dtypes: tuple[str, ...] = ()  # the parameters' dtypes, for the message

    @property
    def total(self) -> int:
        return self.params + self.buffers + self.activations + self.training

    def describe(self) -> str:
        """The sum, in words: ``46.70 B float32 parameters 174.0 GiB + buffers 0.0 GiB + ...``."""
        out = (f"{self.count / 1e9:.2f} B {'/'.join(self.dtypes) or 'no'} parameters {gib(self.params)} GiB"
               f" + buffers {gib(self.buffers)} GiB")
        out += f" + activations {gib(self.activations)} GiB (estimated as much again)" if self.activations else ""
        return out + (f" + gradients and Adam state {gib(self.training)} GiB" if self.training else "")


def gib(n: int | float) -> str:
    """``n`` bytes in GiB, one decimal."""
    return f"{n / GiB:.1f}"


def estimate(model: nn.Module, *, training: bool = False) -> Estimate:
    """What a real build and pass of ``model`` (typically built on meta: only shapes and dtypes are read)
    allocate. ``training``: a training step (gradients and optimizer state of the trainable parameters)."""
    params = list(model.parameters())  # each Parameter once: tied weights are one object
    size = sum(p.numel() * p.element_size() for p in params)
    trainable = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return Estimate(params=size, buffers=buffers, activations=size + buffers,
                    training=3 * trainable if training else 0, count=sum(p.numel() for p in params),
                    dtypes=tuple(sorted({str(p.dtype).removeprefix("torch.") for p in params})))


def meminfo_available(text: str) -> int | None:
    """``MemAvailable`` of a /proc/meminfo text, in bytes; None when absent."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "MemAvailable" and value.split():
            return int(value.split()[0]) * 1024  # the kernel writes kB (KiB)
    return None


def cgroup_room(limit: str, used: str) -> int | None:
    """Bytes left under a cgroup v2 memory limit (``memory.max``, ``memory.current``); None without one."""
    limit, used = limit.strip(), used.strip()
    if limit == "max" or not limit.isdigit() or not used.isdigit():
        return None
    return max(int(limit) - int(used), 0)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def available(device: str = "cpu") -> int | None:
    """Bytes that can be allocated now on ``device``: host memory (psutil's ``available``, else MemAvailable
    of /proc/meminfo, bounded by a cgroup v2 limit as containers set one), or a CUDA device's free memory.
    None when it cannot be told (nothing is refused then)."""
    if device.startswith("cuda"):
        try:
            return int(torch.cuda.mem_get_info(torch.device(device))[0]) if torch.cuda.is_available() else None
        except (RuntimeError, AssertionError):  # no driver, a device index that does not exist
            return None
    try:
        import psutil

        free = int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unable to read this system: try the kernel's own figure
        text = _read("/proc/meminfo")
        free = meminfo_available(text) if text is not None else None
    limit, used = _read("/sys/fs/cgroup/memory.max"), _read("/sys/fs/cgroup/memory.current")
    room = cgroup_room(limit, used) if limit is not None and used is not None else None
    known = [n for n in (free, room) if n is not None]
    return min(known) if known else None


def check(need: Estimate, free: int | None, *, what: str, where: str, why: str, hints: list[str]) -> None:
    """Raise :class:`TooBigError` (one line) when ``need.total`` bytes exceed ``free``.

    what: the model (``hf:mixtral``); where: the real build asked for (``a real CPU pass``); why: why it is
    needed (the meta failure, short); hints: what to do instead, each a phrase. ``free`` None: no refusal."""
    if free is None or need.total <= free:
        return
    raise TooBigError(f"{what}: {why}; {where} would need {gib(need.total)} GiB ({need.describe()}) but "
                      f"{gib(free)} GiB are available: refused before allocating; try {', or '.join(hints)}")
