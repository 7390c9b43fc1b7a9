"""The JSON document of one profiled model (the contract scripts rely on).

Fixed keys: ``model``, ``zoo``, ``input``, ``convention``, ``macs``, ``params``, ``layers``, ``by_kind``,
``coverage``. Added for readers: ``unit`` and ``convention_description`` (what ``macs`` counts),
``params_trainable``/``params_frozen``/``buffers``, ``device``, ``notes``. ``profile-model`` extensions add
their own keys (``crosscheck``, ``latency`` ...).

``macs`` is the total under ``convention`` (MACs for the default ``macs``; FLOPs for ``flops``, see ``unit``);
every layer's ``macs``/``params`` is its own share (plus folded descendants, see ``folded``), so the layers
add up to the totals and their ``*_pct`` to 100; ``macs_inclusive``/``params_inclusive`` are whole subtrees.
"""
from __future__ import annotations

from dataclasses import asdict

from profiler.conventions import get_convention
from profiler.report.rows import Row, layer_rows, percent


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
        "activations": None if r.synthetic else r.activations,
        "folded": r.folded,
        "other": r.synthetic,  # True for the "(N other modules)" row of --top
    }


def _pct(v, total):
    p = percent(v, total)
    return None if p is None else round(p, 6)


def document(profile, info=None, rows: list[Row] | None = None) -> dict:
    """The JSON-ready dict; ``info`` is the :class:`profiler.zoo.ModelInfo` (zoo and name) when known."""
    conv = get_convention(profile.convention)
    rows = layer_rows(profile) if rows is None else rows
    total_cost = profile.total(conv)
    inputs = [list(s) for s in profile.inputs]
    return {
        "model": info.name if info is not None else profile.model,
        "zoo": info.zoo if info is not None else None,
        "input": inputs[0] if len(inputs) == 1 else inputs,
        "convention": conv.name,
        "unit": conv.unit,
        "convention_description": conv.description,
        "macs": total_cost,
        "params": profile.params,
        "params_trainable": profile.params_trainable,
        "params_frozen": profile.params_frozen,
        "buffers": profile.buffers,
        "device": profile.device,
        "layers": [layer_record(r, total_cost, profile.params) for r in rows],
        "by_kind": profile.by_kind(conv),
        "coverage": [asdict(u) for u in profile.coverage],
        "notes": list(profile.notes),
    }
