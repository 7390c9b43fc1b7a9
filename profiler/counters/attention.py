"""Attention rules: every scaled_dot_product_attention backend (fused CPU kernels included) and the
fused nn.MultiheadAttention inference path.

Cost of attention proper = QK^T + AV multiply-accumulates: for q (..., L, E), k (..., S, E), v (..., S, Ev)
that is prod(...) * L * S * (E + Ev). The softmax over the L*S scores is counted as activation.
"""
from __future__ import annotations

from profiler.counters.registry import NestedShape, numel, ops_named, register


def sdpa_macs(q, k, v) -> int:
    """MACs of QK^T and AV for (..., L, E) queries, (..., S, E) keys, (..., S, Ev) values."""
    batch = numel(q[:-2])
    length, e = int(q[-2]), int(q[-1])
    s, ev = int(k[-2]), int(v[-1])
    return batch * length * s * (e + ev)


def _sdpa_counts(q, k, v):
    return {"attention": sdpa_macs(q, k, v), "activation": numel(q[:-1]) * int(k[-2])}


@register(*ops_named("scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
                     "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                     "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_fused_attention_overrideable",
                     "_scaled_dot_product_attention_math", "_scaled_dot_product_attention_math_for_mps"))
def sdpa(q, k, v, *rest, out=None, **kwargs):
    # Layout (B, H, L, E). Grouped-query attention repeats K/V heads; the cost follows the query heads.
    return _sdpa_counts(q, k, v)


@register(*ops_named("_flash_attention_forward", "_efficient_attention_forward"))
def flash_attention_forward(q, k, v, *rest, out=None, **kwargs):
    # Layout (B, L, H, E): move heads in front of the sequence.
    def bhle(t):
        return (t[0], t[2], t[1], t[3]) if len(t) == 4 else t

    return _sdpa_counts(bhle(q), bhle(k), bhle(v))


@register(*ops_named("_native_multi_head_attention"))
def native_mha(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, proj_bias,
               *rest, out=None, **kwargs):
    """nn.MultiheadAttention's fused inference path: in-projections, attention, out-projection."""
    e = int(embed_dim)
    n_q = numel(query[:-1])  # batch * L
    n_kv = numel(key[:-1])  # batch * S
    batch = numel(query[:-2]) if len(query) > 2 else 1
    length, s = int(query[-2]) if len(query) > 1 else 1, int(key[-2]) if len(key) > 1 else 1
    counts = {
        "linear": (n_q + 2 * n_kv) * e * e + n_q * e * e,
        "attention": 2 * batch * length * s * e,  # heads * head_dim == embed_dim
        "activation": batch * int(num_head) * length * s,
    }
    if qkv_bias is not None:
        counts["bias"] = (n_q + 2 * n_kv) * e + (n_q * e if proj_bias is not None else 0)
    return counts


def _sequence_lengths(src) -> list[int]:
    """Lengths of the sequences in a (B, L, E) / (L, E) batch or a nested batch of (L_i, E) sequences."""
    if isinstance(src, NestedShape):
        return [int(c[0]) for c in src.components]
    if len(src) == 2:
        return [int(src[0])]
    return [int(src[-2])] * numel(src[:-2])


@register(*ops_named("_transformer_encoder_layer_fwd"))
def transformer_encoder_layer(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                              use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2,
                              norm_bias_2, ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2,
                              *rest, out=None, **kwargs):
    """nn.TransformerEncoderLayer's fused inference path: self-attention block + feed-forward block.

    Per token: in-projection, out-projection and both feed-forward products (linear); per sequence of
    length L: 2 * L * L * embed_dim for QK^T and AV (attention). A nested (padded-away) batch costs its
    real tokens only, as the kernel computes.
    """
    lengths = _sequence_lengths(src)
    tokens = sum(lengths)
    pairs = sum(n * n for n in lengths)
    e, hidden = int(embed_dim), int(ffn_weight_1[0])
    weights = (qkv_weight, proj_weight, ffn_weight_1, ffn_weight_2)
    counts = {
        "linear": tokens * sum(numel(w) for w in weights),
        "attention": 2 * pairs * e,
        "activation": int(num_heads) * pairs + tokens * hidden,  # softmax, feed-forward activation
        "norm": 2 * tokens * e,  # two layer norms
        "elementwise": 2 * tokens * e,  # two residual additions
    }
    biases = [b for b in (qkv_bias, proj_bias, ffn_bias_1, ffn_bias_2) if b is not None]
    if biases:
        counts["bias"] = tokens * sum(numel(b) for b in biases)
    return counts
