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
padded or packed meta inputs have no values to read; the note says what was assumed. PreTrainedModel's
"padding but no attention mask?" warning runs its ops too, its read answered "no pad token".
"""
from __future__ import annotations

import contextlib
import functools
import sys
import threading

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

aten = torch.ops.aten

#: The functions of ``transformers.masking_utils`` whose value reads are answered (each reads masks or
#: position ids only, and ``True`` means "nothing padded, nothing packed" in every one).
CHECKS = ("find_packed_sequence_indices", "_ignore_causal_mask_sdpa", "_ignore_bidirectional_mask_sdpa",
          "_can_skip_bidirectional_mask_xpu", "flash_attention_mask", "create_recurrent_attention_mask")

NOTE = ("on meta, transformers' mask checks read no values: answered as a real pass of these inputs answers them "
        "(every token attended, one sequence per row: SDPA with is_causal, no packed-sequence mask); padded or packed "
        "inputs would take the masked path")


class _AllAttended(TorchDispatchMode):
    """Answers a boolean read of a meta tensor with ``answer`` (True: every token attended, one sequence per row);
    every other op goes on to the modes below."""

    def __init__(self, hits: list, answer: bool = True):
        super().__init__()
        self.hits = hits
        self.answer = answer

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is aten._local_scalar_dense.default and args[0].device.type == "meta" \
                and args[0].dtype == torch.bool:
            self.hits[0] += 1
            return self.answer
        return func(*args, **(kwargs or {}))


def _answering(fn, hits: list):
    owner = threading.get_ident()

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if threading.get_ident() != owner:  # the module's globals are the process's: other threads unchanged
            return fn(*args, **kwargs)
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
    # PreTrainedModel's "padding but no attention mask?" warning reads the token ids' values (it only warns)
    pretrained = getattr(sys.modules.get("transformers.modeling_utils"), "PreTrainedModel", None)
    warn = pretrained.__dict__.get("warn_if_padding_and_no_attention_mask") if pretrained is not None else None
    if warn is not None:
        owner = threading.get_ident()

        def no_value_reads(self, input_ids, attention_mask):
            # its ops run as on the CPU; "is a pad token there?" answered no (it would only log a warning)
            if threading.get_ident() == owner and getattr(input_ids, "device", None) is not None and \
                    input_ids.device.type == "meta":
                with _AllAttended([0], answer=False):
                    return warn(self, input_ids, attention_mask)
            return warn(self, input_ids, attention_mask)

        pretrained.warn_if_padding_and_no_attention_mask = no_value_reads
    try:
        yield hits
    finally:
        for space, key, value in replaced:
            space[key] = value
        if warn is not None:
            pretrained.warn_if_padding_and_no_attention_mask = warn


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
        # (plain attributes, read from __dict__: a missing one through Module.__getattr__ costs an exception)
        cfg = mod.__dict__.get("config") if "_is_expert_parallel" in mod.__dict__ else None
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


# -- scaled_dot_product_attention: the kernel the CPU would run ---------------------------------------------
_FLASH = 1  # torch's SDPBackend.FLASH_ATTENTION, what torch._fused_sdp_choice returns for the CPU's fused kernel


def _proxy(t: torch.Tensor, sizes: tuple) -> torch.Tensor:
    """A small CPU tensor like ``t`` for torch's backend choice: ``sizes`` and ``t``'s dtype, ``requires_grad``
    and whether its last dim is contiguous (the choice reads those, never the values or the lengths)."""
    if t.dim() and t.stride(-1) != 1 and t.shape[-1] > 1:
        p = torch.empty((*sizes[:-1], 2 * sizes[-1]), dtype=t.dtype)[..., ::2]
    else:
        p = torch.empty(sizes, dtype=t.dtype)
    return p.requires_grad_(t.requires_grad) if t.is_floating_point() else p


def cpu_sdpa_choice(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False) -> int:
    """What ``torch._fused_sdp_choice`` answers for these (meta) operands on the CPU. Sequence lengths are
    replaced by 1 (0 stays 0), the mask's last two dims by 1 where they fit the lengths: torch's CPU checks
    (dtypes, 4-D shapes, batch and heads, head dims, mask broadcasting, strides) read nothing else."""
    if any(t.dim() != 4 or 0 in t.shape[:2] for t in (q, k, v)):
        return 0  # the math path (torch's own choice divides by the heads, and crashes on none)

    def lengths(t):
        return (*t.shape[:-2], min(int(t.shape[-2]), 1), int(t.shape[-1]))

    args = [_proxy(t, lengths(t)) for t in (q, k, v)]
    mask = None
    if attn_mask is not None:
        lq, lk = int(q.shape[-2]), int(k.shape[-2])
        fit = lambda n, length: 1 if n in (1, length) else 2  # noqa: E731 - a misfit stays a misfit
        mask = _proxy(attn_mask, (*attn_mask.shape[:-2], fit(int(attn_mask.shape[-2]), lq),
                                  fit(int(attn_mask.shape[-1]), lk)) if attn_mask.dim() >= 2 else tuple(attn_mask.shape))
    return int(torch._fused_sdp_choice(*args, mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale,
                                        enable_gqa=enable_gqa))


def _cpu_sdpa_choice_unseen(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                            enable_gqa=False) -> int:
    """:func:`cpu_sdpa_choice` with every dispatch mode off: its stand-ins are the profiler's, not the model's
    (neither the observer nor a user's mode around the pass should see them). Remembered per signature: the
    answer depends only on what the stand-ins are built from, and a transformer asks the same question in
    every layer."""
    key = (_operand_key(q), _operand_key(k), _operand_key(v), None if attn_mask is None else _operand_key(attn_mask),
           dropout_p, is_causal, scale, enable_gqa)
    hit = _SDPA_CHOICES.get(key)
    if hit is None:
        with _disable_current_modes():
            hit = _SDPA_CHOICES[key] = cpu_sdpa_choice(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    return hit


def _operand_key(t: torch.Tensor) -> tuple:
    """All that :func:`_proxy` (and the rank test of :func:`cpu_sdpa_choice`) reads of an operand: its sizes, dtype,
    requires_grad and whether its last dim is strided."""
    return (tuple(t.shape), t.dtype, t.requires_grad, bool(t.dim() and t.stride(-1) != 1 and t.shape[-1] > 1))


#: (q, k, v, mask, dropout, causal, scale, gqa) signature -> torch's CPU backend choice, kept for the process.
_SDPA_CHOICES: dict[tuple, int] = {}


@contextlib.contextmanager
def sdpa_as_on_cpu():
    """For the duration of a meta pass: ``F.scaled_dot_product_attention`` on meta operands runs the kernel the
    CPU would pick for them. torch picks a backend per device, and for meta it always decomposes the math path
    (matrix products, softmax, mask ops), whereas the CPU runs its fused flash kernel whenever its checks allow:
    the same MACs, but other element and memory ops, and a backward that recomputes QK^T. Where the CPU would
    run the fused kernel, so does the meta pass: its boolean mask turned into an additive one as the CPU's
    dispatcher does (``where(mask, 0, -inf)``), then ``_scaled_dot_product_flash_attention_for_cpu``, whose
    autograd gives the fused backward."""
    import torch.nn.functional as F

    original = F.scaled_dot_product_attention
    owner = threading.get_ident()

    def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        plain = query.device.type != "meta" or threading.get_ident() != owner or query.is_nested
        # 3-D operands ((batch x heads, T, d)): the CPU runs them as one batch of 4-D ones, mask included
        three = not plain and query.dim() == 3 and key.dim() == 3 and value.dim() == 3
        q, k, v, mask = query, key, value, attn_mask
        if three:
            q, k, v = q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)
            while mask is not None and mask.dim() < 4:
                mask = mask.unsqueeze(0)
        if plain or q.dim() != 4 or \
                _cpu_sdpa_choice_unseen(q, k, v, mask, dropout_p, is_causal, scale, enable_gqa) != _FLASH:
            return original(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                            scale=scale, enable_gqa=enable_gqa)
        if mask is not None and mask.dtype == torch.bool:
            neg = torch.scalar_tensor(float("-inf"), dtype=q.dtype, device=q.device)
            zero = torch.scalar_tensor(0.0, dtype=q.dtype, device=q.device)
            mask = torch.where(mask, zero, neg)
        out = aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, dropout_p, is_causal, attn_mask=mask,
                                                               scale=scale)[0]
        return out.squeeze(0) if three else out

    F.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


class _AlsoMeta(str):
    """The privateuse1 backend's name, also equal to ``"meta"`` in one thread: the device lists torch's
    transformer fast paths build inline (``["cpu", "cuda", <privateuse1 name>]``) then take meta tensors."""

    __hash__ = str.__hash__

    def __new__(cls, name: str, owner: int):
        obj = super().__new__(cls, name)
        obj.owner = owner
        return obj

    def __eq__(self, other):
        if other == "meta" and threading.get_ident() == self.owner:
            return True
        return str.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)


@contextlib.contextmanager
def torch_attention_fast_paths():
    """For the duration of a meta pass: ``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` in
    inference take the fused kernels they take on the CPU (``_native_multi_head_attention``,
    ``_transformer_encoder_layer_fwd``: their meta kernels exist). Their fast-path checks accept CPU and CUDA
    tensors only, so on meta they ran the decomposed path: the same MACs, other element ops and rows."""
    from torch.nn.modules import activation
    from torch.utils import backend_registration

    owner = threading.get_ident()
    check = activation._check_arg_device
    name = backend_registration._privateuse1_backend_name

    def on_meta_too(x):
        return x is not None and x.device.type == "meta" and threading.get_ident() == owner or check(x)

    fused = torch._native_multi_head_attention

    def native_mha(*args, **kwargs):
        out, weights = fused(*args, **kwargs)
        # need_weights=False: the CPU kernel returns no weights (None), torch's fake kernel an empty tensor
        if weights is not None and weights.device.type == "meta" and weights.numel() == 0 and weights.dim() == 1:
            weights = None
        return out, weights

    activation._check_arg_device = on_meta_too
    backend_registration._privateuse1_backend_name = _AlsoMeta(name, owner)
    torch._native_multi_head_attention = native_mha
    try:
        yield
    finally:
        activation._check_arg_device = check
        backend_registration._privateuse1_backend_name = name
        torch._native_multi_head_attention = fused


_ONE_AT_A_TIME = threading.RLock()  # re-entrant: a model may profile a submodule inside its forward


@contextlib.contextmanager
def shapes_only(modules, cpu_attention: bool = True):
    """Every shim of this module for one meta pass over ``modules`` (the model's, each once): transformers'
    mask checks answered, experts loops run grouped and, with ``cpu_attention`` (the model would run on the
    CPU), attention on the CPU's kernel. Yields a list that holds, once the block is left, the notes the pass
    must carry (what was assumed or run instead). With ``cpu_attention``, torch's own attention modules also
    take their CPU fast paths."""
    notes: list[str] = []
    # The shims patch module globals and configs of the process: passes of several threads take turns (each
    # puts back what it found, so overlapping ones would leave a shim installed), and a shim answers only the
    # thread that installed it.
    with _ONE_AT_A_TIME, transformers_checks() as answered, data_independent_experts(modules) as (experts, was), \
            (sdpa_as_on_cpu() if cpu_attention else contextlib.nullcontext()), \
            (torch_attention_fast_paths() if cpu_attention else contextlib.nullcontext()):
        try:
            yield notes
        finally:
            if answered[0]:
                notes.append(NOTE)
            if experts:
                notes.append(EXPERTS_NOTE.format(n=len(experts), was=was or "eager"))
