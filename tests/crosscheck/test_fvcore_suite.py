"""fvcore's own test expectations (facebookresearch/fvcore, tests/test_flop_count.py and
tests/test_jit_model_analysis.py) under our ``fvcore`` convention.

Each case names the fvcore test it mirrors and takes its expected figure from that test's closed form (written
out here); the installed fvcore is run on the same model (it must still give its own test's figure), then
profiler.crosscheck reconciles it with our count: they agree, or the difference is named in full.
fvcore tests of its API only (custom handles, copy, warnings, canonical names) have no counting expectation and
are not ported; where one also asserts a count, that count is.
"""
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import profiler

from _peers import fvcore_total, installed, reconciled
from _op import Op

warnings.simplefilter("ignore")
pytestmark = pytest.mark.skipif("fvcore" not in installed(), reason="needs fvcore")


def agrees(model, inputs, expected):
    """fvcore gives its test's ``expected``, our fvcore convention gives the same, nothing unexplained."""
    assert fvcore_total(model, inputs) == expected
    r = profiler.crosscheck(model, inputs, tools=["fvcore"])
    assert reconciled(r)
    assert r["fvcore"]["theirs"] == r["fvcore"]["ours"] == expected, r["fvcore"]
    return r["fvcore"]


# -- test_flop_count.py: TestFlopCountAnalysis ---------------------------------------------------------------
def test_nn():
    """test_nn: nn.Linear(8, 4) on a batch of 5 = 5 x 8 x 4."""
    agrees(nn.Linear(8, 4), torch.randn(5, 8), 5 * 8 * 4)


def test_skip_ops():
    """test_skip_ops: Linear(5, 4) + Sigmoid; aten::sigmoid is skipped (0), the linear counted."""
    m = nn.Sequential(nn.Linear(5, 4), nn.Sigmoid())
    e = agrees(m, torch.rand(10, 5), 10 * 5 * 4)
    assert "aten::sigmoid x1" in " ".join(e.get("notes", []))


@pytest.mark.parametrize("shape", [(5, 10), (5, 5, 10)])
def test_linear(shape):
    """test_linear: LinearNet(10, 20) on (5, 10) and on (5, 5, 10) (aten::linear over extra dims)."""
    x = torch.randn(*shape)
    agrees(nn.Linear(10, 20), x, x.numel() // 10 * 10 * 20)


CONV_CASES = [  # test_conv's nine cases: (dims, batch, in, out, spatial, kernel, padding, stride, groups, transpose, output_padding)
    (2, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (2, 2, 10, 6, 20, 3, 1, 2, 1, False, 0),
    (2, 5, 16, 8, 15, 5, 2, 1, 4, False, 0),
    (2, 5, 16, 8, 15, 3, 1, 1, 8, False, 0),  # groups = out channels ("depthwise" in the test)
    (1, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (3, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (2, 5, 10, 3, 15, 3, 1, 1, 1, True, 0),
    (2, 5, 10, 3, 15, 3, 1, 2, 1, True, 0),
    (2, 5, 10, 3, 15, 3, 1, 3, 1, True, 2),
]


@pytest.mark.parametrize("dims,batch,cin,cout,spatial,k,pad,stride,groups,transpose,out_pad", CONV_CASES)
def test_conv(dims, batch, cin, cout, spatial, k, pad, stride, groups, transpose, out_pad):
    """test_conv: batch x Cin x Cout x k^d x out_spatial^d / groups; a transposed conv over its *input*
    positions (out_spatial = the input's spatial size)."""
    if transpose:
        cls = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[dims - 1]
        conv = cls(cin, cout, k, stride, pad, groups=groups, output_padding=out_pad)
        side = spatial
    else:
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1](cin, cout, k, stride, pad, groups=groups)
        side = (spatial + 2 * pad - k) // stride + 1
    x = torch.randn(batch, cin, *([spatial] * dims))
    agrees(nn.Sequential(conv), x, batch * cin * cout * k ** dims * side ** dims // groups)


class _MM(nn.Module):
    def forward(self, x, y):
        return torch.matmul(x, y)


@pytest.mark.parametrize("a,b,expected", [
    ((20, 10), (10, 100), 20 * 10 * 100),  # test_matmul
    ((1, 20, 10), (1, 10, 100), 20 * 10 * 100),  # test_matmul_broadcast
    ((2, 2, 20, 10), (2, 2, 10, 100), 4 * 20 * 10 * 100),
    ((1, 20, 10), (10, 100), 20 * 10 * 100),
    ((2, 20, 10), (10, 100), 2 * 20 * 10 * 100),
])
def test_matmul(a, b, expected):
    """test_matmul / test_matmul_broadcast: m x n x p per (broadcast) batch element."""
    agrees(_MM(), (torch.randn(*a), torch.randn(*b)), expected)


def test_bmm():
    """test_bmm: (n, c, t) @ (n, t, p) = n x c x t x p with n, c, t, p = 2, 5, 2, 12."""
    agrees(Op(torch.bmm), (torch.randn(2, 5, 2), torch.randn(2, 2, 12)), 2 * 5 * 2 * 12)


@pytest.mark.parametrize("eq,a,b,expected", [
    ("nct,ncp->ntp", (1, 5, 2), (1, 5, 12), 1 * 2 * 12 * 5),  # test_einsum
    ("ntg,ncg->nct", (1, 2, 6), (1, 5, 6), 1 * 2 * 6 * 5),
    ("nc,nchw->hw", (3, 4), (3, 4, 2, 3), 72),  # TestFlopCountHandles.test_complicated_einsum
])
def test_einsum(eq, a, b, expected):
    agrees(Op(lambda x, y: torch.einsum(eq, x, y)), (torch.randn(*a), torch.randn(*b)), expected)


def test_batchnorm():
    """test_batchnorm: BatchNorm1d(affine=False) in eval mode 1 per element; BatchNorm2d/3d(affine=False) as
    built (training mode) 4 per element."""
    agrees(nn.BatchNorm1d(10, affine=False).eval(), torch.randn(10, 10), 10 * 10)
    agrees(nn.BatchNorm2d(10, affine=False), torch.randn(10, 10, 5, 5), 4 * 10 * 10 * 5 * 5)
    agrees(nn.BatchNorm3d(10, affine=False), torch.randn(10, 10, 5, 5, 5), 4 * 10 * 10 * 5 * 5 * 5)


class ThreeNet(nn.Module):
    """test_flop_count.py's ThreeNet: 1x1 conv, adaptive average pool to 1, two linears."""

    def __init__(self, cin=2, conv=5, lin=3):
        super().__init__()
        self.conv = nn.Conv2d(cin, conv, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear1 = nn.Linear(conv, lin)
        self.linear2 = nn.Linear(lin, 1)

    def forward(self, x):
        return self.linear2(self.linear1(torch.flatten(self.pool(self.conv(x)), 1)))


def test_three_net_and_by_module():
    """test_threeNet and test_flop_counter_class: conv 4 x 5 x 2 x 10 x 10, adaptive_avg_pool2d 1 per input
    element (2000, the test's 2e-6 GFLOPs), linear1 4 x 5 x 3, linear2 4 x 3; by_module per layer."""
    x = torch.randn(4, 2, 10, 10)
    conv, pool, l1, l2 = 4 * 5 * 2 * 100, 4 * 5 * 100, 4 * 5 * 3, 4 * 3 * 1
    m = ThreeNet()
    e = agrees(m, x, conv + pool + l1 + l2)
    assert e["layers_unexplained"] == []
    prof = profiler.profile(m, x)
    assert {p: int(prof.inclusive_cost(p, "fvcore")) for p in ("conv", "pool", "linear1", "linear2", "")} == \
        {"conv": conv, "pool": pool, "linear1": l1, "linear2": l2, "": conv + pool + l1 + l2}


# -- test_flop_count.py: TestFlopCountHandles (functional calls: the op's own arguments decide) -------------
VEC = torch.rand(2)
X2 = torch.rand(2, 2, 2, 2)


@pytest.mark.parametrize("fn,expected", [
    (lambda x: F.batch_norm(x, VEC, VEC, VEC, VEC), 32),  # eval, weight given: 2 per element
    (lambda x: F.batch_norm(x, VEC, VEC, None, None), 16),  # eval, no weight: 1
    (lambda x: F.batch_norm(x, VEC, VEC, VEC, VEC, True), 80),  # training: 5
    (lambda x: F.group_norm(x, 2, VEC, VEC), 80),  # test_group_norm: 5
    (lambda x: F.group_norm(x, 2, None, None), 64),  # 4
    (lambda x: F.interpolate(x, None, 2, "bilinear", False), 2 ** 4 * 4 * 4),  # test_upsample: 4 per output
], ids=["batch_norm-affine", "batch_norm", "batch_norm-training", "group_norm-affine", "group_norm", "upsample"])
def test_handles(fn, expected):
    """TestFlopCountHandles.test_batch_norm / test_group_norm / test_upsample on a 2x2x2x2 input."""
    agrees(Op(fn), X2, expected)


@pytest.mark.parametrize("fn", [torch.mm, torch.matmul])
def test_torch_mm(fn):
    """TestFlopCountHandles.test_torch_mm: (3, 4) @ (4, 5) = 60."""
    agrees(Op(fn), (torch.rand(3, 4), torch.rand(4, 5)), 60)


# -- test_jit_model_analysis.py ------------------------------------------------------------------------------
class Inner(nn.Module):
    """NestedNetInnerModule: reshape to (-1, 2, 5), Conv1d(2, 2, 1), flatten, 3 * Linear(10, 10) + 1."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 2, 1)
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        x = torch.flatten(self.conv(x.reshape(-1, 2, 5)), 1)
        return 3 * self.fc(x) + 1


class Nested(nn.Module):
    """NestedNet: Conv1d(4, 4, 3, padding=1) on (1, 4, 5), flatten, Linear(20, 10), the inner module, ** 2."""

    def __init__(self):
        super().__init__()
        self.submod = Inner()
        self.fc = nn.Linear(20, 10)
        self.conv = nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.submod(self.fc(torch.flatten(self.conv(x), 1))) ** 2


# The test's per-module expectations: conv 5 positions x 3 x 4 x 4, fc 20 x 10; inner conv 5 x 2 x 2, fc 10 x 10.
NESTED = {"conv": 240, "fc": 200, "submod.conv": 20, "submod.fc": 100}
NESTED.update({"submod": 120, "": 560})


def test_nested_total_and_by_module():
    """test_total / test_by_module / test_by_operator: per module and in total; the element ops (aten::add,
    aten::mul, aten::pow) are unsupported in fvcore, 0 in our fvcore convention (test_unsupported_ops)."""
    m, x = Nested(), torch.randn(1, 4, 5)
    e = agrees(m, x, 560)
    assert e["layers_unexplained"] == []
    notes = " ".join(e.get("notes", []))
    assert all(f"aten::{op} x1" in notes for op in ("add", "mul", "pow"))
    prof = profiler.profile(m, x)
    assert {p: int(prof.inclusive_cost(p, "fvcore")) for p in NESTED} == NESTED


def test_data_parallel():
    """test_data_parallel: the same counts under a DataParallel wrapper ("module." names)."""
    m, x = nn.DataParallel(Nested()).cpu(), torch.randn(1, 4, 5)
    agrees(m, x, 560)
    prof = profiler.profile(m, x)
    assert {p: int(prof.inclusive_cost("module." + p if p else "", "fvcore")) for p in NESTED} == NESTED


class Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.unused = nn.Linear(10, 10), nn.Linear(10, 1), nn.Linear(20, 20)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_unused_module():
    """test_unused_module: the uncalled Linear(20, 20) counts 0; total fc1 + fc2 = 100 + 10."""
    m, x = Unused(), torch.randn(1, 10)
    agrees(m, x, 110)
    assert profiler.profile(m, x).inclusive_cost("unused", "fvcore") == 0


class Repeated(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(10, 10), nn.Linear(10, 10)

    def forward(self, x):
        for _ in range(3):
            x = self.fc1(x)
        for _ in range(2):
            x = self.fc2(x)
        return x


def test_repeated_module():
    """test_repeated_module: fc1 called 3 times (300), fc2 twice (200), each call aggregated to its module."""
    m, x = Repeated(), torch.randn(1, 10)
    agrees(m, x, 500)
    prof = profiler.profile(m, x)
    assert (prof.layer("fc1").cost("fvcore"), prof.layer("fc2").cost("fvcore")) == (300, 200)


class NonForwardInner(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 1)

    def forward(self, x):
        return x

    def other_func(self, x):
        return self.fc(x)


class NonForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.submod = NonForwardInner()
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        return self.submod.other_func(self.fc(x))


def test_non_forward_func_call():
    """test_non_forward_func_call: a child's non-forward method calling its Linear: fc 100 + submod.fc 10;
    with ancestor_mode "owner" (fvcore's default, and ours: the op is the Linear's) submod holds 10."""
    m, x = NonForward(), torch.randn(1, 10)
    agrees(m, x, 110)
    prof = profiler.profile(m, x)
    assert prof.inclusive_cost("submod", "fvcore") == prof.layer("submod.fc").cost("fvcore") == 10


class SharedInner(nn.Module):
    def __init__(self, sub):
        super().__init__()
        self.submod = sub

    def forward(self, x):
        return self.submod(x)


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        inner = nn.Linear(10, 10)
        self.submod1, self.submod2 = SharedInner(inner), SharedInner(inner)
        multiname = nn.Linear(10, 1)
        self.multiname1 = self.multiname2 = multiname

    def forward(self, x):
        x = self.submod1(x) + self.submod2(x)
        return self.multiname1(x) + self.multiname2(x)


def test_shared_module():
    """test_shared_module: a Linear(10, 10) shared by two submodules (2 x 100) and a Linear(10, 1) under two
    names (2 x 10); counts go to the first (canonical) name: submod1.submod 200, multiname1 20."""
    m, x = Shared(), torch.randn(1, 10)
    agrees(m, x, 220)
    prof = profiler.profile(m, x)
    assert prof.layer("submod1.submod").cost("fvcore") == 200 and prof.layer("multiname1").cost("fvcore") == 20


class Recursive(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 1)

    def forward(self, x, count: int = 3):
        return self(x, count - 1) if count > 0 else self.fc(x)


def test_recursive_scope():
    """test_recursive_scope: the model calls itself three times before its Linear(10, 1): counted once, 10."""
    agrees(Recursive(), torch.randn(1, 10), 10)


def test_skip_uncalled_containers():
    """test_skip_uncalled_containers_warnings: a Linear(3, 3) reached through a ModuleList, then + 1: 9."""
    class A(nn.Module):
        def __init__(self):
            super().__init__()
            self.submod = nn.ModuleList([nn.Linear(3, 3)])

        def forward(self, x):
            return self.submod[0](x) + 1

    agrees(A(), torch.rand(1, 3), 9)
