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

import contextlib
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

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
    known = [n for n in (free, room, _own_room()) if n is not None]
    return min(known) if known else None


#: Environment variable: the resident memory (GiB) this process may grow to, where something outside it enforces
#: a cap the machine's free memory does not show (the sweep kills a worker past ``max_memory_gib``: it sets this
#: in its workers, so that a fallback past the cap is refused in one line instead of killing the worker).
LIMIT_ENV = "PROFILER_MEMORY_LIMIT_GIB"


def _own_room() -> int | None:
    """Bytes this process may still grow by under :data:`LIMIT_ENV`; None when it is not set."""
    import os

    text = os.environ.get(LIMIT_ENV)
    try:
        limit = int(float(text) * GiB) if text else None
    except ValueError:
        return None
    if limit is None:
        return None
    statm = _read("/proc/self/statm")
    try:
        import resource

        resident = int(statm.split()[1]) * resource.getpagesize() if statm else 0
    except (ValueError, IndexError):
        resident = 0
    return max(limit - resident, 0)


_FACTORIES = {"empty", "empty_strided", "zeros", "ones", "full", "rand", "randn", "randint", "normal"}


class _AllocationGuard(TorchDispatchMode):
    """Sums the bytes of CPU tensors made under it (factories before they allocate, other new tensors after) and
    raises :class:`TooBigError` before the sum passes ``free``. Freed tensors are not taken off: the sum bounds
    what a construction holds from above (its parameters and buffers, plus a few temporaries)."""

    def __init__(self, free: int, refuse):
        super().__init__()
        self.free, self.refuse, self.total = free, refuse, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._overloadpacket.__name__
        device = kwargs.get("device")
        on_cpu = device is None or torch.device(device).type == "cpu"
        size = args[0] if args and isinstance(args[0], (list, tuple, torch.Size)) else None
        if name in _FACTORIES and on_cpu and size is not None and all(isinstance(d, int) for d in size):
            dtype = kwargs.get("dtype") or torch.get_default_dtype()
            n = 1
            for d in size:
                n *= d
            need = n * (torch.finfo(dtype).bits if dtype.is_floating_point else torch.iinfo(dtype).bits
                        if dtype != torch.bool else 8) // 8
            if self.total + need > self.free:
                self.refuse(self.total + need)
            self.total += need
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        if name not in _FACTORIES and isinstance(out, torch.Tensor) and out.device.type == "cpu":
            ptrs = {t.untyped_storage().data_ptr() for t in args if isinstance(t, torch.Tensor)}
            if out.untyped_storage().data_ptr() not in ptrs:  # a new tensor (not a view, not in place)
                self.total += out.untyped_storage().nbytes()
                if self.total > self.free:
                    self.refuse(self.total)
        return out


@contextlib.contextmanager
def allocation_guard(*, what: str, why: str, hints: list[str], free: int | None = None):
    """For a real construction whose size cannot be estimated first (it failed on meta, so there is no meta
    model to read): its CPU allocations are summed as they are made (:class:`_AllocationGuard`), and the one that
    would pass ``free`` (default :func:`available`) raises :class:`TooBigError` before it is made. ``what``,
    ``why`` and ``hints`` word the refusal as :func:`check` does. ``free`` None and nothing available to read:
    nothing is refused."""
    free = available("cpu") if free is None else free
    if free is None:
        yield
        return

    def refuse(total: int) -> None:
        raise TooBigError(f"{what}: {why}; the construction on the CPU had allocated {gib(total)} GiB with more "
                          f"to come, past the {gib(free)} GiB available: stopped before allocating; try "
                          f"{', or '.join(hints)}")

    with _AllocationGuard(free, refuse):
        yield


def check(need: Estimate, free: int | None, *, what: str, where: str, why: str, hints: list[str]) -> None:
    """Raise :class:`TooBigError` (one line) when ``need.total`` bytes exceed ``free``.

    what: the model (``hf:mixtral``); where: the real build asked for (``a real CPU pass``); why: why it is
    needed (the meta failure, short); hints: what to do instead, each a phrase. ``free`` None: no refusal."""
    if free is None or need.total <= free:
        return
    raise TooBigError(f"{what}: {why}; {where} would need {gib(need.total)} GiB ({need.describe()}) but "
                      f"{gib(free)} GiB are available: refused before allocating; try {', or '.join(hints)}")
