"""Element-op rules shared by several families: one operation per output element (pointwise ops) or
per input element (reductions). Families register their op names with :func:`per_output` /
:func:`per_input`.

Sorting and selection (category ``elementwise``, counted as comparisons), per row of ``n`` elements along
the op's dim:

- sort, argsort, msort: :func:`sort_ops` = ``n * ceil(log2 n)``, the usual ``n log2 n`` rounded up to whole
  comparison rounds (it bounds merge sort's worst case ``n ceil(log2 n) - 2**ceil(log2 n) + 1``);
- topk: ``n`` (a linear selection pass) plus ``sort_ops(k)`` when ``sorted=True``;
- kthvalue, median, nanmedian: ``n`` (quickselect, linear in expectation);
- mode: ``sort_ops(n) + n`` (sort, then one scan for the longest run);
- _unique2, _unique (whole tensor, n = numel): ``sort_ops(n) + n`` (sort, then compare neighbours);
  unique_dim over m slices of L elements: ``(sort_ops(m) + m) * L`` (a slice comparison reads L elements);
  unique_consecutive: ``n`` neighbour comparisons.

Searching (same category, comparisons): bucketize and searchsorted look every query up among ``n`` sorted
values (bucketize's 1-d ``boundaries``, searchsorted's innermost dim) by binary search: :func:`search_ops` =
``ceil(log2(n + 1))`` comparisons per query (output element), the worst case of the kernel's halving loop
(``floor(log2 n) + 1`` rounds for n values, n + 1 possible insertion points) and of any comparison search.
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
POINTWISE = (
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
per_output("elementwise", *POINTWISE)
# The rest of torch's pointwise math (ops tagged ``torch.Tag.pointwise``), one op per output element like
# sin / atan / erf above however costly the function: inverse trigonometric and hyperbolic functions (yoso's
# acos, moonshine's asinh), gamma and error-function relatives, Bessel functions and orthogonal polynomials,
# shifts and the remaining comparisons. Their in-place variants follow below (``out=`` overloads share the
# packet, hence the rule).
MATH_POINTWISE = (
    "acos", "asin", "acosh", "asinh", "atanh", "arccos", "arcsin", "arctan", "arctan2", "arccosh", "arcsinh",
    "arctanh", "erfc", "lgamma", "digamma", "polygamma", "mvlgamma", "i0", "igamma", "igammac", "sinc", "logit",
    "deg2rad", "rad2deg", "logaddexp", "logaddexp2", "fmax", "fmin", "clip", "float_power", "true_divide",
    "heaviside", "nextafter", "ldexp", "frexp", "gcd", "lcm", "angle", "conj_physical", "_conj_physical",
    "positive", "signbit", "isfinite", "isposinf", "isneginf", "bitwise_left_shift", "bitwise_right_shift",
    "__lshift__", "__rshift__", "__ilshift__", "__irshift__", "__xor__", "__ixor__", "__and__", "__iand__",
    "__or__", "__ior__", "special_entr", "special_erfcx", "special_log_ndtr", "special_ndtri", "special_i0e",
    "special_i1", "special_i1e", "special_xlog1py", "special_zeta", "special_airy_ai", "special_bessel_j0",
    "special_bessel_j1", "special_bessel_y0", "special_bessel_y1", "special_modified_bessel_i0",
    "special_modified_bessel_i1", "special_modified_bessel_k0", "special_modified_bessel_k1",
    "special_scaled_modified_bessel_k0", "special_scaled_modified_bessel_k1", "special_spherical_bessel_j0",
    "special_chebyshev_polynomial_t", "special_chebyshev_polynomial_u", "special_chebyshev_polynomial_v",
    "special_chebyshev_polynomial_w", "special_shifted_chebyshev_polynomial_t",
    "special_shifted_chebyshev_polynomial_u", "special_shifted_chebyshev_polynomial_v",
    "special_shifted_chebyshev_polynomial_w", "special_hermite_polynomial_h", "special_hermite_polynomial_he",
    "special_laguerre_polynomial_l", "special_legendre_polynomial_p",
)
per_output("elementwise", *MATH_POINTWISE)
# polar(abs, angle): a complex element from a modulus and an angle (rotary embeddings in complex form)
per_output("elementwise", "polar")
# Their in-place variants (ceil_, eq_, cumsum_ ...: torch.quantile runs ceil_); names torch lacks are skipped.
per_output("elementwise", *(n + "_" for n in POINTWISE + MATH_POINTWISE if not n.endswith("_")))

# Reductions read every input element once.
per_input(
    "elementwise",
    "sum", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "var", "std", "var_mean", "std_mean",
    "norm", "linalg_vector_norm", "logsumexp", "all", "any", "aminmax", "nansum",
)

# Losses: one op per element of the prediction.
per_input(
    "elementwise",
    "nll_loss_forward", "nll_loss2d_forward", "nll_loss", "nll_loss_nd", "mse_loss", "l1_loss", "smooth_l1_loss",
    "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "soft_margin_loss", "kl_div",
)


# -- sorting and selection (conventions in the module docstring) -------------------------------------------
def sort_ops(n: int) -> int:
    """Comparisons to sort ``n`` elements: ``n * ceil(log2 n)`` (0 for n <= 1)."""
    n = int(n)
    return n * (n - 1).bit_length() if n > 1 else 0


def _rows(x, dim) -> tuple[int, int]:
    """(number of rows, row length) of a tensor of shape ``x`` sorted or selected along ``dim``."""
    if len(x) == 0:  # a 0-d tensor is one row of one element
        return 1, 1
    n = int(x[int(dim) % len(x)])
    return (numel(x) // n if n else 0), n


@register(*ops_named("sort", "argsort"))
def sort(x, dim=-1, descending=False, *, out=None, **kwargs):
    """``rows * sort_ops(n)`` comparisons (``dim`` comes as a keyword in the ``stable`` overloads)."""
    rows, n = _rows(x, dim)
    return {"elementwise": rows * sort_ops(n)}


@register(*ops_named("msort"))
def msort(x, *, out=None, **kwargs):
    """Sort along dim 0: ``rows * sort_ops(n)`` comparisons."""
    rows, n = _rows(x, 0)
    return {"elementwise": rows * sort_ops(n)}


@register(*ops_named("topk"))
def topk(x, k, dim=-1, largest=True, sorted=True, *, out=None, **kwargs):
    """``rows * (n + sort_ops(k))`` comparisons; ``rows * n`` when ``sorted=False``."""
    rows, n = _rows(x, dim)
    return {"elementwise": rows * (n + (sort_ops(k) if sorted else 0))}


@register(*ops_named("mode"))
def mode(x, dim=-1, keepdim=False, *, out=None, **kwargs):
    """``rows * (sort_ops(n) + n)`` comparisons."""
    rows, n = _rows(x, dim)
    return {"elementwise": rows * (sort_ops(n) + n)}


# Linear in the row, like a reduction: quickselect (kthvalue, median) and a neighbour scan
# (unique_consecutive); median / nanmedian without a dim select over all elements.
per_input("elementwise", "kthvalue", "median", "nanmedian", "unique_consecutive")


@register(*ops_named("_unique2", "_unique"))
def unique(x, *args, out=None, **kwargs):
    """Unique elements of the flattened tensor: ``sort_ops(n) + n`` comparisons, n = numel."""
    n = numel(x)
    return {"elementwise": sort_ops(n) + n}


@register(*ops_named("unique_dim"))
def unique_dim(x, dim, *args, out=None, **kwargs):
    """Unique slices along ``dim``: ``(sort_ops(m) + m) * L`` element comparisons, m slices of L elements."""
    length, m = _rows(x, dim)  # m slices along dim, each of numel / m elements
    return {"elementwise": (sort_ops(m) + m) * length}


# -- searching (convention in the module docstring) ---------------------------------------------------------
def search_ops(n: int) -> int:
    """Comparisons of a binary search among ``n`` sorted values: ``ceil(log2(n + 1))`` (0 for n = 0)."""
    return max(int(n), 0).bit_length()


@register(*ops_named("bucketize"))
def bucketize(x, boundaries, *args, out=None, **kwargs):
    """``numel(out) * search_ops(n)``, n = len(boundaries) (``x`` may be a number: one query)."""
    return {"elementwise": numel(first_shape(out)) * search_ops(boundaries[-1])}


@register(*ops_named("searchsorted"))
def searchsorted(sorted_sequence, x, *args, out=None, **kwargs):
    """``numel(out) * search_ops(n)``, n the innermost size of ``sorted_sequence`` (one row per query row, or
    one 1-d sequence for all queries); a ``sorter`` argument is an index per probe, not a comparison."""
    return {"elementwise": numel(first_shape(out)) * search_ops(sorted_sequence[-1])}
