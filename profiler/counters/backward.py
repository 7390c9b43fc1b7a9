"""Rules of the kernels autograd runs in a backward pass, and of the optimizers' element ops.

Each is costed by what the kernel computes, like the forward rules:
- ``convolution_backward``: by its output mask, the input gradient (a transposed convolution of the output
  gradient: the forward's MACs) and the weight gradient (every (output position, weight) pair once: the
  forward's MACs again) apart; the bias gradient is one addition per output-gradient element;
- fused attention backward kernels (flash / memory-efficient, CPU and CUDA): dQ, dK, dV and dP are four
  products of the forward's size, and these kernels recompute the scores QK^T (the forward stores only the
  log-sum-exp), so five attention-sized products in all, the fifth named in :data:`RECOMPUTING`;
- norm, activation, pooling, dropout, loss and embedding gradients: element ops, one per gradient element.
Matrix products (mm, bmm, addmm ...) are the forward's rules: autograd calls the same kernels; so is
``_grouped_mm``, whose gradients are grouped products in its other modes (see :mod:`profiler.counters.moe`).
"""
from __future__ import annotations

import torch

from profiler.counters.conv import conv_macs
from profiler.counters.elementwise import first_shape, per_input, per_output
from profiler.counters.registry import numel, ops_named, register, register_free

#: Backward kernels that recompute part of the forward (named in a profile's notes when met).
RECOMPUTING = {
    "aten._scaled_dot_product_flash_attention_for_cpu_backward": "recomputes the scores QK^T",
    "aten._scaled_dot_product_flash_attention_backward": "recomputes the scores QK^T",
    "aten._scaled_dot_product_efficient_attention_backward": "recomputes the scores QK^T",
    "aten._scaled_dot_product_cudnn_attention_backward": "recomputes the scores QK^T",
    "aten._flash_attention_backward": "recomputes the scores QK^T",
    "aten._efficient_attention_backward": "recomputes the scores QK^T",
}


# (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups,
#  output_mask) -> (grad_input, grad_weight, grad_bias)
@register(*ops_named("convolution_backward"))
def convolution_backward(grad_out, x, w, bias_sizes=None, stride=None, padding=None, dilation=None,
                         transposed=False, output_padding=None, groups=1, output_mask=(True, True, True),
                         out=None, **kwargs):
    mask = list(output_mask) + [False] * (3 - len(output_mask))
    one = conv_macs(x, w, grad_out, bool(transposed))  # the forward's MACs
    counts = {"conv": one * (int(bool(mask[0])) + int(bool(mask[1])))}
    if mask[2]:
        counts["bias"] = numel(grad_out)
    return counts


def _attention_backward(grad_out, q, k, v, *rest, out=None, **kwargs):
    # For q (..., L, E), k (..., S, E), v (..., S, Ev): QK^T recomputed, dQ = dS K and dK = dS^T Q cost
    # L*S*E each; dP = dO V^T and dV = P^T dO cost L*S*Ev each. The softmax gradient: one op per score.
    batch, length, s = numel(q[:-2]), int(q[-2]), int(k[-2])
    e, ev = int(q[-1]), int(v[-1])
    return {"attention": batch * length * s * (3 * e + 2 * ev), "activation": batch * length * s}


register(*ops_named("_scaled_dot_product_flash_attention_for_cpu_backward",
                    "_scaled_dot_product_flash_attention_backward",
                    "_scaled_dot_product_efficient_attention_backward",
                    "_scaled_dot_product_cudnn_attention_backward",
                    "_flash_attention_backward", "_efficient_attention_backward"))(_attention_backward)


@register(*ops_named("mkldnn_rnn_layer_backward"))
def mkldnn_rnn_layer_backward(x, w_ih, w_hh, b_ih, b_hh, hx, cx, output, hy, cy, grad_output, grad_hy, grad_cy,
                              reverse, mode, hidden_size, *rest, out=None, **kwargs):
    """oneDNN's fused backward of one RNN/LSTM/GRU layer: it computes the input, hidden-state and weight
    gradients for every step whatever needs them: twice the forward layer's products (the recurrent
    category), its gate gradients as element ops."""
    steps_x_batch = numel(x[:-1])
    products = steps_x_batch * (numel(w_ih) + numel(w_hh))
    gates = {0: 1, 1: 1, 2: 4, 3: 3}.get(int(mode), 1)
    return {"recurrent": 2 * products, "elementwise": steps_x_batch * int(hidden_size) * gates}


def _grad_of_first(category: str, *names: str):
    """One ``category`` op per element of the incoming gradient (the first argument)."""
    per_input(category, *names)


per_output(
    "activation",
    "threshold_backward", "gelu_backward", "silu_backward", "sigmoid_backward", "tanh_backward",
    "hardswish_backward", "hardsigmoid_backward", "leaky_relu_backward", "elu_backward", "softplus_backward",
    "hardtanh_backward", "mish_backward", "log_sigmoid_backward", "_softmax_backward_data",
    "_log_softmax_backward_data", "glu_backward", "rrelu_with_noise_backward", "_prelu_kernel_backward",
)
_grad_of_first(
    "norm",
    "native_batch_norm_backward", "_native_batch_norm_legit_backward", "batch_norm_backward",
    "native_layer_norm_backward", "native_group_norm_backward", "_fused_rms_norm_backward",
    "cudnn_batch_norm_backward", "miopen_batch_norm_backward",
)
per_output(
    "pooling",
    "max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward", "avg_pool2d_backward",
    "avg_pool3d_backward", "_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward",
    "adaptive_max_pool2d_backward", "adaptive_max_pool3d_backward", "max_pool2d_backward",
)
per_output(
    "elementwise",
    "native_dropout_backward", "logit_backward", "nll_loss_backward", "nll_loss2d_backward", "mse_loss_backward",
    "binary_cross_entropy_backward", "smooth_l1_loss_backward", "huber_loss_backward",
    "soft_margin_loss_backward", "upsample_nearest1d_backward", "upsample_nearest2d_backward",
    "upsample_nearest3d_backward", "upsample_bilinear2d_backward", "upsample_linear1d_backward",
    "upsample_bicubic2d_backward", "upsample_trilinear3d_backward", "_upsample_nearest_exact2d_backward",
    "grid_sampler_2d_backward", "masked_scatter_backward", "index_select_backward", "select_backward",
    "slice_backward", "diagonal_backward", "unfold_backward", "trace_backward",
)
_grad_of_first("elementwise", "embedding_dense_backward", "embedding_backward", "_embedding_bag_backward",
               "_embedding_bag_dense_backward")


# -- optimizers ---------------------------------------------------------------------------------------------
def _foreach(*args, out=None, **kwargs):
    """A ``_foreach_*`` op over a list of tensors: one element op per element of the first list."""
    first = args[0] if args else ()
    if isinstance(first, (list, tuple)) and first and not isinstance(first[0], int):
        return {"elementwise": sum(numel(s) for s in first)}
    return {"elementwise": numel(first_shape(out))}


register(*ops_named(
    "_foreach_add", "_foreach_add_", "_foreach_sub", "_foreach_sub_", "_foreach_mul", "_foreach_mul_",
    "_foreach_div", "_foreach_div_", "_foreach_addcmul", "_foreach_addcmul_", "_foreach_addcdiv",
    "_foreach_addcdiv_", "_foreach_sqrt", "_foreach_sqrt_", "_foreach_lerp", "_foreach_lerp_",
    "_foreach_neg", "_foreach_neg_", "_foreach_maximum", "_foreach_maximum_", "_foreach_pow", "_foreach_pow_",
    "_foreach_reciprocal", "_foreach_reciprocal_", "_foreach_sign", "_foreach_sign_", "_foreach_abs",
    "_foreach_norm", "_foreach_clamp_min_", "_foreach_clamp_max_", "_foreach_exp",
))(_foreach)


# torch.profiler.record_function markers that optimizers' step() emits: no arithmetic.
register_free(*(getattr(torch.ops.profiler, n) for n in ("_record_function_enter", "_record_function_enter_new",
                                                          "_record_function_exit")
                if hasattr(torch.ops.profiler, n)))
