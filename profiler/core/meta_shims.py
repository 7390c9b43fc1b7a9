"""Answers, on a shapes-only pass, to the value checks transformers makes before it picks a kernel.

A few functions of ``transformers.masking_utils`` read a tensor's values to choose between two paths that
compute the same result: "is every token attended?" (``padding_mask.all()``: then SDPA runs with
``is_causal`` instead of a materialised mask) and "are several sequences packed into one row?" (the position
ids restart: then the mask separates them). On meta those reads fail ("Tensor.item() cannot be called on meta
tensors"): with ``use_cache=False``, with gradient checkpointing, in the BART/T5/Whisper decoders.

Within those functions only, a meta boolean read answers ``True``: every token attended, one sequence per row.
That is what a real pass of the inputs the profiler makes finds (token ids without an attention mask, or a mask
of ones, positions 0..T-1), so the meta pass takes the very path, and runs the very ops, of that real pass (the
tracing path transformers takes under ``torch.compile`` would not: it materialises the mask). A user's own
padded or packed meta inputs have no values to read; the note says what was assumed.
"""
from __future__ import annotations

import contextlib
import functools
import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

#: The functions of ``transformers.masking_utils`` whose value reads are answered (each reads masks or
#: position ids only, and ``True`` means "nothing padded, nothing packed" in every one).
CHECKS = ("find_packed_sequence_indices", "_ignore_causal_mask_sdpa", "_ignore_bidirectional_mask_sdpa",
          "_can_skip_bidirectional_mask_xpu", "flash_attention_mask", "create_recurrent_attention_mask")

NOTE = ("on meta, transformers' mask checks read no values: answered as a real pass of these inputs answers them "
        "(every token attended, one sequence per row: SDPA with is_causal, no packed-sequence mask); padded or packed "
        "inputs would take the masked path")


class _AllAttended(TorchDispatchMode):
    """Answers a boolean read of a meta tensor with True; every other op goes on to the modes below."""

    def __init__(self, hits: list):
        super().__init__()
        self.hits = hits

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is aten._local_scalar_dense.default and args[0].device.type == "meta" \
                and args[0].dtype == torch.bool:
            self.hits[0] += 1
            return True
        return func(*args, **(kwargs or {}))


def _answering(fn, hits: list):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with _AllAttended(hits):
            return fn(*args, **kwargs)

    return run


@contextlib.contextmanager
def transformers_checks():
    """For the duration of a meta pass: the :data:`CHECKS` answer their value reads (see the module doc).
    Yields a one-element list counting the reads answered. Nothing is done unless transformers is already
    imported (a model of it can only exist then)."""
    hits = [0]
    masking = sys.modules.get("transformers.masking_utils")
    if masking is None:
        yield hits
        return
    originals = {getattr(masking, n) for n in CHECKS if callable(getattr(masking, n, None))}
    wrapped = {f: _answering(f, hits) for f in originals}
    replaced: list[tuple[dict, object, object]] = []
    # Model files import these by name, and the mask interface keeps them in its mapping: every reference in a
    # loaded transformers module (or the mapping) is swapped, and put back after.
    spaces = [vars(m) for name, m in list(sys.modules.items())
              if m is not None and (name == "transformers" or name.startswith("transformers."))]
    interface = getattr(masking, "ALL_MASK_ATTENTION_FUNCTIONS", None)
    mappings = []
    for attr in ("_global_mapping", "_local_mapping"):
        mapping = getattr(interface, attr, None)
        if isinstance(mapping, dict):
            mappings.append(mapping)
    # Modules bind them under their own names (a full scan of every module's names cost ~10 ms a pass).
    keyed = [(space, CHECKS) for space in spaces] + [(m, tuple(m)) for m in mappings]
    for space, keys in keyed:
        for key in keys:
            value = space.get(key)
            fn = wrapped.get(value) if callable(value) else None
            if fn is not None:
                space[key] = fn
                replaced.append((space, key, value))
    try:
        yield hits
    finally:
        for space, key, value in replaced:
            space[key] = value


EXPERTS_NOTE = ("on meta, {n} experts module(s) ran transformers' grouped_mm experts implementation instead of the "
                "model's {was!r} loop (which reads the routing values): the same MACs, every token's top-k expert "
                "rows counted from the shapes")


@contextlib.contextmanager
def data_independent_experts(modules):
    """For the duration of a meta pass: transformers' experts modules set to the ``eager`` loop (or to none)
    run its ``grouped_mm`` implementation instead. The loop visits the experts the router picked (``nonzero``,
    ``tolist``: values meta does not have); the grouped products take the same token-expert rows from the
    shapes, so the MACs are the loop's (tests check this against a real eager pass). Yields
    ``(modules switched, the implementation they had)``; the configs are put back after."""
    switched: list = []
    if "transformers" not in sys.modules:
        yield switched, None
        return
    configs: dict[int, tuple] = {}
    for mod in modules:
        # use_experts_implementation's classes: the experts forward reads config._experts_implementation
        cfg = getattr(mod, "config", None) if hasattr(mod, "_is_expert_parallel") else None
        if cfg is None or id(cfg) not in configs and \
                getattr(cfg, "_experts_implementation", "eager") not in (None, "eager"):
            continue
        switched.append(mod)
        if id(cfg) not in configs:
            configs[id(cfg)] = (cfg, cfg._experts_implementation_internal)
            cfg._experts_implementation_internal = "grouped_mm"
    try:
        yield switched, next(iter(configs.values()))[1] if configs else None
    finally:
        for cfg, was in configs.values():
            cfg._experts_implementation_internal = was
