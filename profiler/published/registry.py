"""Loading and validating a registry of published complexity figures (YAML, read with ``yaml.safe_load``).

A registry file is a mapping with ``entries:`` (a list) and optional ``defaults:``. One entry::

    - id: paper/mobilenet_v1_1.0          # unique, free text without spaces
      model: pytorchcv:mobilenet_w1       # ZOO:NAME (profiler.zoo) or path/to/file.py:factory
      input: 224                          # 224 | [224, 192] (H, W) | [3, 224, 224]; batch 1
      kwargs: {num_classes: 1001}         # optional, passed to the model factory
      macs: {value: 569M, convention: macs}     # published cost and the source's counting convention
      params: {value: 4.2M}               # published parameter count (convention: all | no_norm)
      top1: 70.6                          # optional: top1, top5, top1_err, top5_err (percent, as printed)
      source: "Howard et al. 2017, MobileNets, Table 6"
      tolerance: 0.01                     # optional, relative; or {macs: 0.01, params: 0}
      note: "..."                         # optional: what differs between the build and the paper
      explained:                          # optional: known differences per figure
        params: {reason: "...", counted: "4,180,602"}
      reported: {cpu_ms: 102}             # optional: other published figures, kept, not checked

Published values are written as printed: ``569M``, ``4.24M``, ``1.370G``, ``0.404G``, ``5,572,200`` or a
bare number (units). Suffixes: K = 1e3, M = 1e6, G and B = 1e9, T = 1e12. The digits written fix the
precision: ``4.24M`` is known to +-0.005M (half a unit of the last digit), ``5,572,200`` exactly.

A figure matches when ``|counted - published| <= max(tolerance * published, half a unit of the last
printed digit)``. The default tolerance is 1% for rounded figures (builds differ by bias/BN details worth
well under 1%; every real architecture difference we know of is larger) and 0 for exact integers.
``rounding: floor`` on a figure says the source truncates (the printed value is the floor), so the counted
value must lie in ``[published, published + unit)`` (widened by the tolerance).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from profiler.errors import UsageError, file_error

METRICS = ("macs", "params")
PARAM_CONVENTIONS = {
    "all": "every unique parameter (trainable and frozen), the way PyTorch zoos count",
    "no_norm": "parameters of normalisation layers (BatchNorm gamma/beta ...) not counted, as TF-slim's "
               "MobileNet tables do",
}
ACCURACY_KEYS = ("top1", "top5", "top1_err", "top5_err")
ENTRY_KEYS = {"id", "model", "input", "kwargs", "macs", "params", *ACCURACY_KEYS, "source", "tolerance",
              "note", "explained", "reported", "section"}
FIGURE_KEYS = {"value", "convention", "rounding"}
DEFAULT_TOLERANCE = 0.01
_SUFFIX = {"": 1, "K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "B": 10 ** 9, "T": 10 ** 12}
_NUMBER = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)\s*([KMGBT]?)\s*$")


def default_registry_path() -> str:
    """The registry shipped with the package."""
    return os.path.join(os.path.dirname(__file__), "registry.yaml")


@dataclass(frozen=True)
class Quantity:
    """A number as printed: its value (in units), the unit of its last digit and its text."""
    value: float
    resolution: float  # one unit of the last printed digit (1 for an exact integer)
    text: str
    exact: bool  # an integer written with all its digits

    @property
    def half_unit(self) -> float:
        return 0.5 * self.resolution if not self.exact else 0.0


def parse_quantity(raw: Any, where: str) -> Quantity:
    """``"569M"`` -> 569e6 known to +-0.5e6; ``"5,572,200"`` or ``5572200`` -> exact; ``0.404`` -> 0.404."""
    if isinstance(raw, bool) or raw is None:
        raise UsageError(f"{where}: expected a number such as 569M or 5,572,200, got {raw!r}")
    text = str(raw).strip()
    m = _NUMBER.match(text)
    if not m:
        raise UsageError(f"{where}: cannot read {raw!r} as a number; write it as printed, e.g. 569M, "
                         "4.24M, 1.370G or 5,572,200")
    digits, suffix = m.group(1).replace(",", ""), m.group(2)
    scale = _SUFFIX[suffix]
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    value = float(digits) * scale
    exact = isinstance(raw, int) or (not suffix and decimals == 0)
    return Quantity(value, scale * 10.0 ** -decimals, text, exact)


@dataclass(frozen=True)
class Figure:
    """One published figure (MACs or params) with the convention the source counted it in."""
    metric: str  # "macs" | "params"
    published: Quantity
    convention: str
    rounding: str = "nearest"  # "nearest" | "floor"


@dataclass(frozen=True)
class Explanation:
    reason: str
    counted: Quantity | None = None  # what today's build is expected to give, if pinned


@dataclass
class Entry:
    id: str
    model: str
    input: tuple[int, ...]  # (C, H, W)
    figures: dict[str, Figure]
    source: str
    kwargs: dict = field(default_factory=dict)
    tolerance: dict[str, float | None] = field(default_factory=dict)  # None: the default for that figure
    accuracy: dict[str, float | str] = field(default_factory=dict)
    note: str = ""
    explained: dict[str, Explanation] = field(default_factory=dict)
    reported: dict = field(default_factory=dict)
    section: str = ""

    def tolerance_for(self, metric: str) -> float:
        tol = self.tolerance.get(metric)
        if tol is not None:
            return tol
        return 0.0 if self.figures[metric].published.exact else DEFAULT_TOLERANCE


def _input(raw: Any, where: str) -> tuple[int, ...]:
    if isinstance(raw, int) and not isinstance(raw, bool):
        vals = [raw]
    elif isinstance(raw, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
        vals = list(raw)
    else:
        raise UsageError(f"{where}: input must be 224, [H, W] or [C, H, W], got {raw!r}")
    if not vals or any(v <= 0 for v in vals) or len(vals) > 3:
        raise UsageError(f"{where}: input must be 224, [H, W] or [C, H, W] with positive sizes, got {raw!r}")
    if len(vals) == 1:
        return (3, vals[0], vals[0])
    if len(vals) == 2:
        return (3, vals[0], vals[1])
    return tuple(vals)


def _tolerance(raw: Any, where: str) -> dict[str, float | None]:
    def one(v, w):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v >= 1:
            raise UsageError(f"{w}: tolerance is a relative number in [0, 1), e.g. 0.01 for 1%, got {v!r}")
        return float(v)

    if raw is None:
        return {}
    if isinstance(raw, dict):
        bad = set(raw) - set(METRICS)
        if bad:
            raise UsageError(f"{where}: tolerance keys are {', '.join(METRICS)}; got {', '.join(sorted(bad))}")
        return {k: one(v, f"{where}.{k}") for k, v in raw.items()}
    t = one(raw, where)
    return {m: t for m in METRICS}


def _figure(metric: str, raw: Any, where: str, conventions: set[str]) -> Figure:
    if not isinstance(raw, dict):
        raw = {"value": raw}
    bad = set(raw) - FIGURE_KEYS
    if bad:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(bad))}; allowed: {', '.join(sorted(FIGURE_KEYS))}")
    if "value" not in raw:
        raise UsageError(f"{where}: missing 'value' (the published number, e.g. 569M)")
    default_conv = "macs" if metric == "macs" else "all"
    conv = str(raw.get("convention", default_conv))
    allowed = conventions if metric == "macs" else set(PARAM_CONVENTIONS)
    if conv not in allowed:
        raise UsageError(f"{where}: unknown convention {conv!r}; choose one of: {', '.join(sorted(allowed))}")
    rounding = str(raw.get("rounding", "nearest"))
    if rounding not in ("nearest", "floor"):
        raise UsageError(f"{where}: rounding is 'nearest' or 'floor', got {rounding!r}")
    q = parse_quantity(raw["value"], f"{where}.value")
    if q.value <= 0:
        raise UsageError(f"{where}: the published value must be positive, got {raw['value']!r}")
    return Figure(metric, q, conv, rounding)


def parse_entry(raw: Any, index: int, conventions: set[str]) -> Entry:
    where = f"entry {index + 1}"
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: expected a mapping with id, model, input, macs/params, source")
    if isinstance(raw.get("id"), str):
        where = f"entry {raw['id']!r}"
    unknown = set(raw) - ENTRY_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(ENTRY_KEYS))}")
    for key in ("id", "model", "input", "source"):
        if key not in raw or raw[key] in (None, ""):
            raise UsageError(f"{where}: missing {key!r}")
    if not isinstance(raw["id"], str) or re.search(r"\s", raw["id"]):
        raise UsageError(f"{where}: id must be a string without spaces")
    if not isinstance(raw["model"], str):
        raise UsageError(f"{where}: model must be a string such as timm:mixnet_s")
    figures = {m: _figure(m, raw[m], f"{where}.{m}", conventions) for m in METRICS if raw.get(m) is not None}
    if not figures:
        raise UsageError(f"{where}: give at least one published figure (macs or params)")
    kwargs = raw.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise UsageError(f"{where}: kwargs must be a mapping")
    explained = {}
    for metric, ex in (raw.get("explained") or {}).items():
        if metric not in figures:
            raise UsageError(f"{where}: explained.{metric} has no published {metric} figure to explain")
        if isinstance(ex, str):
            ex = {"reason": ex}
        if not isinstance(ex, dict) or not str(ex.get("reason", "")).strip() or set(ex) - {"reason", "counted"}:
            raise UsageError(f"{where}: explained.{metric} needs 'reason' (and optionally 'counted')")
        counted = parse_quantity(ex["counted"], f"{where}.explained.{metric}.counted") if "counted" in ex else None
        explained[metric] = Explanation(str(ex["reason"]).strip(), counted)
    accuracy = {}
    for key in ACCURACY_KEYS:
        if raw.get(key) is not None:
            if isinstance(raw[key], bool) or not isinstance(raw[key], (int, float, str)):
                raise UsageError(f"{where}: {key} must be a number (percent, as printed)")
            accuracy[key] = raw[key]
    reported = raw.get("reported") or {}
    if not isinstance(reported, dict):
        raise UsageError(f"{where}: reported must be a mapping of other published figures")
    return Entry(id=raw["id"], model=raw["model"], input=_input(raw["input"], f"{where}.input"),
                 figures=figures, source=str(raw["source"]).strip(), kwargs=dict(kwargs),
                 tolerance=_tolerance(raw.get("tolerance"), f"{where}.tolerance"), accuracy=accuracy,
                 note=str(raw.get("note") or "").strip(), explained=explained, reported=dict(reported),
                 section=str(raw.get("section") or ""))


def parse_registry(data: Any, origin: str = "registry") -> list[Entry]:
    """Validate the loaded YAML document and return its entries (raises UsageError naming the entry)."""
    from profiler.conventions import list_conventions

    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise UsageError(f"{origin}: expected a mapping with an 'entries:' list")
    conventions = {c.name for c in list_conventions()}
    entries = [parse_entry(raw, i, conventions) for i, raw in enumerate(data["entries"])]
    seen: set[str] = set()
    for e in entries:
        if e.id in seen:
            raise UsageError(f"{origin}: duplicate id {e.id!r}")
        seen.add(e.id)
    return entries


def load_registry(path: str | None = None) -> list[Entry]:
    """Read a registry file (default: the one shipped with the package)."""
    import yaml

    path = path or default_registry_path()
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise UsageError(f"no such registry file {path!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise file_error(exc, path, "the registry") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    return parse_registry(data, path)
