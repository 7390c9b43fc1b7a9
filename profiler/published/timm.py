"""timm's published GMACs and parameter counts as a registry: ``profile-model check --registry timm``.

The figures: ``timm_infer_gmacs.csv`` beside this file, a copy of timm's results CSV (source and commit in
its header lines): per model and input size, ``infer_gmacs`` (GMACs, printed with two decimals) and
``param_count`` (millions, two decimals). timm computed them with fvcore's ``FlopCountAnalysis`` on
``torch.ones(1, 3, S, S)``, eval mode, fused attention off and reparameterisable models in their deploy
form. So each row is checked the way it was made:

- the model is built by timm with fused attention off (``timm.layers.set_fused_attn(False)``: attention as
  the unfused q @ k^T and attn @ v products, which fvcore counts), and ``timm.utils.reparameterize_model``
  is applied (a no-op where there is nothing to fuse), then counted on the meta device (a CPU build where a
  reparameterisation needs real tensors);
- the MACs are our ``fvcore`` convention (fvcore's rules: one flop per multiply-accumulate of conv, linear,
  matmul, einsum; its norm, pooling and upsample rates);
- the tolerance is what two printed decimals allow: half a unit of the last digit, 0.005 G (0.005 M for
  parameters);
- where fvcore itself skips an op that the model runs (no handle for ``aten::lstm``,
  ``aten::_convolution_mode``, a fused ``scaled_dot_product_attention`` call, ``aten::baddbmm`` ...) or counts
  a call our dispatcher sees differently (``F.adaptive_avg_pool2d``), the difference is computed from the
  model as the cross-check computes it (:func:`profiler.crosscheck.fvcore_peer.explain`): a row that matches
  once it is taken off is ``explained``, with the reason and amount;
- rows that differ for other reasons (an architecture changed since the CSV's timm version) are explained in
  ``timm_explained.yaml`` beside this file, each with the count today's build gives (pinned).

Not in the default ``check``: its 1,629 rows take 7 minutes (11 beside other work) on two cores, shape-only passes. A sample is in the tests.
"""
from __future__ import annotations

import contextlib
import csv
import os
import time
import warnings
from typing import Callable, Iterable

from profiler.published.check import EntryResult, FigureResult, judge, within, _RANK
from profiler.published.registry import Entry, Explanation, Figure, Quantity, parse_quantity

CSV_NAME = "timm_infer_gmacs.csv"
EXPLAINED_NAME = "timm_explained.yaml"
CONVENTION = "fvcore"


def csv_path() -> str:
    return os.path.join(os.path.dirname(__file__), CSV_NAME)


def source(path: str | None = None) -> str:
    """The CSV's provenance: its header comment, without the leading ``#``."""
    with open(path or csv_path(), encoding="utf-8") as fh:
        first = fh.readline()
    return first.lstrip("#").strip()


def _explanations(path: str | None = None) -> dict[str, dict]:
    import yaml

    path = path or os.path.join(os.path.dirname(__file__), EXPLAINED_NAME)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return data.get("rows") or {}


def load_timm_registry(path: str | None = None, explained: str | None = None) -> list[Entry]:
    """One :class:`Entry` per CSV row: id ``timm/NAME@SIZE``, model ``timm:NAME``, MACs (``fvcore``) and
    parameters as printed (two decimals)."""
    src = source(path)
    notes = _explanations(explained)
    entries = []
    with open(path or csv_path(), encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        for r in rows:
            name, size = r["model"], int(r["infer_img_size"])
            gmacs, mparams = float(r["infer_gmacs"]), float(r["param_count"])
            eid = f"timm/{name}@{size}"
            figures = {
                "macs": Figure("macs", Quantity(gmacs * 1e9, 1e7, f"{gmacs:.2f}G", False), CONVENTION),
                "params": Figure("params", Quantity(mparams * 1e6, 1e4, f"{mparams:.2f}M", False), "all"),
            }
            explained = {}
            for metric, ex in (notes.get(eid) or {}).items():
                counted = parse_quantity(ex["counted"], f"{eid}.{metric}.counted") if "counted" in ex else None
                explained[metric] = Explanation(str(ex["reason"]).strip(), counted)
            entries.append(Entry(id=eid, model=f"timm:{name}", input=(3, size, size), figures=figures,
                                 source=src, tolerance={"macs": 0.0, "params": 0.0}, explained=explained,
                                 section="timm"))
    return entries


@contextlib.contextmanager
def fused_attention_off():
    """timm builds its attention blocks unfused while this is active (as timm's benchmark did)."""
    from timm.layers import config

    saved = config._USE_FUSED_ATTN
    config.set_fused_attn(False)
    try:
        yield
    finally:
        config._USE_FUSED_ATTN = saved


class _Counted:
    """One model at one size: its Profile, the module it was counted from and the fvcore skips named."""

    def __init__(self, prof, items, notes, error=""):
        self.prof, self.items, self.notes, self.error = prof, items, notes, error


class TimmProfiler:
    """Builds each model once (fused attention off, reparameterised), counts it at each size asked."""

    def __init__(self):
        self.models: dict[str, tuple] = {}  # name -> (module, notes) or (None, [error])

    def _model(self, name: str):
        if name not in self.models:
            from timm.utils import reparameterize_model

            from profiler.zoo.build import build_model

            notes: list[str] = []
            try:
                with warnings.catch_warnings(), fused_attention_off():
                    warnings.simplefilter("ignore")
                    built = build_model(f"timm:{name}", device="auto")
                    model = built.model.eval()
                    try:
                        model = reparameterize_model(model, inplace=True)
                    except Exception as exc:  # noqa: BLE001 - a fusion that needs real tensors
                        built = build_model(f"timm:{name}", device="cpu")
                        model = reparameterize_model(built.model.eval(), inplace=True)
                        notes.append(f"reparameterised on the CPU ({type(exc).__name__} on meta)")
                self.models = {name: (model, notes)}  # keep one model in memory at a time
            except Exception as exc:  # noqa: BLE001 - reported on the row
                self.models = {name: (None, [f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"])}
        return self.models[name]

    def __call__(self, entry: Entry) -> _Counted:
        import torch

        from profiler.core.engine import profile
        from profiler.crosscheck import fvcore_peer
        from profiler.crosscheck.census import census

        name = entry.model.split(":", 1)[1]
        model, notes = self._model(name)
        if model is None:
            return _Counted(None, [], [], notes[0])
        size = (1, *entry.input)
        on_meta = any(t.device.type == "meta" for t in model.parameters())
        device = "meta" if on_meta else "cpu"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x = torch.ones(size, device=device)
                prof = profile(model, x, device=device)
                ctx = {**census(model, (x,), {}), "args": (x,)}
                items = fvcore_peer.explain(prof, model, None, ctx)
        except Exception as exc:  # noqa: BLE001
            return _Counted(None, [], list(notes), f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        return _Counted(prof, [i for i in items if i.macs], list(notes))


def _skips_reason(items) -> str:
    groups: dict[str, list] = {}
    for i in items:
        g = groups.setdefault(i.what, [0, 0])
        g[0] += 1
        g[1] += i.macs
    return "; ".join(f"{what}: {amount / 1e9:+.4f} G in {n} layer{'s' if n > 1 else ''}"
                     for what, (n, amount) in sorted(groups.items(), key=lambda kv: kv[1][1]))


def check_timm_entry(entry: Entry, counter: TimmProfiler) -> EntryResult:
    from profiler.published.check import count_params

    t0 = time.perf_counter()
    c = counter(entry)
    figures: dict[str, FigureResult] = {}
    for metric, fig in entry.figures.items():
        if c.prof is None:
            counted = None
        elif metric == "macs":
            counted = c.prof.total(CONVENTION)
        else:
            counted = count_params(c.prof, fig.convention)
        unit = "fvcore flops (= MACs)" if metric == "macs" else "params"
        res = judge(entry, fig, counted, unit)
        if metric == "macs" and counted is not None and c.items and res.status == "mismatch":
            # What fvcore itself counts: ours less the ops it skips (plus the calls it sees differently).
            fv = counted + sum(int(i.macs) for i in c.items)
            if within(fv, fig.published, 0.0):
                res.status, res.detail = "explained", ""
                res.reason = "fvcore's own count (" + f"{fv / 1e9:.4f} G" + "): " + _skips_reason(c.items)
        figures[metric] = res
    status = max((f.status for f in figures.values()), key=_RANK.__getitem__)
    if c.error:
        status = "mismatch"
    return EntryResult(entry, figures, status, c.error, c.notes, time.perf_counter() - t0)


def check_timm(entries: Iterable[Entry], progress: Callable | None = None) -> list[EntryResult]:
    """Check timm registry entries (see the module docstring); ``progress`` wraps the iterable."""
    entries = sorted(entries, key=lambda e: (e.model, e.input))  # one build per model
    counter = TimmProfiler()
    it = progress(entries) if progress else entries
    return [check_timm_entry(e, counter) for e in it]
