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

A meta pass that fails for want of values (a router's ``nonzero``/``.tolist()``/``unique``, a boolean mask, a
``.item()``) runs again under :func:`routing_values`: the values that follow from the shapes and the inputs are
worked out on the side (factories, integer inputs, ops of known operands), a top-k/argmax/sort over values meta does
not have takes balanced round-robin indices (the count of a top-k is fixed by k; which expert gets which row is
assumed), and the reads are answered from them. A yes/no read of assumed values (a decoding loop's early exit) is
still refused: the pass then falls back as before. Every assumption is stated in a note.
"""
from __future__ import annotations

import contextlib
import functools
import re
import sys
import threading

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils._pytree import tree_flatten, tree_map

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
    # the backends enabled too (torch.backends.cuda.enable_flash_sdp ...): the CPU's choice reads them
    key = (_operand_key(q), _operand_key(k), _operand_key(v), None if attn_mask is None else _operand_key(attn_mask),
           dropout_p, is_causal, scale, enable_gqa, torch._C._get_flash_sdp_enabled(), torch._C._get_math_sdp_enabled())
    hit = _SDPA_CHOICES.get(key)
    if hit is None:
        with _disable_current_modes():
            hit = _SDPA_CHOICES[key] = cpu_sdpa_choice(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    return hit


def _operand_key(t: torch.Tensor) -> tuple:
    """All that :func:`_proxy` (and the rank test of :func:`cpu_sdpa_choice`) reads of an operand: its sizes, dtype,
    requires_grad and whether its last dim is strided."""
    return (tuple(t.shape), t.dtype, t.requires_grad, bool(t.dim() and t.stride(-1) != 1 and t.shape[-1] > 1))


#: (q, k, v, mask, dropout, causal, scale, gqa, flash and math enabled) -> torch's CPU backend choice, for the process.
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


def _mkldnn_dtype_ok(x: torch.Tensor) -> bool:
    """ATen's ``use_mkldnn`` dtype test (aten/src/ATen/native/RNN.cpp) for an LSTM input."""
    if x.dtype == torch.float32:
        return True
    if x.dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if x.dtype == torch.float16:
        return not torch.is_grad_enabled() and bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    return False


def _lstm_mkldnn(input, hx, params, has_biases, num_layers, dropout_p, train, bidirectional, batch_first):
    """ATen's ``mkldnn_rnn`` (aten/src/ATen/native/mkldnn/RNN.cpp), op for op: the input made time-major and
    contiguous, one ``mkldnn_rnn_layer`` per layer and direction (zeros for the biases when there are none, the
    second one made first, as C++ evaluates the arguments), the directions' outputs concatenated, the final
    states stacked."""
    x = input.transpose(0, 1) if batch_first else input
    x = x.contiguous()
    h, c = hx[0].contiguous(), hx[1].contiguous()
    hidden = h.size(2)
    stride = 4 if has_biases else 2
    directions = 2 if bidirectional else 1
    hy, cy = [], []
    for layer in range(num_layers):
        outs = []
        for direction in range(directions):
            index = layer * directions + direction
            w = params[index * stride:(index + 1) * stride]
            layer_h, layer_c = h[index], c[index]
            if has_biases:
                b0, b1 = w[2], w[3]
            else:
                b1 = torch.zeros(w[1].shape, dtype=w[1].dtype, layout=torch.strided, device=w[1].device)
                b0 = torch.zeros(w[0].shape, dtype=w[0].dtype, layout=torch.strided, device=w[0].device)
            out, layer_hy, layer_cy, _ = aten.mkldnn_rnn_layer(
                x, w[0], w[1], b0, b1, layer_h, layer_c, direction > 0, [], 2, hidden, num_layers, has_biases,
                bidirectional, batch_first, train)
            outs.append(out)
            hy.append(layer_hy)
            cy.append(layer_cy)
        x = outs[0] if directions == 1 else torch.cat(outs, -1)
        if dropout_p != 0 and train and layer < num_layers - 1:
            x = torch.dropout(x, dropout_p, True)
    hy, cy = torch.stack(hy, 0), torch.stack(cy, 0)
    return (x.transpose(0, 1) if batch_first else x), hy, cy


@contextlib.contextmanager
def lstm_as_on_cpu():
    """For the duration of a meta pass: ``nn.LSTM`` (``torch._VF.lstm``) takes the path it takes on the CPU.
    There ``at::lstm`` hands a float input (bfloat16 / half where oneDNN supports them) of a layer without
    projections to oneDNN: one ``mkldnn_rnn_layer`` per layer and direction; on meta ATen's
    ``use_mkldnn`` refuses a non-CPU tensor and the generic decomposition runs (addmm, sigmoid, tanh per step,
    the steps' outputs stacked): the same MACs, other element ops and bytes. In a pass that records gradients
    the generic path stays: oneDNN's training workspace has a size meta cannot tell. Where the CPU too takes
    the generic path (projections, a dtype oneDNN refuses, oneDNN off, a packed sequence) it runs as on the CPU
    (:func:`_lstm_generic`: the input projected once per layer and direction, not per step)."""
    from torch import _VF
    owner = threading.get_ident()
    had = "lstm" in vars(_VF)
    lstm = _VF.lstm

    def shim(input, *args):
        call = _rnn_call_on_meta(owner, input, args, lstm=True)
        if call == "packed":  # oneDNN never takes a packed sequence
            return _lstm_generic(input, *args[1:], sizes=_steps(args[0]))
        if call == "padded":
            hx = args[0]
            onednn = torch.backends.mkldnn.is_available() and torch._C._get_mkldnn_enabled() and \
                _mkldnn_dtype_ok(input) and hx[0].size(2) == hx[1].size(2)
            if not onednn:  # projections, or a dtype oneDNN refuses: the CPU's generic path
                return _lstm_generic(input, *args)
            if not torch.is_grad_enabled():
                return _lstm_mkldnn(input, *args)
        return lstm(input, *args)

    _VF.lstm = shim
    try:
        yield
    finally:
        if had:
            _VF.lstm = lstm
        else:
            del _VF.lstm


def _gather(params, has_biases: bool, projections: bool) -> list:
    """ATen's ``gather_params``: per layer and direction ``(w_ih, w_hh, b_ih, b_hh, w_hr)``, None where absent."""
    stride = (4 if has_biases else 2) + (1 if projections else 0)
    out = []
    for i in range(0, len(params), stride):
        w = list(params[i:i + stride])
        w_hr = w.pop() if projections else None
        b_ih, b_hh = (w[2], w[3]) if has_biases else (None, None)
        out.append((w[0], w[1], b_ih, b_hh, w_hr))
    return out


def _gru_cell(x_w, h, p):
    """ATen's ``GRUCell`` with its input already projected (``pre_compute_input``), op for op."""
    ig = x_w.unsafe_chunk(3, 1)
    hg = torch.nn.functional.linear(h, p[1], p[3]).unsafe_chunk(3, 1)
    reset = hg[0].add_(ig[0]).sigmoid_()
    update = hg[1].add_(ig[1]).sigmoid_()
    new = ig[2].add(hg[2].mul_(reset)).tanh_()
    return (h - new).mul_(update).add_(new)


def _simple_cell(nonlinearity):
    """ATen's ``SimpleCell`` (``rnn_tanh``, ``rnn_relu``) with its input already projected."""
    def cell(x_w, h, p):
        return nonlinearity(torch.nn.functional.linear(h, p[1], p[3]).add_(x_w))
    return cell


def _lstm_cell(x_w, state, p):
    """ATen's CPU ``LSTMCell`` with its input already projected, the projection ``w_hr`` applied if any."""
    hx, cx = state
    gates = torch.nn.functional.linear(hx, p[1], p[3]).add_(x_w).unsafe_chunk(4, 1)
    i, f, g, o = gates[0].sigmoid_(), gates[1].sigmoid_(), gates[2].tanh_(), gates[3].sigmoid_()
    cy = (f * cx).add_(i * g)
    hy = o * cy.tanh()
    return (hy if p[4] is None else torch.matmul(hy, p[4].t())), cy


def _full_layer(cell, x, hidden, p, reverse: bool = False):
    """One direction of ATen's ``FullLayer`` as the CPU runs it: the whole sequence's input projected in one
    linear, then the cell per step. Returns (the steps' outputs stacked, the final hidden state)."""
    steps = torch.nn.functional.linear(x, p[0], p[2]).unbind(0)
    outs = []
    for step in (reversed(steps) if reverse else steps):
        hidden = cell(step, hidden, p)
        outs.append(_output(hidden))
    if reverse:
        outs.reverse()
    return torch.stack(outs, 0), hidden


def _output(hidden):
    """ATen's ``hidden_as_output``: an LSTM's h, the others' state itself."""
    return hidden[0] if isinstance(hidden, tuple) else hidden


def _hidden_slice(hidden, start: int, stop: int):
    """ATen's ``hidden_slice``: rows ``start:stop`` of a state (of both of an LSTM's)."""
    if isinstance(hidden, tuple):  # C++ evaluates make_tuple's arguments last first
        c = hidden[1].narrow(0, start, stop - start)
        return hidden[0].narrow(0, start, stop - start), c
    return hidden.narrow(0, start, stop - start)


def _hidden_concat(hiddens: list):
    """ATen's ``hidden_concat``: the states' rows concatenated (an LSTM's h and c apart)."""
    if isinstance(hiddens[0], tuple):  # c first, as C++ evaluates make_tuple's arguments
        c = torch.cat([c for _, c in hiddens], 0)
        return torch.cat([h for h, _ in hiddens], 0), c
    return torch.cat(hiddens, 0)


def _packed_layer(cell, data, sizes: list, hidden, p):
    """ATen's ``PackedLayer`` as the CPU runs it: the packed rows projected in one linear, then per step the
    rows of the ``sizes[t]`` sequences still running, the states of those that ended set aside. Returns (the
    steps' outputs concatenated, the final states in batch order)."""
    x_w = torch.nn.functional.linear(data, p[0], p[2])
    outs, ended, offset, last = [], [], 0, sizes[0]
    for size in sizes:
        step = x_w.narrow(0, offset, size)
        offset += size
        if size < last:
            ended.append(_hidden_slice(hidden, size, last))
            hidden = _hidden_slice(hidden, 0, size)
        last = size
        hidden = cell(step, hidden, p)
        outs.append(_output(hidden))
    ended.append(hidden)
    ended.reverse()
    return torch.cat(outs, 0), _hidden_concat(ended)


def _reversed_packed_layer(cell, data, sizes: list, hidden, p):
    """ATen's ``ReversedPackedLayer`` as the CPU runs it: the packed rows projected in one linear, the steps
    from the last, each sequence's initial state joining when its last step comes."""
    x_w = torch.nn.functional.linear(data, p[0], p[2])
    outs, offset, last = [], data.size(0), sizes[-1]
    state = _hidden_slice(hidden, 0, last)
    for size in reversed(sizes):
        if size > last:
            state = _hidden_concat([state, _hidden_slice(hidden, last, size)])
        step = x_w.narrow(0, offset - size, size)
        offset -= size
        last = size
        state = cell(step, state, p)
        outs.append(_output(state))
    outs.reverse()
    return torch.cat(outs, 0), state


def _layer(cell, x, sizes, hidden, p, reverse: bool):
    """One direction of one layer: a padded (``sizes`` None) or a packed sequence."""
    if sizes is None:
        return _full_layer(cell, x, hidden, p, reverse)
    return (_reversed_packed_layer if reverse else _packed_layer)(cell, x, sizes, hidden, p)


def _generic_rnn(cell, x, hiddens, params, num_layers, dropout_p, train, bidirectional, sizes=None):
    """ATen's ``_rnn_impl`` for a CPU input: over ``FullLayer`` of a time-major ``x``, or, given the batch
    ``sizes`` of each step, over ``PackedLayer`` of a packed sequence's rows ``x``. Returns (the last layer's
    output, every layer's and direction's final hidden state)."""
    directions = 2 if bidirectional else 1
    finals = []
    for layer in range(num_layers):
        outs = []
        for d in range(directions):
            i = layer * directions + d
            out, final = _layer(cell, x, sizes, hiddens[i], params[i], reverse=d > 0)
            outs.append(out)
            finals.append(final)
        x = outs[0] if directions == 1 else torch.cat(outs, -1 if sizes else outs[0].dim() - 1)
        if dropout_p != 0 and train and layer < num_layers - 1:
            x = torch.dropout(x, dropout_p, True)
    return x, finals


def _one_hidden_rnn(cell, input, hx, params, has_biases, num_layers, dropout_p, train, bidirectional,
                    batch_first=False, sizes=None):
    """ATen's ``gru`` / ``rnn_tanh`` / ``rnn_relu`` of a CPU input, op for op: (output, h_n); given ``sizes``
    (the batch size of each step), of a packed sequence's rows ``input``."""
    x = input.transpose(0, 1) if batch_first else input
    out, finals = _generic_rnn(cell, x, hx.unbind(0), _gather(params, has_biases, False), num_layers, dropout_p,
                               train, bidirectional, sizes)
    hy = torch.stack(finals, 0)
    if batch_first:
        out.transpose_(0, 1)
    return out, hy


def _lstm_generic(input, hx, params, has_biases, num_layers, dropout_p, train, bidirectional, batch_first=False,
                  sizes=None):
    """ATen's ``lstm`` of a CPU input where oneDNN does not take it (projections, a dtype oneDNN refuses,
    oneDNN off, a packed sequence: ``sizes`` given): the generic path, op for op: (output, h_n, c_n)."""
    x = input.transpose(0, 1) if batch_first else input
    params = _gather(params, has_biases, hx[0].size(2) != hx[1].size(2))
    states = list(zip(hx[0].unbind(0), hx[1].unbind(0)))
    out, finals = _generic_rnn(_lstm_cell, x, states, params, num_layers, dropout_p, train, bidirectional, sizes)
    cy = torch.stack([c for _, c in finals], 0)  # c first, as C++ evaluates make_tuple's arguments
    hy = torch.stack([h for h, _ in finals], 0)
    return (out.transpose(0, 1) if batch_first else out), hy, cy


def _rnn_call_on_meta(owner: int, input, args, lstm: bool) -> str | None:
    """Which overload of ``_VF.gru`` & co. this call is, where its ops can be run as on the CPU: ``"padded"``
    ``(input, hx, params, has_biases, layers, dropout, train, bidirectional, batch_first)`` or ``"packed"``
    ``(data, batch_sizes, hx, params, has_biases, layers, dropout, train, bidirectional)``, ``hx`` a pair
    ``(h, c)`` for an LSTM; called from the pass's thread, every tensor on meta but ``batch_sizes`` (on the
    CPU: its values are the steps). None for any other call."""
    if threading.get_ident() != owner or len(args) != 8 or not isinstance(input, torch.Tensor) or \
            input.device.type != "meta" or input.numel() == 0:
        return None
    packed = isinstance(args[0], torch.Tensor) and args[0].device.type == "cpu" and args[0].dim() == 1
    hx, params = (args[1], args[2]) if packed else (args[0], args[1])
    if not isinstance(params, (list, tuple)) or lstm != isinstance(hx, (list, tuple)) or lstm and len(hx) != 2:
        return None
    tensors = [*(hx if lstm else [hx]), *params]
    if not all(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in tensors):
        return None
    return "packed" if packed else "padded"


def _steps(batch_sizes: torch.Tensor) -> list:
    """A packed sequence's batch size per step, read unseen (ATen reads them from memory, dispatching nothing)."""
    with _disable_current_modes():
        return [int(n) for n in batch_sizes.tolist()]


@contextlib.contextmanager
def generic_rnns_as_on_cpu():
    """For the duration of a meta pass: ``nn.GRU`` and ``nn.RNN`` (``torch._VF.gru``, ``rnn_tanh``,
    ``rnn_relu``) take the path they take on the CPU. Both devices run ATen's generic decomposition, but its
    layers (``FullLayer``, ``PackedLayer``) project the whole sequence's input in one linear per layer and
    direction where the input is on the CPU, and step by step elsewhere (meta): the same MACs, other calls
    and bytes. On meta the CPU's ops are run here instead (padded and packed sequences alike)."""
    from torch import _VF
    owner = threading.get_ident()
    cells = {"gru": _gru_cell, "rnn_tanh": _simple_cell(torch.tanh), "rnn_relu": _simple_cell(torch.relu)}
    originals = {name: (name in vars(_VF), getattr(_VF, name)) for name in cells}

    def shim(name):
        cell, original = cells[name], originals[name][1]

        def run(input, *args):
            call = _rnn_call_on_meta(owner, input, args, lstm=False)
            if call == "padded":
                return _one_hidden_rnn(cell, input, *args)
            if call == "packed":
                return _one_hidden_rnn(cell, input, *args[1:], sizes=_steps(args[0]))
            return original(input, *args)
        return run

    for name in cells:
        setattr(_VF, name, shim(name))
    try:
        yield
    finally:
        for name, (had, original) in originals.items():
            if had:
                setattr(_VF, name, original)
            else:
                delattr(_VF, name)


@contextlib.contextmanager
def one_hot_as_on_cpu():
    """For the duration of a meta pass: ``F.one_hot`` of meta ids with a given ``num_classes`` runs the CPU's ops
    (``aminmax`` of the ids for its range checks, then ``zeros`` and ``scatter_``), not the data-independent path
    ATen takes on meta (``eq`` against an ``arange``, then a copy to long). Without ``num_classes`` the classes
    are data: it fails as before (and :func:`routing_values` works them out)."""
    import torch.nn.functional as F
    owner = threading.get_ident()
    hot = F.one_hot

    def one_hot(t, num_classes=-1):
        if not isinstance(t, torch.Tensor) or t.device.type != "meta" or threading.get_ident() != owner or \
                t.dtype != torch.long or t.numel() == 0 or num_classes < 0:
            return hot(t, num_classes)
        torch.aminmax(t)  # the CPU's checks read its values: meta has none, the op runs all the same
        out = torch.zeros((*t.shape, num_classes), dtype=torch.long, layout=torch.strided, device=t.device)
        return out.scatter_(-1, t.unsqueeze(-1), 1)

    F.one_hot = one_hot
    try:
        yield
    finally:
        F.one_hot = hot


_ONE_AT_A_TIME = threading.RLock()  # re-entrant: a model may profile a submodule inside its forward


@contextlib.contextmanager
def shapes_only(modules, cpu_attention: bool = True):
    """Every shim of this module for one meta pass over ``modules`` (the model's, each once): transformers'
    mask checks answered, experts loops run grouped and, with ``cpu_attention`` (the model would run on the
    CPU), attention on the CPU's kernel. Yields a list that holds, once the block is left, the notes the pass
    must carry (what was assumed or run instead). With ``cpu_attention``, torch's own attention modules also
    take their CPU fast paths, and nn.LSTM, nn.GRU, nn.RNN and F.one_hot run the CPU's ops (:func:`lstm_as_on_cpu`,
    :func:`generic_rnns_as_on_cpu`, :func:`one_hot_as_on_cpu`)."""
    notes: list[str] = []
    # The shims patch module globals and configs of the process: passes of several threads take turns (each
    # puts back what it found, so overlapping ones would leave a shim installed), and a shim answers only the
    # thread that installed it.
    with _ONE_AT_A_TIME, transformers_checks() as answered, data_independent_experts(modules) as (experts, was), \
            (sdpa_as_on_cpu() if cpu_attention else contextlib.nullcontext()), \
            (torch_attention_fast_paths() if cpu_attention else contextlib.nullcontext()), \
            (lstm_as_on_cpu() if cpu_attention else contextlib.nullcontext()), \
            (generic_rnns_as_on_cpu() if cpu_attention else contextlib.nullcontext()), \
            (one_hot_as_on_cpu() if cpu_attention else contextlib.nullcontext()):
        try:
            yield notes
        finally:
            if answered[0]:
                notes.append(NOTE)
            if experts:
                notes.append(EXPERTS_NOTE.format(n=len(experts), was=was or "eager"))


# -- routing values: a shapes-only pass that reads the few values routing needs ------------------------------
#: What a meta pass raises where the model reads values (``nonzero``, ``.item()``, ``.tolist()``, ``unique``): the
#: pass is then run again under :func:`routing_values` (see :func:`reads_values`).
_READS_VALUES = re.compile(r"torch\.nonzero\(\)|Cannot copy out of meta tensor|attempted to run this operator with "
                           r"Meta tensors|Tensor\.item\(\) cannot be called on meta|_local_scalar_dense|"
                           r"data-dependent|data dependent")

ROUTING_NOTE = ("on meta, values the model reads (routing choices, sizes, masks) were worked out from the shapes and "
                "the inputs, as listed: {what}")
ASSUMED_NOTE = ("{n} top-k/argmax/sort selection(s) over values meta does not have (routers, sparse-attention "
                "indexers) taken as a balanced round robin: row r's j-th of k choices among n is (r*k + j + c) mod n, "
                "c counting the selections; so every expert (or key block) gets rows*k/n rows: the count of a top-k "
                "layer, and the MACs of experts linear in their rows, are exact, the per-expert split is assumed, and "
                "a capacity limit drops no token under it (a real pass may drop some)")
TOKENS_NOTE = ("{n} comparison(s) of the token ids with a special token's id answered 'none of them' (random ids, "
               "as a real pass of the profiler's inputs has, almost never hit one)")
READS_NOTE = "{n} value read(s) (nonzero, unique, .item(), .tolist(), boolean masks) answered from those values"


def reads_values(exc: BaseException) -> bool:
    """Whether a failed meta pass failed for want of values (data-dependent code), not for another reason."""
    while exc is not None:
        if _READS_VALUES.search(str(exc)):
            return True
        exc = exc.__cause__
    return False


_VALUE_CAP = 1 << 23  # elements of one tensor whose values a meta pass keeps; a larger one stays values-free
_NO_VALUES = ("rand", "normal", "uniform", "bernoulli", "multinomial", "exponential", "geometric", "cauchy",
              "log_normal", "dropout", "poisson", "random_", "empty", "resize")
_SELECTIONS = {"topk", "argmax", "argmin", "max", "min", "sort"}  # index outputs assumed when the input has no values
_READS = {"nonzero", "_unique2", "unique_dim", "unique_consecutive", "unique_dim_consecutive", "bincount",
          "repeat_interleave", "masked_select", "nonzero_static"}
_COMPARISONS = {"eq": False, "ne": True, "isin": False}  # of token ids with a special id: the answer
_FULL_WRITES = {"fill_", "zero_", "copy_"}


def _written(func) -> tuple[int, ...]:
    """Positions of the arguments ``func`` writes (in-place and ``out=`` ops)."""
    hit = _WRITTEN.get(func)
    if hit is None:
        hit = _WRITTEN[func] = tuple(i for i, a in enumerate(func._schema.arguments)
                                     if a.alias_info is not None and a.alias_info.is_write)
    return hit


_WRITTEN: dict = {}


class _RoutingValues(TorchDispatchMode):
    """Keeps, next to meta tensors, the values (CPU tensors) that follow from known ones: factories (``arange``,
    ``zeros``, ``ones``, ``full``), CPU tensors and inputs, and ops of known operands; a selection (``topk``,
    ``argmax``, ``sort``) over values meta does not have is given balanced round-robin indices, a comparison of
    the token ids with a special id "none". Reads of values (``nonzero``, ``unique``, ``.item()``,
    ``.tolist()``, boolean masks) are answered from them; where a read meets no values it fails as before.
    Values are worked out only for tensors of at most :data:`_VALUE_CAP` elements, on the CPU, unseen by other
    modes; parameters and activations never have any."""

    def __init__(self, token_ids=(), kernels=None):
        super().__init__()
        from torch.utils.weak import WeakIdKeyDictionary

        self.kernels = kernels or {}  # the fast meta kernels (meta_kernels.kernels()): the observer leaves them here
        self.values = WeakIdKeyDictionary()  # meta tensor -> its values (CPU)
        self.tokens = WeakIdKeyDictionary()  # meta token-id tensors (inputs and views of them) -> True
        self.segments = WeakIdKeyDictionary()  # a cat of known and unknown parts -> (dim, [(start, stop, part)])
        self.tainted = WeakIdKeyDictionary()  # tensors whose values follow from an assumption (see _assume)
        self.taint = False  # whether the op being run reads such values
        self.poisoned = WeakIdKeyDictionary()  # meta base tensors written with values not known (and their views)
        self.assumed = self.compared = self.read = 0
        for t in token_ids:
            self.tokens[t] = True

    # -- values -------------------------------------------------------------------------------------------
    def value(self, t):
        """``t``'s values (itself when it is not meta), or None."""
        if not isinstance(t, torch.Tensor):
            return None
        if t.device.type != "meta":
            return t
        v = self.values.get(t)
        if v is None or (t if t._base is None else t._base) in self.poisoned:
            return None
        return v

    def _keep(self, t, v) -> None:
        if isinstance(t, torch.Tensor) and t.device.type == "meta" and isinstance(v, torch.Tensor) and \
                tuple(v.shape) == tuple(t.shape) and t.numel() <= _VALUE_CAP:
            self.values[t] = v
            if self.taint:
                self.tainted[t] = True

    def _on_values(self, func, args, kwargs):
        """``func`` run on the values of its operands (meta -> their values, device meta -> cpu), unseen."""
        def swap(x):
            if isinstance(x, torch.Tensor):
                return self.value(x)
            if isinstance(x, torch.device) and x.type == "meta":
                return torch.device("cpu")
            return x
        vargs, vkwargs = tree_map(swap, (args, kwargs))
        if "device" in vkwargs and vkwargs["device"] in ("meta",):
            vkwargs["device"] = torch.device("cpu")
        with _disable_current_modes(), torch.no_grad():
            return func(*vargs, **vkwargs)

    def _meta_of(self, v):
        """A meta tensor like ``v`` (a CPU result), its values kept."""
        if not isinstance(v, torch.Tensor):
            return v
        m = torch.empty_strided(v.shape, v.stride(), dtype=v.dtype, device="meta")
        self._keep(m, v)
        return m

    # -- the dispatch -------------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._overloadpacket.__name__
        flat = tree_flatten((args, kwargs))[0]
        metas = [t for t in flat if isinstance(t, torch.Tensor) and t.device.type == "meta"]
        if not metas and not any(isinstance(x, torch.device) and x.type == "meta" or x == "meta" for x in flat
                                 if isinstance(x, (torch.device, str))):
            return func(*args, **kwargs)  # nothing on meta: the op as it is
        known = all(self.value(t) is not None for t in metas)
        if not known and name in _FULL_WRITES and isinstance(args[0], torch.Tensor) and args[0]._base is None and \
                args[0].device.type == "meta" and args[0].is_contiguous() and args[0].numel() <= _VALUE_CAP and \
                all(self.value(t) is not None for t in metas if t is not args[0]):
            # the whole of a tensor written (``empty(...).fill_(0)``): it has the values written
            self.values[args[0]] = torch.zeros(args[0].shape, dtype=args[0].dtype)
            self.tainted.pop(args[0], None)
            self.poisoned.pop(args[0], None)
            known = True

        self.taint = any(t in self.tainted for t in metas)
        if name == "_local_scalar_dense" and known and not (self.taint and args[0].dtype == torch.bool):
            # (a yes/no of assumed values would choose the path: an early exit of a decoding loop, whose
            # length is data; only sizes and counts are read from them)
            self.read += 1
            return self.value(args[0]).item()
        if name in ("_to_copy", "copy_") and known:
            to_host = name == "_to_copy" and kwargs.get("device") is not None and \
                torch.device(kwargs["device"]).type != "meta"
            if to_host or name == "copy_" and args[0].device.type != "meta":  # .tolist(), .cpu(): the values
                self.read += 1
                return self._on_values(func, args, kwargs)
        if name in _READS:
            if not known and name == "masked_select" and self.value(args[1]) is not None:
                count = int(torch.broadcast_to(self.value(args[1]), torch.broadcast_shapes(
                    args[0].shape, args[1].shape)).sum())
                self.read += 1
                return args[0].new_empty((count,))
            if known:
                self.read += 1
                return tree_map(self._meta_of, self._on_values(func, args, kwargs))
        if name in ("index", "index_put", "index_put_", "_index_put_impl_"):
            args = self._long_indices(args)
        if name in ("split_with_sizes", "split", "slice", "select") and not known and args[0] in self.segments:
            part = self._from_segment(func, name, args, kwargs)
            if part is not None:
                return part

        fast = self.kernels.get(func)
        out = fast(*args, **kwargs) if fast is not None else NotImplemented
        if out is NotImplemented:
            out = func(*args, **kwargs)
        outs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor) and t.device.type == "meta"]
        if not outs:
            return out
        written = [args[i] for i in _written(func) if i < len(args) and isinstance(args[i], torch.Tensor)]
        if known and not any(s in name for s in _NO_VALUES) and all(t.numel() <= _VALUE_CAP for t in outs):
            if not written or all(self.value(w) is not None for w in written):
                try:
                    vout = self._on_values(func, args, kwargs)
                except Exception:  # noqa: BLE001 - values are a help, never a new failure: none kept
                    vout = None
                if vout is not None:
                    self._pair(out, vout)
                    return out
        for w in written:  # written with values not known: every view of it loses its values
            if w.device.type == "meta":
                self.poisoned[w if w._base is None else w._base] = True
        if name in _SELECTIONS and metas and self.value(metas[0]) is None:
            self._assume(name, func, args, kwargs, out)
        elif name in _COMPARISONS and len(args) >= 2 and args[0] in self.tokens and (
                isinstance(args[1], (int, list, tuple)) and not isinstance(args[1], bool) or
                self.value(args[1]) is not None and self.value(args[1]).numel() <= 64):
            self.compared += 1
            self.taint = True
            self._keep(outs[0], torch.full(outs[0].shape, _COMPARISONS[name], dtype=torch.bool))
        elif len(metas) == 1 and metas[0] in self.tokens and (func.is_view or name in ("clone", "_to_copy")):
            for t in outs:
                self.tokens[t] = True
        if name == "cat" and not known:
            self._segment(args, kwargs, outs[0])
        return out

    def _pair(self, out, vout) -> None:
        mo, vo = tree_flatten(out)[0], tree_flatten(vout)[0]
        for m, v in zip(mo, vo):
            self._keep(m, v)

    def _long_indices(self, args):
        """An index list whose boolean masks (with values) are replaced by the long indices they select, as
        torch's kernels do (``nonzero``): the meta kernel then gives the shape."""
        indices = args[1]
        if not isinstance(indices, (list, tuple)) or not any(
                isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) and i.device.type == "meta"
                for i in indices):
            return args
        out = []
        for i in indices:
            v = self.value(i) if isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) else None
            if v is None:
                out.append(i)
                continue
            self.read += 1
            out.extend(self._meta_of(c) for c in v.nonzero().unbind(1))
        return (args[0], out, *args[2:])

    def _assume(self, name, func, args, kwargs, out) -> None:
        """Balanced round-robin indices for a selection over values meta does not have."""
        x = args[0]
        c = self.assumed
        self.taint = True
        if name in ("max", "min") and not (len(args) > 1 and isinstance(args[1], int) or "dim" in kwargs):
            return  # the full reduction: a value, no indices
        indices = out[1] if isinstance(out, (tuple, list)) else out
        if not isinstance(indices, torch.Tensor) or indices.dtype != torch.long or indices.numel() > _VALUE_CAP:
            return
        dim = args[1] if len(args) > 1 and isinstance(args[1], int) else kwargs.get("dim")
        if name == "topk":
            dim = args[2] if len(args) > 2 else kwargs.get("dim", -1)
        if name == "sort":
            dim = args[1] if len(args) > 1 and isinstance(args[1], int) else kwargs.get("dim", -1)
        if dim is None:  # argmax over everything: one index
            self._keep(indices, torch.tensor(c % max(x.numel(), 1)).reshape(indices.shape))
            self.assumed += 1
            return
        dim = dim % max(x.dim(), 1)
        n = x.shape[dim] if x.dim() else 1
        shape = list(indices.shape)
        if name in ("argmax", "argmin", "max", "min"):
            keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
            if not keepdim and x.dim():
                shape.insert(dim, 1)
        if not shape:
            shape = [1]
            dim = 0
        k = shape[dim]
        moved = shape[:dim] + shape[dim + 1:] + [k]
        rows = indices.numel() // max(k, 1)
        if name == "sort":
            v = torch.arange(k).expand(rows, k)
        else:
            v = (torch.arange(rows)[:, None] * k + torch.arange(k)[None, :] + c) % max(n, 1)
        v = v.reshape(moved).movedim(-1, dim).reshape(indices.shape)
        self._keep(indices, v.contiguous())
        self.assumed += name != "sort"

    def _segment(self, args, kwargs, out) -> None:
        """Remember which parts of a ``cat`` have values: a slice of it within one of them has them too (a cat
        of one tensor with empty ones, as a cache's first update, keeps that tensor's parts)."""
        tensors = [t for t in args[0] if not (t.dim() == 1 and t.numel() == 0)]  # torch's legacy empty: skipped
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        dim = dim % max(out.dim(), 1)
        if len(tensors) == 1 and tensors[0] in self.segments and tuple(tensors[0].shape) == tuple(out.shape):
            self.segments[out] = self.segments[tensors[0]]
            return
        start, parts = 0, []
        for t in tensors:
            stop = start + t.shape[dim]
            inner = self.segments.get(t)
            if self.value(t) is None and inner is not None and inner[0] == dim:
                parts.extend((start + a, start + b, p) for a, b, p in inner[1])
            else:
                parts.append((start, stop, t if self.value(t) is not None else None))
            start = stop
        if any(p[2] is not None for p in parts):
            self.segments[out] = (dim, parts)

    def _from_segment(self, func, name, args, kwargs):
        x = args[0]
        seg_dim, parts = self.segments[x]
        dim = (args[2] if name == "split_with_sizes" and len(args) > 2 else args[1] if len(args) > 1 else 0)
        if name in ("split_with_sizes", "split"):
            dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
        dim = dim % x.dim()
        if dim != seg_dim:
            return None
        out = func(*args, **kwargs)
        n = x.shape[dim]
        if name == "select":
            i = args[2] % n
            pieces = [(out, i, i + 1, True)]
        elif name == "slice":
            start = args[2] if len(args) > 2 and args[2] is not None else 0
            stop = args[3] if len(args) > 3 and args[3] is not None else n
            step = args[4] if len(args) > 4 else 1
            start, stop = max(0, start + n if start < 0 else start), min(n, stop + n if stop < 0 else stop)
            if step != 1:
                return out
            pieces = [(out, start, stop, False)]
        else:
            sizes = args[1] if name == "split_with_sizes" else None
            if sizes is None:
                size = args[1]
                sizes = [min(size, n - s) for s in range(0, n, size)]
            offs = [0]
            for s in sizes:
                offs.append(offs[-1] + s)
            pieces = [(o, offs[j], offs[j + 1], False) for j, o in enumerate(out)]
        for piece, start, stop, one in pieces:
            for a, b, part in parts:
                if part is not None and a <= start and stop <= b:
                    v = self.value(part)
                    self.taint = part in self.tainted
                    v = v.select(dim, start - a) if one else v.narrow(dim, start - a, stop - start)
                    self._keep(piece, v)
        return out

    def notes(self) -> list[str]:
        what = []
        if self.assumed:
            what.append(ASSUMED_NOTE.format(n=self.assumed))
        if self.compared:
            what.append(TOKENS_NOTE.format(n=self.compared))
        if self.read:
            what.append(READS_NOTE.format(n=self.read))
        return [ROUTING_NOTE.format(what="; ".join(what))] if what else []


class _DataOnMeta(TorchFunctionMode):
    """``torch.tensor(data, device="meta")`` (a grid size, a list of lengths) made on the CPU and copied to meta,
    so that the copy, an op, carries the values (torch makes a meta one from data without dispatching any op)."""

    def __init__(self, owner: int):
        super().__init__()
        self.owner = owner

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.tensor, torch.as_tensor) and threading.get_ident() == self.owner and \
                not isinstance(args[0] if args else kwargs.get("data"), torch.Tensor):
            device = kwargs.get("device")
            if device is not None and torch.device(device).type == "meta":
                return func(*args, **{**kwargs, "device": "cpu"}).to("meta")
        return func(*args, **kwargs)


def _paired(original, moved, out: list) -> None:
    """(original, its meta copy) for every tensor of the user's inputs that the pass moved to meta."""
    if isinstance(original, torch.Tensor) and isinstance(moved, torch.Tensor):
        out.append((original, moved))
    elif isinstance(original, dict) and isinstance(moved, dict):
        for k in original:
            if k in moved:
                _paired(original[k], moved[k], out)
    elif isinstance(original, (list, tuple)) and isinstance(moved, (list, tuple)) and len(original) == len(moved):
        for a, b in zip(original, moved):
            _paired(a, b, out)


@contextlib.contextmanager
def routing_values(inputs, args, kwargs, notes: list | None = None, kernels=None):
    """For the duration of a meta pass that failed for want of values: :class:`_RoutingValues` on the dispatch
    stack (enter it below the observer). Integer and boolean inputs the pass moved from the CPU keep their values
    (floats never have any); integer inputs given on meta are token ids of no special token. ``kernels``: the
    fast meta kernels, run by the mode (the observer above it then runs none). Yields ``notes`` (a new list if
    None), which holds, once the block is left, the notes of what was worked out or assumed."""
    notes = [] if notes is None else notes
    pairs: list = []
    if isinstance(inputs, dict):
        _paired(inputs, kwargs, pairs)
    elif type(inputs) is tuple:
        _paired(inputs, args, pairs)
    elif inputs is not None:
        _paired(inputs, args[0] if args else None, pairs)
    pairs = [(o, m) for o, m in pairs if o.device.type == "cpu" and m.device.type == "meta"]
    moved = {id(m) for _, m in pairs}
    tokens = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor) and t.device.type == "meta"
              and not t.is_floating_point() and t.dtype != torch.bool and id(t) not in moved]
    mode = _RoutingValues(tokens, kernels)
    for original, meta in pairs:
        # ids and masks (integers, booleans) decide routing; float data stays values-free, as activations are
        if original.numel() <= _VALUE_CAP and not original.is_floating_point() and not original.is_complex():
            mode.values[meta] = original.detach().clone()  # the pass may write to it: never to the user's
    # ``f"expert_{idx}"`` of a 0-d tensor formats its value, but torch formats a meta one as its repr
    fmt = torch.Tensor.__format__
    owner = threading.get_ident()

    def formatted(self, spec):
        if self.dim() == 0 and self.device.type == "meta" and threading.get_ident() == owner:
            v = mode.value(self)
            if v is not None:
                mode.read += 1
                return v.item().__format__(spec)
        return fmt(self, spec)

    # one_hot on meta runs ``eq(x[..., None], arange(n))``, the CPU ``aminmax`` (its checks), ``zeros`` and
    # ``scatter_``: the CPU's ops, with the reads of the class range answered where the values are known
    import torch.nn.functional as F
    hot = F.one_hot

    def one_hot(t, num_classes=-1):
        if not isinstance(t, torch.Tensor) or t.device.type != "meta" or threading.get_ident() != owner or \
                t.dtype != torch.long or t.numel() == 0:
            return hot(t, num_classes)
        low, high = torch.aminmax(t)
        if mode.value(low) is not None:
            low.item()
            top = high.item()
            num_classes = top + 1 if num_classes == -1 else num_classes
        elif num_classes == -1:
            return hot(t, num_classes)  # fails as before: the classes are data
        out = torch.zeros((*t.shape, num_classes), dtype=torch.long, device=t.device)
        return out.scatter_(-1, t.unsqueeze(-1), 1)

    torch.Tensor.__format__ = formatted
    F.one_hot = one_hot
    try:
        with _DataOnMeta(owner), mode:
            yield notes
    finally:
        torch.Tensor.__format__ = fmt
        F.one_hot = hot
        notes.extend(mode.notes())
