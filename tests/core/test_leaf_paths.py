"""Leaf fast paths (profiler.core.leaf_paths): a stock module's calls written from its shapes give the very
records the observer sees, a wrong path is caught and not used, and the observer's place on torch's mode
stack survives a failing call."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings, strategies as st

import profiler
from profiler.core import engine, leaf_paths


def _observed_only(monkeypatch):
    monkeypatch.setattr(leaf_paths, "key", lambda module, args: None)


def _ops(prof):
    return {l.path: (l.calls, l.ops, l.input_shapes, l.output_shapes) for l in prof.layers}


def _twice(model, x):
    """Profile twice in a fresh process state: the first pass checks each signature, the second uses the
    paths it trusted."""
    engine.clear_caches()
    first = profiler.profile(model, x, device="cpu")
    return first, profiler.profile(model, x, device="cpu")


def _same_as_observed(model, x, monkeypatch):
    first, fast = _twice(model, x)
    with monkeypatch.context() as m:
        _observed_only(m)
        slow = profiler.profile(model, x, device="cpu")
    assert _ops(first) == _ops(slow)
    assert _ops(fast) == _ops(slow)
    assert fast.macs == slow.macs and fast.total("all") == slow.total("all")
    return fast


STOCK = [
    (nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1),
                   nn.Conv2d(8, 8, 3, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6(), nn.Hardswish(),
                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, 4)), (2, 3, 16, 16)),
    (nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.LayerNorm(12), nn.Linear(12, 6, bias=False), nn.SiLU(),
                   nn.Identity(), nn.Sigmoid(), nn.Tanh(), nn.Hardsigmoid()), (2, 5, 6)),
    (nn.Sequential(nn.Conv1d(4, 6, 3, stride=2), nn.BatchNorm1d(6), nn.SiLU(inplace=True)),
     (2, 4, 20)),
    (nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(), nn.AvgPool3d(2), nn.MaxPool3d(1)),
     (1, 2, 4, 8, 8)),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False)), (1, 3, 9, 9)),
]


@pytest.mark.parametrize("model, shape", STOCK, ids=["cnn", "mlp", "conv1d", "conv3d", "avgpool"])
def test_fast_paths_give_the_observed_records(model, shape, monkeypatch):
    model.eval()
    _same_as_observed(model, torch.randn(shape), monkeypatch)
    # every stock leaf here that runs an op has a path, and this torch dispatches it as the path says
    trusted = {k[0] for k, ok in engine._LEAF_TRUST.items() if ok}
    assert trusted >= {type(m) for m in model} - NO_OPS, "a stock module kept being observed"


NO_OPS = {nn.Identity, nn.Dropout}  # no path: the observer stays on (see the next test)


@pytest.mark.parametrize("module", [nn.Identity(), nn.Dropout(0.5).eval(), nn.Dropout2d(0.3).eval()],
                         ids=["identity", "dropout", "dropout2d"])
def test_modules_without_a_path_dispatch_no_op(module):
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = []

    class Seen(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func)
            return func(*args, **(kwargs or {}))

    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad(), Seen():
        assert module(x) is x
    assert seen == []
    assert leaf_paths.key(module, (x,)) is None
    assert profiler.profile(nn.Sequential(module), x, device="cpu").total("all") == 0


@settings(max_examples=25, deadline=None)
@given(cin=st.integers(1, 4), mult=st.integers(1, 3), groups=st.sampled_from([1, "depthwise"]),
       k=st.integers(1, 4), stride=st.integers(1, 3), pad=st.integers(0, 2), dil=st.integers(1, 2),
       bias=st.booleans(), side=st.integers(8, 14))
def test_conv_path_matches_the_observer_for_any_hyper_parameters(cin, mult, groups, k, stride, pad, dil, bias,
                                                                   side):
    g = cin if groups == "depthwise" else 1
    conv = nn.Conv2d(cin, cin * mult, k, stride=stride, padding=pad, dilation=dil, groups=g, bias=bias).eval()
    x = torch.randn(1, cin, side, side)
    engine.clear_caches()
    profiler.profile(conv, x, device="cpu")  # checked on this call
    fast = profiler.profile(conv, x, device="cpu")
    assert engine._LEAF_TRUST[leaf_paths.key(conv, (x,))] is True
    out = conv(x)
    # the closed form: every output element sums cin/g x k^2 products
    assert fast.macs == out.numel() * (cin // g) * k * k
    assert fast.layers[0].ops["aten.convolution"].bytes_read == 4 * (x.numel() + conv.weight.numel() +
                                                                      (conv.bias.numel() if bias else 0))
    assert fast.layers[0].ops["aten.convolution"].bytes_written == 4 * out.numel()


def test_a_wrong_path_is_caught_and_the_observer_keeps_counting(monkeypatch):
    conv = nn.Conv2d(3, 4, 3).eval()
    x = torch.randn(1, 3, 8, 8)
    right = profiler.profile(conv, x, device="cpu").macs
    real = leaf_paths._conv_calls

    def doubled(m, x, out):
        (op, args, kw, shape, read, written), = real(m, x, out)
        return [(op, args, kw, shape, 2 * read, written)]

    engine.clear_caches()
    monkeypatch.setitem(leaf_paths._STOCK, nn.Conv2d, (("forward", "_conv_forward"), (leaf_paths._conv_key, doubled)))
    first = profiler.profile(conv, x, device="cpu")
    second = profiler.profile(conv, x, device="cpu")
    assert engine._LEAF_TRUST[leaf_paths.key(conv, (x,))] is False
    assert first.macs == second.macs == right
    assert second.layers[0].ops["aten.convolution"].bytes_read == 4 * (x.numel() + 3 * 4 * 9 + 4)
    engine.clear_caches()


def test_subclasses_that_change_the_forward_are_observed():
    class Scaled(nn.Conv2d):
        def forward(self, x):
            return super().forward(x) * 2

    class Renamed(nn.Conv2d):
        pass

    assert leaf_paths.path_of(Scaled) is None
    assert leaf_paths.path_of(Renamed) is not None
    assert leaf_paths.path_of(nn.Conv2d) is not None
    assert leaf_paths.path_of(nn.ConvTranspose2d) is None  # no path written for it: observed
    m = Scaled(3, 4, 3).eval()
    x = torch.randn(1, 3, 8, 8)
    engine.clear_caches()
    for _ in range(2):
        prof = profiler.profile(m, x, device="cpu")
    assert prof.layers[0].ops["aten.mul"].calls == 1  # the subclass's own op was seen


def test_module_hooks_and_training_mode_keep_the_observer():
    bn = nn.BatchNorm2d(4)  # training: updates running statistics, observed
    x = torch.randn(2, 4, 3, 3)
    assert leaf_paths.key(bn, (x,)) is None
    bn.eval()
    assert leaf_paths.key(bn, (x,)) is not None
    h = bn.register_forward_pre_hook(lambda m, a: None)
    assert leaf_paths.key(bn, (x,)) is None  # a module's own hook may change its input
    h.remove()
    assert leaf_paths.key(nn.Dropout(0.5).train(), (x,)) is None
    assert leaf_paths.key(nn.Conv2d(4, 4, 3, padding="same"), (x,)) is None
    assert leaf_paths.key(nn.Conv2d(4, 4, 3, padding_mode="reflect"), (x,)) is None
    assert leaf_paths.key(nn.Conv2d(4, 4, 3), (x[0],)) is None  # unbatched: conv2d unsqueezes first


def test_a_failing_fast_leaf_leaves_no_mode_behind():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3)).eval()  # the second gets 4 channels: raises
    x = torch.randn(1, 3, 8, 8)
    engine.clear_caches()
    profiler.profile(nn.Sequential(nn.Conv2d(3, 4, 3)).eval(), x, device="cpu")  # the signature is trusted: fast path
    with pytest.raises(engine.ProfilingError, match="module '1'"):
        profiler.profile(model, x, device="cpu")
    assert torch._C._len_torch_dispatch_stack() == 0
    assert profiler.profile(model[0], x, device="cpu").macs == 4 * 6 * 6 * 3 * 9
    assert not torch.nn.modules.module._global_forward_hooks


def test_the_observer_steps_aside_only_for_its_own_mode():
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = []

    class Outer(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(str(func))
            return func(*args, **(kwargs or {}))

    conv = nn.Conv2d(3, 4, 3).eval()
    x = torch.randn(1, 3, 8, 8)
    engine.clear_caches()
    profiler.profile(conv, x, device="cpu")
    with Outer():
        prof = profiler.profile(conv, x, device="cpu")
    assert prof.macs == 4 * 6 * 6 * 3 * 9
    assert any("convolution" in s for s in seen)


def test_autocast_is_part_of_the_signature(monkeypatch):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    engine.clear_caches()
    profiler.profile(model, x, device="cpu")  # checked without autocast: trusted
    with torch.autocast("cpu", dtype=torch.bfloat16):  # one context each: autocast caches its weight casts
        fast = profiler.profile(model, x, device="cpu")
    with monkeypatch.context() as m, torch.autocast("cpu", dtype=torch.bfloat16):
        _observed_only(m)
        slow = profiler.profile(model, x, device="cpu")
    assert _ops(fast) == _ops(slow)
    assert "aten._to_copy" in fast.layers[1].ops  # the casts autocast adds were seen


def test_a_parametrized_weight_is_observed(monkeypatch):
    from torch.nn.utils.parametrizations import weight_norm

    conv = weight_norm(nn.Conv2d(3, 4, 3)).eval()  # weight is computed from weight_g, weight_v at each call
    x = torch.randn(1, 3, 8, 8)
    assert leaf_paths.key(conv, (x,)) is None
    engine.clear_caches()
    profiler.profile(conv, x, device="cpu")
    fast = profiler.profile(conv, x, device="cpu")
    with monkeypatch.context() as m:
        _observed_only(m)
        slow = profiler.profile(conv, x, device="cpu")
    assert _ops(fast) == _ops(slow)
    assert any("aten._weight_norm_interface" in l.ops for l in fast.layers)  # the weight's own computation


def test_a_forward_replaced_on_the_instance_is_observed_not_taken_from_the_class():
    # accelerate and peft replace ``module.forward`` on the instance: the class's fast path would charge a
    # convolution that never ran. Here the replacement doubles its input: one mul of 1*3*8*8 elements, no MACs.
    conv = nn.Conv2d(3, 3, 3, padding=1)
    model = nn.Sequential(conv)
    x = torch.randn(1, 3, 8, 8)
    profiler.profile(model, x, device="cpu")  # the class's path is trusted from here on
    conv.forward = lambda t: t * 2
    p = profiler.profile(model, x, device="cpu")
    assert p.macs == 0
    assert p.layer("0").ops["aten.mul"].counts["elementwise"] == 3 * 8 * 8
