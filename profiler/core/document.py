"""The JSON document of one profile (the contract scripts rely on): what ``Profile.to_dict()`` returns and
``profile-model --format json`` writes.

Fixed keys: ``model``, ``zoo``, ``input``, ``convention``, ``macs``, ``params``, ``layers``, ``by_kind``,
``coverage``. ``input`` has one shape for every kind of model (:func:`input_record`)::

    "input": {"kind": "tensor", "shapes": [[1, 3, 224, 224]], "batch": 1}
    "input": {"kind": "tokens", "shapes": [[1, 128]], "batch": 1, "tokens": 128}

``kind``: ``tensor`` (one or more tensors of batch x sample shape), ``images`` (a detection model's list of
3-d images, each repeated ``batch`` times), ``image-pair``, ``fixed`` (the inputs pytorchcv's own test builds),
``tokens``, ``text-image`` (tokens and an image), ``speech-text`` (log-mel features and decoder tokens);
``shapes``: every input tensor's shape, batch first (always a list of shapes, one input too); ``batch``: the
batch size; ``tokens`` (the token kinds only): the sequence length T. The ``--generate`` document has the
same record (its ``shapes``: the prompt's), the several-lengths document too with ``tokens`` the list of
lengths and ``shapes`` each length's input_ids, one forward pass each. (Before issue 25 ``input`` was the
bare shape, or a list of shapes, for a tensor model: read ``doc["input"]["shapes"][0]`` now.) A model built by
name with a head to choose (``hf:``) adds ``task``. ``also``: for a bare name other zoos have too, the specs
that build theirs (``["torchvision:resnet50", "pytorchcv:resnet50"]`` beside timm's ``resnet50``; as far as
the zoos already imported and ``profile-model list``'s names cache know), else ``[]``. Added for readers: ``unit`` and ``convention_description``, ``params_trainable``/
``params_frozen``/``buffers``, ``device`` (where the pass ran), ``pass`` (``shapes`` on meta, or ``real``), ``build``,
``by_category``, ``notes``. ``profile-model``
extensions add their own keys (``crosscheck``, ``latency`` ...). A pass that met DTensors or collectives adds
``distributed`` (:func:`distributed_record`: the top-level figures are then this rank's).

``params_active`` (top level and per layer record) is what one token's forward uses: ``params`` less the
unrouted share (E - k) / E of routed experts (:attr:`Profile.params_active`; = ``params`` for a dense
model; a record holding one expert of a ModuleList is rounded). A real pass of a mixture of experts whose
experts run grouped matmuls adds ``expert_tokens``: module path -> token-expert pairs per expert, summed over
the module's calls (data, so never on meta).

``macs`` is the total under ``convention``, in ``unit`` (MACs for the default ``macs``, FLOPs for ``flops``);
every layer record's ``macs``/``params`` is its own share (plus folded descendants, see ``folded``), so the
records add up to the totals and their ``*_pct`` to 100; ``macs_inclusive``/``params_inclusive`` are whole
subtrees; ``counts`` are the raw counts per category (MACs or element ops) behind ``macs``.
A training step (``profile(..., backward=True)``) adds ``by_phase`` (forward, loss, backward, optimizer, in
``unit``), ``phases`` (those run) and, per layer, ``phases`` (own cost per phase; ``recompute`` is the part of
the backward that re-ran checkpointed forwards).
"""
from __future__ import annotations

from dataclasses import asdict

from profiler.conventions import get_convention
from profiler.core.profile import TOKEN_KINDS
from profiler.core.rows import Row, percent, rows_for


def layer_record(r: Row, total_cost: float, total_params: int, params_active: int | None = None) -> dict:
    cfg = r.config or {}
    return {
        "path": r.path,
        "type": r.type,
        "kind": r.kind,
        "depth": r.depth,
        "kernel_size": cfg.get("kernel_size"),
        "stride": cfg.get("stride"),
        "groups": cfg.get("groups"),
        "config": cfg,
        "input_shapes": r.input_shapes,
        "output_shapes": r.output_shapes,
        "calls": r.calls,
        "params": r.params,
        "params_pct": _pct(r.params, total_params),
        "params_active": r.params if params_active is None else params_active,
        "macs": int(round(r.cost)),
        "macs_pct": _pct(r.cost, total_cost),
        "params_inclusive": r.params_inclusive,
        "macs_inclusive": int(round(r.cost_inclusive)),
        "counts": dict(r.counts),
        **({"phases": {k: int(round(v)) for k, v in r.phase_cost.items()}} if r.phase_cost else {}),
        "activations": None if r.synthetic else r.activations,
        "folded": r.folded,
        "other": r.synthetic,  # True for the "(N other modules)" row of --top
    }


def input_record(kind: str, shapes: list, batch: int | None, tokens=None) -> dict:
    """The JSON ``input`` of every document (one profile, ``--generate``, several lengths):
    ``{"kind": ..., "shapes": [[B, ...], ...], "batch": B}``, plus ``"tokens": T`` for the token kinds
    (:data:`~profiler.core.profile.TOKEN_KINDS`; a list of lengths for the several-lengths document)."""
    record = {"kind": kind, "shapes": [list(s) for s in shapes], "batch": batch}
    if tokens is not None:
        record["tokens"] = tokens
    return record


def _input(src, inputs: list) -> dict:
    """:func:`input_record` of a profile: its source's kind and batch (a module handed in: ``tensor``, the
    first input's first dimension); the token kinds add the length T (input_ids first)."""
    if src is None:
        return input_record("tensor", inputs, inputs[0][0] if inputs and inputs[0] else None)
    tokens = src.input_size[0] if src.input_kind in TOKEN_KINDS else None
    return input_record(src.input_kind, inputs, src.batch, tokens)


def _params_active(profile, rows: list[Row]) -> list[int]:
    """Each row's parameters one token uses: its params less the unrouted share of the routed experts it
    holds (its own layer's, its subtree's when folded, and for the "other modules" row whatever is left)."""
    if not profile.is_moe:
        return [r.params for r in rows]
    inactive = {layer.path: layer.params_inactive for layer in profile.layers}
    shown = [None if r.synthetic else
             (sum(inactive[x.path] for x in profile.subtree(r.path)) if r.folded else inactive[r.path])
             for r in rows]
    rest = sum(inactive.values()) - sum(x for x in shown if x is not None)
    return [r.params - int(round(rest if x is None else x)) for r, x in zip(rows, shown)]


def _pct(v, total):
    p = percent(v, total)
    return None if p is None else round(p, 6)


def document(profile, rows: list[Row] | None = None, *, depth: int | None = None, top: int | None = None) -> dict:
    """The JSON-ready dict; ``rows`` (default: :func:`~profiler.core.rows.rows_for` at ``depth``/``top``)
    are the layer records shown."""
    conv = get_convention(profile.convention)
    rows = rows_for(profile, depth, top) if rows is None else rows
    total_cost = profile.total(conv)
    inputs = [list(s) for s in profile.inputs]
    src = profile.source
    tokens = {layer.path: list(layer.expert_tokens) for layer in profile.layers if layer.expert_tokens}
    return {
        "model": src.name if src is not None else profile.model,
        "zoo": src.zoo if src is not None else None,
        "also": list(src.also) if src is not None else [],
        "input": _input(src, inputs),
        "convention": conv.name,
        "unit": conv.unit,
        "convention_description": conv.description,
        "macs": total_cost,
        "params": profile.params,
        "params_active": profile.params_active,
        "params_trainable": profile.params_trainable,
        "params_frozen": profile.params_frozen,
        "buffers": profile.buffers,
        "device": profile.device,
        "pass": profile.pass_kind,
        "build": src.build if src is not None else None,
        **({"task": src.task} if src is not None and src.task else {}),
        "by_category": profile.by_category,
        "layers": [layer_record(r, total_cost, profile.params, active)
                   for r, active in zip(rows, _params_active(profile, rows))],
        "by_kind": profile.by_kind(conv),
        **({"by_phase": profile.by_phase, "phases": list(profile.phases)} if profile.is_step else {}),
        **({"expert_tokens": tokens} if tokens else {}),
        "coverage": [asdict(u) for u in profile.coverage],
        "notes": list(profile.notes),
        **({"distributed": distributed_record(profile, conv)} if profile.distributed is not None else {}),
    }


def distributed_record(profile, conv) -> dict:
    """``distributed``: the figures of a pass that met DTensors or collectives. The document's ``macs``,
    ``params`` and ``layers`` are this rank's (its shards' kernels and elements); here the logical model's
    (``*_global``: the DTensor-level ops, parameters at their global shape) and the communication, one record
    per module, phase and kind, bytes this rank sends and receives under :mod:`profiler.counters.comm`'s
    conventions."""
    d = profile.distributed
    glob = profile.global_view()
    return {
        "rank": d.rank,
        "world_size": d.world_size,
        "scope": "macs, params, by_category and layers are this rank's; *_global the logical model's",
        "macs_global": glob.total(conv),
        "params_global": glob.params,
        "by_category_global": glob.by_category,
        **({"by_phase_global": glob.by_phase} if profile.is_step else {}),
        "communication": [asdict(c) for c in profile.communication],
        "communication_convention": "bytes: S as NCCL's tests (an all_gather's output, a reduce_scatter's input); "
                                    "sent/received per rank under ring / pipeline algorithms: all_reduce 2(n-1)/n S, "
                                    "all_gather, reduce_scatter, all_to_all (n-1)/n S, broadcast S",
    }
