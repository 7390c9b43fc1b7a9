"""Accuracy against cost as points: published top-1 of the registry or a CSV beside MACs and params counted
here (:func:`count_model`: the one way in, shape-only, convention ``macs``). Drawing and the frontier table
are in :mod:`profiler.report.pareto`."""
from __future__ import annotations

from profiler.errors import UsageError

_COUNTED: dict = {}


def count_model(spec: str, input_size=None, kwargs=None) -> dict:
    """MACs (convention macs) and unique params of a zoo model (:func:`profiler.zoo.profile_model`, batch 1).
    Cached per (spec, input, kwargs): registries list several figures for one build."""
    key = (spec, tuple(input_size or ()), tuple(sorted((kwargs or {}).items())))
    if key not in _COUNTED:
        from profiler.zoo import profile_model

        prof = profile_model(spec, input=tuple(input_size) if input_size else None, **(kwargs or {}))
        _COUNTED[key] = {"macs": prof.macs, "params": prof.params, "input": list(prof.source.input_size),
                         "spec": prof.source.spec}
    return _COUNTED[key]


def fill_counted(points, progress: bool = False) -> list[str]:
    """Count the cost of points that have a ``zoo`` model but no value (MACs; params too when empty).

    Returns notes for the output (what was counted, what failed)."""
    notes = []
    todo = [p for p in points if (p.extra.get("zoo") or "").strip() and (p.macs is None or p.params is None)]
    it = todo
    if progress and todo:
        from profiler.progress import progress as bar
        it = bar(todo, desc="counting MACs (meta device)")
    for p in it:
        spec = p.extra["zoo"].strip()
        try:
            c = count_model(spec, p.extra.get("input"), p.extra.get("kwargs"))
        except UsageError as exc:
            notes.append(f"{p.name}: cannot build {spec}: {exc}")
            continue
        if p.macs is None:
            p.macs = c["macs"]
            p.extra["macs_source"] = f"counted ({spec}, {'x'.join(map(str, c['input']))}, convention macs)"
        if p.params is None:
            p.params = c["params"]
        p.extra["counted_params"] = c["params"]
    return notes


def family_of(model_spec: str) -> str:
    """A family name from a zoo name: pytorchcv:mobilenet_w1 -> mobilenet, timm:mixnet_s -> mixnet."""
    import re

    name = model_spec.rsplit(":", 1)[-1].lower()
    name = re.sub(r"^(tf|tv|timm)_", "", name)  # zoo prefixes (tf_efficientnet_b0 -> efficientnet)
    m = re.match(r"([a-z]+?)(_?v\d+[a-z]?)?(?=_|\d|$)", name)
    fam = (m.group(0) if m else name).replace("_v", "v")
    return {"mobilenet": "mobilenetv1", "shufflenet": "shufflenetv1", "mnasnet": "mnasnet"}.get(fam, fam)


def _top1(entry) -> float | None:
    acc = entry.accuracy or {}
    for key, flip in (("top1", False), ("top1_err", True)):
        v = acc.get(key)
        try:
            v = float(v)
        except (TypeError, ValueError):  # "84 (as printed)" and the like: not plotted
            continue
        v = v * 100 if v <= 1 else v
        return 100 - v if flip else v
    return None


def _latency(entry) -> tuple[float | None, str]:
    for key, v in (entry.reported or {}).items():
        if str(key).endswith("_ms"):
            try:
                return float(v), str(key)
            except (TypeError, ValueError):
                continue
    return None, ""


def source_rank(entry_id: str) -> int:
    """How primary a registry entry's figures are, for :func:`profiler.report.pareto.merge_duplicates`: 0 the
    authors' own table (``paper/``), 2 a zoo's weights metadata (``tv/``, ``slim/``, ``megvii/``), 1 the seed
    tables quoting the papers (sections A-E) and anything else."""
    head = entry_id.split("/", 1)[0] if "/" in entry_id else ""
    return 0 if head == "paper" else 2 if head in ("tv", "slim", "megvii") else 1


def registry_points(path: str | None, pattern: str | None, progress: bool = True) -> tuple[list, list[str]]:
    """Points from the published registry: published top-1 against MACs and params counted here
    (each entry's model, input and kwargs; meta device, convention macs). Every row comes back, duplicates
    included (several entries quoting one model); each carries its entry ``id`` and :func:`source_rank` for
    :func:`profiler.report.pareto.merge_duplicates`, which the plot, the table and the command apply."""
    try:
        from profiler.published import load_registry
    except ImportError:
        raise UsageError("the published-figures registry (profiler.published) is not available here; "
                         "use --csv FILE") from None
    from profiler.report.pareto import ParetoPoint, filter_points

    points = []
    for e in load_registry(path):
        top1 = _top1(e)
        if top1 is None:
            continue
        lat, lat_key = _latency(e)
        points.append(ParetoPoint(name=e.id.rsplit("/", 1)[-1], family=family_of(e.model), top1=top1,
                                  latency_ms=lat, source=e.source,
                                  extra={"zoo": e.model, "input": tuple(e.input), "kwargs": dict(e.kwargs or {}),
                                         "latency_key": lat_key, "id": e.id, "source_rank": source_rank(e.id)}))
    if not points:
        raise UsageError(f"no entry of {path or 'the package registry'} has a published top-1 accuracy")
    points = filter_points(points, pattern)
    notes = fill_counted(points, progress=progress)
    return points, notes
