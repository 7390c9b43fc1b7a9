"""Memory ops: 0 MACs; their count is the number of elements moved (copies, concatenation, shuffles,
padding, gathers, embedding lookups). Pure views and allocations are free and need no rule.
"""
from __future__ import annotations

import torch

from profiler.counters.elementwise import per_output
from profiler.counters.registry import numel, ops_named, register, register_free

per_output(
    "memory",
    "cat", "stack", "clone", "copy", "copy_", "_to_copy", "contiguous", "channel_shuffle",
    "native_channel_shuffle", "pixel_shuffle", "pixel_unshuffle", "constant_pad_nd", "reflection_pad1d",
    "reflection_pad2d", "reflection_pad3d", "replication_pad1d", "replication_pad2d", "replication_pad3d",
    "_pad_circular", "repeat", "repeat_interleave", "index_select", "gather", "index", "take", "embedding",
    "_embedding_bag", "embedding_bag", "flip", "roll", "tile", "masked_select", "masked_scatter", "masked_scatter_", "nonzero", "scatter",
    "scatter_", "im2col", "col2im", "tril", "triu", "_unsafe_index", "one_hot", "block_diag", "cat_",
    "unfold_copy", "select_scatter", "slice_scatter", "diagonal_scatter", "as_strided_scatter",
    "to_padded_tensor", "_nested_tensor_from_mask", "max_unpool2d", "max_unpool3d",
)

register_free(*ops_named(
    "view", "_unsafe_view", "reshape", "_reshape_alias", "t", "transpose", "transpose_", "permute", "expand",
    "expand_as", "squeeze", "squeeze_", "unsqueeze", "unsqueeze_", "select", "slice", "split",
    "split_with_sizes", "unsafe_split", "unsafe_split_with_sizes", "unbind", "chunk", "unsafe_chunk",
    "as_strided", "as_strided_", "detach", "detach_", "alias", "lift_fresh", "lift_fresh_copy", "lift", "empty", "empty_like",
    "empty_strided", "new_empty", "new_empty_strided", "zeros", "zeros_like", "new_zeros", "ones",
    "ones_like", "new_ones", "full", "full_like", "new_full", "arange", "linspace", "logspace", "rand",
    "rand_like", "randn", "randn_like", "randint", "randint_like", "randperm", "normal_", "uniform_",
    "bernoulli_", "bernoulli", "fill_", "zero_", "scalar_tensor", "_local_scalar_dense", "item", "sym_size",
    "sym_stride", "sym_numel", "sym_storage_offset", "is_same_size", "diagonal", "narrow", "unfold",
    "movedim", "view_as_real", "view_as_complex", "resize_", "resize_as_", "set_", "_assert_async",
    "_assert_scalar", "_has_compatible_shallow_copy_type", "eye", "tensor", "_fused_sdp_choice",
    "view_as", "flatten", "unflatten", "numpy_T", "mT", "mH", "adjoint", "swapaxes", "swapdims",
    "_to_dense", "record_stream", "is_nonzero", "_is_all_true", "_is_any_true", "equal", "dim", "size",
    "stride", "_conj", "conj", "resolve_conj", "resolve_neg", "_neg_view", "result_type", "_unsafe_view_copy",
    "_functional_assert_async", "_print", "_make_dep_token", "empty_permuted", "split_copy",
    "_nested_tensor_from_mask_left_aligned", "_nested_tensor_size", "_nested_tensor_strides",
    "_nested_tensor_storage_offsets", "_nested_get_values", "_nested_view_from_buffer",
))
# A tensor's device, asked of the dispatcher only under a fake-tensor mode (a simulated rank's pass): metadata.
register_free(*(op for op in (getattr(torch.ops.prim, "device", None),) if op is not None))


# copy_ over lists of tensors (FSDP2 casts the sharded parameters to its mixed-precision param_dtype with it): the
# elements written, as copy_'s.
@register(*ops_named("_foreach_copy_", "_foreach_copy"))
def _foreach_copy(self, src, non_blocking=False, out=None, **kwargs):
    return {"memory": sum(numel(s) for s in self)}


# FSDP2's copy-in / copy-out ops (torch.distributed.fsdp, library "fsdp"): memory moves around its collectives,
# counted as the elements they copy. all_gather_copy_in(inputs[], output, split_sizes, input_numel, rank) copies
# this rank's padded shards into its slot of the all-gather buffer; split_with_sizes_copy(all_gather_output,
# sizes, dim, *, out[]) copies the whole gathered buffer out into the unsharded parameters; chunk_cat(tensors[],
# dim, num_chunks, *, out) copies the gradients into the (padded) reduce-scatter input.
@register("fsdp::all_gather_copy_in")
def _fsdp_all_gather_copy_in(inputs, output, split_sizes, input_numel, rank, out=None, **kwargs):
    return {"memory": int(input_numel)}


@register("fsdp::split_with_sizes_copy")
def _fsdp_split_with_sizes_copy(output, sizes, dim=0, out=None, **kwargs):
    return {"memory": numel(output)}


@register("fsdp::chunk_cat")
def _fsdp_chunk_cat(tensors, dim, num_chunks, out=None, **kwargs):
    return {"memory": sum(numel(t) for t in tensors)}
