"""Profiling from several threads at once (issue 23).

The engine's module hooks are process-wide: a pass saw the module calls of the same model running in
another thread (32 of 40 documents had wrong counts, 8 failed with "trying to pop from empty mode stack").
Required: a call on a module another thread is profiling either gives exactly what a single-threaded
profile gives or raises a RuntimeError saying so; never a wrong count. Different models in different
threads are always both right. Afterwards the models and the process state are as they were.
"""
from __future__ import annotations

import re
import sys
import threading

import pytest
import torch
import torch.nn as nn

import profiler
from profiler.core import engine
from _state import isolated, snapshot

REPEATS = 20
N, S = 2, 16
# conv 3->8 3x3 pad 1 on 16x16, conv 8->16 3x3 stride 2 pad 1 -> 8x8, linear 16->10; no MACs elsewhere
CNN_MACS = N * (8 * 27 * S * S + 16 * 72 * (S // 2) ** 2 + 16 * 10)
# linear 12->32, 32->32 and 32->6 on 5 rows
MLP_MACS = 5 * (12 * 32 + 32 * 32 + 32 * 6)


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(12, 32), nn.GELU(), nn.LayerNorm(32), nn.Linear(32, 32), nn.Tanh(),
                         nn.Linear(32, 6))


@pytest.fixture(autouse=True)
def _isolated():
    # Threads take turns every 5 ms by default, longer than a small model's pass: switching every 10 us
    # interleaves the two passes module by module in every repeat.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with isolated():
            yield
    finally:
        sys.setswitchinterval(interval)


def _layers(prof):
    return [(layer.path, layer.calls, layer.counts(), layer.input_shapes, layer.output_shapes)
            for layer in prof.layers]


def _concurrently(jobs):
    """Run the callables at once (released together by a barrier); their results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    out: list = [None] * len(jobs)

    def run(i, job):
        barrier.wait()
        try:
            out[i] = job()
        except Exception as exc:  # noqa: BLE001 - judged by the caller
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a profiling thread hangs"
    return out


def _is_busy_refusal(exc) -> bool:
    return isinstance(exc, RuntimeError) and re.search(r"another thread", str(exc), re.I) is not None


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("device", ["cpu", "meta"], ids=["real", "meta"])
def test_same_module_from_two_threads_is_right_or_refused(device, train):
    torch.manual_seed(0)
    model = cnn().train(train)
    x = torch.randn(N, 3, S, S)
    reference = profiler.profile(model, x, device=device)
    assert reference.macs == CNN_MACS
    before = snapshot(model, x)
    outcomes = []
    for rep in range(REPEATS):
        if rep % 2:  # both threads meet untrusted leaf paths and check them at once
            engine.clear_caches()
        pair = _concurrently([lambda: profiler.profile(model, x, device=device)] * 2)
        outcomes.append(pair)
        for got in pair:
            if isinstance(got, Exception):
                assert _is_busy_refusal(got), f"rep {rep}: {type(got).__name__}: {got}"
            else:
                assert got.macs == CNN_MACS, f"rep {rep}: {got.macs:,} MACs, expected {CNN_MACS:,}"
                assert _layers(got) == _layers(reference), f"rep {rep}"
        # a refusal says that another thread is profiling the module: that thread's call succeeds
        assert not all(isinstance(got, Exception) for got in pair), f"rep {rep}: both refused"
    before.assert_same(model)


@pytest.mark.parametrize("device", ["cpu", "meta"], ids=["real", "meta"])
def test_different_models_in_two_threads_are_both_right(device):
    torch.manual_seed(0)
    a, b = cnn().train(), mlp()
    xa, xb = torch.randn(N, 3, S, S), torch.randn(5, 12)
    ref_a, ref_b = profiler.profile(a, xa, device=device), profiler.profile(b, xb, device=device)
    assert (ref_a.macs, ref_b.macs) == (CNN_MACS, MLP_MACS)
    before_a, before_b = snapshot(a, xa), snapshot(b, xb)
    for rep in range(REPEATS):
        if rep % 2:
            engine.clear_caches()
        got_a, got_b = _concurrently([lambda: profiler.profile(a, xa, device=device),
                                      lambda: profiler.profile(b, xb, device=device)])
        for got, ref in ((got_a, ref_a), (got_b, ref_b)):
            assert not isinstance(got, Exception), f"rep {rep}: {type(got).__name__}: {got}"
            assert got.macs == ref.macs and _layers(got) == _layers(ref), f"rep {rep}"
    before_a.assert_same(a)
    before_b.assert_same(b)
