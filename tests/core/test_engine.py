"""The engine: layer identity (calls, shared modules, tied weights), parameter bookkeeping, the
untouched-model guarantees, failures, meta passes and strict coverage.

Many cases come from peers' bug trackers: shared modules counted once (thop, ptflops), tied weights
counted twice, parameters of non-leaf modules (ViT's cls_token) missed, BatchNorm statistics updated by
a profiling pass, hooks left behind after an exception.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import profiler
from profiler import ProfilingError, UncoveredOpsError

from _op import Op
from _state import snapshot


# -- identity -----------------------------------------------------------------------------------------
class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8, bias=False)

    def forward(self, x):
        for _ in range(3):
            x = self.fc(x)
        return x


def test_module_called_k_times_is_counted_k_times():
    prof = profiler.profile(Twice(), torch.randn(2, 8))
    assert prof.layer("fc").calls == 3
    assert prof.macs == 3 * 2 * 8 * 8
    assert prof.params == 64


def test_shared_module_in_two_places():
    shared = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    prof = profiler.profile(model, torch.randn(1, 4, 5, 5))
    assert prof.layer("0").calls == 2  # listed once, under its first name, with both calls
    assert prof.macs == 2 * 4 * 25 * 4 * 9
    assert prof.params == 4 * 4 * 9


class TiedLM(nn.Module):
    def __init__(self, vocab=50, dim=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.body = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.emb.weight  # weight tying

    def forward(self, idx):
        return self.head(self.body(self.emb(idx)))


def test_tied_weights_counted_once_and_owned_by_first_module():
    model = TiedLM()
    prof = profiler.profile(model, torch.randint(0, 50, (2, 7)))
    assert prof.params == 50 * 16 + 16 * 16 + 16
    assert prof.layer("emb").params == 50 * 16 and prof.layer("head").params == 0
    assert prof.by_category["linear"] == 2 * 7 * (16 * 16 + 16 * 50)  # the tied head still computes


class WithTokens(nn.Module):
    """Parameters owned by non-leaf modules and by parameter containers."""

    def __init__(self):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.pos = nn.ParameterList([nn.Parameter(torch.zeros(1, 5, 8)), nn.Parameter(torch.zeros(3))])
        self.extra = nn.ParameterDict({"scale": nn.Parameter(torch.ones(8))})
        self.block = nn.Sequential(nn.Linear(8, 8))
        self.register_buffer("mask", torch.ones(5, 5))

    def forward(self, x):
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1)[:, :5] + self.pos[0]
        return self.block(x * self.extra["scale"])


def test_parameters_of_non_leaf_modules_and_containers():
    prof = profiler.profile(WithTokens(), torch.randn(2, 4, 8))
    assert prof.params == 8 + 40 + 3 + 8 + 72
    assert prof.layer("").params == 8  # cls_token, owned by the root
    assert prof.inclusive_params("") == prof.params
    assert prof.buffers == 25


def test_frozen_trainable_and_buffers_apart():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 36, 5))
    for p in model[0].parameters():
        p.requires_grad_(False)
    prof = profiler.profile(model, torch.randn(1, 3, 8, 8))
    conv_p = 4 * 3 * 9 + 4
    assert prof.params_frozen == conv_p
    assert prof.params_trainable == 8 + 4 * 36 * 5 + 5
    assert prof.layer("0").params_trainable == 0 and prof.layer("0").params == conv_p
    assert prof.buffers == 4 + 4 + 1  # running mean, running var, num_batches_tracked: not parameters
    assert prof.params == sum(p.numel() for p in model.parameters())


def test_functional_ops_charged_to_the_innermost_running_module():
    w = torch.randn(6, 4)

    class Inner(nn.Module):
        def forward(self, x):
            return F.linear(x, w)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Inner()

        def forward(self, x):
            return self.inner(x) @ torch.ones(6, 2)

    prof = profiler.profile(Outer(), torch.randn(3, 4))
    assert prof.layer("inner").counts()["linear"] == 3 * 4 * 6
    assert prof.layer("").counts()["linear"] == 3 * 6 * 2


def test_inner_failure_caught_by_the_parent_does_not_misattribute():
    class Fails(nn.Module):
        def forward(self, x):
            raise ValueError("nope")

    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.bad = Fails()

        def forward(self, x):
            try:
                self.bad(x)
            except ValueError:
                pass
            return x @ torch.ones(4, 4)

    prof = profiler.profile(Parent(), torch.randn(2, 4))
    assert prof.layer("").counts()["linear"] == 32
    assert prof.layer("bad").counts() == {}


# -- the untouched model ------------------------------------------------------------------------------
def _small_cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5),
                         nn.Sequential(nn.Conv2d(8, 8, 3, groups=8), nn.BatchNorm2d(8, momentum=None)),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


@pytest.mark.parametrize("device", ["cpu", "auto"])
@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
def test_model_comes_back_untouched(mode, device):
    model = _small_cnn()
    model.train(mode != "eval")
    if mode == "mixed":
        model[4].eval()
    model[0].weight.requires_grad_(False)
    model[1].weight.grad = torch.ones(8)  # a user's gradient stays, neither replaced nor accumulated into
    x = torch.randn(2, 3, 8, 8)
    before = snapshot(model, x)
    prof = profiler.profile(model, x, device=device)
    assert prof.macs > 0
    before.assert_same(model)


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_batchnorm_statistics_not_updated_in_train_mode(device):
    bn = nn.BatchNorm2d(4).train()
    before = snapshot(bn)
    profiler.profile(nn.Sequential(bn), torch.randn(3, 4, 5, 5) * 10 + 3, device=device)
    before.assert_same(bn)  # running mean and variance, num_batches_tracked: values and tensors
    assert int(bn.num_batches_tracked) == 0


class Scribbler(nn.Module):
    """Writes to its buffers in every way a forward can: in place, resized, rebound, and a 2-d and an integer one."""

    def __init__(self):
        super().__init__()
        self.register_buffer("a", torch.arange(4.0))
        self.register_buffer("grid", torch.ones(2, 3))
        self.register_buffer("steps", torch.tensor(7))
        self.register_buffer("grows", torch.zeros(3))
        self.register_buffer("swapped", torch.full((2,), 5.0))

    def forward(self, x):
        self.a.mul_(3)
        self.grid[1, 2] = -1
        self.steps += 1
        self.grows.resize_(5).fill_(2)
        self.swapped = torch.zeros(2)
        return x + 1


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_every_kind_of_buffer_write_is_undone(device):
    model = nn.Sequential(nn.BatchNorm1d(4).train(), Scribbler())
    before = snapshot(model)
    profiler.profile(model, torch.randn(3, 4), device=device)
    before.assert_same(model)  # shapes and values bit for bit, and the user's tensors, not copies


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("shape trouble")


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_forward_that_raises_names_the_module_and_leaves_model_untouched(device):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.ReLU(), Boom()))
    model.train()
    before = snapshot(model)
    with pytest.raises(ProfilingError) as err:
        profiler.profile(model, torch.randn(2, 3, 6, 6), device=device)
    msg = str(err.value)
    assert "'2.1'" in msg and "Boom" in msg and "[2, 4, 4, 4]" in msg and "shape trouble" in msg
    before.assert_same(model)  # BatchNorm ran in train mode before the failure: restored


def test_shape_error_inside_a_layer_is_reported_with_its_input():
    model = nn.Sequential(nn.Linear(8, 4), nn.Linear(5, 2))
    with pytest.raises(ProfilingError, match=r"'1' \(Linear\).*\[\[3, 4\]\]"):
        profiler.profile(model, torch.randn(3, 8))


def test_profile_twice_and_nested_in_user_hooks():
    model = _small_cnn().eval()
    seen = []
    h = model[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    before = snapshot(model)
    a = profiler.profile(model, torch.randn(1, 3, 8, 8))
    b = profiler.profile(model, torch.randn(1, 3, 8, 8))
    assert a.by_category == b.by_category
    assert len(seen) == 2  # the user's own hook ran normally and is still there
    before.assert_same(model)
    h.remove()


# -- devices -------------------------------------------------------------------------------------------
def _all_counts(prof):
    return {layer.path: (layer.calls, layer.counts(), layer.input_shapes, layer.output_shapes)
            for layer in prof.layers}


class Mixed(nn.Module):
    """Conv, attention (fused and math), recurrent and linear layers in one model."""

    def __init__(self):
        super().__init__()
        self.cnn = _small_cnn()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)
        self.lstm = nn.LSTM(8, 6, bidirectional=True)
        self.up = nn.ConvTranspose2d(3, 2, 3, stride=2)

    def forward(self, x):
        y = self.cnn(x)
        seq = torch.stack([y, y * 2, y + 1], 1).repeat(1, 1, 2)
        a = self.mha(seq, seq, seq, need_weights=False)[0]
        b = F.scaled_dot_product_attention(a, a, seq[..., :4])
        r = self.lstm(a)[0]
        return self.up(x).mean() + b.sum() + r.sum()


@pytest.mark.parametrize("train", [False, True])
def test_meta_pass_counts_like_a_real_pass(train):
    model = Mixed().train(train)
    x = torch.randn(2, 3, 8, 8)
    before = snapshot(model, x)
    real = profiler.profile(model, x)
    meta = profiler.profile(model, x, device="meta")
    assert meta.device == "meta"
    # The CNN part (BatchNorm with momentum=None reads a scalar buffer in train mode): every category.
    assert {p: v for p, v in _all_counts(meta).items() if p.startswith("cnn")} == \
        {p: v for p, v in _all_counts(real).items() if p.startswith("cnn")}
    # Attention and LSTM take other (unfused) code paths on meta: their MACs are the same, the data
    # movement around them may differ.
    for a, b in zip(real.layers, meta.layers):
        assert a.path == b.path and a.calls == b.calls
        assert {c: a.counts().get(c, 0) for c in MACS} == {c: b.counts().get(c, 0) for c in MACS}, a.path
        assert (a.input_shapes, a.output_shapes) == (b.input_shapes, b.output_shapes)
    assert meta.params == real.params and meta.buffers == real.buffers and meta.macs == real.macs
    before.assert_same(model)  # the meta copies were swapped in for the call only
    by_size = profiler.profile(model, input_size=(2, 3, 8, 8), device="meta")
    assert by_size.macs == real.macs


def test_meta_pass_of_shared_modules_and_tied_weights_leaves_the_model_on_its_device():
    # torch.func.functional_call swaps a shared module once per name, and put the meta copies back.
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.Linear(4, 4))
    model[3].bias = shared.bias  # tied across modules
    before = snapshot(model)
    real = profiler.profile(model, torch.randn(2, 4))
    for _ in range(2):  # the second pass failed when the first left meta tensors behind
        meta = profiler.profile(model, torch.randn(2, 4), device="meta")
        before.assert_same(model)
        assert all(p.device.type == "cpu" for p in model.parameters())
        assert _all_counts(meta) == _all_counts(real) and meta.params == real.params == 2 * 16 + 4


MACS = ("conv", "linear", "attention", "recurrent", "bias")


def test_meta_pass_of_a_torchvision_model():
    model = torchvision.models.mobilenet_v3_small()
    real = profiler.profile(model, input_size=(1, 3, 64, 64))
    meta = profiler.profile(model, input_size=(1, 3, 64, 64), device="meta")
    assert _all_counts(meta) == _all_counts(real)


def test_model_built_on_meta():
    with torch.device("meta"):
        model = torchvision.models.resnet18()
    before = snapshot(model)
    prof = profiler.profile(model, input_size=(1, 3, 64, 64))
    assert prof.device == "meta" and prof.params == 11_689_512
    before.assert_same(model)


# -- coverage and strict mode --------------------------------------------------------------------------
class PairDistances(nn.Module):
    # torch.pdist dispatches aten._pdist_forward, an op with no counting rule
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 5)

    def forward(self, x):
        return self.fc(torch.pdist(x).unsqueeze(0).expand(3, 3))


def test_uncovered_op_is_listed_not_silently_zero():
    prof = profiler.profile(PairDistances(), torch.randn(3, 8))
    names = {u.op: u for u in prof.coverage}
    assert "aten._pdist_forward" in names
    assert names["aten._pdist_forward"].calls == 1 and names["aten._pdist_forward"].modules == [""]
    assert prof.macs == 3 * 3 * 5  # what is known is still counted


def test_strict_raises_on_uncovered_op():
    with pytest.raises(UncoveredOpsError, match="aten._pdist_forward"):
        profiler.profile(PairDistances(), torch.randn(3, 8), strict=True)


def test_sparse_tensor_argument_does_not_fail_the_pass():
    # A sparse tensor has no ``nbytes``: its traffic is counted as its dense size, like any output.
    model = Op(lambda a: (a * 2).to_dense())
    prof = profiler.profile(model, torch.randn(4, 4).to_sparse())
    st = prof.layer("").ops["aten.mul"]
    assert st.calls == 1 and st.bytes_read == 4 * 4 * 4


_LIB = torch.library.Library("profiler_tests", "DEF")
_LIB.define("scale(Tensor x) -> Tensor")
_LIB.impl("scale", lambda x: x * 2, "CPU")
_LIB.impl("scale", lambda x: torch.empty_like(x), "Meta")


def test_custom_op_without_rule():
    model = nn.Sequential(nn.Linear(4, 4), Op(lambda x: torch.ops.profiler_tests.scale(x)))
    for device in (None, "meta"):
        prof = profiler.profile(model, torch.randn(2, 4), device=device)
        assert [(u.op, u.calls, u.modules) for u in prof.coverage] == [("profiler_tests.scale", 1, ["1"])]
        assert prof.macs == 2 * 4 * 4
    with pytest.raises(UncoveredOpsError, match="scale x1 in 1"):
        profiler.profile(model, torch.randn(2, 4), strict=True)
    assert not profiler.profile(nn.Linear(4, 4), torch.randn(2, 4), strict=True).coverage


# -- inputs --------------------------------------------------------------------------------------------
class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3, bias=False)

    def forward(self, a, b=None):
        return self.fc(a) + (0 if b is None else self.fc(b))


def test_inputs_as_tensor_tuple_dict_and_size():
    x = torch.randn(2, 4)
    assert profiler.profile(TwoInputs(), x).macs == 24
    assert profiler.profile(TwoInputs(), (x, x)).macs == 48
    assert profiler.profile(TwoInputs(), {"a": x, "b": x}).macs == 48
    assert profiler.profile(TwoInputs(), input_size=(5, 4)).macs == 60


@pytest.mark.parametrize("kwargs,exc", [({}, ValueError), ({"input_size": (0, 3)}, ValueError),
                                        ({"input_size": (2, 4), "convention": "nope"}, ValueError)])
def test_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        profiler.profile(TwoInputs(), **kwargs)
    with pytest.raises(TypeError):
        profiler.profile(lambda x: x, input_size=(1,))


# -- peers' parameter-count reports ---------------------------------------------------------------------
def test_single_layer_profiled_directly_has_its_parameters():
    # thop #115: a bare nn.Conv2d reported 0 parameters (the root's own were skipped).
    prof = profiler.profile(nn.Conv2d(3, 10, (3, 3)), torch.zeros(1, 3, 32, 32))
    assert prof.params == 280 and prof.layer("").params == 280


def test_vit_class_token_owned_by_the_root():
    # thop #143: vit_b_16's layer counts summed to 86,566,888 against 86,567,656, the 768 being the
    # class token registered on the root module.
    with torch.device("meta"):
        vit = torchvision.models.vit_b_16()
    prof = profiler.profile(vit, input_size=(1, 3, 224, 224))
    assert prof.params == 86_567_656
    assert prof.layer("").params == 768
    assert sum(layer.params for layer in prof.layers) == prof.params


# -- the default: shapes only, the real pass when meta cannot run the model ---------------------------------
class _ReadsValues(nn.Module):
    """Data-dependent control flow: a meta tensor has no value to branch on."""

    def forward(self, x):
        return x * 2 if bool(x.sum() > -1e9) else x


def test_default_counts_shapes_only_and_says_so():
    model = nn.Sequential(nn.Linear(8, 4))
    p = profiler.profile(model, torch.randn(3, 8))
    assert p.device == "meta" and p.pass_kind == "shapes" and p.to_dict()["pass"] == "shapes"
    assert p.macs == 3 * 8 * 4
    real = profiler.profile(model, torch.randn(3, 8), device="cpu")
    assert real.pass_kind == "real" and real.to_dict()["pass"] == "real"


def test_default_falls_back_to_the_real_pass_with_a_note_and_meta_refuses():
    model = nn.Sequential(nn.Linear(8, 4), _ReadsValues())
    p = profiler.profile(model, torch.randn(3, 8))
    assert p.device == "cpu" and p.pass_kind == "real"
    assert p.macs == 3 * 8 * 4
    assert any("failed on meta" in n and "counted on real tensors on cpu" in n for n in p.notes), p.notes
    with pytest.raises(ProfilingError):
        profiler.profile(model, torch.randn(3, 8), device="meta")


def test_default_training_step_is_shapes_only_too():
    model = nn.Sequential(nn.Linear(8, 4))
    p = profiler.profile(model, torch.randn(3, 8), backward=True)
    assert p.pass_kind == "shapes"
    assert p.macs == 2 * 3 * 8 * 4  # forward + the weight gradient (the input needs none)


def test_out_overloads_are_counted_like_their_functional_forms():
    # torch.sin(x, out=o) dispatches aten.sin.out, whose ``out`` argument is the destination tensor: the rule
    # must still get the output's shape, not a clash of two ``out`` values
    class WithOut(nn.Module):
        def forward(self, x):
            o = torch.empty_like(x)
            torch.sin(x, out=o)
            torch.matmul(x, x.T, out=x.new_empty(3, 3))
            return o

    for device in ("cpu", "meta"):
        prof = profiler.profile(WithOut(), torch.randn(3, 4), device=device)
        assert prof.coverage == [], device
        assert prof.macs == 3 * 4 * 3  # the (3, 4) @ (4, 3) product
        assert prof.by_op()["aten.sin"]["elementwise"] == 3 * 4  # one sine per element
