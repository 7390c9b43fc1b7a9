"""Normalisation rules: one operation per input element (batch, layer, group, instance, RMS norm).

Peers weight these differently (1 or 2 ops per element, affine or not); conventions apply that weight.
"""
from __future__ import annotations

from profiler.counters.elementwise import per_input
from profiler.counters.registry import numel, ops_named, register

per_input(
    "norm",
    "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit_functional", "_batch_norm_with_update", "_batch_norm_with_update_functional",
    "_batch_norm_no_update", "batch_norm", "native_layer_norm", "layer_norm", "native_group_norm",
    "group_norm", "_fused_rms_norm", "rms_norm", "instance_norm", "_weight_norm_interface",
)



@register(*ops_named("embedding_renorm_"))
def embedding_renorm(weight, indices, *rest, out=None, **kwargs):
    """nn.Embedding(max_norm=...): the looked-up rows are measured and rescaled in place."""
    return {"norm": numel(indices) * int(weight[-1])}
