"""Training steps: forward, loss, backward and optimizer counted from the ops autograd really runs.

Expected values are closed forms written here: a backward costs each product twice (input and weight
gradients) except where autograd needs no input gradient; a GPT training step costs 3N + 6LTd MACs per token.
"""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.checkpoint import checkpoint

import profiler
from profiler.counters.backward import convolution_backward
from profiler.counters.conv import conv_macs


def test_resnet18_backward_is_twice_the_forward_minus_the_images_gradient():
    model = torchvision.models.resnet18()
    fwd = profiler.profile(model, input_size=(2, 3, 224, 224), device="meta")
    step = profiler.profile(model, input_size=(2, 3, 224, 224), device="meta", backward=True)
    conv1_input_grad = fwd.layer("conv1").macs  # the image needs no gradient: conv1 computes its weight grad only
    assert fwd.macs == 3_628_146_688 and conv1_input_grad == 236_027_904
    assert step.by_phase == {"forward": fwd.macs, "loss": 0, "backward": 2 * fwd.macs - conv1_input_grad,
                             "optimizer": 0}
    assert step.by_phase["backward"] == 7_020_265_472
    assert step.macs == step.total() == sum(step.by_phase.values())
    assert step.layer("conv1").phases["backward"] == {"conv": conv1_input_grad}
    assert step.layer("layer1.0.conv1").phases["backward"]["conv"] == 2 * step.layer("layer1.0.conv1").phases["forward"]["conv"]


def test_only_fc_trainable_costs_fcs_weight_gradient():
    model = torchvision.models.resnet18()
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("fc."))
    step = profiler.profile(model, input_size=(2, 3, 224, 224), device="meta", backward=True)
    macs = sum(step.layer(layer.path).phases.get("backward", {}).get("linear", 0) for layer in step.layers)
    assert macs == 2 * 512 * 1000 == 1_024_000  # fc's weight gradient; nothing below needs a gradient
    assert step.by_phase["backward"] == 1_024_000
    assert all(p.requires_grad == n.startswith("fc.") for n, p in model.named_parameters())  # unchanged


class LoRALinear(nn.Module):
    """A frozen base projection plus a trainable rank-r update (Hu et al.)."""

    def __init__(self, d_in, d_out, r):
        super().__init__()
        self.base = nn.Linear(d_in, d_out, bias=False).requires_grad_(False)
        self.down = nn.Linear(d_in, r, bias=False)
        self.up = nn.Linear(r, d_out, bias=False)

    def forward(self, x):
        return self.base(x) + self.up(self.down(x))


def test_lora_base_gets_its_input_gradient_only_the_adapter_both():
    d_in, d_out, r, n = 32, 48, 4, 5
    model = nn.Sequential(nn.Linear(16, d_in, bias=False), LoRALinear(d_in, d_out, r))
    step = profiler.profile(model, torch.randn(n, 16), backward=True)
    back = {layer.path: layer.phases.get("backward", {}).get("linear", 0) for layer in step.layers}
    assert back["1.base"] == n * d_in * d_out  # input gradient only: its weight is frozen
    assert back["1.up"] == 2 * n * r * d_out
    assert back["1.down"] == 2 * n * d_in * r
    assert back["0"] == n * 16 * d_in  # weight gradient only: the input needs none


def test_inputs_without_grad_get_no_input_gradient():
    layer = nn.Linear(6, 3, bias=False)
    x = torch.randn(4, 6)
    no_grad = profiler.profile(layer, x, backward=True).by_phase["backward"]
    with_grad = profiler.profile(layer, x.clone().requires_grad_(True), backward=True).by_phase["backward"]
    assert (no_grad, with_grad) == (4 * 6 * 3, 2 * 4 * 6 * 3)


class _Checkpointed(nn.Module):
    def __init__(self, use_checkpoint):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(8, 16, bias=False), nn.ReLU(), nn.Linear(16, 8, bias=False))
        self.head = nn.Linear(8, 4, bias=False)
        self.use_checkpoint = use_checkpoint

    def forward(self, x):
        h = checkpoint(self.block, x, use_reentrant=False) if self.use_checkpoint else self.block(x)
        return self.head(h)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_checkpointing_counts_the_recomputed_forward_in_the_backward(device):
    x = torch.randn(3, 8)
    plain = profiler.profile(_Checkpointed(False), x, backward=True, device=device)
    ck = profiler.profile(_Checkpointed(True), x, backward=True, device=device)
    assert plain.by_phase["forward"] == ck.by_phase["forward"] == 3 * (8 * 16 + 16 * 8 + 8 * 4)
    # The re-run stops once every saved tensor is back: block.0's product (block.2 needs its ReLU'd output).
    assert ck.recomputed == 3 * 8 * 16 and "recompute" in ck.phases and "recompute" not in plain.phases
    assert ck.by_phase["backward"] == plain.by_phase["backward"] + ck.recomputed
    assert ck.layer("block.0").phases["recompute"] == {"linear": 3 * 8 * 16}
    assert any("checkpointing" in n for n in ck.notes)


def test_optimizer_step_counts_element_ops_per_parameter_and_leaves_no_trace():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    model.train()
    model[2].weight.grad = torch.ones_like(model[2].weight)  # an existing gradient stays as it was
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sgd = profiler.profile(model, torch.randn(5, 4), backward=True, optimizer=torch.optim.SGD, convention="all")
    # plain SGD: one p.add_(grad, alpha=-lr) per parameter element
    assert sgd.by_phase["optimizer"] == sum(p.numel() for p in model.parameters())
    assert sgd.layer("0").phases["optimizer"] == {"optimizer": 4 * 3 + 3}
    # MACs: forward 5x(4x3 + 3x2); backward: layer 0's weight gradient, layer 2's weight and input gradients
    assert sgd.total("macs") == sgd.macs == 5 * (4 * 3 + 3 * 2) + 5 * 4 * 3 + 2 * 5 * 3 * 2
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # weights and BN statistics
    assert model[0].weight.grad is None and torch.equal(model[2].weight.grad, torch.ones(2, 3))
    assert model.training


def test_step_on_meta_equals_the_real_step():
    model = torchvision.models.mobilenet_v3_small()
    kw = dict(input_size=(2, 3, 64, 64), backward=True, optimizer=torch.optim.AdamW, convention="all")
    real, meta = profiler.profile(model, **kw), profiler.profile(model, device="meta", **kw)
    assert real.by_phase == meta.by_phase and real.coverage == meta.coverage == []
    assert all(p.device.type == "cpu" and p.grad is None for p in model.parameters())


def test_training_arguments_need_backward():
    with pytest.raises(ValueError, match="backward=True"):
        profiler.profile(nn.Linear(2, 2), torch.randn(1, 2), optimizer=torch.optim.SGD)
    with pytest.raises(TypeError, match="optimizer class"):
        profiler.profile(nn.Linear(2, 2), torch.randn(1, 2), backward=True,
                         optimizer=torch.optim.SGD(nn.Linear(2, 2).parameters()))
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(profiler.ProfilingError, match="nothing to differentiate"):
        profiler.profile(frozen, torch.randn(1, 2), backward=True)


@given(n=st.integers(1, 2), cin=st.integers(1, 4), cout_mult=st.integers(1, 3), groups=st.sampled_from([1, 2]),
       k=st.integers(1, 3), stride=st.integers(1, 2), side=st.integers(4, 7), transposed=st.booleans(),
       need_input=st.booleans(), bias=st.booleans())
def test_convolution_backward_costs_the_forward_once_per_requested_gradient(n, cin, cout_mult, groups, k, stride,
                                                                             side, transposed, need_input, bias):
    cin, cout = cin * groups, cout_mult * groups
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    conv = cls(cin, cout, k, stride=stride, groups=groups, bias=bias)
    x = torch.randn(n, cin, side, side, requires_grad=need_input)
    step = profiler.profile(conv, x, backward=True, convention="all")
    fwd = step.layer("").phases["forward"]["conv"]
    w = tuple(conv.weight.shape)
    out = tuple(conv(x).shape)
    assert fwd == conv_macs(x.shape, w, out, transposed)  # the forward rule, for reference
    back = step.layer("").phases["backward"]
    assert back["conv"] == fwd * (1 + int(need_input))
    assert back.get("bias", 0) == (math.prod(out) if bias else 0)
    # the rule itself, by output mask
    assert convolution_backward(out, x.shape, w, None, (stride,) * 2, (0, 0), (1, 1), transposed, (0, 0), groups,
                                (False, True, False))["conv"] == fwd


def test_fused_attention_backward_recomputes_the_scores():
    b, h, length, s, e = 2, 3, 5, 7, 4
    q = torch.randn(b, h, length, e, requires_grad=True)
    k = torch.randn(b, h, s, e, requires_grad=True)
    v = torch.randn(b, h, s, e, requires_grad=True)

    class Attn(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v)

    step = profiler.profile(Attn(), (q, k, v), backward=True)
    one = b * h * length * s * e  # one product of the forward's size
    assert step.by_phase["forward"] == 2 * one
    assert step.by_phase["backward"] == 5 * one  # dQ, dK, dV, dP and QK^T again
    assert any("recomputes the scores" in n for n in step.notes)


# -- a GPT (nanoGPT's layout, eager attention) ----------------------------------------------------------------
class _Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        att = att.masked_fill(torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class _GPT(nn.Module):
    def __init__(self, vocab, ctx, d, heads, layers):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(_Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight  # tied, as GPT-2

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


@pytest.mark.parametrize("vocab,ctx,d,heads,layers,t", [(100, 16, 32, 4, 2, 16), (50257, 1024, 768, 12, 12, 1024)])
def test_gpt_training_step_is_3n_plus_6ltd_macs_per_token(vocab, ctx, d, heads, layers, t):
    with torch.device("meta"):
        model = _GPT(vocab, ctx, d, heads, layers)
    idx = torch.zeros(1, t, dtype=torch.long, device="meta")
    step = profiler.profile(model, idx, backward=True, loss=lambda logits: logits.float().mean())
    n = layers * 12 * d * d + vocab * d  # matmul weights: per block qkv 3d^2 + proj d^2 + mlp 8d^2; the head
    per_token = 3 * n + 6 * layers * t * d  # PaLM appendix B / nanoGPT estimate_mfu, in MACs (FLOPs / 2)
    assert step.macs == t * per_token
    assert step.by_phase["backward"] == 2 * step.by_phase["forward"]  # the token ids need no gradient anyway



# -- the untouched model, through a whole step ------------------------------------------------------------------
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_model_comes_back_untouched_after_a_step_with_an_optimizer(device):
    from _state import snapshot
    from test_engine import _small_cnn

    model = _small_cnn().train()
    model[0].weight.requires_grad_(False)
    model[7].weight.grad = torch.full_like(model[7].weight, 3.0)
    before = snapshot(model)
    step = profiler.profile(model, torch.randn(2, 3, 8, 8), backward=True, optimizer=torch.optim.Adam,
                            device=device)
    assert step.by_phase["backward"] > 0 and step.by_phase["optimizer"] == 0  # element ops: not MACs
    before.assert_same(model)  # weights, BN statistics, .grad (None or the 3.0s), requires_grad, hooks


@pytest.mark.parametrize("where", ["loss", "backward"])
def test_a_failing_step_says_which_phase_and_leaves_the_model_untouched(where):
    from _state import snapshot
    from test_engine import _small_cnn

    class Refuses(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            raise RuntimeError("no gradient here")

    def loss(out):
        if where == "loss":
            raise RuntimeError("bad loss")
        return Refuses.apply(out).sum()

    model = _small_cnn().train()
    before = snapshot(model)
    with pytest.raises(profiler.ProfilingError, match=f"training step's {where} failed"):
        profiler.profile(model, torch.randn(2, 3, 8, 8), backward=True, loss=loss, device="cpu")
    before.assert_same(model)
    y = nn.Linear(2, 2)(torch.randn(1, 2))  # no node-creation hook left behind: plain autograd works
    assert y.grad_fn is not None and "profiler.module" not in y.grad_fn.metadata


def test_backward_ops_without_a_rule_are_reported_in_the_module_that_made_them():
    class Distances(nn.Module):
        def forward(self, x):  # a constant second operand: the backward differentiates through x only
            return torch.cdist(x, torch.ones(4, 3))

    model = nn.Sequential(nn.Linear(3, 3), Distances())
    step = profiler.profile(model, torch.randn(2, 3), backward=True)
    uncovered = {u.op: u for u in step.coverage}
    # cdist's gradient is _cdist_backward: an op met in the backward only, charged to the module "1"
    assert uncovered["aten._cdist_backward"].modules == ["1"] and uncovered["aten._cdist_backward"].calls == 1
    with pytest.raises(profiler.UncoveredOpsError, match="aten._cdist_backward"):
        profiler.profile(model, torch.randn(2, 3), backward=True, strict=True)


@given(n=st.integers(1, 3), t=st.integers(1, 4), d_in=st.integers(1, 6), d_out=st.integers(1, 6),
       need_input=st.booleans(), bias=st.booleans(), frozen=st.booleans())
def test_linear_backward_is_one_product_per_gradient_asked_for(n, t, d_in, d_out, need_input, bias, frozen):
    layer = nn.Linear(d_in, d_out, bias=bias).requires_grad_(not frozen)
    x = torch.randn(n, t, d_in, requires_grad=need_input)
    if frozen and not need_input:
        return  # nothing to differentiate
    step = profiler.profile(layer, x, backward=True)
    one = n * t * d_in * d_out
    assert step.by_phase["forward"] == one
    assert step.by_phase["backward"] == one * (int(need_input) + int(not frozen))


def test_lstm_backward_fused_or_decomposed():
    n, t, d_in, h = 2, 5, 8, 16
    lstm = nn.LSTM(d_in, h, num_layers=2, batch_first=True)
    x = torch.randn(n, t, d_in)
    tokens, gates = n * t, 4 * h
    forward = tokens * (d_in * gates + h * gates) + tokens * (h * gates + h * gates)
    # decomposed (meta): every product's two gradients, less layer 0's input gradient (x needs none) and
    # each layer's gradient of the zero initial state (h0 needs none)
    decomposed = 2 * forward - tokens * d_in * gates - 2 * n * h * gates
    meta = profiler.profile(lstm, x, backward=True, loss=lambda o: o[0].sum(), device="meta")
    assert meta.by_phase["forward"] == forward and meta.by_phase["backward"] == decomposed and not meta.coverage
    cpu = profiler.profile(lstm, x, backward=True, loss=lambda o: o[0].sum())
    # oneDNN's fused layer backward (mkldnn_rnn_layer_backward) computes every gradient: 2 x the forward
    assert cpu.by_phase["backward"] in (decomposed, 2 * forward) and not cpu.coverage
