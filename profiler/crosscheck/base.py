"""Shared pieces of the cross-check: what a peer run gives back, explained items, helpers over a Profile.

Every number a peer produces is kept in the peer's own unit (see each peer's ``unit``); an explained item's
``macs`` is in that unit too, so ``theirs - ours - sum(item.macs) == unexplained`` holds in one unit.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from dataclasses import dataclass, field

import torch.nn as nn

from profiler.conventions import get_convention


@dataclass
class Item:
    """One named difference: ``macs`` (in the peer's unit) = what the peer counts minus what we count."""
    what: str
    layer: str
    macs: int

    def to_dict(self) -> dict:
        return {"what": self.what, "layer": self.layer, "macs": int(self.macs)}


@dataclass
class PeerRun:
    """What one peer tool reported, in its own unit.

    total: the figure the tool returns/prints for the whole model (None for params-only tools).
    by_layer: the tool's own count per layer path (ops attributed to that module itself, not its children),
    where the tool gives per-layer numbers; None otherwise.
    params: the tool's parameter total (None if it has none).
    """
    total: int | None
    by_layer: dict[str, int] | None = None
    params: int | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def importable(module: str) -> bool:
    """Whether the peer tool ``module`` is installed (peers are optional: a missing one is skipped, not an error)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def quiet():
    """Peers print progress and warnings; none of it is ours to show."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as out, \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield out


def own_from_inclusive(inclusive: dict[str, int], model: nn.Module) -> dict[str, int]:
    """Per-layer own counts from per-module inclusive counts (a module's minus its direct children's)."""
    own = {}
    for path, mod in model.named_modules():
        total = inclusive.get(path, 0)
        for name, _ in mod.named_children():
            total -= inclusive.get(f"{path}.{name}" if path else name, 0)
        own[path] = total
    return own


def own_cost(layer, convention, keep=None) -> int:
    """``layer``'s own cost under ``convention``; ``keep(op, category)`` selects the ops to include."""
    conv = get_convention(convention)
    total = 0.0
    for op, st in layer.ops.items():
        for cat, n in st.counts.items():
            if keep is None or keep(op, cat):
                total += conv.cost(layer, op, cat, n)
    return int(round(total))


def is_descendant(path: str, ancestor: str) -> bool:
    return path != ancestor and (ancestor == "" or path.startswith(ancestor + "."))
