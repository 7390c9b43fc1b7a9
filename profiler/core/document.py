"""The JSON document of one profile (the contract scripts rely on): what ``Profile.to_dict()`` returns and
``profile-model --format json`` writes.

Fixed keys: ``model``, ``zoo``, ``input``, ``convention``, ``macs``, ``params``, ``layers``, ``by_kind``,
``coverage``. ``input`` is the input's shape (batch first; a list of shapes for several inputs), or for a
language model ``{"kind": "tokens", "tokens": T, "batch": B, "shapes": [[B, T], ...]}``; a model built by
name with a head to choose (``hf:``) adds ``task``. Added for readers: ``unit`` and ``convention_description``, ``params_trainable``/
``params_frozen``/``buffers``, ``device``, ``build``, ``by_category``, ``notes``. ``profile-model``
extensions add their own keys (``crosscheck``, ``latency`` ...).

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
from profiler.core.rows import Row, percent, rows_for


def layer_record(r: Row, total_cost: float, total_params: int) -> dict:
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


def _input(src, inputs: list) -> list | dict:
    """One input's shape (batch first), several inputs' shapes; a language model's tokens as
    ``{"kind": "tokens", "tokens": T, "batch": B, "shapes": [...]}`` (input_ids first)."""
    if src is not None and src.input_kind == "tokens":
        return {"kind": "tokens", "tokens": src.input_size[0], "batch": src.batch, "shapes": inputs}
    return inputs[0] if len(inputs) == 1 else inputs


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
    return {
        "model": src.name if src is not None else profile.model,
        "zoo": src.zoo if src is not None else None,
        "input": _input(src, inputs),
        "convention": conv.name,
        "unit": conv.unit,
        "convention_description": conv.description,
        "macs": total_cost,
        "params": profile.params,
        "params_trainable": profile.params_trainable,
        "params_frozen": profile.params_frozen,
        "buffers": profile.buffers,
        "device": profile.device,
        "build": src.build if src is not None else None,
        **({"task": src.task} if src is not None and src.task else {}),
        "by_category": profile.by_category,
        "layers": [layer_record(r, total_cost, profile.params) for r in rows],
        "by_kind": profile.by_kind(conv),
        **({"by_phase": profile.by_phase, "phases": list(profile.phases)} if profile.is_step else {}),
        "coverage": [asdict(u) for u in profile.coverage],
        "notes": list(profile.notes),
    }
