"""Mixture-of-experts rules, run through the real ops under ``profiler.profile``, against closed forms.

A grouped product's MACs are those of the matrices it multiplies, every row of the jagged dim in one group:
2-D (rows, K) x 3-D (G, K, N): rows x K x N; 3-D (G, M, K) x 2-D (K, N_total): M x K x N_total;
2-D (M, K_total) x 2-D (K_total, N): M x K_total x N; 3-D (G, M, K) x 3-D (G, K, N): G x M x K x N.
Its backward: dA = dY B^T costs rows x N x K, dB = A^T dY costs K x rows x N, each only when asked for.
A Mixtral layer per token: q, o (d x d), k, v (d x kv_heads x head_dim), the router (d x E) and top_k
experts of 3 d x ff each; attention 2 x T^2 x heads x head_dim per layer; the LM head d x vocab.

torch's CPU kernel wants each operand's leading stride a multiple of 16 bytes (4 float32): the sizes of the
contiguous dims here are multiples of 4.
"""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings, strategies as st

import profiler
from _opcount import counts, macs_only

aligned = st.integers(1, 3).map(lambda n: 4 * n)


@st.composite
def offsets(draw, groups, total):
    """Cumulative group ends (int32) splitting ``total`` rows among ``groups`` groups, empty groups allowed."""
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=groups - 1, max_size=groups - 1)))
    return torch.tensor(cuts + [total], dtype=torch.int32)


def weight(shape, transposed):
    """A (G, K, N) operand, contiguous or the transposed view of a (G, N, K) one (transformers' layout)."""
    if transposed:
        return torch.randn(*shape[:-2], shape[-1], shape[-2]).transpose(-1, -2)
    return torch.randn(*shape)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 9), aligned, aligned, st.integers(1, 4), st.booleans(), st.data())
def test_2d_by_3d_costs_every_row_once_whatever_the_split(rows, k, n, groups, transposed, data):
    offs = data.draw(offsets(groups, rows))
    a, b = torch.randn(rows, k), weight((groups, k, n), transposed)
    macs_only(counts(lambda x, w: torch._grouped_mm(x, w, offs=offs), a, b), "linear", rows * k * n)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), aligned, aligned, st.integers(1, 4), st.data())
def test_3d_by_2d_splits_the_output_columns(m, k, n_total, groups, data):
    offs = data.draw(offsets(groups, n_total))
    a, b = torch.randn(groups, m, k), torch.randn(k, n_total)
    macs_only(counts(lambda x, w: torch._grouped_mm(x, w, offs=offs), a, b), "linear", m * k * n_total)


@settings(max_examples=25, deadline=None)
@given(aligned, st.integers(0, 9), aligned, st.integers(1, 4), st.data())
def test_2d_by_2d_splits_the_contraction(m, k_total, n, groups, data):
    # The weight-gradient form: A^T (M, K_total) by dY (K_total, N), one (M, N) output per group. A is
    # column-major, as the transposed activations of the MoE forward are.
    offs = data.draw(offsets(groups, k_total))
    a, b = torch.randn(k_total, m).t(), torch.randn(k_total, n)
    c = counts(lambda x, w: torch._grouped_mm(x, w, offs=offs), a, b)
    macs_only(c, "linear", m * k_total * n)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 4), st.integers(0, 5), aligned, aligned)
def test_3d_by_3d_is_a_batched_product(g, m, k, n):
    a, b = torch.randn(g, m, k), torch.randn(g, k, n)
    macs_only(counts(torch._grouped_mm, a, b), "linear", g * m * k * n)


class Experts(nn.Module):
    """One grouped projection of tokens sorted by expert: x (rows, K) by w (G, K, N)."""

    def __init__(self, groups, k, n, offs, transposed, trainable):
        super().__init__()
        self.w = nn.Parameter(weight((groups, k, n), transposed).detach(), requires_grad=trainable)
        self.register_buffer("offs", offs)

    def forward(self, x):
        return torch._grouped_mm(x, self.w, offs=self.offs)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 9), aligned, aligned, st.integers(1, 3), st.booleans(),
       st.sampled_from([(True, False), (False, True), (True, True)]), st.data())
def test_backward_costs_each_gradient_asked_for(rows, k, n, groups, transposed, grads, data):
    input_grad, weight_grad = grads
    offs = data.draw(offsets(groups, rows))
    x = torch.randn(rows, k).requires_grad_(input_grad)
    # A loss whose gradient is a dense tensor: torch's CPU kernel refuses sum()'s expanded one (stride 0).
    step = profiler.profile(Experts(groups, k, n, offs, transposed, weight_grad), x, backward=True,
                            loss=lambda y: (y * y).sum())
    assert not step.coverage
    d_input = rows * n * k  # dY (rows, N) by W^T (G, N, K)
    d_weight = k * rows * n  # X^T (K, rows) by dY (rows, N), one (K, N) block per expert
    assert step.layer("").phases["backward"]["linear"] == input_grad * d_input + weight_grad * d_weight
    assert step.layer("").phases["forward"]["linear"] == rows * k * n


def test_transformers_fallback_op_and_its_backward():
    # transformers' custom op (its path under torch.compile): one opaque op each way, both gradients at once
    moe = pytest.importorskip("transformers.integrations.moe")  # noqa: F841 - registers the op
    offs = torch.tensor([3, 3, 7], dtype=torch.int32)

    class Fallback(Experts):
        def forward(self, x):
            return torch.ops.transformers.grouped_mm_fallback(x, self.w, self.offs)

    step = profiler.profile(Fallback(3, 4, 8, offs, False, True), torch.randn(7, 4), backward=True,
                            loss=lambda y: (y * y).sum())
    assert not step.coverage
    assert step.layer("").phases["forward"]["linear"] == 7 * 4 * 8
    assert step.layer("").phases["backward"]["linear"] == 2 * 7 * 4 * 8


@given(st.integers(0, 40), st.integers(1, 8))
def test_tokens_per_expert_one_op_per_routed_token(n, experts):
    ids = torch.randint(0, experts, (n,))
    c = counts(lambda t: torch.histc(t, bins=experts, min=0, max=experts - 1), ids.float())
    macs_only(c, "linear", 0)
    assert c["elementwise"] == n  # each id put in its bin
    assert counts(lambda t: torch.bincount(t, minlength=experts), ids)["elementwise"] == n


# -- a small Mixtral, end to end ---------------------------------------------------------------------------
MIXTRAL = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
               num_key_value_heads=2, vocab_size=100, num_local_experts=4, num_experts_per_tok=2)
TOKENS = 16


def mixtral_macs(c=MIXTRAL, t=TOKENS):
    """(linear, attention) MACs of a forward pass over ``t`` tokens, from the config's fields."""
    d, ff, heads, kv, layers = (c["hidden_size"], c["intermediate_size"], c["num_attention_heads"],
                                c["num_key_value_heads"], c["num_hidden_layers"])
    hd = d // heads
    attention_proj = 2 * d * d + 2 * d * kv * hd
    router = d * c["num_local_experts"]
    experts = c["num_experts_per_tok"] * 3 * d * ff  # gate, up, down of each chosen expert
    linear = t * (layers * (attention_proj + router + experts) + d * c["vocab_size"])
    attention = layers * 2 * t * t * heads * hd  # QK^T and AV, every query head, full T x T
    return linear, attention


def _mixtral(implementation):
    transformers = pytest.importorskip("transformers")
    config = transformers.AutoConfig.for_model("mixtral", **MIXTRAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        return transformers.AutoModelForCausalLM.from_config(config, experts_implementation=implementation)


def test_mixtral_on_meta_and_on_the_cpu_counts_the_closed_form(monkeypatch):
    from profiler.zoo.build import profile_model
    linear, attention = mixtral_macs()
    monkeypatch.setenv("PROFILER_CHECK_META", "1")  # the grouped kernel checked against the CPU kernel's
    meta = profile_model("hf:mixtral", input=TOKENS, **MIXTRAL)
    real = profile_model("hf:mixtral", input=TOKENS, device="cpu", **MIXTRAL)
    assert (meta.device, real.device) == ("meta", "cpu")
    for prof in (meta, real):
        assert not prof.coverage
        assert (prof.by_category["linear"], prof.by_category["attention"]) == (linear, attention)
        assert prof.macs == linear + attention == 2_142_208
    experts = real.layer("model.layers.0.mlp.experts").counts()
    assert experts["linear"] == TOKENS * 2 * 3 * 64 * 128  # top-2 of 3 d x ff, for every token


@pytest.mark.parametrize("implementation", ["grouped_mm", "batched_mm", "eager"])
def test_experts_implementations_count_the_same_macs(implementation):
    linear, attention = mixtral_macs()
    model = _mixtral(implementation)
    x = profiler.text_inputs(model.config, TOKENS)
    real = profiler.profile(model, x)
    assert not real.coverage
    assert (real.by_category["linear"], real.by_category["attention"]) == (linear, attention)
    if implementation != "eager":  # eager reads the routing (nonzero) to pick its experts: not on meta
        meta = profiler.profile(model, x, device="meta")
        assert not meta.coverage
        assert (meta.by_category["linear"], meta.by_category["attention"]) == (linear, attention)
