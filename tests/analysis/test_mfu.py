"""MFU: 2 x the step's MACs over the measured time and the hardware's peak."""
import pytest
import torch
import torch.nn as nn

import profiler
from profiler.analysis.mfu import step_flops


def test_mfu_of_a_linear_training_step():
    step = profiler.profile(nn.Linear(10, 20, bias=False), torch.randn(4, 10), backward=True)
    macs = 4 * 10 * 20 * 2  # forward + the weight gradient (the input needs none)
    assert step.macs == macs and step_flops(step) == 2 * macs
    assert profiler.mfu(step, seconds=1e-6, peak_flops=4e9) == pytest.approx(2 * macs / 1e-6 / 4e9)
    assert profiler.mfu(step, seconds=2e-6, peak_flops=4e9) == pytest.approx(0.4)


def test_mfu_ignores_the_convention_and_refuses_bad_numbers():
    step = profiler.profile(nn.Linear(10, 20), torch.randn(4, 10), backward=True, convention="all")
    assert step_flops(step) == 2 * 4 * 10 * 20 * 2  # MACs only, whatever the profile's convention
    with pytest.raises(ValueError, match="seconds"):
        profiler.mfu(step, 0, 1e12)
    with pytest.raises(ValueError, match="peak_flops"):
        profiler.mfu(step, 1.0, -1)
