"""Normalisation rules: one operation per input element (batch, layer, group, instance, RMS norm).

Peers weight these differently (1 to 5 ops per element, by whether the call has an affine weight and
whether it computes its statistics from the input), and they decide from the *call's arguments*: a
functional ``F.batch_norm(x, rm, rv, weight, bias)`` is affine, ``F.batch_norm(..., training=True)`` computes
batch statistics, ``F.instance_norm`` reaches the dispatcher as a training-mode batch norm. So besides its
``norm`` count a norm rule reports two sub-counts of it, the input elements of the calls with each property:

- :data:`AFFINE` (``"norm.affine"``): the call was given a weight (scale) tensor;
- :data:`INPUT_STATS` (``"norm.input_stats"``): the mean/variance are computed from this input (layer, group,
  instance and RMS norm always; batch norm in training mode or without running statistics), not read
  from stored running statistics (batch norm in eval mode).

Sub-counts are not categories (:data:`profiler.counters.CATEGORIES`): they are already inside ``norm``, a
category weighting gives them weight 0, and only conventions that tell the cases apart price them.
"""
from __future__ import annotations

from profiler.counters.elementwise import per_input
from profiler.counters.registry import numel, ops_named, register

AFFINE = "norm.affine"
INPUT_STATS = "norm.input_stats"
#: Keys a rule may return besides the categories: sub-counts of a category (see the module docstring).
SUBCOUNTS = (AFFINE, INPUT_STATS)


def _counts(x, weight, input_stats: bool) -> dict[str, int]:
    n = numel(x) if not isinstance(x, (int, float)) else 1
    counts = {"norm": n}
    if weight is not None:
        counts[AFFINE] = n
    if input_stats:
        counts[INPUT_STATS] = n
    return counts


def _first_bool(rest, kwargs, key):
    if key in kwargs:
        return bool(kwargs[key])
    return next((bool(a) for a in rest if isinstance(a, bool)), False)


# (input, weight, bias, [running_mean, running_var,] training, momentum, eps ...): the flag decides.
@register(*ops_named("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
                     "batch_norm"))
def batch_norm(x, weight=None, bias=None, *rest, out=None, **kwargs):
    return _counts(x, weight, _first_bool(rest, kwargs, "training"))


@register(*ops_named("_batch_norm_with_update", "_batch_norm_with_update_functional"))
def batch_norm_with_update(x, weight=None, bias=None, *rest, out=None, **kwargs):
    """The training-mode entry point: batch statistics, running statistics updated."""
    return _counts(x, weight, True)


@register(*ops_named("_native_batch_norm_legit_no_training"))
def batch_norm_no_training(x, weight=None, bias=None, *rest, out=None, **kwargs):
    return _counts(x, weight, False)


@register(*ops_named("_batch_norm_no_update"))
def batch_norm_no_update(x, weight=None, bias=None, running_mean=None, *rest, out=None, **kwargs):
    """Eval-mode entry point: stored statistics, or batch statistics when there are none."""
    return _counts(x, weight, running_mean is None and kwargs.get("running_mean") is None)


# (input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn_enabled)
@register(*ops_named("instance_norm"))
def instance_norm(x, weight=None, bias=None, *rest, out=None, **kwargs):
    return _counts(x, weight, _first_bool(rest, kwargs, "use_input_stats"))


# Statistics always from the input; the weight is the second argument (native_group_norm) or the third.
@register(*ops_named("native_group_norm"))
def native_group_norm(x, weight=None, *rest, out=None, **kwargs):
    return _counts(x, weight, True)


@register(*ops_named("group_norm", "native_layer_norm", "layer_norm", "rms_norm", "_fused_rms_norm"))
def weight_third(x, shape_or_groups=None, weight=None, *rest, out=None, **kwargs):
    return _counts(x, kwargs.get("weight", weight), True)


per_input("norm", "_weight_norm_interface")


@register(*ops_named("embedding_renorm_"))
def embedding_renorm(weight, indices, *rest, out=None, **kwargs):
    """nn.Embedding(max_norm=...): the looked-up rows are measured and rescaled in place."""
    return {"norm": numel(indices) * int(weight[-1])}
