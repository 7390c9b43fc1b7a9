"""measure_latency: correct statistics, the right number of passes in the right mode, the model untouched.

Statistics are checked against numpy's percentiles (an independent implementation); timings themselves are
only checked for ordering and a lower bound (a pass that sleeps 2 ms cannot take less), never for speed.
"""
import time

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from profiler.errors import UsageError
from profiler.analysis.latency import LatencyStats, measure_latency, parse_dtype, summarize


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


def test_passes_eval_no_grad_and_counts():
    m = Recorder().train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    s = measure_latency(m, torch.randn(2, 4), runs=5, warmup=3)
    assert isinstance(s, LatencyStats)
    assert len(m.calls) == 3 + 5 and s.runs == 5 and s.warmup == 3 and len(s.samples_ms) == 5
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


def test_lower_bound_and_input_forms():
    m = Recorder(sleep_s=0.002)
    s = measure_latency(m, torch.randn(1, 4), runs=3, warmup=0)
    assert s.min_ms >= 2.0
    m.sleep_s = 0
    assert measure_latency(m, (1, 4), runs=1, warmup=0).batch == 1  # an input size
    assert measure_latency(m, {"x": torch.randn(3, 4)}, runs=1, warmup=0).batch == 3  # keyword arguments
    assert measure_latency(m, (torch.randn(5, 4),), runs=1, warmup=0).batch == 5  # positional arguments


def test_threads_restored():
    before = torch.get_num_threads()
    s = measure_latency(Recorder(), torch.randn(2, 4), runs=1, warmup=0, threads=1)
    assert s.threads == 1 and torch.get_num_threads() == before


@pytest.mark.parametrize("kw", [dict(runs=0), dict(warmup=-1), dict(device="meta"), dict(dtype="int7"),
                                dict(threads=0), dict(device="nonsense")])
def test_bad_arguments(kw):
    with pytest.raises(UsageError):
        measure_latency(Recorder(), torch.randn(2, 4), **kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_unavailable_message():
    with pytest.raises(UsageError, match="CUDA is not available"):
        measure_latency(Recorder(), torch.randn(2, 4), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_runs_on_a_copy():
    m = Recorder()
    s = measure_latency(m, torch.randn(2, 4), runs=3, warmup=1, device="cuda")
    assert s.device.startswith("cuda") and m.lin.weight.device.type == "cpu" and m.calls == []


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
