"""measure_latency: correct statistics, the right number of passes in the right mode, the model untouched.

Statistics are checked against numpy's percentiles and torch.utils.benchmark's Measurement (independent
implementations); timings themselves are only checked for ordering and a lower bound (a pass that sleeps
30 ms cannot take less), or against a fake clock, never for speed. The CUDA branch's logic (refusals, the
synchronizing clock) is tested without a GPU; one test, marked GPU only, runs the real thing.
"""
import time
import timeit

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from torch.utils.benchmark import Measurement, TaskSpec

import profiler.analysis.latency as latency_mod
from profiler.errors import UsageError
from profiler.analysis.latency import LatencyStats, measure_latency, parse_dtype, summarize

TIMER_WARMUP = 2  # untimed passes torch.utils.benchmark.Timer.timeit(number=1) runs before its timed one


class Recorder(nn.Module):
    """Records, for every forward call, its training flag and whether autograd was on."""

    def __init__(self, sleep_s=0.0):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.sleep_s = sleep_s
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, self.bn.training, torch.is_grad_enabled(), x.dtype, x.device.type))
        if self.sleep_s:
            time.sleep(self.sleep_s)
        return self.bn(self.lin(x))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=1, max_size=40))
def test_summary_matches_numpy(xs):
    s = summarize(xs, warmup=3, batch=2, threads=1)
    q1, med, q3 = np.percentile(xs, [25, 50, 75])
    assert s.median_ms == pytest.approx(med)
    assert s.q1_ms == pytest.approx(q1) and s.q3_ms == pytest.approx(q3)
    assert s.iqr_ms == pytest.approx(q3 - q1)
    assert (s.min_ms, s.max_ms, s.runs) == (min(xs), max(xs), len(xs))
    assert s.samples_ms == tuple(xs)  # in measurement order, not sorted


def test_summary_small_cases():
    s = summarize([4.0, 1.0, 3.0, 2.0])
    # numpy linear method by hand: positions 0.75, 1.5, 2.25 of [1, 2, 3, 4]
    assert (s.q1_ms, s.median_ms, s.q3_ms, s.iqr_ms) == (1.75, 2.5, 3.25, 1.5)
    one = summarize([7.0])
    assert one.median_ms == one.q1_ms == one.q3_ms == 7.0 and one.iqr_ms == 0.0
    with pytest.raises(ValueError):
        summarize([])


def test_summary_agrees_with_torch_benchmark_measurement():
    xs = [3.0, 1.5, 9.0, 2.25, 4.0, 2.0, 7.5]
    s = summarize(xs)
    m = Measurement(number_per_run=1, raw_times=xs, task_spec=TaskSpec(stmt="net(x)", setup="pass"))
    assert s.median_ms == pytest.approx(m.median) and s.iqr_ms == pytest.approx(m.iqr)


def test_passes_eval_no_grad_and_counts():
    m = Recorder().train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    s = measure_latency(m, torch.randn(2, 4), runs=5, warmup=3)
    assert isinstance(s, LatencyStats)
    assert s.runs == 5 and s.warmup == 3 and len(s.samples_ms) == 5  # exactly the runs asked for
    assert len(m.calls) == 3 + 5 * (1 + TIMER_WARMUP)  # warm-up, then per sample Timer's 2 untimed + 1 timed
    assert all(call[:3] == (False, False, False) for call in m.calls)  # eval mode, no autograd
    assert m.training and m.bn.training and m.lin.training  # every flag restored
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k  # BN running stats untouched (eval mode)
    assert s.batch == 2 and s.device == "cpu" and s.dtype == "float32" and s.threads >= 1
    assert 0 <= s.min_ms <= s.q1_ms <= s.median_ms <= s.q3_ms <= s.max_ms


def test_mixed_training_flags_restored():
    m = Recorder().train()
    m.bn.eval()  # a frozen-BN setup: the flags differ per module and must come back as they were
    measure_latency(m, torch.randn(2, 4), runs=1, warmup=0)
    assert m.training and m.lin.training and not m.bn.training


def test_other_dtype_runs_on_a_copy():
    m = Recorder().eval()
    w = m.lin.weight
    s = measure_latency(m, torch.randn(2, 4), runs=2, warmup=1, dtype="float64")
    assert s.dtype == "float64"
    assert m.calls == []  # the copy ran, not the user's model
    assert m.lin.weight is w and w.dtype == torch.float32 and w.device.type == "cpu"


def test_sleeping_model_measures_at_least_its_sleep():
    m = Recorder(sleep_s=0.03)
    s = measure_latency(m, torch.randn(1, 4), runs=3, warmup=1)
    assert s.runs == 3 and len(s.samples_ms) == 3
    assert s.min_ms >= 30.0  # time.sleep sleeps at least as long as asked; load can add, never remove


def test_one_sample_is_exactly_one_pass(monkeypatch):
    """Against a fake clock that only moves when the model runs: every sample is one pass, in ms."""
    now = [0.0]

    class Tick(nn.Module):
        def forward(self, x):
            now[0] += 0.007  # a pass "takes" 7 ms of fake time
            return x

    monkeypatch.setattr(latency_mod, "_clock", lambda dev: lambda: now[0])
    s = measure_latency(Tick(), torch.zeros(1), runs=4, warmup=2)
    assert s.samples_ms == pytest.approx((7.0,) * 4) and s.runs == 4
    assert now[0] == pytest.approx(0.007 * (2 + 4 * (1 + TIMER_WARMUP)))


def test_input_forms():
    m = Recorder()
    assert measure_latency(m, (1, 4), runs=1, warmup=0).batch == 1  # an input size
    assert measure_latency(m, {"x": torch.randn(3, 4)}, runs=1, warmup=0).batch == 3  # keyword arguments
    assert measure_latency(m, (torch.randn(5, 4),), runs=1, warmup=0).batch == 5  # positional arguments


def test_threads_restored():
    before = torch.get_num_threads()
    seen = []

    class Threads(Recorder):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            return super().forward(x)

    s = measure_latency(Threads(), torch.randn(2, 4), runs=2, warmup=1, threads=1)
    assert s.threads == 1 and torch.get_num_threads() == before
    assert seen == [1] * (1 + 2 * (1 + TIMER_WARMUP))  # warm-up and timed passes alike ran on 1 thread
    s = measure_latency(Recorder(), torch.randn(2, 4), runs=1, warmup=0)  # None: torch's own setting
    assert s.threads == before and torch.get_num_threads() == before


def test_model_untouched_when_a_pass_raises():
    class Fails(Recorder):
        def forward(self, x):
            out = super().forward(x)
            if len(self.calls) > 2:  # fails inside Timer, after the warm-up
                raise RuntimeError("boom")
            return out

    m = Fails().train()
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"):
        measure_latency(m, torch.randn(2, 4), runs=3, warmup=2, threads=1)
    assert torch.get_num_threads() == before and m.training and m.bn.training and torch.is_grad_enabled()


@pytest.mark.parametrize("kw", [dict(runs=0), dict(warmup=-1), dict(device="meta"), dict(dtype="int7"),
                                dict(threads=0), dict(device="nonsense")])
def test_bad_arguments(kw):
    with pytest.raises(UsageError):
        measure_latency(Recorder(), torch.randn(2, 4), **kw)


def test_cuda_refused_where_unavailable(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without a GPU
    m = Recorder()
    with pytest.raises(UsageError, match="CUDA is not available"):
        measure_latency(m, torch.randn(2, 4), device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UsageError, match=r"only 1 CUDA device"):
        measure_latency(m, torch.randn(2, 4), device="cuda:3")
    assert m.calls == []  # refused before any pass


def test_cuda_clock_synchronizes_the_measured_device(monkeypatch):
    """The CUDA branch without a GPU: Timer's clock synchronizes the measured device around the timed pass."""
    synced = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(device))
    assert latency_mod._clock(torch.device("cpu")) is timeit.default_timer  # nothing to wait for on the CPU
    dev = torch.device("cuda", 1)
    m = Recorder()
    timer = latency_mod._pass_timer(m, (torch.randn(2, 4),), {}, dev, torch.get_num_threads())
    with torch.no_grad():
        ms = latency_mod._sample_ms(timer)
    assert ms >= 0 and len(m.calls) == 1 + TIMER_WARMUP
    assert synced == [dev] * 4  # before and after Timer's warm-up block, before and after the timed pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU only: needs CUDA (runs on a machine with a GPU)")
def test_gpu_only_cuda_runs_on_a_copy_and_waits_for_kernels():
    m = Recorder()
    s = measure_latency(m, torch.randn(2, 4), runs=3, warmup=1, device="cuda")
    assert s.device.startswith("cuda") and s.runs == 3 and len(s.samples_ms) == 3
    assert m.lin.weight.device.type == "cpu" and m.calls == []  # the user's model stayed on the CPU, unused

    class Spin(nn.Module):  # launches a GPU kernel that spins >= 1e8 cycles (>= 25 ms below 4 GHz)
        def forward(self, x):
            torch.cuda._sleep(100_000_000)
            return x

    s = measure_latency(Spin(), torch.zeros(1, device="cuda"), runs=2, warmup=0, device="cuda")
    assert s.min_ms >= 25.0  # the time covers the kernel, not just its launch


def test_parse_dtype():
    assert parse_dtype(None) is None
    assert parse_dtype("fp16") is torch.float16 and parse_dtype("torch.bfloat16") is torch.bfloat16
    assert parse_dtype(torch.float64) is torch.float64


def test_list_is_one_argument_and_bad_inputs():
    class Sum(nn.Module):
        def forward(self, xs):
            return sum(xs)

    s = measure_latency(Sum(), [torch.ones(2, 3), torch.ones(2, 3)], runs=1, warmup=0)
    assert s.batch == 2
    with pytest.raises(UsageError):
        measure_latency(Sum(), "not an input", runs=1, warmup=0)
