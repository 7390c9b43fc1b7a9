"""Per-layer latency from forward hooks: layers that sleep a known time are timed at that time."""
import time

import pytest
import torch
import torch.nn as nn
from torch.nn.modules import module as module_mod

from profiler.errors import UsageError
from profiler.analysis.layer_latency import measure_layer_latency


class Sleep(nn.Module):
    def __init__(self, ms):
        super().__init__()
        self.ms = ms

    def forward(self, x):
        time.sleep(self.ms / 1e3)
        return x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fast = Sleep(2)
        self.slow = Sleep(20)
        self.block = nn.Sequential(Sleep(4), Sleep(4))

    def forward(self, x):
        return self.block(self.slow(self.fast(x)))


def test_sleeping_layers_are_timed_at_their_sleep():
    model = Net().train()
    res = measure_layer_latency(model, torch.zeros(1), runs=5, warmup=1)
    by = res.by_path()
    # time.sleep sleeps at least as long as asked; a loaded machine may add (a lot), never removes
    assert by["fast"].self_ms.median_ms >= 2 and by["slow"].self_ms.median_ms >= 20
    assert by["block.0"].self_ms.median_ms >= 4 and by["block"].inclusive.median_ms >= 8
    # inclusive = self + children: the container's own share is small, its children did the sleeping
    block = by["block"]
    assert block.self_ms.median_ms < 0.2 * block.inclusive.median_ms
    kids = by["block.0"].inclusive.median_ms + by["block.1"].inclusive.median_ms
    assert kids <= block.inclusive.median_ms * 1.05 + 0.5
    assert by[""].inclusive.median_ms >= 30
    assert by["block.0"].calls == 1 and by[""].type == "Net"
    assert res.plain_median_ms >= 30 and res.to_dict()["unit"] == "ms"
    # the user's model is untouched: training flag back, no global hooks left behind
    assert model.training and model.block.training
    assert not module_mod._global_forward_hooks and not module_mod._global_forward_pre_hooks


def test_module_called_twice_sums_its_calls():
    s = Sleep(3)
    model = nn.Sequential(s, s)  # one module, two calls per pass
    by = measure_layer_latency(model, torch.zeros(1), runs=3, warmup=0).by_path()
    assert by["0"].calls == 2
    assert by["0"].self_ms.median_ms >= 6  # two sleeps of 3 ms per pass
    assert by[""].self_ms.median_ms < 0.2 * by[""].inclusive.median_ms


def test_real_model_runs_and_meta_model_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    res = measure_layer_latency(model, (1, 3, 16, 16), runs=3, warmup=1)
    assert {layer.path for layer in res.layers} == {"", "0", "1"}
    assert all(layer.self_ms.median_ms >= 0 for layer in res.layers)
    with pytest.raises(UsageError):
        measure_layer_latency(model.to("meta"), (1, 3, 16, 16), runs=1)
    with pytest.raises(UsageError):
        measure_layer_latency(nn.Linear(2, 2), torch.zeros(1, 2), runs=0)


TIMER_WARMUP = 2  # untimed passes torch.utils.benchmark.Timer.timeit(number=1) runs before its timed one


def test_layers_come_from_the_timed_pass_and_counts_are_exact():
    class SleepWhenTimed(nn.Module):
        """Sleeps 10 ms only on every third call: the timed pass of each Timer.timeit(1) sample."""

        def __init__(self):
            super().__init__()
            self.n = 0

        def forward(self, x):
            self.n += 1
            if self.n % (1 + TIMER_WARMUP) == 0:
                time.sleep(0.01)
            return x

    model = nn.Sequential(SleepWhenTimed(), nn.Identity()).train()
    before = torch.get_num_threads()
    res = measure_layer_latency(model, torch.zeros(1), runs=3, warmup=0, threads=1)
    assert model[0].n == 3 * 2 * (1 + TIMER_WARMUP)  # per run: a plain and a hooked sample of 3 passes each
    by = res.by_path()
    assert by["0"].self_ms.median_ms >= 10 and by["0"].calls == 1  # the timed pass, not a warm-up pass
    assert res.model.median_ms >= 10 and res.plain_median_ms >= 10
    assert res.runs == 3 and res.model.runs == 3 and by["0"].inclusive.runs == 3
    assert res.model.threads == 1 and torch.get_num_threads() == before and model.training
    assert not module_mod._global_forward_hooks and not module_mod._global_forward_pre_hooks

    class Count(nn.Module):
        def __init__(self):
            super().__init__()
            self.n = 0

        def forward(self, x):
            self.n += 1
            return x

    counted = Count()
    measure_layer_latency(counted, torch.zeros(1), runs=2, warmup=4)
    assert counted.n == 4 + 2 * 2 * (1 + TIMER_WARMUP)
