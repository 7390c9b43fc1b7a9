"""Run the peer tools on a private copy of the model and reconcile each with our count in its convention.

For every peer: ``theirs`` (what the tool returns/prints, its unit), ``ours`` (our per-op counts weighted by
the peer's named convention, same unit), ``explained`` (each known reason for a difference, with its layer
and the amount at stake, predicted from the model's structure and our counts - never read off the peer's
output), and ``unexplained = theirs - ours - sum(explained)``. Where a peer gives per-layer numbers,
``layers_unexplained`` pins any residual to the layers where it arises. Parameters are reconciled the same
way under ``params``.
"""
from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn as nn

from profiler.conventions import get_convention
from profiler.crosscheck import fvcore_peer, ptflops_peer, thop_peer, torch_peer, torchinfo_peer, torchsummary_peer
from profiler.crosscheck.base import Item, PeerRun, quiet
from profiler.errors import UsageError

PEERS = {
    "ptflops": ptflops_peer,
    "ptflops_aten": ptflops_peer.Aten,
    "fvcore": fvcore_peer,
    "torch": torch_peer,
    "thop": thop_peer,
    "torchinfo": torchinfo_peer,
    "torchsummary": torchsummary_peer,
}
TOOLS = tuple(PEERS)


def available_tools() -> list[str]:
    """The peer tools importable here."""
    return [name for name, peer in PEERS.items() if peer.available()]


def _normalise(model, inputs, input_size):
    from profiler.core.engine import _float_dtype, _normalise_inputs, model_device

    try:
        return _normalise_inputs(inputs, input_size, model_device(model), _float_dtype(model))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _reconcile(theirs: int, ours: int, items: list[Item]) -> dict[str, Any]:
    items = [i for i in items if i.macs]
    return {"theirs": int(theirs), "ours": int(ours), "explained": [i.to_dict() for i in items],
            "unexplained": int(theirs) - int(ours) - sum(int(i.macs) for i in items)}


def _layer_residuals(prof, conv, run: PeerRun, items: list[Item], limit: int = 10) -> list[dict]:
    """Per layer: their own count - ours - explained there; the largest non-zero ones."""
    if run.by_layer is None or conv is None:
        return []
    explained: dict[str, int] = {}
    for i in items:
        explained[i.layer] = explained.get(i.layer, 0) + i.macs
    out = []
    paths = {layer.path for layer in prof.layers} | set(run.by_layer)
    for path in paths:
        layer = prof._by_path.get(path)
        ours = int(round(layer.cost(conv))) if layer is not None else 0
        d = run.by_layer.get(path, 0) - ours - explained.get(path, 0)
        if d:
            out.append({"layer": path, "macs": int(d)})
    out.sort(key=lambda r: -abs(r["macs"]))
    return out[:limit]


def crosscheck(model: nn.Module, inputs=None, *, input_size=None, tools=None, profile=None) -> dict[str, dict]:
    """Run the peer tools on ``model`` and reconcile each with our counts.

    inputs / input_size: as for :func:`profiler.profile` (one random float tensor for ``input_size``).
    tools: peer names (default: every installed one of :data:`TOOLS`).
    profile: a Profile of the same model and inputs, if already made.

    Returns ``{tool: {"theirs", "ours", "explained": [{"what", "layer", "macs"}], "unexplained", "unit",
    "convention", "layers_unexplained", "params": {...same keys, unit "params"}, "seconds"}}`` with
    ``theirs - ours - sum(explained.macs) == unexplained`` in ``unit`` (MACs; fvcore "flops" = MACs;
    torch FLOPs = 2 x MACs; torchsummary: parameters). Every peer runs under ``torch.no_grad()``, as our pass
    does (so nn.MultiheadAttention takes its fused inference path in both); one extra pass
    (:func:`profiler.crosscheck.census.census`) records the Python-level calls that peers see and our
    dispatcher does not. Tools that are not installed or fail on this model
    are listed in the returned dict's ``skipped`` attribute (tool -> reason), not in the mapping.
    The model is not modified: every peer runs on its own deep copy.
    """
    from profiler.core.engine import model_device, profile as run_profile

    if not isinstance(model, nn.Module):
        raise TypeError(f"crosscheck() needs a torch.nn.Module, got {type(model).__name__}")
    names = list(tools) if tools else list(TOOLS)
    bad = [t for t in names if t not in PEERS]
    if bad:
        raise UsageError(f"unknown crosscheck tool(s) {', '.join(bad)}; choose from {', '.join(TOOLS)}")
    args, kwargs = _normalise(model, inputs, input_size)
    if profile is None or profile.device == "meta":
        # A real pass: on the meta device attention may take another kernel path than the peers' CPU pass.
        profile = run_profile(model, kwargs if kwargs else (args if len(args) != 1 else args[0]),
                              device=model_device(model))
    from profiler.crosscheck.census import census

    # On a copy: a pass in training mode would update BatchNorm statistics.
    ctx = {**census(copy.deepcopy(model), args, kwargs), "args": args}
    result = CrosscheckResult()
    for name in names:
        peer = PEERS[name]
        with quiet():  # importing a peer may warn (deprecations) - not the user's business
            ok = peer.available()
        if not ok:
            result.skipped[name] = "not installed"
            continue
        clone = copy.deepcopy(model)  # peers add hooks, buffers and attributes, and switch modes
        t0 = time.perf_counter()
        try:
            with torch.no_grad():
                run = peer.run(clone, args, kwargs)
        except Exception as exc:  # one failing peer must not hide the others
            result.skipped[name] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            continue
        finally:
            del clone
        entry: dict[str, Any]
        if peer.CONVENTION is None:  # parameters only
            entry = _reconcile(run.params, profile.params, peer.explain_params(profile, model, run, ctx))
            entry.update(unit="params", convention="unique parameters")
        else:
            conv = get_convention(peer.CONVENTION)
            items = peer.explain(profile, model, run, ctx)
            entry = _reconcile(run.total, profile.total(conv), items)
            entry.update(unit=peer.UNIT, convention=conv.name,
                         layers_unexplained=_layer_residuals(profile, conv, run, items))
            if run.params is not None:
                entry["params"] = _reconcile(run.params, profile.params, peer.explain_params(profile, model, run, ctx))
                entry["params"]["unit"] = "params"
        if run.notes:
            entry["notes"] = list(run.notes)
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        result[name] = entry
    return result


class CrosscheckResult(dict):
    """``{tool: reconciliation}`` plus ``skipped`` (tool -> why it did not run)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.skipped: dict[str, str] = {}
