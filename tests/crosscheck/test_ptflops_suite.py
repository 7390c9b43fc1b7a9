"""ptflops' own test expectations (sovrasov/flops-counter.pytorch, tests/common_test.py, TestOperations) under
our ``ptflops`` convention.

Each case names the ptflops test it mirrors and takes its expected MACs and parameters from that test (the
closed forms written out here). ptflops is run on the same model as its test runs it (batch 1, its own input
constructor or ours), and profiler.crosscheck reconciles it with our count: they agree, or the difference is
named in full. Unit: MACs (ptflops adds bias additions and counts some element ops, see the convention).
"""
import warnings

import pytest
import torch
import torch.nn as nn

import profiler

from _peers import installed, ptflops_total, reconciled

warnings.simplefilter("ignore")
pytestmark = pytest.mark.skipif("ptflops" not in installed(), reason="needs ptflops")


def complexity(model, res, **kw):
    """ptflops run exactly as its tests run it: (MACs, params) for a sample of size ``res``."""
    import contextlib
    import copy
    import io

    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()):
        return get_model_complexity_info(copy.deepcopy(model), res, as_strings=False, print_per_layer_stat=False,
                                         **kw)


def agrees(model, inputs, macs, params):
    r = profiler.crosscheck(model, inputs, tools=["ptflops"])
    assert reconciled(r)
    e = r["ptflops"]
    assert e["theirs"] == e["ours"] == macs, e
    assert e["params"]["theirs"] == e["params"]["ours"] == params
    return e


def test_conv():
    """test_conv: Conv2d(3, 2, 3, bias=True) at 3x224x224: 222 x 222 positions x (54 MACs + 2 bias adds)
    = 2,759,904; 56 parameters."""
    net = nn.Sequential(nn.Conv2d(3, 2, 3, bias=True))
    assert complexity(net, (3, 224, 224)) == (2_759_904, 3 * 3 * 2 * 3 + 2)
    agrees(net, torch.randn(1, 3, 224, 224), 2_759_904, 56)


def test_fc():
    """test_fc: Linear(3, 2) on (3,): 6 MACs + 2 bias adds = 8; 8 parameters."""
    net = nn.Sequential(nn.Linear(3, 2, bias=True))
    assert complexity(net, (3,)) == (8, 8)
    agrees(net, torch.randn(1, 3), 8, 8)


def test_fc_multidim():
    """test_fc_multidim: Linear(3, 2) on (4, 5, 3): (6 + 2) x 4 x 5 = 160."""
    net = nn.Sequential(nn.Linear(3, 2, bias=True))
    assert complexity(net, (4, 5, 3)) == ((3 * 2 + 2) * 4 * 5, 8)
    agrees(net, torch.randn(1, 4, 5, 3), 160, 8)


def test_input_constructor_tensor():
    """test_input_constructor_tensor: the same Linear fed by an input constructor: (8, 8)."""
    net = nn.Sequential(nn.Linear(3, 2, bias=True))
    x = torch.ones(()).new_empty((1, 3))
    assert complexity(net, (3,), input_constructor=lambda res: x) == (8, 8)
    agrees(net, x, 8, 8)


class CustomLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2, bias=True)

    def forward(self, x):
        return self.linear(x)


def test_input_constructor_dict():
    """test_input_constructor_dict: keyword inputs (x=...): (8, 8)."""
    x = torch.ones(()).new_empty((1, 3))
    net = CustomLinear()
    assert complexity(net, (3,), input_constructor=lambda res: dict(x=x)) == (8, 8)
    agrees(net, {"x": x}, 8, 8)


class Interpolate(nn.Module):
    def __init__(self, keyword: bool):
        super().__init__()
        self.keyword = keyword

    def forward(self, x):
        if self.keyword:
            return nn.functional.interpolate(input=x, size=(20, 20), mode="bilinear", align_corners=False)
        return nn.functional.interpolate(x, size=(20, 20), mode="bilinear")


@pytest.mark.parametrize("keyword", [True, False])
def test_func_interpolate_args(keyword):
    """test_func_interpolate_args: F.interpolate to 20x20 (keyword and positional input): macs > 0, params 0;
    ptflops' patched interpolate counts one op per output element, 3 x 20 x 20."""
    net = Interpolate(keyword)
    macs, params = complexity(net, (3, 10, 10))
    assert macs > 0 and params == 0
    assert macs == 3 * 20 * 20
    agrees(net, torch.randn(1, 3, 10, 10), 3 * 20 * 20, 0)


def test_peer_total_helper_agrees():
    # The shared helper runs ptflops the same way (used by the other cross-check tests).
    x = torch.randn(1, 3, 224, 224)
    assert ptflops_total(nn.Sequential(nn.Conv2d(3, 2, 3)), x, "pytorch") == 2_759_904
