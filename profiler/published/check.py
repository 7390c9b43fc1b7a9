"""The check: profile every registry entry and compare with the published figures. Plain data, no printing.

Statuses per figure and per entry (an entry takes the worst of its figures):

- ``ok``: within tolerance of the published figure;
- ``explained``: outside it, but the entry explains the difference (``explained:`` with a reason); when the
  explanation pins the value today's build gives (``counted:``), the count must still match that, so a
  build that drifts further is a mismatch, never hidden behind an old explanation;
- ``mismatch``: anything else, including a model that cannot be built or run (``error`` says why).
"""
from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from typing import Callable, Iterable

from profiler.published.registry import Entry, Figure, Quantity

STATUSES = ("ok", "explained", "mismatch")
_RANK = {s: i for i, s in enumerate(STATUSES)}


def count_params(prof, convention: str) -> int:
    """Parameters of a profile under a parameter convention (see registry.PARAM_CONVENTIONS)."""
    if convention == "all":
        return prof.params
    if convention == "no_norm":
        return prof.params - sum(layer.params for layer in prof.layers if layer.kind == "norm")
    raise ValueError(f"unknown parameter convention {convention!r}")


def within(counted: float, q: Quantity, tol: float, rounding: str = "nearest") -> bool:
    """Does ``counted`` agree with the printed quantity ``q`` (relative tolerance ``tol``)?"""
    target = q.value + (q.resolution / 2 if rounding == "floor" and not q.exact else 0.0)
    allowed = max(tol * q.value, q.resolution / 2 if rounding == "floor" and not q.exact else q.half_unit)
    # floating-point slack of a few ulps so that 0.5 * 1e6 boundaries behave
    return abs(counted - target) <= allowed * (1 + 1e-9) + 1e-9 * abs(q.value)


@dataclass
class FigureResult:
    metric: str
    published: float
    text: str  # as printed
    convention: str
    unit: str  # "MACs", "FLOPs", "ops", "params"
    counted: int | None
    delta: float | None  # percent, (counted - published) / published
    tolerance: float  # relative
    status: str
    reason: str = ""  # the explanation, for explained figures
    detail: str = ""  # why a figure is a mismatch

    def to_dict(self) -> dict:
        return {"value": self.published, "text": self.text, "convention": self.convention, "unit": self.unit,
                "tolerance": self.tolerance}


@dataclass
class EntryResult:
    entry: Entry
    figures: dict[str, FigureResult]
    status: str
    error: str = ""
    notes: list[str] = field(default_factory=list)  # how the model was built / where the pass ran
    seconds: float = 0.0

    def to_dict(self) -> dict:
        e = self.entry
        return {
            "id": e.id,
            "model": e.model,
            "input": list(e.input),
            "published": {m: f.to_dict() for m, f in self.figures.items()},
            "counted": {m: f.counted for m, f in self.figures.items()},
            "delta": {m: (None if f.delta is None else round(f.delta, 4)) for m, f in self.figures.items()},
            "status": self.status,
            "figures_status": {m: f.status for m, f in self.figures.items()},
            "explained": {m: f.reason for m, f in self.figures.items() if f.reason},
            "accuracy": dict(e.accuracy),
            "source": e.source,
            "note": e.note,
            "error": self.error,
        }


def select(entries: Iterable[Entry], pattern: str | None) -> list[Entry]:
    """Entries whose id or model matches ``pattern`` (a glob; a plain word matches as a substring)."""
    entries = list(entries)
    if not pattern:
        return entries
    pat = pattern if any(ch in pattern for ch in "*?[") else f"*{pattern}*"
    return [e for e in entries if fnmatch.fnmatchcase(e.id, pat) or fnmatch.fnmatchcase(e.model, pat)]


def judge(entry: Entry, fig: Figure, counted: int | None, unit: str) -> FigureResult:
    q = fig.published
    tol = entry.tolerance_for(fig.metric)
    if counted is None:
        return FigureResult(fig.metric, q.value, q.text, fig.convention, unit, None, None, tol, "mismatch",
                            detail="not counted")
    delta = 100.0 * (counted - q.value) / q.value
    res = FigureResult(fig.metric, q.value, q.text, fig.convention, unit, counted, delta, tol, "ok")
    if within(counted, q, tol, fig.rounding):
        return res
    ex = entry.explained.get(fig.metric)
    if ex is None:
        res.status = "mismatch"
        res.detail = f"{delta:+.2f}% is outside the tolerance and no explanation is registered"
        return res
    res.reason = ex.reason
    if ex.counted is not None and not within(counted, ex.counted, tol if not ex.counted.exact else 0.0):
        res.status = "mismatch"
        res.detail = (f"the explanation expects today's build to give {ex.counted.text}, "
                      f"it gives {counted:,}: the build changed since the explanation was written")
        return res
    res.status = "explained"
    return res


class _Profiler:
    """Profiles each distinct (model, input, kwargs) once; every convention is read from that one pass."""

    def __init__(self, device: str = "auto"):
        self.device = device
        self.cache: dict[str, tuple] = {}

    def __call__(self, entry: Entry):
        key = json.dumps([entry.model, list(entry.input), entry.kwargs], sort_keys=True, default=str)
        if key not in self.cache:
            from profiler.zoo import profile_model

            try:
                prof = profile_model(entry.model, input=entry.input, device=self.device, **(entry.kwargs or {}))
                self.cache[key] = (prof, list(prof.notes), "")
            except Exception as exc:  # noqa: BLE001 - one broken entry must not stop the check
                self.cache[key] = (None, [], f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        return self.cache[key]


def check_entry(entry: Entry, profile_fn: Callable) -> EntryResult:
    import time

    from profiler.conventions import get_convention

    t0 = time.perf_counter()
    prof, notes, error = profile_fn(entry)
    figures = {}
    for metric, fig in entry.figures.items():
        if metric == "macs":
            unit = get_convention(fig.convention).unit
            counted = prof.total(fig.convention) if prof is not None else None
        else:
            unit = "params"
            counted = count_params(prof, fig.convention) if prof is not None else None
        figures[metric] = judge(entry, fig, counted, unit)
    status = max((f.status for f in figures.values()), key=_RANK.__getitem__)
    if error:
        status = "mismatch"
    return EntryResult(entry, figures, status, error, notes, time.perf_counter() - t0)


def run_check(entries: Iterable[Entry], *, device: str = "auto", progress: Callable | None = None) -> list[EntryResult]:
    """Check ``entries``; ``progress`` wraps the iterable (e.g. tqdm) if given."""
    profile_fn = _Profiler(device)
    entries = list(entries)
    it = progress(entries) if progress else entries
    return [check_entry(e, profile_fn) for e in it]


def summary(results: list[EntryResult]) -> dict[str, int]:
    out = {s: 0 for s in STATUSES}
    for r in results:
        out[r.status] += 1
    return out
