"""``profile-model pareto``: top-1 accuracy against MACs (or params, latency), the Pareto frontier drawn and
listed, families coloured.

Data: ``--csv FILE`` (columns model,family,top1 and macs/params/latency_ms; a ``zoo`` column naming a model,
e.g. ``pytorchcv:mixnet_s``, lets empty macs/params cells be counted by profiling it), or the registry of
published figures (``--registry FILE``, default: the package's registry) whose published top-1 is plotted
against MACs *counted* here (shape-only pass on the meta device, convention ``macs``).
"""
from __future__ import annotations

import os

from profiler.cli.common import output_file
from profiler.errors import UsageError

HELP = ("accuracy vs MACs/params/latency with the Pareto frontier: "
        "profile-model pareto [--x macs|params|latency] [--registry FILE | --csv FILE] [--models PATTERN] "
        "--output FILE.png|.svg")


def add_arguments(parser) -> None:
    parser.add_argument("--x", dest="axis", default="macs", choices=["macs", "params", "latency"],
                        help="cost axis (log scale): macs (counted, convention macs), params, latency (ms)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--registry", metavar="FILE", default=None,
                     help="published-figures registry (YAML); default: the package's own")
    src.add_argument("--csv", metavar="FILE", default=None,
                     help="CSV with columns model,family,top1,macs,params[,latency_ms][,zoo][,source]")
    parser.add_argument("--models", metavar="PATTERN", default=None,
                        help="keep models whose name or family matches (glob; comma-separated; substring "
                             "without wildcards)")
    parser.add_argument("--output", type=output_file, metavar="FILE", required=True, help="picture to write (.png, .svg, .pdf)")
    parser.add_argument("--title", default=None, help="plot title")
    parser.add_argument("--format", default="table", choices=["table", "markdown", "json"],
                        help="how to print the frontier")


# -- counting ----------------------------------------------------------------------------------------------
_COUNTED: dict = {}


def count_model(spec: str, input_size=None, kwargs=None) -> dict:
    """MACs (convention macs) and unique params of a zoo model, shape-only pass on the meta device.
    Cached per (spec, input, kwargs): registries list several figures for one build."""
    key = (spec, tuple(input_size or ()), tuple(sorted((kwargs or {}).items())))
    if key not in _COUNTED:
        _COUNTED[key] = _count(spec, input_size, kwargs or {})
    return _COUNTED[key]


def _count(spec, input_size, kwargs) -> dict:
    from profiler import profile, zoo

    model, info = zoo.create(spec, **kwargs)
    size = tuple(input_size) if input_size else info.input_size
    prof = profile(model, input_size=(1, *size), device="meta", name=info.spec)
    return {"macs": prof.total("macs"), "params": prof.params, "input": list(size), "spec": info.spec}


def fill_counted(points, axis: str, progress: bool = False) -> list[str]:
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


# -- registry ----------------------------------------------------------------------------------------------
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


def registry_points(path: str | None, pattern: str | None, progress: bool = True) -> tuple[list, list[str]]:
    """Points from the published registry: published top-1 against MACs and params counted here
    (each entry's model, input and kwargs; meta device, convention macs)."""
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
                                         "latency_key": lat_key}))
    if not points:
        raise UsageError(f"no entry of {path or 'the package registry'} has a published top-1 accuracy")
    points = filter_points(points, pattern)
    notes = fill_counted(points, "macs", progress=progress)
    return points, notes


# -- command -----------------------------------------------------------------------------------------------
def run(args) -> int:
    import json

    from profiler.report.pareto import X_AXES, filter_points, frontier_table, load_csv, pareto_front, usable
    from profiler.report.pareto import write_pareto

    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--output must end in .png, .svg or .pdf, got {args.output!r}")
    if args.csv:
        points = filter_points(load_csv(args.csv), args.models)
        notes = fill_counted(points, args.axis, progress=args.format != "json")
        source = args.csv
    else:
        points, notes = registry_points(args.registry, args.models, progress=args.format != "json")
        source = args.registry or "the package registry"
    shown, missing = usable(points, args.axis)
    if not shown:
        raise UsageError(f"no model in {source} has a {args.axis} value"
                         f"{' (column latency_ms)' if args.axis == 'latency' else ''}")
    counted = any("macs_source" in p.extra for p in shown)
    name, meaning = X_AXES[args.axis]
    xlabel = None
    if args.axis == "macs":
        xlabel = (f"MACs, log scale - {'counted by profiler (convention macs: ' if counted else 'as published ('}"
                  "conv + linear multiply-accumulates, bias not counted; the papers' FLOPs)")
    write_pareto(shown, args.output, axis=args.axis, title=args.title or f"Top-1 vs {name} ({os.path.basename(source)})",
                 xlabel=xlabel)
    front = pareto_front(shown, args.axis)
    if args.format == "json":
        print(json.dumps({
            "output": args.output, "x": args.axis, "x_meaning": meaning, "source": source,
            "points": [{"model": p.name, "family": p.family, "top1": p.top1, "macs": p.macs, "params": p.params,
                        "latency_ms": p.latency_ms, "frontier": p in front,
                        "macs_source": p.extra.get("macs_source", "given")} for p in shown],
            "not_shown": [p.name for p in missing], "notes": notes}))
        return 0
    print(f"Pareto frontier: top-1 (%) vs {name} [{meaning}], {len(front)} of {len(shown)} models; from {source}")
    print(frontier_table(shown, args.axis, tablefmt="github" if args.format == "markdown" else "simple"))
    if missing:
        print(f"not shown (no {args.axis}): {', '.join(p.name for p in missing)}")
    for n in notes:
        print(f"note: {n}")
    print(f"wrote {args.output}")
    return 0
