"""How single values are written (profiler.report.format): expected strings written by hand."""
import pytest
import torch

from profiler.report import format as F


@pytest.mark.parametrize("n, text", [
    (None, "-"), (0, "0"), (999, "999"), (4_134_606, "4,134,606"), (1234.6, "1,235"), (-12_000, "-12,000"),
])
def test_count(n, text):
    assert F.count(n) == text


@pytest.mark.parametrize("args, text", [
    ((239_173_360, "MACs"), "239.17 M MACs"),
    ((999,), "999"),
    ((12.6,), "13"),  # below a thousand: a whole number, rounded
    ((1000,), "1.00 K"),
    ((999_999,), "1000.00 K"),  # the prefix steps at 10^3, never rounds up into the next one
    ((1_000_000,), "1.00 M"),
    ((3.5e9, "FLOPs"), "3.50 G FLOPs"),
    ((1.5e12, "FLOPs", 1), "1.5 T FLOPs"),
    ((4.2e15,), "4200.00 T"),  # T is the largest prefix
    ((-2500,), "-2.50 K"),
    ((0, "MACs"), "0 MACs"),
])
def test_scaled(args, text):
    assert F.scaled(*args) == text


def test_shape_and_shapes():
    assert F.shape([1, 3, 224, 224]) == "1x3x224x224"
    assert F.shape(torch.Size([2, 8])) == "2x8"
    assert F.shape((7,)) == "7"
    assert F.shape([]) == "()"  # a scalar tensor
    assert F.shape(None) == ""
    assert F.shapes([[1, 64, 56, 56], [1, 64, 56, 56]]) == "1x64x56x56, 1x64x56x56"
    assert F.shapes([[1, 10], []]) == "1x10, ()"
    assert F.shapes(None) == "" and F.shapes([]) == ""


@pytest.mark.parametrize("config, text", [
    ({"kernel_size": (3, 3), "stride": (2, 2), "groups": 32}, "3x3 s2 g32"),
    ({"kernel_size": (3, 3), "stride": (1, 1), "groups": 1}, "3x3 s1"),
    ({"kernel_size": (1, 3), "stride": (1, 2)}, "1x3 s1x2"),  # uneven stride: every dimension
    ({"kernel_size": (3, 3), "stride": (1, 1), "dilation": (2, 2)}, "3x3 s1 d2"),
    ({"kernel_size": (3, 3), "dilation": (1, 1)}, "3x3"),  # no stride recorded, dilation 1 left out
    ({"kernel_size": (3, 3, 3), "stride": 2, "dilation": (1, 2, 2)}, "3x3x3 s2 d1x2x2"),
    ({"kernel_size": 5, "stride": 1, "groups": None}, "5 s1"),
    ({"stride": 2}, ""),  # no kernel: nothing to say
    ({}, ""),
    (None, ""),
])
def test_kernel_stride_groups(config, text):
    assert F.kernel_stride_groups(config) == text


def test_percent():
    assert F.percent(12.3456) == "12.35"
    assert F.percent(100.0) == "100.00"
    assert F.percent(100 * 13_824 / 39_504, 3) == "34.994"
    assert F.percent(0.3, 4, suffix="%") == "0.3000%"
    assert F.percent(0.0, 1) == "0.0"
    # a share of a zero total: a dash, and never "-%"
    assert F.percent(None) == "-" and F.percent(None, 4, suffix="%") == "-"
