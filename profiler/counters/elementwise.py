"""Element-op rules shared by several families: one operation per output element (pointwise ops) or
per input element (reductions). Families register their op names with :func:`per_output` /
:func:`per_input`.
"""
from __future__ import annotations

from profiler.counters.registry import numel, ops_named, register


def first_shape(out):
    """The first tensor shape of an op's output (multi-output ops return a tuple of shapes)."""
    while isinstance(out, (tuple, list)) and out and not isinstance(out[0], int):
        out = out[0]
    return out if out is not None else ()


def per_output(category: str, *names: str):
    """Register ``names`` as costing one ``category`` op per output element."""

    def rule(*args, out=None, **kwargs):
        return {category: numel(first_shape(out))}

    register(*ops_named(*names))(rule)
    return rule


def per_input(category: str, *names: str):
    """Register ``names`` as costing one ``category`` op per element of their first input."""

    def rule(x, *args, out=None, **kwargs):
        return {category: numel(x) if not isinstance(x, (int, float)) else 1}

    register(*ops_named(*names))(rule)
    return rule


# Binary/unary pointwise arithmetic: residual adds, SE scaling, masks, clamps ...
per_output(
    "elementwise",
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "addcmul", "addcmul_", "addcdiv",
    "addcdiv_", "pow", "pow_", "sqrt", "sqrt_", "rsqrt", "rsqrt_", "exp", "exp_", "exp2", "expm1", "log",
    "log_", "log2", "log10", "log1p", "neg", "neg_", "abs", "abs_", "clamp", "clamp_", "clamp_min",
    "clamp_min_", "clamp_max", "clamp_max_", "minimum", "maximum", "where", "lerp", "lerp_", "reciprocal",
    "reciprocal_", "erf", "erf_", "erfinv", "sin", "cos", "tan", "atan", "atan2", "sinh", "cosh", "floor",
    "ceil", "round", "trunc", "frac", "sign", "sgn", "square", "eq", "ne", "lt", "gt", "le", "ge",
    "logical_and", "logical_or", "logical_not", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not",
    "bitwise_xor", "masked_fill", "masked_fill_", "fmod", "remainder", "floor_divide", "copysign",
    "isnan", "isinf", "nan_to_num", "xlogy", "hypot", "cumsum", "cumprod", "cummax", "logcumsumexp",
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d", "upsample_bilinear2d",
    "upsample_bicubic2d", "upsample_trilinear3d", "_upsample_bilinear2d_aa", "_upsample_bicubic2d_aa",
    "grid_sampler_2d", "grid_sampler_3d", "affine_grid_generator", "native_dropout", "index_add",
    "index_add_", "scatter_add", "scatter_add_", "scatter_reduce", "index_put", "index_put_",
)

# Reductions read every input element once.
per_input(
    "elementwise",
    "sum", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "var", "std", "var_mean", "std_mean",
    "norm", "linalg_vector_norm", "logsumexp", "all", "any", "topk", "sort", "aminmax", "nansum",
)

# Losses: one op per element of the prediction.
per_input(
    "elementwise",
    "nll_loss_forward", "nll_loss2d_forward", "nll_loss", "nll_loss_nd", "mse_loss", "l1_loss", "smooth_l1_loss",
    "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "soft_margin_loss", "kl_div",
)
