"""profiler/core/meta_kernels.py: the fast shape functions of the meta pass, against torch's own meta kernels.

A fast kernel either declines (``NotImplemented``: torch's kernel runs) or returns outputs with the shape,
strides and dtype torch's meta kernel gives for the same call. In the simple case it is written for
(contiguous floating meta tensors of one dtype) it must not decline: a kernel that always declined would
otherwise pass every comparison. Expected values come from torch (the aten op called on meta tensors,
outside any profiler mode) or from closed forms, never from the kernels under test.
``PROFILER_CHECK_META=1`` wraps every kernel in that same comparison; the last tests check the switch and
that a meta pass goes through the table.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
from hypothesis import assume, given, settings, strategies as st

import profiler
from profiler.core import meta_kernels

aten = torch.ops.aten
FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
dtypes = st.sampled_from(FLOATS)
UNARY = {f"aten.{n}.default" for n in ("gelu", "silu", "sigmoid", "relu", "hardswish", "hardsigmoid", "tanh",
                                       "elu", "leaky_relu", "rsqrt", "sqrt", "exp", "neg", "erf", "hardtanh",
                                       "clamp_min", "clamp_max")}
INPLACE = {f"aten.{n}.default" for n in ("sigmoid_", "tanh_", "silu_", "gelu_", "hardswish_", "hardsigmoid_",
                                         "hardtanh_", "leaky_relu_", "elu_", "neg_", "exp_", "erfinv_",
                                         "clamp_min_", "clamp_max_", "clamp_", "normal_", "uniform_")}
SCALAR_OPS = {f"aten.{n}.Scalar" for n in ("mul", "add", "div", "sub")}
BINARY = ("add", "mul", "sub", "div")


def meta(shape, dtype=torch.float32):
    return torch.empty(tuple(shape), dtype=dtype, device="meta")


def describe(out):
    if isinstance(out, torch.Tensor):
        return tuple(out.shape), tuple(out.stride()), out.dtype, out.device.type
    return tuple(describe(o) for o in out)


def fast(op, *args, **kwargs):
    """The fast kernel's outputs for a call it must handle, checked against torch's meta kernel."""
    out = meta_kernels.KERNELS[op](*args, **kwargs)
    assert out is not NotImplemented, f"the fast kernel of {op} declined a plain call"
    assert describe(out) == describe(op(*args, **kwargs))
    return out


def declines(op, *args, **kwargs) -> bool:
    return meta_kernels.KERNELS[op](*args, **kwargs) is NotImplemented


def refuses(op, *args, **kwargs):
    """The fast kernel raises what torch's CPU kernel raises for the same call (on CPU tensors of the same sizes):
    the meta pass refuses what the real pass refuses, with its message (tests/reliability/test_meta_differential.py
    checks this for every op on drawn calls)."""
    cpu = lambda a: torch.zeros(a.shape, dtype=a.dtype) if isinstance(a, torch.Tensor) and a.device.type == "meta" \
        else [cpu(t) for t in a] if isinstance(a, list) else a  # noqa: E731
    with pytest.raises(Exception) as expected:
        op(*(cpu(a) for a in args), **{k: cpu(v) for k, v in kwargs.items()})
    with pytest.raises(type(expected.value)) as got:
        meta_kernels.KERNELS[op](*args, **kwargs)
    assert str(got.value) == str(expected.value)


def shapes(min_dims=1, max_dims=4, min_side=0, max_side=5):
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def test_the_table_holds_the_documented_ops():
    names = {str(op) for op in meta_kernels.KERNELS}
    assert names == {
        "aten.native_batch_norm.default", "aten._native_batch_norm_legit_no_training.default",
        "aten._native_batch_norm_legit.default", "aten.native_layer_norm.default", "aten.addmm.default",
        "aten.mm.default", "aten.bmm.default", "aten._grouped_mm.default", "aten.convolution.default", *UNARY,
        *SCALAR_OPS,
        "aten._softmax.default", "aten._safe_softmax.default", *(f"aten.{n}.Tensor" for n in BINARY),
        "aten.mean.dim", "aten.cat.default", "aten.native_group_norm.default", "aten.clamp.default",
        "aten.pow.Tensor_Scalar", *INPLACE, *(f"aten.{n}_.Tensor" for n in BINARY)}


# -- norms ----------------------------------------------------------------------------------------------
@given(shapes(min_dims=2, max_dims=5, min_side=1), dtypes, st.booleans(), st.booleans())
def test_batch_norm(shape, dtype, training, affine):
    assume(not training or math.prod(shape) > shape[1])  # training statistics need two values per channel
    x = meta(shape, dtype)
    c = (shape[1],)
    w = b = meta(c, dtype) if affine else None
    mean, var = meta(c, dtype), meta(c, dtype)
    stats = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype  # half types: float32 stats
    for op, args in [(aten.native_batch_norm.default, (x, w, b, mean, var, training, 0.1, 1e-5)),
                     (aten._native_batch_norm_legit.default, (x, w, b, mean, var, training, 0.1, 1e-5)),
                     (aten._native_batch_norm_legit_no_training.default, (x, w, b, mean, var, 0.1, 1e-5))]:
        out, save_mean, save_invstd = meta_kernels.KERNELS[op](*args)
        assert describe(out) == describe(op(*args)[0])
        assert out.shape == shape and out.dtype == dtype and out.is_contiguous()
        # evaluation saves no statistics on the CPU (empty ones; torch's meta kernel makes (C,) ones): the
        # CPU's, whose bytes a real pass counts
        saved = c if training and op is not aten._native_batch_norm_legit_no_training.default else (0,)
        assert save_mean.shape == save_invstd.shape == saved and save_mean.dtype == stats


def test_batch_norm_of_a_vector_raises_as_on_the_cpu():
    x = meta((5,))
    refuses(aten.native_batch_norm.default, x, None, None, None, None, True, 0.1, 1e-5)


@given(shapes(min_dims=1, max_dims=4), st.integers(1, 4), dtypes, st.booleans())
def test_layer_norm(shape, k, dtype, affine):
    k = min(k, len(shape))
    normalized = list(shape[len(shape) - k:])
    w = b = meta(normalized, dtype) if affine else None
    out, mean, rstd = fast(aten.native_layer_norm.default, meta(shape, dtype), normalized, w, b, 1e-5)
    assert out.shape == shape
    assert mean.shape == rstd.shape == shape[:len(shape) - k] + (1,) * k  # kept dims of size 1


@given(shapes(min_dims=2, max_dims=5, min_side=2), st.integers(1, 3), dtypes, st.data())
def test_layer_norm_of_a_strided_input(shape, k, dtype, data):
    # ConvNeXt's LayerNorm runs on x.permute(0, 2, 3, 1): torch's output is contiguous anyway
    x = data.draw(layouts(shape, dtype))
    normalized = list(shape[len(shape) - min(k, len(shape)):])
    out = fast(aten.native_layer_norm.default, x, normalized, meta(normalized, dtype), None, 1e-5)[0]
    assert out.is_contiguous()


@given(shapes(min_dims=2, max_dims=5, min_side=1), dtypes, st.booleans(), st.data())
def test_group_norm(shape, dtype, affine, data):
    c = shape[1]
    group = data.draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
    x = data.draw(layouts(shape, dtype)) if min(shape) >= 2 else meta(shape, dtype)
    w = b = meta((c,), dtype) if affine else None
    out, mean, rstd = fast(aten.native_group_norm.default, x, w, b, shape[0], c, math.prod(shape[2:]), group,
                           1e-5)
    assert mean.shape == rstd.shape == (shape[0], group) and mean.dtype == dtype  # not float32 for halves


def test_norms_decline_odd_inputs_and_refuse_bad_ones():
    odd = torch.empty_strided((3, 1, 4), (4, 9, 1), device="meta")  # contiguous: torch keeps the size-1 stride
    assert declines(aten.native_layer_norm.default, odd, [4], None, None, 1e-5)
    assert describe(aten.native_layer_norm.default(odd, [4], None, None, 1e-5)[0]) != describe(meta((3, 1, 4)))
    refuses(aten.native_layer_norm.default, meta((2, 3)), [4], None, None, 1e-5)
    x = meta((2, 4, 3, 3))
    refuses(aten.native_group_norm.default, x, None, None, 2, 4, 9, 3, 1e-5)  # 4 channels, 3 groups
    refuses(aten.native_group_norm.default, x, None, None, 2, 4, 8, 2, 1e-5)  # wrong HxW
    refuses(aten.native_group_norm.default, meta((2, 4, 0)), None, None, 2, 4, 0, 2, 1e-5)


# -- products -------------------------------------------------------------------------------------------
sides = st.integers(0, 6)


@given(sides, sides, sides, sides, dtypes)
def test_matrix_products(n, k, m, batch, dtype):
    a, b = meta((n, k), dtype), meta((k, m), dtype)
    assert fast(aten.mm.default, a, b).shape == (n, m)
    for bias in (meta((m,), dtype), meta((1, m), dtype), meta((n, m), dtype)):  # nn.Linear's bias: (m,)
        assert fast(aten.addmm.default, bias, a, b).shape == (n, m)
    assert fast(aten.addmm.default, meta((m,), dtype), a, b, beta=0.5, alpha=2).shape == (n, m)
    # a transposed (non-contiguous) operand, as F.linear passes its weight: still a contiguous output
    assert fast(aten.addmm.default, meta((m,), dtype), a, meta((m, k), dtype).t()).is_contiguous()
    assert fast(aten.bmm.default, meta((batch, n, k), dtype), meta((batch, k, m), dtype)).shape == (batch, n, m)


def test_products_refuse_mixed_dtypes_and_bad_shapes():
    a32, b16 = meta((2, 3)), meta((3, 4), torch.float16)
    refuses(aten.mm.default, a32, b16)
    refuses(aten.mm.default, a32, meta((4, 2)))
    refuses(aten.addmm.default, meta((4,), torch.float16), a32, meta((3, 4)))
    refuses(aten.addmm.default, meta((5,)), a32, meta((3, 4)))  # a bias that does not broadcast
    refuses(aten.bmm.default, meta((2, 2, 3)), meta((3, 3, 4)))


# -- convolution ----------------------------------------------------------------------------------------
@st.composite
def convolutions(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 4)) for _ in range(nd)]
    stride = [draw(st.integers(1, 3)) for _ in range(nd)]
    padding = [draw(st.integers(0, 2)) for _ in range(nd)]
    dilation = [draw(st.integers(1, 2)) for _ in range(nd)]
    size = [draw(st.integers(1, 12)) for _ in range(nd)]
    return draw(st.integers(0, 3)), cin, cout, groups, kernel, stride, padding, dilation, size, draw(dtypes), \
        draw(st.booleans())


def _out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1  # the closed form of every framework's conv


@given(convolutions())
def test_convolution(conv):
    n, cin, cout, groups, kernel, stride, padding, dilation, size, dtype, bias = conv
    nd = len(size)
    out = [_out_size(*a) for a in zip(size, kernel, stride, padding, dilation)]
    assume(all(o >= 1 for o in out))
    # An input that is also channels-last contiguous (one channel, or 1x1 spatial) is torch's to decide.
    assume(nd == 1 or cin > 1 and any(s > 1 for s in size))
    x, w = meta((n, cin, *size), dtype), meta((cout, cin // groups, *kernel), dtype)
    y = fast(aten.convolution.default, x, w, meta((cout,), dtype) if bias else None, stride, padding, dilation,
             False, [0] * nd, groups)
    assert y.shape == (n, cout, *out)


def test_convolution_closed_form_examples():
    # ResNet stem 224 -> 112 (7x7/2, pad 3); MobileNet depthwise 3x3/2 pad 1 on 112 -> 56; dilated 3x3 pad 2 keeps 28
    for size, k, s, p, d, expected in [(224, 7, 2, 3, 1, 112), (112, 3, 2, 1, 1, 56), (28, 3, 1, 2, 2, 28)]:
        x, w = meta((1, 8, size, size)), meta((8, 8, k, k))
        y = fast(aten.convolution.default, x, w, None, [s, s], [p, p], [d, d], False, [0, 0], 1)
        assert y.shape == (1, 8, expected, expected)


def test_convolution_declines_what_torch_decides():
    w = meta((4, 3, 3, 3))
    args = ([1, 1], [0, 0], [1, 1])
    assert declines(aten.convolution.default, meta((2, 3, 8, 8)), meta((3, 4, 3, 3)), None, *args, True, [0, 0], 1)
    cl = meta((2, 3, 8, 8)).to(memory_format=torch.channels_last)
    assert declines(aten.convolution.default, cl, w, None, *args, False, [0, 0], 1)
    assert declines(aten.convolution.default, meta((2, 1, 8, 8)), meta((4, 1, 3, 3)), None, *args, False, [0, 0], 1)



def test_convolution_refuses_what_the_cpu_refuses():
    w = meta((4, 3, 3, 3))
    args = ([1, 1], [0, 0], [1, 1])
    refuses(aten.convolution.default, meta((2, 3, 8, 8), torch.float16), w, None, *args, False, [0, 0], 1)
    refuses(aten.convolution.default, meta((2, 3, 2, 2)), w, None, *args, False, [0, 0], 1)  # empty output
    refuses(aten.convolution.default, meta((1, 2, 8, 8)), w, None, *args, False, [0, 0], 1)  # 2 channels, not 3
    refuses(aten.convolution.default, meta((1, 3, 8, 8)), w, None, *args, False, [0, 0], 2)  # 3 channels, 2 groups


# -- element ops and reductions -------------------------------------------------------------------------
scalars = st.one_of(st.integers(-3, 3), st.floats(-2, 2, allow_nan=False), st.booleans())


def _op(name):
    packet, overload = name.split(".")[1:]
    return getattr(getattr(aten, packet), overload)


@given(shapes(min_dims=0), dtypes, scalars)
def test_unary_and_scalar_ops(shape, dtype, scalar):
    x = meta(shape, dtype)
    for name in sorted(UNARY):
        assert fast(_op(name), x, *((scalar,) if "clamp" in name else ())).shape == shape
    fast(aten.gelu.default, x, approximate="tanh")
    fast(aten.leaky_relu.default, x, 0.2)
    for name in sorted(SCALAR_OPS):
        if name == "aten.sub.Scalar" and type(scalar) is bool:
            refuses(_op(name), x, scalar)  # the CPU kernel refuses to subtract a bool
            continue
        assert fast(_op(name), x, scalar).dtype == dtype  # a Python scalar does not promote a float tensor
    fast(aten.add.Scalar, x, scalar, alpha=2)


@pytest.mark.parametrize("dtype,scalar", [(torch.float32, 1j), (torch.int64, 2.5), (torch.int64, 3),
                                          (torch.float16, 2), (torch.bool, True)])
def test_scalar_ops_follow_torchs_type_promotion(dtype, scalar):
    # a complex scalar makes a float tensor complex, a float scalar an integer tensor float, and true division
    # of an integer tensor is a float: the fast kernel must decline or agree
    x = torch.empty((2, 3), dtype=dtype, device="meta")
    for name in sorted(SCALAR_OPS):
        if name == "aten.sub.Scalar" and dtype == torch.bool:
            continue  # torch refuses to subtract from a bool tensor
        out = meta_kernels.KERNELS[_op(name)](x, scalar)
        assert out is NotImplemented or describe(out) == describe(_op(name)(x, scalar)), name


@given(shapes(min_dims=1), dtypes, st.data())
def test_softmax(shape, dtype, data):
    x = meta(shape, dtype)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    assert fast(aten._softmax.default, x, dim, False).shape == shape
    assert fast(aten._safe_softmax.default, x, dim).shape == shape
    refuses(aten._softmax.default, x, dim, True)  # the CPU kernel never converts half to float
    assert declines(aten._safe_softmax.default, x, dim, torch.float64)
    refuses(aten._softmax.default, x, len(shape), False)  # a dim out of range
    refuses(aten._safe_softmax.default, x, -len(shape) - 1)


@given(shapes(min_dims=0), dtypes, scalars)
def test_binary_ops(shape, dtype, scalar):
    x, y = meta(shape, dtype), meta(shape, dtype)
    for name in BINARY:
        op = getattr(aten, name).Tensor
        assert fast(op, x, y).shape == shape
        if name == "sub" and type(scalar) is bool:
            refuses(op, x, scalar)  # the CPU kernel refuses to subtract a bool
            continue
        assert fast(op, x, scalar).dtype == dtype  # x * 2.0 reaches aten.mul.Tensor with a Python float
    fast(aten.add.Tensor, x, y, alpha=2)


def test_binary_ops_decline_promotion():
    x = meta((2, 3))
    assert declines(aten.mul.Tensor, x, meta((2, 3), torch.float64))
    assert declines(aten.mul.Tensor, x, torch.tensor(2.0))  # a CPU scalar tensor: torch's promotion
    assert declines(aten.mul.Tensor, x, 1j)
    refuses(aten.add.Tensor, x, meta((4,)))  # does not broadcast: the CPU kernel's error
    assert declines(aten.relu.default, meta((2, 3), torch.int64))
    refuses(aten.relu.default, meta((2, 3), torch.bool))


# Layouts an element op meets: fresh, permuted (attention heads, ConvNeXt's NHWC), sliced (an LSTM's gates,
# qkv chunks), channels-last; sizes drawn from 2 up unless a test asks for size-1 dims.
@st.composite
def layouts(draw, shape, dtype=torch.float32):
    n = len(shape)
    kind = draw(st.sampled_from(["fresh", "permuted", "sliced", "channels_last"]))
    if kind == "channels_last" and n == 4:
        return meta(shape, dtype).to(memory_format=torch.channels_last)
    order = draw(st.permutations(range(n))) if kind != "fresh" else list(range(n))
    extra = [0] * n
    if kind == "sliced" and n:
        extra[draw(st.integers(0, n - 1))] = draw(st.integers(1, 5))
    base = meta([shape[i] + extra[i] for i in order], dtype).permute([list(order).index(i) for i in range(n)])
    for d in range(n):
        if extra[d]:
            base = base.narrow(d, draw(st.integers(0, extra[d])), shape[d])
    return base


ORDERED_UNARY = ("aten.silu.default", "aten.sigmoid.default", "aten.tanh.default", "aten.leaky_relu.default",
                 "aten.rsqrt.default", "aten.sqrt.default", "aten.exp.default", "aten.neg.default",
                 "aten.erf.default")


@given(shapes(min_dims=1, max_dims=5, min_side=2), st.sampled_from((torch.float32, torch.float64)), st.data())
def test_element_ops_on_strided_inputs_follow_torchs_strides(shape, dtype, data):
    x = data.draw(layouts(shape, dtype))
    y = data.draw(layouts(shape, dtype))
    for name in sorted(UNARY):
        args = (x, 0.5) if "clamp" in name else (x,)
        assert fast(_op(name), *args).shape == shape
    fast(aten.clamp.default, x, -1.0, 1.0)
    fast(aten.pow.Tensor_Scalar, x, 2)
    for name in BINARY:
        fast(getattr(aten, name).Tensor, x, y)
        fast(getattr(aten, name).Tensor, x, 0.5)
        fast(getattr(aten, name).Scalar, x, 3)


@given(shapes(min_dims=2, max_dims=5, min_side=2), st.sampled_from((torch.float32, torch.float64)), st.data())
def test_a_leading_batch_of_one_in_front_of_a_permuted_tensor(shape, dtype, data):
    # attention's q * scale at batch 1: (1, heads, N, d) with the batch's stride the largest of all
    inner = data.draw(layouts(shape, dtype))
    span = max(n * st for n, st in zip(inner.shape, inner.stride()))
    x = torch.empty_strided((1, *shape), (span, *inner.stride()), dtype=dtype, device="meta")
    for name in ORDERED_UNARY + ("aten.mul.Scalar", "aten.add.Scalar"):
        args = (x, 0.5) if name.endswith("Scalar") else (x,)
        fast(_op(name), *args)
    fast(aten.mul.Tensor, x, meta(x.shape, dtype))


@given(shapes(min_dims=1, max_dims=5, min_side=1, max_side=4), st.data())
def test_broadcasting_fresh_tensors_gives_a_contiguous_output(shape, data):
    # a bias, a per-channel scale, squeeze-excitation's x * s (1, C, 1, 1: channels-last contiguous too)
    dtype = data.draw(dtypes)
    # (a 0-d tensor is left to torch: it takes part in type promotion only as a scalar would)
    other = [1 if data.draw(st.booleans()) else n for n in shape][data.draw(st.integers(0, len(shape) - 1)):]
    x, s = meta(shape, dtype), meta(other, dtype)
    for name in BINARY:
        assert fast(getattr(aten, name).Tensor, x, s).is_contiguous()
        assert fast(getattr(aten, name).Tensor, s, x).shape == shape
    for name in sorted(UNARY):
        fast(_op(name), s, *((0.5,) if "clamp" in name else ()))


def test_element_ops_decline_what_torch_orders_by_tie_breaks():
    # half types go through float32 in torch's references; size-1 and size-0 dims of a strided input are
    # placed by tie-breaks that differ between torch's kernels (checked: relu keeps this stride, gelu not)
    half = meta((3, 4), torch.float16).t()
    assert declines(aten.sigmoid.default, half)
    assert declines(aten.mul.Tensor, half, meta((4, 3), torch.float16))
    odd = torch.empty_strided((3, 1, 3), (3, 9, 1), device="meta")  # contiguous, a size-1 stride of 9
    assert declines(aten.relu.default, odd) and declines(aten.gelu.default, odd)
    assert declines(aten.sigmoid.default, meta((3, 2, 1)).permute(2, 0, 1))
    assert declines(aten.mul.Tensor, meta((0, 3)).t(), meta((3, 0)))
    assert describe(aten.relu.default(odd)) != describe(aten.gelu.default(odd))  # the disagreement is real


# -- in-place ops ---------------------------------------------------------------------------------------
@given(shapes(min_dims=1, max_dims=4, min_side=1), dtypes, st.data())
def test_inplace_ops_return_their_input(shape, dtype, data):
    x = data.draw(layouts(shape, dtype)) if min(shape) >= 1 else meta(shape, dtype)
    calls = [(name, (x, 0.5) if "clamp_m" in name else (x,)) for name in sorted(INPLACE - {
        "aten.clamp_.default", "aten.normal_.default", "aten.uniform_.default"})]
    calls += [("aten.clamp_.default", (x, -1.0, 1.0)), ("aten.clamp_.default", (x, None, 2)),
              ("aten.normal_.default", (x, 0.0, 0.02)), ("aten.uniform_.default", (x, -0.1, 0.1))]
    other = meta([1 if data.draw(st.booleans()) else n for n in shape][data.draw(st.integers(0, len(shape))):],
                 dtype)
    for name in BINARY:
        calls += [(f"aten.{name}_.Tensor", (x, other)), (f"aten.{name}_.Tensor", (x, 2))]
    for name, args in calls:
        op = _op(name)
        out = meta_kernels.KERNELS[op](*args)
        assert out is args[0], name
        assert op(*args) is args[0]  # torch's kernel accepts the call and returns self too


def test_inplace_ops_refuse_what_the_cpu_refuses():
    x = meta((2, 3))
    assert declines(aten.mul_.Tensor, x, meta((2, 3), torch.float64))  # the CPU kernel takes it: torch's
    refuses(aten.add_.Tensor, x, meta((4, 3)))  # would broadcast self
    refuses(aten.add_.Tensor, x, meta((2, 4)))
    refuses(aten.clamp_.default, x, None, None)
    refuses(aten.normal_.default, x, 0.0, -1.0)
    refuses(aten.uniform_.default, x, 1.0, 0.0)  # torch's meta kernel takes this one
    refuses(aten.mul_.Tensor, x, 1j)  # and this one
    refuses(aten.sigmoid_.default, torch.empty(3, dtype=torch.int64, device="meta"))
    expanded = meta((3,)).expand(2, 3)  # writes one element twice: torch's meta kernel takes it
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        meta_kernels.KERNELS[aten.sigmoid_.default](expanded)


@given(shapes(min_dims=1), dtypes, st.booleans(), st.data())
def test_mean_dim(shape, dtype, keepdim, data):
    x = meta(shape, dtype)
    n = len(shape)
    dims = data.draw(st.lists(st.integers(-n, n - 1), max_size=n, unique_by=lambda d: d % n))
    y = fast(aten.mean.dim, x, dims, keepdim)
    reduced = {d % n for d in dims} or set(range(n))  # no dims: all of them
    kept = [1 if i in reduced else s for i, s in enumerate(shape)] if keepdim else \
        [s for i, s in enumerate(shape) if i not in reduced]
    assert y.shape == tuple(kept)
    fast(aten.mean.dim, x, None, keepdim)
    assert declines(aten.mean.dim, x, dims, keepdim, dtype=torch.float64)


@given(st.integers(1, 5), st.integers(1, 4), dtypes, st.data())
def test_cat(ndim, pieces, dtype, data):
    # 4-d and 5-d pieces at least 2 wide everywhere: never also channels-last contiguous (torch's to decide)
    side = st.integers(2 if ndim >= 4 else 0, 4)
    shape = [data.draw(side) for _ in range(ndim)]
    dim = data.draw(st.integers(-ndim, ndim - 1))
    tensors = []
    for _ in range(pieces):
        s = list(shape)
        s[dim] = data.draw(side)
        tensors.append(meta(s, dtype))
    y = fast(aten.cat.default, tensors, dim)
    assert y.shape[dim % ndim] == sum(t.shape[dim] for t in tensors)


def test_cat_declines_and_refuses():
    x = meta((2, 3, 4, 4))
    assert declines(aten.cat.default, [x, x.to(memory_format=torch.channels_last)], 1)
    assert declines(aten.cat.default, [x, meta((2, 3, 4, 4), torch.float16)], 1)
    refuses(aten.cat.default, [x, meta((2, 3, 5, 4))], 1)  # sizes differ outside the cat dim
    refuses(aten.cat.default, [], 0)


# -- FastMeta: building a model on meta ----------------------------------------------------------------
def _vit():
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10)


def test_a_model_built_under_fast_meta_is_the_model_built_without(monkeypatch):
    monkeypatch.delenv("PROFILER_CHECK_META", raising=False)
    calls = []
    clamp = meta_kernels.KERNELS[aten.clamp_.default]

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return clamp(*args, **kwargs)

    monkeypatch.setitem(meta_kernels.KERNELS, aten.clamp_.default, spy)
    with torch.device("meta"):
        plain = _vit()
        with meta_kernels.FastMeta():
            fast_built = _vit()
    assert calls  # timm's trunc_normal_ went through the table
    describe_model = lambda m: [(k, describe(v)) for k, v in m.state_dict().items()]  # noqa: E731
    assert describe_model(fast_built) == describe_model(plain)
    a = profiler.profile(plain, input_size=(1, 3, 32, 32), device="meta")
    b = profiler.profile(fast_built, input_size=(1, 3, 32, 32), device="meta")
    assert (a.macs, a.params) == (b.macs, b.params) > (0, 0)


def test_fast_meta_leaves_real_tensors_to_torch():
    x = torch.zeros(3)
    with meta_kernels.FastMeta():
        y = x.clamp_(1.0, 2.0).add_(1.0).sigmoid()
    assert torch.equal(x, torch.full((3,), 2.0)) and y.device.type == "cpu"


def test_fast_meta_honours_the_switch(monkeypatch):
    monkeypatch.setitem(meta_kernels.KERNELS, aten.sigmoid.default, _wrong_relu)
    monkeypatch.setenv("PROFILER_CHECK_META", "1")
    with pytest.raises(AssertionError, match="disagrees"), meta_kernels.FastMeta():
        meta((2, 3)).sigmoid()


# -- the PROFILER_CHECK_META switch -------------------------------------------------------------------
def _wrong_relu(x):
    return torch.empty(1, device="meta")  # a broken shape function


def test_kernels_are_unchecked_without_the_switch(monkeypatch):
    monkeypatch.delenv("PROFILER_CHECK_META", raising=False)
    assert meta_kernels.kernels() is meta_kernels.KERNELS
    monkeypatch.setenv("PROFILER_CHECK_META", "0")
    assert meta_kernels.kernels() is meta_kernels.KERNELS


def test_the_switch_checks_every_kernel(monkeypatch):
    monkeypatch.setenv("PROFILER_CHECK_META", "1")
    checked = meta_kernels.kernels()
    assert checked.keys() == meta_kernels.KERNELS.keys()
    assert all(checked[op] is not fn for op, fn in meta_kernels.KERNELS.items())
    x = meta((2, 3, 8, 8))
    y = checked[aten.convolution.default](x, meta((4, 3, 3, 3)), None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
    assert y.shape == (2, 4, 8, 8)
    assert checked[aten.relu.default](meta((3, 2), torch.float16).t()) is NotImplemented  # a decline passes

    monkeypatch.setitem(meta_kernels.KERNELS, aten.relu.default, _wrong_relu)
    with pytest.raises(AssertionError, match="disagrees"):
        meta_kernels.kernels()[aten.relu.default](x)


def test_a_decline_does_not_run_torchs_kernel(monkeypatch):
    calls = []

    def op(*args):
        calls.append(args)

    monkeypatch.setitem(meta_kernels.KERNELS, op, lambda *args: NotImplemented)
    monkeypatch.setenv("PROFILER_CHECK_META", "1")
    assert meta_kernels.kernels()[op](meta((2,))) is NotImplemented
    assert not calls


def _model():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 36, 4))


def test_a_meta_pass_uses_the_fast_kernels(monkeypatch):
    monkeypatch.delenv("PROFILER_CHECK_META", raising=False)
    calls = []
    relu = meta_kernels.KERNELS[aten.relu.default]

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return relu(*args, **kwargs)

    monkeypatch.setitem(meta_kernels.KERNELS, aten.relu.default, spy)
    from profiler.core.engine import clear_caches

    clear_caches()  # the first call of a leaf signature in the process is the one checked against the shortcut
    meta_prof = profiler.profile(_model().eval(), input_size=(2, 3, 6, 6), device="meta")
    # the observed forward's call, and the meta shortcut's own for the same call (checked against it)
    assert calls == [(2, 8, 6, 6)] * 2
    cpu_prof = profiler.profile(_model().eval(), input_size=(2, 3, 6, 6), device="cpu")
    assert len(calls) == 2  # a real pass never uses them
    assert meta_prof.macs == cpu_prof.macs == 2 * 36 * 8 * 27 + 2 * 8 * 36 * 4


def test_a_meta_pass_under_the_switch_catches_a_wrong_kernel(monkeypatch):
    monkeypatch.setitem(meta_kernels.KERNELS, aten.relu.default, _wrong_relu)
    monkeypatch.setenv("PROFILER_CHECK_META", "1")
    with pytest.raises(profiler.ProfilingError, match="in module '2' \\(ReLU\\).*disagrees") as info:
        profiler.profile(_model().eval(), input_size=(2, 3, 6, 6), device="meta")
    assert isinstance(info.value.__cause__, AssertionError)


# -- grouped products: against torch's CPU kernel (torch's meta kernel refuses float32) -----------------------
GROUPED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _operand(draw, shape, dtype):
    """A CPU operand of ``shape``: contiguous, column-major in its last two dims, or row-major with a padded
    leading stride (a slice of a wider tensor)."""
    layout = draw(st.sampled_from(["row", "row", "col", "padded"]))
    if len(shape) < 2 or layout == "row":
        return torch.zeros(shape, dtype=dtype)
    if layout == "col":
        return torch.zeros((*shape[:-2], shape[-1], shape[-2]), dtype=dtype).transpose(-1, -2)
    pad = draw(st.integers(1, 4))
    return torch.zeros((*shape[:-1], shape[-1] + pad), dtype=dtype)[..., :shape[-1]]


@st.composite
def grouped_calls(draw):
    """Arguments of ``_grouped_mm`` on the CPU: mostly valid calls of the four modes (2-D/3-D operands),
    with drawn mistakes: other dtypes, ranks, sizes off the 16-byte alignment, a mismatched K or group count,
    offsets missing, of the wrong dtype or rank, a bias, an output dtype."""
    # one draw in twenty or so (not 0: hypothesis favours the simplest value)
    rare = lambda: draw(st.integers(0, 19)) == 10  # noqa: E731
    dtype = draw(st.sampled_from((torch.float32,) * 3 + GROUPED_DTYPES[1:]))
    align = 16 // dtype.itemsize  # elements in 16 bytes: the CPU kernel's stride unit
    size = st.sampled_from([align, 2 * align, 0, 1, 3, align + 2]) if rare() else \
        st.sampled_from([align, 2 * align, 0])
    a_dim, b_dim = draw(st.sampled_from([2, 3])), draw(st.sampled_from([2, 3]))
    if rare():
        a_dim = draw(st.sampled_from([1, 4]))
    g, m, k, n = draw(st.integers(0, 4)), draw(size), draw(size), draw(size)
    k_b = draw(size) if rare() else k
    dtype_b = draw(st.sampled_from(GROUPED_DTYPES + (torch.float64,))) if rare() else dtype
    if rare():
        dtype = draw(st.sampled_from([torch.float64, torch.int32]))
    a_shape = {1: (k,), 2: (m, k), 3: (g, m, k), 4: (1, g, m, k)}[a_dim]
    b_shape = (k_b, n) if b_dim == 2 else (g + 1 if rare() else g, k_b, n)
    a, b = _operand(draw, a_shape, dtype), _operand(draw, b_shape, dtype_b)
    # offsets: the group ends along the jagged dim (rows of a, columns of b, or the shared K)
    jagged = {(2, 3): m, (3, 2): n, (2, 2): min(k, k_b)}.get((a_dim, b_dim), 0)
    groups = draw(st.integers(0, 5)) if rare() else g
    ends = sorted(draw(st.lists(st.integers(0, jagged), min_size=groups, max_size=groups)))
    offs = torch.tensor(ends, dtype=torch.int32)
    mistake = draw(st.sampled_from(["missing", "int64", "2d", "bias", "out_dtype"])) if rare() else None
    kwargs = {}
    if (a_dim == 2 or b_dim == 2) != (mistake == "missing"):
        kwargs["offs"] = {"int64": offs.long(), "2d": offs[None]}.get(mistake, offs)
    if mistake == "bias":
        kwargs["bias"] = torch.zeros(n, dtype=dtype)
    if mistake == "out_dtype":
        kwargs["out_dtype"] = draw(st.sampled_from(GROUPED_DTYPES))
    return a, b, kwargs


def _on_meta(x):
    if isinstance(x, torch.Tensor):
        return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device="meta")
    return x


def _outcome(fn, *args, **kwargs):
    try:
        out = fn(*args, **kwargs)
    except RuntimeError:
        return "raises"
    assert out is not NotImplemented  # never left to torch's meta kernel, which refuses float32
    return describe(out)


def _same_as_cpu(a, b, kwargs):
    """The fast kernel on meta copies of the operands does what the CPU kernel does on them: the same
    output shape, strides and dtype, or both raise. Returns the CPU outcome."""
    expected = _outcome(aten._grouped_mm.default, a, b, **kwargs)
    meta_kwargs = {k: _on_meta(v) for k, v in kwargs.items()}
    got = _outcome(meta_kernels.KERNELS[aten._grouped_mm.default], _on_meta(a), _on_meta(b), **meta_kwargs)
    assert got == (expected if expected == "raises" else (*expected[:3], "meta"))
    return expected


@settings(max_examples=400, deadline=None)
@given(grouped_calls())
def test_grouped_mm_does_what_the_cpu_kernel_does(call):
    _same_as_cpu(*call)


@pytest.mark.parametrize("dtype", GROUPED_DTYPES)
def test_grouped_mm_the_moe_forward_in_every_dtype(dtype):
    # tokens (rows, K) by experts stored (G, N, K) and passed transposed, as transformers does
    x, w, offs = meta((10, 64), dtype), meta((4, 36, 64), dtype).transpose(-1, -2), meta((4,), torch.int32)
    y = meta_kernels.KERNELS[aten._grouped_mm.default](x, w, offs)
    align = 16 // x.element_size()  # the output's rows padded to 16 bytes, as the CPU kernel allocates them
    assert (tuple(y.shape), y.stride(), y.dtype) == ((10, 36), (-(-36 // align) * align, 1), dtype)


def test_grouped_mm_is_checked_against_the_cpu_kernel(monkeypatch):
    monkeypatch.setenv("PROFILER_CHECK_META", "1")
    checked = meta_kernels.kernels()[aten._grouped_mm.default]
    y = checked(meta((8, 4)), meta((3, 4, 8)), offs=meta((3,), torch.int32))  # torch's meta kernel refuses it
    assert tuple(y.shape) == (8, 8)
    monkeypatch.setitem(meta_kernels.KERNELS, aten._grouped_mm.default, lambda *a, **k: meta((8, 8)))
    with pytest.raises(AssertionError, match="disagrees"):  # a wrong shape: the CPU kernel gives (2, 5, 8)
        meta_kernels.kernels()[aten._grouped_mm.default](meta((2, 5, 4)), meta((2, 4, 8)))


@pytest.mark.parametrize("a,b,offs,runs", [
    ((8, 8), (2, 8, 8), 2, False),  # each group's mm refuses bf16 by float32
    ((8, 8), (8, 8), 3, False),
    ((8, 8), (0, 8, 8), 0, True),  # no group, no mm: the CPU kernel runs
    ((8, 8), (8, 8), 0, True),
    ((2, 8, 8), (2, 8, 8), None, False),  # bmm refuses it whatever the batch
    ((0, 8, 8), (0, 8, 8), None, False),
])
def test_grouped_mm_mixed_dtypes_as_the_cpu_kernel(a, b, offs, runs):
    kwargs = {} if offs is None else {"offs": torch.zeros(offs, dtype=torch.int32)}
    outcome = _same_as_cpu(torch.zeros(a, dtype=torch.bfloat16), torch.zeros(b), kwargs)
    assert (outcome != "raises") == runs
