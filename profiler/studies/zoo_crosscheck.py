"""The cross-check at zoo scale: every model of a zoo (or a stratified sample of it) built on the CPU (random
weights, nothing downloaded), in eval mode, at its default input size, batch 1, and each peer tool run on it
for real beside our count (:func:`profiler.crosscheck.crosscheck`). Plain data, no printing.

One row per (model, peer) (:data:`COLUMNS`): the peer's total and ours in the peer's convention (its unit),
what the named differences add up to, what is left unexplained, and the classes of named differences
(``classes``: JSON ``{class: [layers, amount, example reason]}``; a class is a reason with the model's own
module type names and counts taken out, so that "BatchNormAct2d is not a module type ptflops hooks" and
"GroupNormAct is not a module type ptflops hooks" are one class). Statuses (:data:`STATUSES`):
``reconciled`` (nothing unexplained), ``close`` (unexplained within :data:`TOLERANCE` of the peer's total),
``unexplained``, ``peer failed`` (the peer raised on this model: ``error`` says what), and the model's own
failures (``model failed``, ``timeout``, ``memory``, ``crashed``), which apply to every peer of that model.

The worker processes, timeouts and memory cap are :func:`profiler.studies.sweep.run_sweep`'s.
"""
from __future__ import annotations

import hashlib
import json
import re
import time

COLUMNS = ("zoo", "name", "family", "input", "tool", "unit", "convention", "theirs", "ours", "explained",
           "unexplained", "unexplained_pct", "status", "classes", "error", "seconds")
#: The zoo-scale bar: |unexplained| / |theirs| at or below this (a fraction, 0.1 %) is ``close``.
TOLERANCE = 1e-3
STATUSES = ("reconciled", "close", "unexplained", "peer failed", "model failed", "timeout", "memory", "crashed")
MODEL_FAILURES = ("model failed", "timeout", "memory", "crashed")
DEFAULT_TOOLS = ("fvcore", "ptflops", "torch")


# -- families and the stratified sample ---------------------------------------------------------------------
def family_of(zoo: str, name: str) -> str:
    """The model family: timm's model module (``resnetv2``, ``vision_transformer`` ...), torchvision's builder
    module (``resnet``, ``mobilenetv3`` ...); otherwise the name up to its first digit or underscore."""
    try:
        if zoo == "timm":
            from timm.models import _registry

            module = _registry._model_to_module.get(name)
            if module:
                return module
        elif zoo == "torchvision":
            import torchvision

            return torchvision.models.get_model_builder(name).__module__.rsplit(".", 1)[-1]
    except Exception:  # noqa: BLE001 - a zoo without the registry we read: fall back to the name
        pass
    return re.split(r"[\d_]", name, maxsplit=1)[0] or name


def _order(name: str) -> str:
    """A fixed pseudo-random order (the same on every machine and run), so a sample is not alphabetical."""
    return hashlib.sha1(name.encode()).hexdigest()


def stratified_sample(zoo: str, names, per_family: int = 1) -> list[str]:
    """``per_family`` names of each family (all of a smaller family), in a fixed pseudo-random order within
    the family; families in alphabetical order."""
    families: dict[str, list[str]] = {}
    for n in names:
        families.setdefault(family_of(zoo, n), []).append(n)
    out = []
    for fam in sorted(families):
        out.extend(sorted(families[fam], key=_order)[:per_family])
    return out


# -- one model -----------------------------------------------------------------------------------------------
def _type_pattern(model) -> re.Pattern | None:
    names = sorted({type(m).__name__ for m in model.modules()}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b") if names else None


def reason_class(what: str, types: re.Pattern | None = None) -> str:
    """A reason without what is particular to one model: its module type names (``{module}``), counts in
    brackets and quoted layer paths."""
    if types is not None:
        what = types.sub("{module}", what)
    what = re.sub(r"\(\d+\)", "(N)", what)
    return re.sub(r"'[^']*'", "'...'", what)


def classes_of(entry: dict, types: re.Pattern | None = None) -> dict[str, list]:
    """``{class: [layers, amount, example reason]}`` of one peer's explained items."""
    out: dict[str, list] = {}
    for item in entry["explained"]:
        c = out.setdefault(reason_class(item["what"], types), [0, 0, item["what"]])
        c[0] += 1
        c[1] += int(item["macs"])
    return out


def no_download_kwargs(zoo: str, name: str) -> dict:
    """Constructor arguments that keep a build from fetching anything: torchvision's detection and segmentation
    builders default to an ImageNet backbone (``weights_backbone``), which they would download."""
    if zoo != "torchvision":
        return {}
    import inspect

    import torchvision

    params = inspect.signature(torchvision.models.get_model_builder(name)).parameters
    return {"weights_backbone": None} if "weights_backbone" in params else {}


def _base(zoo: str, name: str) -> dict:
    return {c: "" for c in COLUMNS} | {"zoo": zoo, "name": name, "family": family_of(zoo, name)}


def failure_rows(zoo: str, name: str, tools, status: str, error: str, seconds: float = 0.0) -> list[dict]:
    """The rows of a model that could not be cross-checked at all (one per peer, the same ``status``)."""
    return [_base(zoo, name) | {"tool": t, "status": status, "error": error, "seconds": round(seconds, 3)}
            for t in tools]


def crosscheck_rows(zoo: str, name: str, tools=DEFAULT_TOOLS) -> list[dict]:
    """Build ``zoo:name`` on the CPU (random weights), eval mode, its default input at batch 1, and
    cross-check it with ``tools``: one row per tool."""
    import warnings

    import torch

    from profiler.crosscheck.core import crosscheck
    from profiler.zoo.build import build_model

    tools = list(tools)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            built = build_model(f"{zoo}:{name}", device="cpu", **no_download_kwargs(zoo, name))
            model = built.model.eval()
            shape = tuple(built.info.input_size)
            torch.manual_seed(0)
            result = crosscheck(model, input_size=(1, *shape), tools=tools)
    except Exception as exc:  # noqa: BLE001 - every failure becomes rows with its reason
        msg = " ".join(str(exc).split())
        return failure_rows(zoo, name, tools, "model failed", f"{type(exc).__name__}: {msg[:400]}",
                            time.perf_counter() - t0)
    types = _type_pattern(model)
    rows = []
    for tool in tools:
        row = _base(zoo, name) | {"tool": tool, "input": "x".join(str(d) for d in shape)}
        if tool not in result:
            rows.append(row | {"status": "peer failed", "error": result.skipped.get(tool, "not run")})
            continue
        e = result[tool]
        explained = sum(int(i["macs"]) for i in e["explained"])
        pct = 100.0 * e["unexplained"] / e["theirs"] if e["theirs"] else (0.0 if not e["unexplained"] else float("inf"))
        status = "reconciled" if e["unexplained"] == 0 else \
            "close" if abs(pct) <= 100 * TOLERANCE else "unexplained"
        detail = ""
        if e["unexplained"] and e.get("layers_unexplained"):
            detail = "largest residuals: " + ", ".join(f"{r['layer'] or '(root)'} {r['macs']:+,}"
                                                       for r in e["layers_unexplained"][:3])
        rows.append(row | {"unit": e["unit"], "convention": e.get("convention", ""), "theirs": e["theirs"],
                           "ours": e["ours"], "explained": explained, "unexplained": e["unexplained"],
                           "unexplained_pct": round(pct, 6), "status": status,
                           "classes": json.dumps(classes_of(e, types), sort_keys=True), "error": detail,
                           "seconds": e.get("seconds", "")})
    return rows


# -- the whole sweep's summary -------------------------------------------------------------------------------
def summarise(rows: list[dict], tools=None) -> dict:
    """Per peer: models tried, how many reconciled (nothing unexplained), close (within :data:`TOLERANCE`),
    unexplained (name, % and largest residuals), peer failures (name, error), model failures, and the classes
    of named differences with the models each touches and their total amount (in the peer's unit).

    ``rows`` as read back from the CSV (strings) or as made (numbers)."""
    out: dict[str, dict] = {}
    for r in rows:
        tool = r["tool"]
        if tools and tool not in tools:
            continue
        s = out.setdefault(tool, {"tried": 0, "unit": "", "by_status": {k: 0 for k in STATUSES},
                                  "unexplained": [], "peer_failures": [], "model_failures": [], "classes": {},
                                  "worst": None})
        s["tried"] += 1
        status = r["status"]
        s["by_status"][status] = s["by_status"].get(status, 0) + 1
        s["unit"] = s["unit"] or r.get("unit", "")
        if status in ("close", "unexplained"):
            s["unexplained"].append({"name": r["name"], "pct": float(r["unexplained_pct"]),
                                     "unexplained": int(r["unexplained"]), "theirs": int(r["theirs"]),
                                     "detail": r.get("error", "")})
        elif status == "peer failed":
            s["peer_failures"].append({"name": r["name"], "error": r.get("error", "")})
        elif status in MODEL_FAILURES:
            s["model_failures"].append({"name": r["name"], "status": status, "error": r.get("error", "")})
        if status in ("reconciled", "close", "unexplained"):
            pct = abs(float(r["unexplained_pct"] or 0))
            if s["worst"] is None or pct > s["worst"][1]:
                s["worst"] = (r["name"], pct)
            classes = r["classes"]
            classes = json.loads(classes) if isinstance(classes, str) and classes else (classes or {})
            for cls, (layers, amount, example) in classes.items():
                c = s["classes"].setdefault(cls, {"models": 0, "layers": 0, "amount": 0, "example": example,
                                                  "model": r["name"]})
                c["models"] += 1
                c["layers"] += int(layers)
                c["amount"] += int(amount)
    for s in out.values():
        s["unexplained"].sort(key=lambda u: -abs(u["pct"]))
        s["reconciled"] = s["by_status"]["reconciled"]
        s["within_tolerance"] = s["by_status"]["reconciled"] + s["by_status"]["close"]
    return out


def read_rows(path: str) -> list[dict]:
    """The rows of an earlier zoo cross-check CSV ([] when there is none)."""
    from profiler.studies import sweep

    return sweep.read_rows(path, ("zoo", "name", "tool", "status"), "zoo cross-check")
