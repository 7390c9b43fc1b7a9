"""Peer tools' counting rules as named conventions: ``ptflops``, ``ptflops_aten``, ``fvcore``, ``torch``,
``thop``, ``torchinfo``.

Each one states what the tool *means* to count (its formulas, read from its source), so that our per-op
counts weighted this way are comparable with the tool's total. What a tool misses or miscounts by accident
(an op it has no rule for, a module type it does not recognise, a double count) is not folded into the
convention: :mod:`profiler.crosscheck` names each such difference with its layer.

Units: ptflops, ptflops_aten, thop and torchinfo count MACs (bias and element ops added as they say);
fvcore's "flops" are MACs (one fused multiply-add = one flop); torch's FlopCounterMode counts FLOPs = 2 x MACs.
Registered when :mod:`profiler.conventions` is imported, so ``--convention ptflops`` works everywhere.
"""
from __future__ import annotations

from profiler.conventions.registry import Convention, register_convention
from profiler.counters.norm import AFFINE, INPUT_STATS
from profiler.counters.registry import numel

# Normalisation ops proper (a norm layer that computes with mean/sub/pow ... is relabelled `norm` by the
# engine too, but tools that match op or module names do not see those as a norm).
BATCH_NORM_OPS = {"aten.native_batch_norm", "aten._native_batch_norm_legit", "aten._native_batch_norm_legit_no_training",
                  "aten._native_batch_norm_legit_functional", "aten._batch_norm_with_update",
                  "aten._batch_norm_with_update_functional", "aten._batch_norm_no_update", "aten.batch_norm"}
LAYER_NORM_OPS = {"aten.native_layer_norm", "aten.layer_norm"}
GROUP_NORM_OPS = {"aten.native_group_norm", "aten.group_norm"}
INSTANCE_NORM_OPS = {"aten.instance_norm"}
NORM_OPS = BATCH_NORM_OPS | LAYER_NORM_OPS | GROUP_NORM_OPS | INSTANCE_NORM_OPS

WINDOW_POOL_OPS = {f"aten.{k}_pool{d}d{s}" for k in ("max", "avg") for d in (1, 2, 3) for s in ("", "_with_indices")}
ADAPTIVE_AVG_OPS = {f"aten.{p}adaptive_avg_pool{d}d" for p in ("", "_") for d in (1, 2, 3)}
ADAPTIVE_MAX_OPS = {f"aten.adaptive_max_pool{d}d" for d in (1, 2, 3)}
POOL_OPS = WINDOW_POOL_OPS | ADAPTIVE_AVG_OPS | ADAPTIVE_MAX_OPS
UPSAMPLE_OPS = {f"aten.upsample_{m}" for m in ("nearest1d", "nearest2d", "nearest3d", "linear1d", "bilinear2d",
                                               "bicubic2d", "trilinear3d")} | {
    f"aten._upsample_{m}" for m in ("nearest_exact1d", "nearest_exact2d", "nearest_exact3d", "bilinear2d_aa",
                                    "bicubic2d_aa")}
SDPA_OPS = {"aten.scaled_dot_product_attention", "aten._scaled_dot_product_flash_attention_for_cpu",
            "aten._scaled_dot_product_flash_attention", "aten._scaled_dot_product_efficient_attention",
            "aten._scaled_dot_product_cudnn_attention", "aten._scaled_dot_product_fused_attention_overrideable",
            "aten._scaled_dot_product_attention_math", "aten._flash_attention_forward",
            "aten._efficient_attention_forward"}

# Pointwise activations ptflops counts (module hooks for ReLU/PReLU/ELU/LeakyReLU/ReLU6/GELU, patched
# F.relu/prelu/elu/relu6/gelu/silu/softmax): one op per element. Sigmoid, tanh, hardswish ... are not counted.
PTFLOPS_ACTIVATIONS = {"aten.relu", "aten.relu_", "aten.hardtanh", "aten.hardtanh_", "aten.relu6", "aten.elu",
                       "aten.elu_", "aten.leaky_relu", "aten.leaky_relu_", "aten._prelu_kernel", "aten.prelu",
                       "aten.gelu", "aten.gelu_", "aten.silu", "aten.silu_", "aten._softmax", "aten.softmax",
                       "aten._safe_softmax"}


def adaptive_mean(layer, op: str) -> bool:
    """An nn.AdaptiveAvgPool module to size 1 reaches the dispatcher as ``aten.mean``; module hooks and jit
    traces still see an adaptive average pool."""
    return op == "aten.mean" and layer.type.startswith("AdaptiveAvgPool")


def is_pool(layer, op: str) -> bool:
    return op in POOL_OPS or adaptive_mean(layer, op)


def _elem_size(layer, op: str) -> int:
    return 4  # float32: the engine records bytes, not dtypes; peers are run in fp32


def pool_input_elements(layer, op: str) -> int:
    """Input elements of all calls of a pooling op in ``layer`` (ptflops/fvcore count pools by input size)."""
    if layer.kind == "pooling" and layer.input_shapes:
        return numel(layer.input_shapes[0]) * layer.calls
    return layer.ops[op].bytes_read // _elem_size(layer, op)


def pool_output_elements(layer, op: str) -> int:
    if layer.kind == "pooling" and layer.output_shapes:
        return numel(layer.output_shapes[0]) * layer.calls
    st = layer.ops[op]
    return st.bytes_written // _elem_size(layer, op)  # max-pool indices would double this; avg pools have none


# -- ptflops (pytorch backend) ---------------------------------------------------------------------------
def _ptflops_rule(layer, op, category, count):
    # bn_flops_counter_hook (BN, IN, GN and LN modules): 1 per input element, x2 when `module.affine`
    # (a norm module is affine exactly when it passes a weight); LayerNorm calls it `elementwise_affine`,
    # so its affine sub-count is not priced.
    if category == "norm":
        return count if op in NORM_OPS else 0
    if category == AFFINE:
        return count if op in BATCH_NORM_OPS | GROUP_NORM_OPS | INSTANCE_NORM_OPS else 0
    if category == INPUT_STATS:
        return 0
    if category == "activation":
        # The softmax inside fused attention too: ptflops' attention hooks count it.
        return count if op in PTFLOPS_ACTIVATIONS or op in SDPA_OPS else 0
    if category == "pooling":
        return pool_input_elements(layer, op) if is_pool(layer, op) else 0  # pool_flops_counter_hook: input numel
    if category == "elementwise":
        return count if op in UPSAMPLE_OPS else 0  # upsample: output numel
    return None


register_convention(Convention(
    "ptflops", "MACs",
    "ptflops pytorch backend: conv/linear MACs + bias adds, attention MACs, BN/GN/IN 2 ops per element "
    "(1 without affine), LayerNorm 1, ReLU/GELU/SiLU/ELU/PReLU/ReLU6/softmax 1 per element, pooling 1 per "
    "input element, upsample 1 per output element; other element ops 0",
    {"conv": 1, "linear": 1, "attention": 1, "recurrent": 1, "bias": 1}, rule=_ptflops_rule))

# -- ptflops (aten backend) ------------------------------------------------------------------------------
register_convention(Convention(
    "ptflops_aten", "MACs",
    "ptflops aten backend: MACs of aten convolution/mm/matmul/addmm/bmm plus their bias adds; nothing else",
    {"conv": 1, "linear": 1, "attention": 1, "recurrent": 1, "bias": 1},
    op_weights={"aten.add": {"bias": 0}, "aten.add_": {"bias": 0}}))


# -- fvcore ----------------------------------------------------------------------------------------------
def _fvcore_rule(layer, op, category, count):
    # batchnorm_flop_jit: eval mode 1 per element, 2 with a weight; training mode (batch statistics) and
    # norm_flop_counter (layer/group/instance norm, whose statistics come from the input): 4, 5 with a
    # weight ("5 is just a rough estimate"). Affine = the op's weight argument is not None. So: 1 per
    # element, +3 where the statistics are computed from the input, +1 where there is a weight.
    # instance_norm reaches our dispatcher as a training-mode batch_norm: the same 4 (5).
    if category in ("norm", INPUT_STATS, AFFINE):
        if op not in BATCH_NORM_OPS | LAYER_NORM_OPS | GROUP_NORM_OPS | INSTANCE_NORM_OPS:
            return 0  # rms_norm, weight_norm ...: no fvcore handle
        return 3 * count if category == INPUT_STATS else count
    if category == "pooling":
        if op in {"aten.adaptive_avg_pool2d", "aten._adaptive_avg_pool2d"} or (
                adaptive_mean(layer, op) and layer.type == "AdaptiveAvgPool2d"):
            return pool_input_elements(layer, op)
        return 0
    if category == "elementwise":
        if op in {"aten.upsample_nearest2d"}:
            return count
        if op in {"aten.upsample_bilinear2d"}:
            return 4 * count
        return 0
    return None


register_convention(Convention(
    "fvcore", "fvcore flops (= MACs)",
    "fvcore FlopCountAnalysis: one flop per multiply-accumulate of conv/linear/matmul/bmm/einsum (no bias), "
    "batch_norm 2 per element in eval mode (1 without a weight), 5 (4) in training mode, layer/group/instance "
    "norm 5 (4), adaptive_avg_pool2d "
    "1 per input element, upsample nearest2d 1 / bilinear2d 4 per output element; activations and other "
    "element ops 0",
    {"conv": 1, "linear": 1, "attention": 1, "recurrent": 1}, rule=_fvcore_rule))

# -- torch.utils.flop_counter.FlopCounterMode ------------------------------------------------------------
register_convention(Convention(
    "torch", "FLOPs",
    "torch.utils.flop_counter.FlopCounterMode: 2 FLOPs per multiply-accumulate of mm/addmm/bmm/baddbmm/"
    "convolution/scaled-dot-product attention; bias and element ops not counted",
    {"conv": 2, "linear": 2, "attention": 2, "recurrent": 2}))


# -- thop ------------------------------------------------------------------------------------------------
_THOP_UPSAMPLE = {"aten.upsample_nearest1d": 1, "aten.upsample_nearest2d": 1, "aten.upsample_nearest3d": 1,
                  "aten.upsample_linear1d": 5, "aten.upsample_bilinear2d": 11, "aten.upsample_bicubic2d": 259}


def _thop_rule(layer, op, category, count):
    # count_normalization (BN, LN, IN modules): calculate_norm = 2 per element, x2 when `module.affine` or
    # `elementwise_affine` (a norm module is affine exactly when it passes a weight); no GroupNorm rule.
    if category in ("norm", AFFINE):
        return 2 * count if op in BATCH_NORM_OPS | LAYER_NORM_OPS | INSTANCE_NORM_OPS else 0
    if category == INPUT_STATS:
        return 0
    if category == "pooling":
        if op in ADAPTIVE_AVG_OPS or adaptive_mean(layer, op):
            return count + pool_output_elements(layer, op)  # (kernel + 1 division) per output element
        if op.startswith("aten.avg_pool"):
            return pool_output_elements(layer, op)  # calculate_avgpool: one op per output element
        return 0
    if category == "activation":
        return count if op in {"aten._prelu_kernel", "aten.prelu"} else 0
    if category == "elementwise":
        return count * _THOP_UPSAMPLE.get(op, 0)
    return None


register_convention(Convention(
    "thop", "MACs",
    "thop: conv/linear MACs without bias, attention MACs, BN/LN/IN 4 ops per element (2 without affine), "
    "avg pooling 1 per output, adaptive avg pooling (kernel + 1) per output, PReLU 1, upsample 1 (nearest) "
    "/ 5 (linear) / 11 (bilinear) per output; ReLU, max pooling and other element ops 0",
    {"conv": 1, "linear": 1, "attention": 1, "recurrent": 1}, rule=_thop_rule))

# -- torchinfo -------------------------------------------------------------------------------------------
register_convention(Convention(
    "torchinfo", "MACs",
    "torchinfo Mult-Adds as intended: conv and linear MACs plus one add per output element for their bias; "
    "nothing else",
    {"conv": 1, "linear": 1, "attention": 1, "recurrent": 1, "bias": 1}))
