"""Per-layer latency: time spent in every module of a forward pass, from forward pre/post hooks.

Process-wide module hooks (registered for the measurement only: nothing is added to the user's modules)
read ``time.perf_counter`` when each module call starts and ends (with ``torch.cuda.synchronize`` on CUDA,
so a kernel is charged to the module that launched it). Per run, a layer's *inclusive* time is the sum over
its calls; its *self* time is that minus the inclusive time of the modules it called. After ``warmup``
untimed runs, ``runs`` timed runs give each layer's median and quartiles (milliseconds).

The whole passes are timed as in :func:`profiler.analysis.latency.measure_latency`, by
``torch.utils.benchmark.Timer.timeit(number=1)`` (two untimed passes, then one timed pass): each run is one
such sample without the hooks and one with them, interleaved. The layers' figures of a run are those of its
timed hooked pass (the last of its three); Timer cannot time inside a pass, so the hooks read the clock.

The hooks themselves cost a few microseconds per module call: tiny layers look slower than they are and the
sum of the layers exceeds :func:`profiler.analysis.latency.measure_latency`'s model time; ``overhead_ms`` reports
the difference of the medians so the reader can judge.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.nn.modules import module as _module_mod

from profiler.analysis.latency import LatencyStats, _measuring, _pass_timer, _sample_ms, _setup, summarize


@dataclass
class LayerLatency:
    path: str  # "" for the root
    type: str
    calls: int  # calls per forward pass
    inclusive: LatencyStats  # time in the module and everything it called, ms per pass
    self_ms: LatencyStats  # inclusive minus the modules it called, ms per pass

    def to_dict(self) -> dict:
        return {"path": self.path, "type": self.type, "calls": self.calls,
                "inclusive_median_ms": self.inclusive.median_ms, "inclusive_iqr_ms": self.inclusive.iqr_ms,
                "self_median_ms": self.self_ms.median_ms, "self_q1_ms": self.self_ms.q1_ms,
                "self_q3_ms": self.self_ms.q3_ms, "self_iqr_ms": self.self_ms.iqr_ms}


@dataclass
class LayerLatencies:
    layers: list[LayerLatency]  # named_modules order, modules that ran
    model: LatencyStats  # the whole pass as timed with the hooks in place
    plain_median_ms: float  # the whole pass without hooks (same runs, interleaved), for the overhead
    device: str
    dtype: str
    batch: int | None
    runs: int
    warmup: int
    notes: list[str] = field(default_factory=list)

    @property
    def overhead_ms(self) -> float:
        """Median pass time with the timing hooks minus without them (ms)."""
        return self.model.median_ms - self.plain_median_ms

    def by_path(self) -> dict[str, LayerLatency]:
        return {layer.path: layer for layer in self.layers}

    def to_dict(self) -> dict:
        return {"unit": "ms", "device": self.device, "dtype": self.dtype, "batch": self.batch, "runs": self.runs,
                "warmup": self.warmup, "model_median_ms": self.model.median_ms,
                "plain_median_ms": self.plain_median_ms, "overhead_ms": self.overhead_ms,
                "layers": [layer.to_dict() for layer in self.layers], "notes": list(self.notes)}


class _HookClock:
    """Forward pre/post hooks that add up each module's inclusive and self time (seconds) and calls.

    ``last`` holds (inclusive, self, calls) of the most recent completed top-level pass: when the outermost
    module returns, the pass's figures are moved there and the accumulators start afresh for the next pass.
    """

    def __init__(self, paths: dict[int, str], sync):
        self.paths = paths
        self.sync = sync
        self.stack: list[list] = []  # [path, t_start, time in children]
        self.inclusive: dict[str, float] = {}
        self.self_time: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.last: tuple[dict[str, float], dict[str, float], dict[str, int]] = ({}, {}, {})

    def pre(self, module, args):
        path = self.paths.get(id(module))
        if path is None:
            return
        if self.sync:
            self.sync()
        self.stack.append([path, time.perf_counter(), 0.0])

    def post(self, module, args, output):
        path = self.paths.get(id(module))
        if path is None or not self.stack:
            return
        if self.sync:
            self.sync()
        t = time.perf_counter()
        while self.stack:  # an inner call that raised and was caught left its entry behind
            top, t0, inner = self.stack.pop()
            if top == path:
                break
        dt = t - t0
        self.inclusive[path] = self.inclusive.get(path, 0.0) + dt
        self.self_time[path] = self.self_time.get(path, 0.0) + dt - inner
        self.calls[path] = self.calls.get(path, 0) + 1
        if self.stack:
            self.stack[-1][2] += dt
        else:  # the outermost module returned: one pass is complete
            self.last = (self.inclusive, self.self_time, self.calls)
            self.inclusive, self.self_time, self.calls = {}, {}, {}

    def reset(self):
        self.stack.clear()
        self.inclusive, self.self_time, self.calls = {}, {}, {}
        self.last = ({}, {}, {})


def measure_layer_latency(model: nn.Module, inputs, *, runs: int = 20, warmup: int = 5, device="cpu", dtype=None,
                          threads: int | None = None) -> LayerLatencies:
    """Median per-layer time (ms) over ``runs`` forward passes, after ``warmup`` untimed ones.

    inputs, device, dtype, threads: as :func:`profiler.analysis.latency.measure_latency` (eval mode, ``no_grad``; the
    user's model is not changed: a copy runs where device or dtype differ, training flags and torch's thread
    count are restored).
    One run is two ``Timer.timeit(number=1)`` samples, one without the hooks (``plain_median_ms``) and one
    with them (``model`` and the layers); the model runs ``warmup + 6 * runs`` times in all.
    """
    net, dev, run_dtype, (args, kwargs, batch) = _setup("measure_layer_latency", model, inputs, runs, warmup,
                                                         device, dtype, threads)

    paths = {id(m): p for p, m in net.named_modules()}
    types = {p: type(m).__name__ for p, m in net.named_modules()}
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else None
    clock = _HookClock(paths, sync)
    inclusive: dict[str, list[float]] = {}
    selfs: dict[str, list[float]] = {}
    calls: dict[str, int] = {}
    hooked: list[float] = []
    plain: list[float] = []

    def hooked_sample(timer) -> float:
        clock.reset()
        h1 = _module_mod.register_module_forward_pre_hook(clock.pre)
        h2 = _module_mod.register_module_forward_hook(clock.post)
        try:
            return _sample_ms(timer)
        finally:
            h1.remove()
            h2.remove()

    with _measuring(net, threads):
        for _ in range(warmup):
            net(*args, **kwargs)
        used = torch.get_num_threads()
        timer = _pass_timer(net, args, kwargs, dev, used)
        for _ in range(runs):  # interleaved so load on a shared machine hits both alike
            plain.append(_sample_ms(timer))
            hooked.append(hooked_sample(timer))
            last_inclusive, last_self, last_calls = clock.last  # the timed pass: the last of the three
            for p, t in last_inclusive.items():
                inclusive.setdefault(p, []).append(t * 1e3)
                selfs.setdefault(p, []).append(last_self[p] * 1e3)
                calls[p] = last_calls[p]

    dname = str(run_dtype).removeprefix("torch.")
    common = dict(warmup=warmup, device=str(dev), dtype=dname, batch=batch, threads=used)
    layers = []
    for p in paths.values():
        if p not in inclusive:
            continue
        # A module that does not run in every pass gets 0 for the passes it skipped.
        inc = inclusive[p] + [0.0] * (runs - len(inclusive[p]))
        slf = selfs[p] + [0.0] * (runs - len(selfs[p]))
        layers.append(LayerLatency(path=p, type=types[p], calls=calls[p], inclusive=summarize(inc, **common),
                                   self_ms=summarize(slf, **common)))
    plain_stats = summarize(plain, **common)
    return LayerLatencies(layers=layers, model=summarize(hooked, **common), plain_median_ms=plain_stats.median_ms,
                          device=str(dev), dtype=dname, batch=batch, runs=runs, warmup=warmup)
