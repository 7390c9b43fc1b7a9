"""Attention rules: scaled_dot_product_attention on every CPU backend and nn.MultiheadAttention /
nn.TransformerEncoderLayer on their training and fused inference paths.

For q (B, Hq, L, E), k (B, Hkv, S, E), v (B, Hkv, S, Ev): attention = B * Hq * L * S * (E + Ev) MACs
(QK^T and AV), whatever the backend, mask or causality (the kernels compute the masked scores too).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import assume, given, strategies as st
from torch.nn.attention import SDPBackend, sdpa_kernel

import profiler
from _opcount import Op, counts, macs_only

BACKENDS = {"default": None, "math": SDPBackend.MATH, "flash": SDPBackend.FLASH_ATTENTION}


@st.composite
def sdpa_cases(draw):
    b, hkv, group = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    length, s = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    e = draw(st.sampled_from([2, 4, 8]))
    ev = draw(st.sampled_from([e, e, 4, 6]))
    mask = draw(st.sampled_from(["none", "bool", "float", "causal"]))
    backend = draw(st.sampled_from(list(BACKENDS)))
    return b, hkv, group, length, s, e, ev, mask, backend


def _sdpa(q, k, v, mask, gqa):
    kw = {"enable_gqa": True} if gqa else {}
    if mask == "causal":
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, **kw)
    if mask == "bool":
        m = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw)
    if mask == "float":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=torch.randn(q.shape[-2], k.shape[-2]), **kw)
    return F.scaled_dot_product_attention(q, k, v, **kw)


@given(sdpa_cases())
def test_sdpa_every_backend(case):
    b, hkv, group, length, s, e, ev, mask, backend = case
    hq = hkv * group
    q, k, v = torch.randn(b, hq, length, e), torch.randn(b, hkv, s, e), torch.randn(b, hkv, s, ev)
    gqa = group > 1

    def run():
        return _sdpa(q, k, v, mask, gqa)

    ctx = sdpa_kernel([BACKENDS[backend]]) if BACKENDS[backend] else torch.enable_grad()
    with ctx:
        try:
            run()  # some backends refuse some shapes: nothing to count then
        except RuntimeError:
            assume(False)
        c = counts(Op(lambda *t: run()), q)
    macs_only(c, "attention", b * hq * length * s * (e + ev))
    assert c["activation"] == b * hq * length * s  # the softmax over the scores


def test_fused_cpu_kernel_is_not_zero():
    # Peers see the fused CPU kernel as one unknown op and count it as 0.
    q = torch.randn(2, 4, 16, 8)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        prof = profiler.profile(Op(lambda t: F.scaled_dot_product_attention(t, t, t)), q)
    assert "aten._scaled_dot_product_flash_attention_for_cpu" in prof.by_op()
    assert prof.by_category["attention"] == 2 * 4 * 16 * 16 * 16


@pytest.mark.parametrize("shape", [(3, 5, 4), (5, 4)])
def test_sdpa_unbatched(shape):
    q = torch.randn(*shape)
    heads = shape[0] if len(shape) == 3 else 1
    c = counts(lambda t: F.scaled_dot_product_attention(t, t, t), q)
    macs_only(c, "attention", heads * shape[-2] * shape[-2] * 2 * shape[-1])


def mha_macs(b, length, s, e, kdim, vdim):
    """(linear, attention) MACs of nn.MultiheadAttention: four projections and the attention proper."""
    linear = b * (length * e * e + s * kdim * e + s * vdim * e + length * e * e)
    return linear, 2 * b * length * s * e  # heads * head_dim == e, for QK^T and for AV


class Holder(nn.Module):
    """The attention layer is a registered child, called with keyword options."""

    def __init__(self, mha, **kw):
        super().__init__()
        self.mha, self.kw = mha, kw

    def forward(self, q, k, v):
        return self.mha(q, k, v, **self.kw)[0]


@given(st.integers(1, 2), st.integers(1, 5), st.integers(1, 5), st.sampled_from([1, 2, 4]),
       st.integers(1, 2), st.booleans(), st.booleans(), st.booleans())
def test_multihead_attention_train_mode(b, length, s, heads, head_dim, batch_first, need_weights, cross):
    e = heads * head_dim * 2
    kdim, vdim = (e + 1, e + 3) if cross else (e, e)
    mha = nn.MultiheadAttention(e, heads, kdim=kdim, vdim=vdim, batch_first=batch_first).train()
    if not cross:
        s = length

    def mk(n, d):
        return torch.randn(b, n, d) if batch_first else torch.randn(n, b, d)

    q, k, v = mk(length, e), mk(s, kdim), mk(s, vdim)
    c = counts(Holder(mha, need_weights=need_weights), q, k, v)
    linear, attention = mha_macs(b, length, s, e, kdim, vdim)
    assert (c["linear"], c["attention"]) == (linear, attention)


@given(st.integers(1, 3), st.integers(1, 6), st.sampled_from([2, 4]), st.integers(1, 3), st.booleans())
def test_multihead_attention_inference_fast_path(b, length, heads, head_dim, bias):
    e = heads * head_dim * 2
    mha = nn.MultiheadAttention(e, heads, batch_first=True, bias=bias).eval()
    x = torch.randn(b, length, e)
    prof = profiler.profile(Op(lambda t: mha(t, t, t, need_weights=False)[0], mha), x)
    # The fused path needs biases and an even number of heads (PyTorch's fast-path conditions).
    assert ("aten._native_multi_head_attention" in prof.by_op()) == bias
    c = prof.by_category
    linear, attention = mha_macs(b, length, length, e, e, e)
    assert (c["linear"], c["attention"]) == (linear, attention)
    assert c["bias"] == (b * length * 4 * e if bias else 0)
    assert c["activation"] == b * heads * length * length


def encoder_layer_macs(lengths, e, ff):
    tokens = sum(lengths)
    return {"linear": tokens * (4 * e * e + 2 * e * ff), "attention": sum(2 * n * n * e for n in lengths)}


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer_fast_path_and_train_path_agree(activation, norm_first):
    b, length, e, heads, ff = 2, 7, 16, 4, 24
    layer = nn.TransformerEncoderLayer(e, heads, ff, dropout=0.0, activation=activation, batch_first=True,
                                       norm_first=norm_first)
    x = torch.randn(b, length, e)
    expected = encoder_layer_macs([length] * b, e, ff)
    fast = profiler.profile(layer.eval(), x)
    assert "aten._transformer_encoder_layer_fwd" in fast.by_op()
    slow = profiler.profile(layer.train(), x)
    for prof in (fast, slow):
        c = prof.by_category
        assert {k: c[k] for k in expected} == expected
        assert c["norm"] == 2 * b * length * e
        assert c["activation"] == b * heads * length * length + b * length * ff  # softmax + FFN activation


def test_transformer_encoder_nested_fast_path_counts_real_tokens():
    e, heads, ff = 16, 2, 32
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(e, heads, ff, batch_first=True), 2,
                                enable_nested_tensor=True).eval()
    pad = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 1]], dtype=torch.bool)  # lengths 3 and 5
    prof = profiler.profile(enc, {"src": torch.randn(2, 6, e), "src_key_padding_mask": pad})
    assert not prof.coverage
    per_layer = encoder_layer_macs([3, 5], e, ff)
    c = prof.by_category
    assert (c["linear"], c["attention"]) == (2 * per_layer["linear"], 2 * per_layer["attention"])
    assert prof.layer("").input_shapes == [[2, 6, 16], [2, 6]]


def test_math_attention_written_by_hand_in_an_attention_module():
    # timm-style attention: explicit q @ k^T and attn @ v inside a module whose name says attention.
    class SelfAttention(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.qkv, self.proj, self.heads = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim), heads

        def forward(self, x):
            b, n, d = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            attn = (q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5).softmax(-1)
            return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))

    c = counts(SelfAttention(16, 4), torch.randn(2, 5, 16))
    assert c["attention"] == 2 * 4 * 5 * 5 * 2 * 4
    assert c["linear"] == 2 * 5 * (16 * 48 + 16 * 16)


def test_cpu_flash_sdpa_peer_report():
    # pytorch#195460: FlopCounterMode reported 0 for this call on CPU; expected 12,582,912 FLOPs,
    # i.e. 6,291,456 MACs = 1 * 12 * 64 * 64 * (64 + 64).
    q = torch.randn(1, 12, 64, 64)
    c = counts(lambda t: F.scaled_dot_product_attention(t, t, t), q)
    macs_only(c, "attention", 6_291_456)
    assert profiler.profile(Op(lambda t: F.scaled_dot_product_attention(t, t, t)), q, convention="flops").total() \
        == 12_582_912
