"""Wall-clock inference latency of a model, measured honestly.

:func:`measure_latency` runs ``warmup`` untimed forward passes, then takes ``runs`` timed samples, all in
eval mode under ``torch.no_grad()``. The timing is PyTorch's own benchmark timer,
:class:`torch.utils.benchmark.Timer`: one sample is ``Timer.timeit(number=1)``, i.e. Timer's own warm-up
(two untimed passes) followed by one timed forward pass, with torch's intra-op thread count pinned by
Timer's ``num_threads`` and Python's garbage collector paused during the pass (as ``timeit`` does). Timer's
clock is ``time.perf_counter``; on CUDA it first calls ``torch.cuda.synchronize`` on the measured device,
so a pass's time covers its kernels, not just their launch. A fixed number of ``timeit(1)`` samples (rather
than ``blocked_autorange``, which chooses its own count and reports means of blocks) keeps ``runs`` exactly
what the caller asked and every sample one pass. The result is a distribution summary (median and
quartiles), because single timings on a shared machine are noisy and skewed by outliers.

The user's model is never changed: the training flag of every submodule is restored afterwards, and when
the requested device or dtype differs from the model's, a deep copy is moved instead of the model.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import math
import timeit
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import torch
import torch.nn as nn

from profiler.errors import UsageError

if TYPE_CHECKING:
    from torch.utils.benchmark import Timer

__all__ = ["LatencyStats", "measure_latency", "summarize", "parse_dtype"]

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float64": torch.float64, "fp64": torch.float64, "double": torch.float64,
}


@dataclass(frozen=True)
class LatencyStats:
    """Summary of ``runs`` timed forward passes (all times in milliseconds).

    One sample (an entry of ``samples_ms``) is the wall-clock time of one forward pass, as timed by
    ``torch.utils.benchmark.Timer.timeit(number=1)`` in :func:`measure_latency` (synchronized on CUDA).
    ``warmup`` counts the untimed passes run before the first sample, besides the two untimed passes that
    Timer runs before every sample.

    Quartiles use linear interpolation between order statistics (numpy's default percentile method);
    ``iqr_ms = q3_ms - q1_ms``. ``threads`` is torch's CPU intra-op thread count during the measurement;
    ``batch`` the leading dimension of the first input tensor (``None`` if there is no tensor input);
    ``dtype`` the floating dtype the model ran in.
    """
    median_ms: float
    q1_ms: float
    q3_ms: float
    iqr_ms: float
    min_ms: float
    max_ms: float
    runs: int
    warmup: int
    device: str
    dtype: str
    batch: int | None
    threads: int
    samples_ms: tuple[float, ...] = field(default=(), repr=False)  # every timed run, in order

    def to_dict(self, samples: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if samples:
            d["samples_ms"] = list(self.samples_ms)
        else:
            d.pop("samples_ms")
        return d

    def __str__(self) -> str:
        return (f"{self.median_ms:.3f} ms median (IQR {self.iqr_ms:.3f} ms, min {self.min_ms:.3f}, "
                f"max {self.max_ms:.3f}) over {self.runs} runs after {self.warmup} warm-up, {self.device}, "
                f"{self.dtype}, batch {self.batch}, {self.threads} threads")


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy.percentile's default, 'linear')."""
    pos = (len(sorted_xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def summarize(samples_ms: Sequence[float], *, warmup: int = 0, device: str = "cpu", dtype: str = "float32",
              batch: int | None = None, threads: int | None = None) -> LatencyStats:
    """:class:`LatencyStats` of a list of timings in milliseconds (at least one)."""
    xs = sorted(float(x) for x in samples_ms)
    if not xs:
        raise ValueError("no timings to summarize")
    q1, med, q3 = (_quantile(xs, q) for q in (0.25, 0.5, 0.75))
    return LatencyStats(
        median_ms=med, q1_ms=q1, q3_ms=q3, iqr_ms=q3 - q1, min_ms=xs[0], max_ms=xs[-1], runs=len(xs),
        warmup=warmup, device=device, dtype=dtype, batch=batch,
        threads=torch.get_num_threads() if threads is None else threads,
        samples_ms=tuple(float(x) for x in samples_ms))


def parse_dtype(dtype) -> torch.dtype | None:
    """``None``, a ``torch.dtype`` or a name (float32/fp32, float16/fp16/half, bfloat16/bf16, float64)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    key = str(dtype).lower().removeprefix("torch.")
    if key not in _DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}; choose one of: float32, float16, bfloat16, float64")
    return _DTYPES[key]


def _parse_device(device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UsageError(f"bad device {device!r}: {exc}") from None
    if dev.type == "meta":
        raise UsageError("latency cannot be measured on the meta device (it runs no kernels); use cpu or cuda")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} requested but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return dev


def _model_place(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for t in model.parameters():
        if t.is_floating_point():
            return t.device, t.dtype
    for t in model.buffers():
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    ia = a.index if a.index is not None else torch.cuda.current_device()
    ib = b.index if b.index is not None else torch.cuda.current_device()
    return ia == ib


def _prepare_inputs(inputs, device: torch.device, dtype: torch.dtype):
    """(args, kwargs, batch): tensors moved to ``device``, floating ones cast to ``dtype``."""
    if isinstance(inputs, (tuple, list, torch.Size)) and inputs and all(isinstance(d, int) for d in inputs):
        inputs = torch.randn(tuple(inputs))  # an input size such as (1, 3, 224, 224)
    first: list[torch.Tensor] = []

    def move(o):
        if isinstance(o, torch.Tensor):
            t = o.to(device=device, dtype=dtype) if o.is_floating_point() else o.to(device)
            if not first:
                first.append(t)
            return t
        if isinstance(o, (list, tuple)):
            return type(o)(move(x) for x in o)
        if isinstance(o, dict):
            return {k: move(v) for k, v in o.items()}
        return o

    if isinstance(inputs, dict):
        args, kwargs = (), move(inputs)
    elif isinstance(inputs, tuple):
        args, kwargs = move(inputs), {}
    elif isinstance(inputs, (torch.Tensor, list)):  # one argument (a list stays one argument, as in profile())
        args, kwargs = (move(inputs),), {}
    else:
        raise UsageError("inputs must be a tensor, a tuple of positional arguments, a dict of keyword "
                         f"arguments or an input size such as (1, 3, 224, 224); got {type(inputs).__name__}")
    batch = int(first[0].shape[0]) if first and first[0].dim() > 0 else None
    return args, kwargs, batch


def _setup(caller: str, model: nn.Module, inputs, runs, warmup, device, dtype, threads):
    """Check a measurement's arguments; (the module to run, device, dtype, (args, kwargs, batch)).

    The user's model is never moved or cast: where device or dtype differ from the model's, a deep copy runs.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"{caller}() needs a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(runs, int) or runs < 1:
        raise UsageError(f"runs must be a positive integer, got {runs!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise UsageError(f"warmup must be a non-negative integer, got {warmup!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise UsageError(f"threads must be a positive integer, got {threads!r}")
    dev = _parse_device(device)
    home_dev, home_dtype = _model_place(model)
    if home_dev.type == "meta":
        raise UsageError("this model's weights are on the meta device (built shape-only); build it with real "
                         "weights to measure latency")
    run_dtype = parse_dtype(dtype) or home_dtype
    net = model if _same_device(home_dev, dev) and run_dtype == home_dtype else \
        copy.deepcopy(model).to(device=dev, dtype=run_dtype)
    return net, dev, run_dtype, _prepare_inputs(inputs, dev, run_dtype)


@contextlib.contextmanager
def _measuring(net: nn.Module, threads: int | None):
    """Eval mode under ``torch.no_grad()`` with ``threads`` CPU threads (``None``: torch's setting); every
    submodule's training flag and the thread count are restored afterwards, also when a pass raises."""
    flags = [(m, m.training) for m in net.modules()]
    old_threads = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        net.eval()
        with torch.no_grad():
            yield
    finally:
        for m, training in flags:
            m.training = training
        if threads is not None:
            torch.set_num_threads(old_threads)


def _clock(dev: torch.device):
    """Timer's clock: ``time.perf_counter``, on CUDA after ``torch.cuda.synchronize(dev)``.

    Timer's default clock synchronizes torch's *current* accelerator whenever one is present; this one
    synchronizes the measured device (``cuda:1`` too) and nothing when the measurement runs on the CPU.
    """
    if dev.type != "cuda":
        return timeit.default_timer

    def synchronized() -> float:
        torch.cuda.synchronize(dev)
        return timeit.default_timer()

    return synchronized


def _timer_class() -> type[Timer]:
    """``torch.utils.benchmark.Timer``, imported on first use.

    Importing it imports ``torch.utils.cpp_extension`` (for Timer's C++ mode, unused here), which logs "No
    CUDA runtime is found, using CUDA_HOME=..." on a machine with a CUDA build of torch and the CUDA toolkit
    but no GPU; that message concerns building extensions, not timing, so it is held back during the import.
    """
    log = logging.getLogger("torch.utils.cpp_extension")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        from torch.utils.benchmark import Timer
    finally:
        log.setLevel(old)
    return Timer


def _pass_timer(net: nn.Module, args, kwargs, dev: torch.device, threads: int) -> Timer:
    """A :class:`torch.utils.benchmark.Timer` whose statement is one forward pass ``net(*args, **kwargs)``."""
    return _timer_class()(stmt="net(*args, **kwargs)", globals={"net": net, "args": args, "kwargs": kwargs},
                          timer=_clock(dev), num_threads=threads, label=type(net).__name__,
                          description=str(dev))


def _sample_ms(timer: Timer) -> float:
    """One sample: ``timer.timeit(number=1)`` (two untimed warm-up passes, then one timed pass), in ms."""
    return timer.timeit(number=1).times[0] * 1e3


def measure_latency(model: nn.Module, inputs, *, runs: int = 50, warmup: int = 10, device="cpu",
                    dtype=None, threads: int | None = None) -> LatencyStats:
    """Median and spread of ``runs`` timed forward passes of ``model`` on ``inputs``.

    inputs: a tensor, a tuple of positional arguments, a dict of keyword arguments, a list (passed as one
    argument), or an input size such as ``(1, 3, 224, 224)`` (one random float tensor). Floating input
    tensors are cast to the run's dtype.
    device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ... (on CUDA the device is synchronized before and after
    each timed pass).
    dtype: ``None`` (the model's own floating dtype), a ``torch.dtype`` or a name such as ``"float16"``.
    threads: CPU intra-op threads for the measurement (``None``: leave torch's setting); restored afterwards.

    ``warmup`` untimed passes come first; then each of the ``runs`` samples is
    ``torch.utils.benchmark.Timer.timeit(number=1)``: Timer's two untimed warm-up passes and one timed pass.
    One sample is therefore the time of exactly one forward pass, and the model runs
    ``warmup + 3 * runs`` times in all, each in eval mode under ``torch.no_grad()``.
    The model is not modified: submodules' training flags and torch's thread count are restored, and if
    device or dtype differ from the model's, a deep copy runs instead.
    """
    net, dev, run_dtype, (args, kwargs, batch) = _setup("measure_latency", model, inputs, runs, warmup, device,
                                                         dtype, threads)

    with _measuring(net, threads):
        for _ in range(warmup):
            net(*args, **kwargs)
        used_threads = torch.get_num_threads()
        timer = _pass_timer(net, args, kwargs, dev, used_threads)
        samples = [_sample_ms(timer) for _ in range(runs)]
    return summarize(samples, warmup=warmup, device=str(dev), dtype=str(run_dtype).removeprefix("torch."),
                     batch=batch, threads=used_threads)
