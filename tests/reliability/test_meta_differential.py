"""profiler/core/meta_kernels.py against torch's CPU kernels: the meta pass refuses what the real pass refuses.

For every op of ``meta_kernels.KERNELS`` (the table itself is iterated: a kernel added later needs a strategy
here, or the coverage test fails) hypothesis draws calls, valid ones and ones the CPU kernel refuses
(mismatched channels, ranks, inner sizes, batch sizes, shapes that do not broadcast, bad groups, dims out of
range, dtypes the kernel does not mix ...). Each call runs twice:

* the meta path as the engine runs it: the fast kernel on meta tensors, torch's meta kernel if it declines;
* torch's kernel on tiny CPU tensors of the same sizes, dtypes and layouts.

Both must give outputs of the same shapes and dtypes (and strides, where the fast kernel made the output; size-1
dims aside, whose strides torch's own kernels do not agree on), or both raise, with the CPU kernel's exception
type and message. Left out, each by a named rule: a CPU kernel missing for a dtype ("not implemented for 'Half'"),
a property of the CPU backend and not of the arguments, as a meta pass stands for any device; and what of a norm's
outputs depends on the device (``_device_free``: saved statistics, group norm's layout for a channels-last input).
Calls that make the CPU kernel read out of bounds or crash (a batch-norm weight of the wrong size, eval mode without
running statistics: only ``torch.batch_norm`` checks those, before the aten op) are not drawn. The last test is the
issue's case: a ResNet given 2 channels fails on meta as on the CPU, with the CPU's message.
"""
from __future__ import annotations

import math

import pytest
import torch
import torchvision
from hypothesis import given, strategies as st

import profiler
from profiler.core import meta_kernels

aten = torch.ops.aten
FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
HALVES = (torch.float16, torch.bfloat16)


# -- tensors made alike on both devices ---------------------------------------------------------------------
class T:
    """A tensor to make on the CPU and on meta: shape, dtype and layout (``fresh``; ``perm`` with a dim order,
    from slowest to fastest in memory; ``pad``: rows wider than the last dim, as a slice; ``expand``: dims
    broadcast with stride 0)."""

    def __init__(self, shape, dtype=torch.float32, layout=("fresh", None)):
        self.shape, self.dtype, self.layout = tuple(shape), dtype, layout

    def make(self, device):
        kind, arg = self.layout
        shape, n = self.shape, len(self.shape)
        new = lambda s: torch.zeros(s, dtype=self.dtype, device=device)  # noqa: E731
        if kind == "perm":
            return new([shape[i] for i in arg]).permute([list(arg).index(i) for i in range(n)])
        if kind == "pad" and n:
            return new((*shape[:-1], shape[-1] + arg))[..., :shape[-1]]
        if kind == "expand":
            return new([1 if i in arg else s for i, s in enumerate(shape)]).expand(shape)
        return new(shape)

    def __repr__(self):
        return f"T({list(self.shape)}, {self.dtype}, {self.layout})"


class Offsets:
    """``_grouped_mm``'s group ends: their values on the CPU (the kernel reads them), their size on meta."""

    def __init__(self, ends, dtype=torch.int32, rank=1):
        self.ends, self.dtype, self.rank = list(ends), dtype, rank

    def make(self, device):
        t = torch.tensor(self.ends, dtype=self.dtype) if device == "cpu" else \
            torch.empty(len(self.ends), dtype=self.dtype, device=device)
        return t[None] if self.rank == 2 else t

    def __repr__(self):
        return f"Offsets({self.ends}, {self.dtype}, rank={self.rank})"


def _make(x, device):
    if isinstance(x, (T, Offsets)):
        return x.make(device)
    if isinstance(x, (list, tuple)):
        return type(x)(_make(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _make(v, device) for k, v in x.items()}
    return x


def meta_tensor(shape, dtype=torch.float32):
    return torch.empty(shape, dtype=dtype, device="meta")


def mistakes(*names, valid=3):
    """None (a plain valid call) about as often as one of the named variants: mistakes the CPU kernel refuses,
    and a few odd calls it takes (a group norm whose input is not laid out (N, C, ...))."""
    return st.sampled_from((None,) * valid + names)


def sides(n, lo=0, hi=4):
    return st.lists(st.integers(lo, hi), min_size=n, max_size=n)


@st.composite
def layouts(draw, shape, dtype=torch.float32, expand=True):
    n = len(shape)
    kind = draw(st.sampled_from(["fresh", "fresh", "perm", "pad"] + (["expand"] if expand else [])))
    if kind == "perm" and n >= 2:
        return T(shape, dtype, ("perm", tuple(draw(st.permutations(range(n))))))
    if kind == "pad" and n:
        return T(shape, dtype, ("pad", draw(st.integers(1, 3))))
    if kind == "expand" and n:
        return T(shape, dtype, ("expand", tuple(draw(st.sets(st.integers(0, n - 1), min_size=1)))))
    return T(shape, dtype)


def float_dtypes(others=()):
    """Floating types mostly, now and then an integer or bool tensor (the kernels decline those, and their
    checks must hold for them too)."""
    return st.sampled_from(FLOATS * 3 + tuple(others))


scalars = st.one_of(st.integers(-3, 3), st.floats(-2, 2, allow_nan=False), st.booleans())


# -- norms ------------------------------------------------------------------------------------------------------
def _param_dtype(draw, dtype, mistake):
    """The dtype of a norm's parameters: the input's, or float32 for a half input (both run on the CPU);
    with a mistake, any floating type."""
    if mistake == "dtype":
        return draw(st.sampled_from(FLOATS))
    return torch.float32 if dtype in HALVES and draw(st.booleans()) else dtype


@st.composite
def batch_norms(draw, op):
    mistake = draw(mistakes("rank", "dtype"))
    c = draw(st.integers(1, 4))
    shape = (draw(st.integers(0, 3)), c, *draw(sides(draw(st.integers(0, 3)), 1)))
    if mistake == "rank":
        shape = shape[:draw(st.integers(0, 1))]
    dtype = draw(float_dtypes())
    x = draw(layouts(shape, dtype, expand=False))
    param = lambda: T((c,), _param_dtype(draw, dtype, mistake))  # noqa: E731
    w = param() if draw(st.booleans()) else None
    b = param() if draw(st.booleans()) else None
    training = draw(st.booleans()) if op != aten._native_batch_norm_legit_no_training.default else False
    stats = param(), param()
    if op == aten.native_batch_norm.default and training and draw(st.booleans()):
        stats = None, None  # optional when training (the CPU kernel crashes without them in eval mode)
    if op == aten._native_batch_norm_legit_no_training.default:
        return (x, w, b, *stats, 0.1, 1e-5), {}
    return (x, w, b, *stats, training, 0.1, 1e-5), {}


@st.composite
def layer_norms(draw, op):
    mistake = draw(mistakes("shape", "long", "empty", "weight", "dtype"))
    shape = draw(sides(draw(st.integers(1, 4)), 1))
    dtype = draw(float_dtypes())
    k = draw(st.integers(1, len(shape)))
    normalized = list(shape[len(shape) - k:])
    if mistake == "shape":
        normalized[draw(st.integers(0, k - 1))] += 1
    elif mistake == "long":
        normalized = [2] + list(shape)
    elif mistake == "empty":
        normalized = []
    wshape = normalized if mistake != "weight" else normalized[1:] + [draw(st.integers(1, 3))]
    pdtype = _param_dtype(draw, dtype, mistake)
    w = T(wshape, pdtype) if draw(st.booleans()) or mistake == "weight" else None
    b = T(normalized, pdtype) if draw(st.booleans()) else None
    return (draw(layouts(shape, dtype)), normalized, w, b, 1e-5), {}


@st.composite
def group_norms(draw, op):
    mistake = draw(mistakes("groups", "hxw", "n", "c", "weight", "dtype", "regroup", "rank"))
    n, c = draw(st.integers(0, 3)), draw(st.integers(1, 6))
    spatial = draw(sides(draw(st.integers(0, 2)), 0 if mistake == "hxw" else 1, 3))
    shape = [n, c, *spatial]
    hxw = math.prod(spatial)
    group = draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
    dtype = draw(float_dtypes())
    wc = c
    if mistake == "groups":
        group = draw(st.sampled_from([0, -1, c + 1] + [g for g in range(2, c) if c % g]))
    elif mistake == "hxw":
        hxw += draw(st.sampled_from([1, -1])) if hxw else 0
    elif mistake == "n":
        n += 1
    elif mistake == "c":
        c, wc = c + 1, c + 1
    elif mistake == "weight":
        wc = c + draw(st.sampled_from([1, -1]))
    elif mistake == "regroup" and spatial:  # the CPU kernel reads (N, C, HxW) from the arguments, not the shape
        c, hxw, group, wc = c * spatial[0], hxw // spatial[0], 1, c * spatial[0]
    elif mistake == "rank":
        shape = [n * c * hxw]
    pdtype = _param_dtype(draw, dtype, mistake)
    w = T((wc,), pdtype) if draw(st.booleans()) or mistake == "weight" else None
    b = T((wc,), pdtype) if draw(st.booleans()) else None
    return (draw(layouts(shape, dtype, expand=False)), w, b, n, c, hxw, group, 1e-5), {}


# -- products ---------------------------------------------------------------------------------------------------
def _matrix(draw, shape, dtype):
    """A matrix operand: fresh, transposed (F.linear's weight) or a slice of a wider one."""
    kind = draw(st.sampled_from(["fresh", "fresh", "t", "pad"]))
    if kind == "t" and len(shape) >= 2:
        order = (*range(len(shape) - 2), len(shape) - 1, len(shape) - 2)
        return T(shape, dtype, ("perm", order))
    return T(shape, dtype, ("pad", 2) if kind == "pad" and shape else ("fresh", None))


def _product_shapes(draw, mistake, batched):
    n, k, m, batch = (draw(st.integers(0, 4)) for _ in range(4))
    a, b = [n, k], [k, m]
    if batched:
        a, b = [batch] + a, [batch] + b
    if mistake == "inner":
        b[-2] += 1
    elif mistake == "batch" and batched:
        b[0] += 1
    elif mistake == "rank_a":
        a = draw(st.sampled_from([a[1:], [2] + a]))
    elif mistake == "rank_b":
        b = draw(st.sampled_from([b[1:], [2] + b]))
    return a, b, n, m


def _dtypes(draw, mistake):
    dtype = draw(float_dtypes([torch.int64]))
    other = draw(st.sampled_from([t for t in FLOATS + (torch.int64,) if t != dtype])) if mistake == "dtype" \
        else dtype
    return dtype, other


@st.composite
def matrix_products(draw, op):
    batched = op == aten.bmm.default
    mistake = draw(mistakes("inner", "rank_a", "rank_b", "dtype", *(["batch"] if batched else [])))
    a, b, _, _ = _product_shapes(draw, mistake, batched)
    dtype, other = _dtypes(draw, mistake)
    return (_matrix(draw, a, dtype), _matrix(draw, b, other)), {}


@st.composite
def addmms(draw, op):
    mistake = draw(mistakes("inner", "rank_a", "rank_b", "dtype", "bias", "bias_rank", "bias_dtype", valid=5))
    a, b, n, m = _product_shapes(draw, mistake, False)
    dtype, other = _dtypes(draw, mistake)
    bias = draw(st.sampled_from([[m], [1, m], [n, m], [n, 1], [1], [], [1, 1]]))
    if mistake == "bias":
        bias = draw(st.sampled_from([[m + 1], [n + 1, m], [n, m + 1]]))
    elif mistake == "bias_rank":
        bias = [1] + [n, m]
    bias_dtype = draw(st.sampled_from([t for t in FLOATS if t != dtype])) if mistake == "bias_dtype" else dtype
    kwargs = {"beta": draw(st.sampled_from([1, 0.5])), "alpha": 2} if draw(st.booleans()) else {}
    return (T(bias, bias_dtype), _matrix(draw, a, dtype), _matrix(draw, b, other)), kwargs


@st.composite
def grouped_mms(draw, op):
    """``_grouped_mm``'s four modes (2-D/3-D operands), with the mistakes its CPU kernel checks: dtypes, ranks,
    a K or group count that differs, rows off the 16-byte alignment, offsets missing or of the wrong dtype or
    rank, a bias, an output dtype."""
    mistake = draw(mistakes("dtype", "mixed", "rank", "inner", "groups", "align", "offs", "offs_dtype",
                            "offs_rank", "bias", "out_dtype", valid=4))
    dtype = draw(st.sampled_from((torch.float32, torch.bfloat16, torch.float16)))
    align = 16 // dtype.itemsize
    size = st.sampled_from([align, 2 * align, 0] + ([1, 3] if mistake == "align" else []))
    a_dim, b_dim = draw(st.sampled_from([2, 3])), draw(st.sampled_from([2, 3]))
    if mistake == "rank":
        a_dim = draw(st.sampled_from([1, 4]))
    g, m, k, n = draw(st.integers(0, 3)), draw(size), draw(size), draw(size)
    a_shape = {1: (k,), 2: (m, k), 3: (g, m, k), 4: (1, g, m, k)}[a_dim]
    b_shape = (k + (mistake == "inner") * align, n) if b_dim == 2 else (g + (mistake == "groups"), k, n)
    a_dtype = {"dtype": torch.float64, "mixed": dtype}.get(mistake, dtype)
    b_dtype = draw(st.sampled_from([t for t in (torch.float32, torch.bfloat16) if t != dtype])) \
        if mistake == "mixed" else dtype
    a, b = _matrix(draw, a_shape, a_dtype), _matrix(draw, b_shape, b_dtype)
    for t in (a, b):  # the CPU kernel wants one of the last two dims contiguous
        if t.layout[0] == "pad" and mistake != "align":
            t.layout = ("pad", align)
    jagged = {(2, 3): m, (3, 2): n, (2, 2): k}.get((a_dim, b_dim), 0)
    ends = sorted(draw(st.lists(st.integers(0, jagged), min_size=g, max_size=g)))
    kwargs = {}
    if (a_dim == 2 or b_dim == 2) != (mistake == "offs"):
        kwargs["offs"] = Offsets(ends, torch.int64 if mistake == "offs_dtype" else torch.int32,
                                 2 if mistake == "offs_rank" else 1)
    if mistake == "bias":
        kwargs["bias"] = T((n,), dtype)
    if mistake == "out_dtype":
        kwargs["out_dtype"] = draw(st.sampled_from([torch.float32, torch.bfloat16, torch.float16]))
    return (a, b), kwargs


# -- convolution ------------------------------------------------------------------------------------------------
@st.composite
def convolutions(draw, op):
    mistake = draw(mistakes("channels", "groups_div", "groups", "rank", "weight_rank", "bias", "dtype",
                            "bias_dtype", "kernel", "params", "padding", "stride", "dilation", "empty",
                            "transposed", "t_channels", "t_output_padding", "zero_batch", valid=8))
    transposed = mistake is not None and mistake.startswith("t_") or mistake == "transposed"
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = draw(sides(nd, 1, 3))
    stride, dilation = draw(sides(nd, 1, 2)), draw(sides(nd, 1, 2))
    padding = draw(sides(nd, 0, 1))
    output_padding = [0] * nd
    size = [draw(st.integers(d * (k - 1) + 1, 7)) for k, d in zip(kernel, dilation)]
    n = draw(st.integers(1, 2)) if mistake != "zero_batch" else 0
    wshape = [cout, cin // groups, *kernel] if not transposed else [cin, cout // groups, *kernel]
    bias = [cout] if draw(st.booleans()) else None
    dtype = draw(float_dtypes())
    wdtype = bdtype = dtype
    if mistake == "channels":
        cin += draw(st.sampled_from([1, -1]))
    elif mistake == "t_channels":
        wshape[0] += 1
    elif mistake == "groups_div":
        wshape[0] += 1
    elif mistake == "groups":
        groups = draw(st.sampled_from([0, -1]))
    elif mistake == "rank":
        size = size[1:] if nd > 1 and draw(st.booleans()) else size + [3]
    elif mistake == "weight_rank":
        wshape = wshape[:2]
    elif mistake == "bias":
        bias = draw(st.sampled_from([[cout + 1], [1, cout], []]))
    elif mistake == "dtype":
        wdtype = draw(st.sampled_from([t for t in FLOATS if t != dtype]))
    elif mistake == "bias_dtype":
        bias, bdtype = [cout], draw(st.sampled_from([t for t in FLOATS if t != dtype]))
    elif mistake == "kernel":
        padding = [0] * nd
        size[-1] = dilation[-1] * (kernel[-1] - 1)  # one short of the dilated kernel
        if size[-1] == 0:
            kernel[-1] += 1
            wshape[-1] += 1
            size[-1] = dilation[-1] * kernel[-1] - dilation[-1]
    elif mistake == "params":
        stride = stride + [1]
    elif mistake == "padding":
        padding[-1] = -1
    elif mistake == "stride":
        stride[-1] = 0
    elif mistake == "dilation":
        dilation[-1] = 0
    elif mistake == "empty":
        size[-1] = 0
        padding[-1] = kernel[-1]
    elif mistake == "t_output_padding":
        output_padding[-1] = max(stride[-1], dilation[-1])
    elif transposed:
        output_padding = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)]
    if transposed and bias:
        bias = [cout]
    xshape = [n, cin, *size]
    x = draw(st.sampled_from([T(xshape, dtype), T(xshape, dtype, ("perm", (0, *range(2, len(xshape)), 1)))]))
    w = draw(st.sampled_from([T(wshape, wdtype), T(wshape, wdtype, ("perm", (0, *range(2, len(wshape)), 1)))]))
    args = (x, w, T(bias, bdtype) if bias is not None else None, stride, padding, dilation, transposed,
            output_padding, groups)
    return args, {}


# -- element ops ------------------------------------------------------------------------------------------------
def _extra_args(draw, name):
    """The scalar arguments of a one-input op (``name`` without a trailing ``_``), with its mistakes."""
    if name in ("clamp_min", "clamp_max"):
        return (draw(scalars),), {}
    if name == "leaky_relu":
        return ((draw(st.floats(-1, 1)),) if draw(st.booleans()) else ()), {}
    if name == "elu":
        return ((1.0, 1.0, 1.0) if draw(st.booleans()) else ()), {}
    if name == "hardtanh":
        return ((draw(st.floats(-2, 2)), draw(st.floats(-2, 2))) if draw(st.booleans()) else ()), {}
    if name == "gelu" and draw(st.booleans()):
        return (), {"approximate": draw(st.sampled_from(["none", "tanh", "sigmoid"]))}
    return (), {}


def _shape(draw, min_dims=0):
    return draw(sides(draw(st.integers(min_dims, 4)), 0, 4))


@st.composite
def unaries(draw, op):
    name = op._schema.name.split("::")[1]
    dtype = draw(float_dtypes([torch.int64, torch.bool]))
    x = draw(layouts(_shape(draw), dtype, expand=not name.endswith("_") or draw(st.booleans())))
    args, kwargs = _extra_args(draw, name.rstrip("_"))
    return (x, *args), kwargs


@st.composite
def clamps(draw, op):
    dtype = draw(float_dtypes([torch.int64]))
    bound = st.one_of(st.none(), scalars)
    return (draw(layouts(_shape(draw), dtype)), draw(bound), draw(bound)), {}


@st.composite
def powers(draw, op):
    dtype = draw(float_dtypes([torch.int64]))
    return (draw(layouts(_shape(draw), dtype)), draw(st.one_of(st.integers(-2, 3), st.floats(-2, 2)))), {}


@st.composite
def randoms(draw, op):
    dtype = draw(float_dtypes([torch.int64]))
    x = draw(layouts(_shape(draw), dtype))
    lo, hi = draw(st.floats(-1, 1)), draw(st.floats(-1, 1))
    return (x, lo, hi), {}  # (mean, std) with std < 0 half the time; (from, to) with from > to


@st.composite
def scalar_ops(draw, op):
    dtype = draw(float_dtypes([torch.int64, torch.bool]))
    other = draw(st.one_of(scalars, st.just(1j)))
    kwargs = {"alpha": draw(st.sampled_from([2, 0.5]))} if op in (aten.add.Scalar, aten.sub.Scalar) \
        and draw(st.booleans()) else {}
    return (draw(layouts(_shape(draw), dtype)), other), kwargs


def _broadcastable(draw, shape):
    """A shape that broadcasts with ``shape``: a suffix of it, some dims set to 1."""
    suffix = list(shape[draw(st.integers(0, len(shape))):])
    return [1 if draw(st.booleans()) else s for s in suffix]


def _other(draw, shape, dtype, mistake):
    if mistake == "scalar":
        return draw(st.one_of(scalars, st.just(1j)))
    if mistake == "bcast":
        other = [draw(st.integers(2, 3))] + list(shape) if draw(st.booleans()) or not shape else \
            list(shape[:-1]) + [shape[-1] + 2]
    else:
        other = _broadcastable(draw, shape)
    odtype = draw(st.sampled_from([torch.float32, torch.float64, torch.float16, torch.int64, torch.bool])) \
        if mistake == "dtype" else dtype
    return draw(layouts(other, odtype))


@st.composite
def binaries(draw, op):
    mistake = draw(mistakes("bcast", "dtype", "scalar", "swap"))
    dtype = draw(float_dtypes([torch.int64]))
    shape = _shape(draw)
    a, b = draw(layouts(shape, dtype)), _other(draw, shape, dtype, mistake)
    if mistake == "swap":  # the smaller one first: the output takes the larger shape
        a, b = b, a
    kwargs = {"alpha": 2} if op in (aten.add.Tensor, aten.sub.Tensor) and draw(st.booleans()) else {}
    return (a, b), kwargs


@st.composite
def inplace_binaries(draw, op):
    mistake = draw(mistakes("bcast", "dtype", "scalar", "overlap"))
    dtype = draw(float_dtypes([torch.int64]))
    shape = _shape(draw, min_dims=1)
    x = draw(layouts(shape, dtype, expand=mistake == "overlap"))
    kwargs = {"alpha": 2} if op in (aten.add_.Tensor, aten.sub_.Tensor) and draw(st.booleans()) else {}
    return (x, _other(draw, shape, dtype, mistake)), kwargs


@st.composite
def softmaxes(draw, op):
    mistake = draw(mistakes("dim", "half_to_float" if op == aten._softmax.default else "dtype"))
    dtype = draw(float_dtypes())
    shape = _shape(draw)
    n = max(len(shape), 1)
    dim = draw(st.integers(-n, n - 1)) if mistake != "dim" else draw(st.sampled_from([n, -n - 1, n + 2]))
    x = draw(layouts(shape, dtype))
    if op == aten._softmax.default:
        return (x, dim, mistake == "half_to_float"), {}
    return (x, dim), ({"dtype": draw(st.sampled_from(FLOATS))} if mistake == "dtype" else {})


@st.composite
def means(draw, op):
    mistake = draw(mistakes("dim", "duplicate", "dtype"))
    dtype = draw(float_dtypes([torch.int64]))
    shape = _shape(draw)
    n = max(len(shape), 1)
    dims = draw(st.lists(st.integers(-n, n - 1), max_size=n, unique_by=lambda d: d % n))
    if mistake == "dim":
        dims = dims + [draw(st.sampled_from([n, -n - 1]))]
    elif mistake == "duplicate" and dims:
        dims = dims + [dims[0] - n if dims[0] >= 0 else dims[0] + n]
    dims = None if not dims and draw(st.booleans()) else dims
    kwargs = {"dtype": draw(st.sampled_from(FLOATS))} if mistake == "dtype" else {}
    return (draw(layouts(shape, dtype)), dims, draw(st.booleans())), kwargs


@st.composite
def cats(draw, op):
    mistake = draw(mistakes("sizes", "rank", "none", "dim", "legacy_empty", "dtype"))
    ndim = draw(st.integers(1, 4))
    shape = draw(sides(ndim, 0 if ndim < 4 else 2, 4))
    dim = draw(st.integers(-ndim, ndim - 1))
    pieces = []
    for i in range(draw(st.integers(1, 3))):
        s = list(shape)
        s[dim] = draw(st.integers(0, 3))
        dtype = draw(st.sampled_from(FLOATS)) if mistake == "dtype" else torch.float32
        pieces.append(draw(layouts(s, dtype, expand=False)))
    if mistake == "sizes" and ndim > 1:
        other = (dim + 1) % ndim
        s = list(pieces[-1].shape)
        s[other] += 1
        pieces.append(T(s))
    elif mistake == "rank":
        pieces.append(T(shape[1:] if ndim > 1 else shape + [2]))
    elif mistake == "none":
        pieces = []
    elif mistake == "dim":
        dim = draw(st.sampled_from([ndim, -ndim - 1]))
    elif mistake == "legacy_empty":  # a (0,) tensor is skipped whatever the others' rank
        pieces.insert(draw(st.integers(0, len(pieces))), T((0,)))
    return (pieces, dim), {}


# -- the table's ops and their calls --------------------------------------------------------------------------
def _named(*names):
    ops = []
    for name in names:
        packet, _, overload = name.partition(".")
        ops.append(getattr(getattr(aten, packet), overload or "default"))
    return ops


CALLS = {}
for _strategy, _names in [
    (batch_norms, ["native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training"]),
    (layer_norms, ["native_layer_norm"]), (group_norms, ["native_group_norm"]),
    (matrix_products, ["mm", "bmm"]), (addmms, ["addmm"]), (grouped_mms, ["_grouped_mm"]),
    (convolutions, ["convolution"]),
    (unaries, ["silu", "sigmoid", "tanh", "leaky_relu", "rsqrt", "sqrt", "exp", "neg", "erf", "gelu", "relu",
               "hardswish", "hardsigmoid", "elu", "hardtanh", "clamp_min", "clamp_max", "sigmoid_", "tanh_",
               "silu_", "gelu_", "hardswish_", "hardsigmoid_", "hardtanh_", "leaky_relu_", "elu_", "neg_",
               "exp_", "erfinv_", "clamp_min_", "clamp_max_"]),
    (clamps, ["clamp", "clamp_"]), (powers, ["pow.Tensor_Scalar"]), (randoms, ["normal_", "uniform_"]),
    (scalar_ops, ["mul.Scalar", "add.Scalar", "sub.Scalar", "div.Scalar"]),
    (binaries, ["add.Tensor", "mul.Tensor", "sub.Tensor", "div.Tensor"]),
    (inplace_binaries, ["add_.Tensor", "mul_.Tensor", "sub_.Tensor", "div_.Tensor"]),
    (softmaxes, ["_softmax", "_safe_softmax"]), (means, ["mean.dim"]), (cats, ["cat"]),
]:
    for _op in _named(*_names):
        CALLS[_op] = _strategy


# -- the comparison ---------------------------------------------------------------------------------------------
def _engine_path(op, args, kwargs):
    """What ``_Observer.__torch_dispatch__`` does on a meta pass; also whether the fast kernel made the output."""
    out = meta_kernels.kernels()[op](*args, **kwargs)
    if out is not NotImplemented:
        return out, True
    return op(*args, **kwargs), False


def _describe(out, strides, inputs):
    if isinstance(out, torch.Tensor):
        d = (tuple(out.shape), out.dtype, any(out is t for t in inputs))
        if strides and out.numel():
            d += (tuple(s for s, n in zip(out.stride(), out.shape) if n > 1),)
        return d
    return tuple(_describe(o, strides, inputs) for o in out)


BATCH_NORMS = (aten.native_batch_norm.default, aten._native_batch_norm_legit.default,
               aten._native_batch_norm_legit_no_training.default)


NORMS = BATCH_NORMS + (aten.native_layer_norm.default, aten.native_group_norm.default)


def _device_free(op, args, described):
    """What of a norm's outputs does not depend on the device: batch norm's saved statistics in eval mode are
    empty on the CPU, (C,) in torch's meta kernel; the statistics' dtype for half inputs or float32 parameters
    differs between the CPU kernels, the CUDA ones and torch's meta kernels; group norm keeps a channels-last
    input's layout on the CPU only (torch's meta kernel, as CUDA's, makes it contiguous). Counting reads none."""
    if op in BATCH_NORMS and (op == aten._native_batch_norm_legit_no_training.default or not args[5]):
        return described[0]
    if op in NORMS:
        out = described[0]
        if op == aten.native_group_norm.default and len(args[0].shape) in (4, 5) and args[0].layout[0] != "fresh":
            out = out[:3]
        return (out, *(d[0] for d in described[1:]))
    return described


def same_as_cpu(op, args, kwargs):
    cpu_args, cpu_kwargs = _make(args, "cpu"), _make(kwargs, "cpu")
    try:
        expected, cpu_error = op(*cpu_args, **cpu_kwargs), None
    except Exception as error:  # noqa: BLE001 - whatever the CPU kernel raises, the meta path must
        expected, cpu_error = None, error
    meta_args, meta_kwargs = _make(args, "meta"), _make(kwargs, "meta")
    try:
        got, claimed = _engine_path(op, meta_args, meta_kwargs)
        meta_error = None
    except Exception as error:  # noqa: BLE001
        meta_error = error
    call = f"{op}{args} {kwargs}"
    if cpu_error is not None:
        if "not implemented for '" in str(cpu_error):
            return  # the CPU backend has no kernel for the dtype: a device's property, not the arguments'
        assert meta_error is not None, f"{call}: the CPU kernel raises {cpu_error!r}, the meta pass does not"
        assert (type(meta_error), str(meta_error)) == (type(cpu_error), str(cpu_error)), \
            f"{call}: the meta pass raises {meta_error!r}, the CPU kernel {cpu_error!r}"
        return
    assert meta_error is None, f"{call}: the meta pass raises {meta_error!r}, the CPU kernel does not"
    cpu_inputs = [t for t in cpu_args if isinstance(t, torch.Tensor)]
    meta_inputs = [t for t in meta_args if isinstance(t, torch.Tensor)]
    got = _device_free(op, args, _describe(got, claimed, meta_inputs))
    expected = _device_free(op, args, _describe(expected, claimed, cpu_inputs))
    assert got == expected, f"{call}: the meta pass gives {got}, the CPU kernel {expected}"


def test_every_kernel_has_calls():
    assert set(meta_kernels.KERNELS) <= set(CALLS), "ops of the table without a strategy here: " + \
        ", ".join(sorted(str(op) for op in set(meta_kernels.KERNELS) - set(CALLS)))


@pytest.mark.parametrize("op", list(meta_kernels.KERNELS), ids=str)
@given(data=st.data())
def test_the_meta_pass_does_what_the_cpu_kernel_does(op, data):
    assert op in CALLS, f"no strategy for {op}: add one to CALLS"
    args, kwargs = data.draw(CALLS[op](op), label="call")
    same_as_cpu(op, args, kwargs)


# -- the case -------------------------------------------------------------------------------------------
def test_resnet_on_two_channels_fails_on_meta_as_on_the_cpu():
    message = "expected input[1, 2, 224, 224] to have 3 channels, but got 2 channels instead"
    for device in ("cpu", "meta"):
        with pytest.raises(profiler.ProfilingError, match=r"expected input\[1, 2, 224, 224\] to have 3") as info:
            profiler.profile(torchvision.models.resnet18(), input_size=(1, 2, 224, 224), device=device)
        assert message in str(info.value), device


def test_calls_too_large_for_any_memory_raise_the_cpu_message():
    # the CPU kernel is asked on stand-ins that hold (next to) no memory: these would need terabytes
    big = 1 << 20
    x, w = meta_tensor((big, 2, 4096, 4096)), meta_tensor((8, 3, 3, 3))
    with pytest.raises(RuntimeError, match=rf"expected input\[{big}, 2, 4096, 4096\] to have 3 channels, but got 2"):
        meta_kernels.KERNELS[aten.convolution.default](x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
    with pytest.raises(RuntimeError, match=rf"mat1 and mat2 shapes cannot be multiplied \({big}x{big} and 3x4\)"):
        meta_kernels.KERNELS[aten.mm.default](meta_tensor((big, big)), meta_tensor((3, 4)))
    written = meta_tensor((big, big))  # in place: the written stand-in keeps its (absent) overlap
    with pytest.raises(RuntimeError, match=rf"The size of tensor a \({big}\) must match the size of tensor b \(3\)"):
        meta_kernels.KERNELS[aten.add_.Tensor](written, meta_tensor((3, big)))
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        meta_kernels.KERNELS[aten.sigmoid_.default](meta_tensor((1, big)).expand(big, big))

