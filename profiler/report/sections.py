"""Plain-text sections of the CLI's extensions and studies: depthwise-separable pairs, memory traffic, latency,
the sweep summary and the block study. Renderers only: every number is read off the analysis's data
(:mod:`profiler.analysis`, :mod:`profiler.studies`); nothing is counted or timed here.

The ``*_section`` functions return ``(title, text)``, what a profile-command extension appends to
``Context.sections``.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform

from profiler.report.textfit import fit_table, widest, wrap_line

__all__ = ["separable_table", "separable_section", "traffic_table", "traffic_section", "latency_section",
           "layer_latency_section", "sweep_summary_text", "sweep_summary_markdown", "blocks_by_dataset",
           "blocks_report"]


def _tabulate(rows, headers, **kw) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, **kw)


def _hw(hw) -> str:
    return "x".join(str(d) for d in hw)


# -- depthwise separable pairs (profiler.analysis.separable) ------------------------------------------------
def _ratio(r) -> str:
    return f"{float(r):.5f} ({r})"


def separable_table(pairs, tablefmt: str = "simple", width: int | None = None) -> str:
    """The per-pair table of :func:`profiler.analysis.separable.separable_pairs`, followed by the notes and
    the whole-network line (:func:`profiler.analysis.separable.summary`).

    width: a text table wider than that many columns is written with two lines per pair (the depthwise over
    the pointwise: paths, kernel over stride, dw over pw MACs, each ratio over its fraction; the paths wrapped
    if still too wide), and the notes wrapped; None: one line per pair, notes unwrapped."""
    from profiler.analysis.separable import summary

    if not pairs:
        return "no depthwise -> pointwise pairs found (no depthwise conv feeds a dense 1x1 conv)"
    rows, stacked = [], []
    notes = []
    for i, p in enumerate(pairs, 1):
        mark = "yes" if p.agree else "no"
        if p.notes:
            mark += f" [{i}]"
            notes.extend(f"[{i}] {n}" for n in p.notes)
        saving = f"{1 / float(p.counted_ratio):.2f}x"
        rows.append([i, p.depthwise, p.pointwise, _hw(p.kernel), f"{p.in_channels}->{p.out_channels}",
                     _hw(p.stride), _hw(p.output_hw), f"{p.dw_macs:,}", f"{p.pw_macs:,}",
                     f"{p.standard_macs:,}", _ratio(p.counted_ratio), _ratio(p.analytic_ratio), saving, mark])
        stacked.append([i, f"{p.depthwise}\n{p.pointwise}", f"{_hw(p.kernel)}\n{_hw(p.stride)}",
                        f"{p.in_channels}->{p.out_channels}", _hw(p.output_hw), f"{p.dw_macs:,}\n{p.pw_macs:,}",
                        f"{p.standard_macs:,}", _ratio(p.counted_ratio).replace(" ", "\n"),
                        _ratio(p.analytic_ratio).replace(" ", "\n"), saving, mark])
    headers = ["#", "depthwise", "pointwise", "k", "M->N", "stride", "out HxW", "dw MACs", "pw MACs",
               "standard MACs", "counted ratio", "1/N + 1/k^2", "saving", "equal"]
    s = summary(pairs)
    text = _tabulate(rows, headers, tablefmt=tablefmt, disable_numparse=True,
                     colalign=("right", "left", "left", "right", "right", "right", "right", "right", "right",
                               "right", "right", "right", "right", "left"))
    if tablefmt == "simple" and width is not None and widest(text) > width:
        text = fit_table(stacked, ["#", "depthwise\npointwise", "k\nstride", "M->N", "out HxW", "dw MACs\npw MACs",
                                   "standard MACs", "counted ratio", "1/N + 1/k^2", "saving", "equal"],
                         width, wrap=(1,), colalign=("right", "left", "right", "right", "right", "right", "right",
                                                     "right", "right", "right", "left"))
    prose = ["MACs = multiply-accumulates per forward pass (conv, bias not counted). counted ratio = (dw MACs + "
             "pw MACs) / MACs of a dense k x k conv M->N with the depthwise's stride and padding (same output).",
             f"{s['agree']} of {s['pairs']} pairs equal 1/N + 1/k^2 exactly. All pairs: {s['separable_macs']:,} "
             f"MACs separable vs {s['standard_macs']:,} MACs standard = {s['ratio']:.5f} "
             f"({1 / s['ratio']:.2f}x fewer MACs)."]
    if notes:
        prose += ["", *notes]
    return "\n".join([text, ""] + [wrap_line(line, width) for line in prose])


def separable_section(pairs, width: int | None = None) -> tuple[str, str]:
    """``(title, text)`` of :func:`separable_table`, fitted to ``width`` columns (None: unwrapped)."""
    return "Depthwise separable pairs (MACs, bias not counted)", separable_table(pairs, width=width)


# -- memory traffic (profiler.analysis.traffic) ---------------------------------------------------------------
def _intensity(x) -> str:
    return "-" if x is None else f"{x:,.2f}"


def traffic_table(tr, *, top: int | None = None, tablefmt: str = "simple", width: int | None = None) -> str:
    """Layers of a :class:`~profiler.analysis.traffic.Traffic` (the ``top`` heaviest by bytes moved when set,
    else all in execution order) and the total; sizes in MB (10^6 B). ``width``: a text table wider than that
    many columns has its layer paths and types wrapped (the numbers whole)."""
    rows = tr.layers
    if top is not None:
        rows = sorted(rows, key=lambda t: -t.bytes_total)[:top]
    body = [(t.path or "(root)", t.type, f"{t.macs / 1e6:,.2f}", f"{t.bytes_read / 1e6:,.3f}",
             f"{t.bytes_written / 1e6:,.3f}", _intensity(t.intensity)) for t in rows]
    body.append(("total", "", f"{tr.macs / 1e6:,.2f}", f"{tr.bytes_read / 1e6:,.3f}",
                 f"{tr.bytes_written / 1e6:,.3f}", _intensity(tr.intensity)))
    return fit_table(body, ["layer", "type", "MMACs", "read MB", "written MB", "MACs/B"],
                     width if tablefmt == "simple" else None, wrap=(0, 1), tablefmt=tablefmt)


def traffic_section(tr, top: int | None = None, width: int | None = None) -> tuple[str, str]:
    """``(title, text)`` of :func:`traffic_table`, fitted to ``width`` columns (None: unwrapped)."""
    title = ("Memory traffic per layer (MB = 10^6 B read/written by the layer's own ops; MACs/B = "
             "multiply-accumulates per byte)" + (f", top {top} by bytes" if top else ""))
    return title, traffic_table(tr, top=top, width=width)


# -- latency (profiler.analysis.latency, profiler.analysis.layer_latency) ------------------------------------
def latency_section(rows, profile, *, runs: int, warmup: int, batch: int,
                    width: int | None = None) -> tuple[str, str]:
    """Model latency per dtype and batch size. ``rows``: ``LatencyStats.to_dict()`` per measurement, or
    ``{"dtype", "batch", "error": "Type: message"}`` where it failed; ``profile`` gives the cost in the title
    (at ``batch``, the profiled batch). ``width``: the table's text cells wrapped to fit that many columns."""
    table = []
    for r in rows:
        if "error" in r:
            table.append((r["dtype"], r["batch"], "failed", "", "", r["error"].partition(": ")[2]))
            continue
        table.append((r["dtype"], r["batch"], f"{r['median_ms']:.3f}", f"{r['iqr_ms']:.3f}",
                      f"{r['median_ms'] / r['batch']:.3f}", f"{r['device']}, {r['threads']} thread(s)"))
    title = (f"Latency (ms, median and IQR over {runs} runs after {warmup} warm-up; eval, no_grad; "
             f"{profile.total():,} {profile.unit} at batch {batch})")
    return title, fit_table(table, ["dtype", "batch", "median ms", "IQR ms", "ms / image", "where"], width,
                            wrap=(5,))


def layer_latency_section(lat, profile, top: int, width: int | None = None) -> tuple[str, str]:
    """The ``top`` slowest layers (self time) of a :class:`~profiler.analysis.layer_latency.LayerLatencies`,
    with each layer's MACs (from ``profile``) and the attained GMAC/s; ``width``: the layer paths and types
    wrapped to fit that many columns."""
    macs_of = {layer.path: layer.macs for layer in profile.layers}
    slowest = sorted((la for la in lat.layers if la.path), key=lambda la: -la.self_ms.median_ms)[:top]
    body = []
    for la in slowest:
        macs = macs_of.get(la.path, 0)
        ms = la.self_ms.median_ms
        body.append((la.path, la.type, f"{ms:.3f}", f"{la.self_ms.iqr_ms:.3f}", f"{macs / 1e6:,.2f}",
                     f"{macs / (ms * 1e6):.2f}" if ms > 0 and macs else "-"))
    title = (f"Per-layer latency ({lat.device}, {lat.dtype}, batch {lat.batch}; self time = the layer's own "
             f"work, ms; hooks add {lat.overhead_ms:.2f} ms to a {lat.plain_median_ms:.2f} ms pass), "
             f"slowest {len(body)}")
    return title, fit_table(body, ["layer", "type", "self ms", "IQR ms", "MMACs", "GMAC/s"], width, wrap=(0, 1))


# -- whole-zoo sweep (profiler.studies.sweep.summarise) -------------------------------------------------------
def sweep_summary_text(zoo: str, s: dict, out: str) -> str:
    """What ``profile-model sweep`` prints: counted share, statuses, uncovered ops, failures."""
    lines = [f"{zoo}: {s['counted']}/{s['total']} architectures counted ({100 * s['rate']:.1f} %), "
             f"statuses: {', '.join(f'{k} {v}' for k, v in sorted(s['by_status'].items()))}; CSV: {out}"]
    if s["uncovered"]:
        lines.append("ops without a counting rule (models):")
        for op, models in sorted(s["uncovered"].items(), key=lambda kv: -len(kv[1])):
            lines.append(f"  {op}: {len(models)} ({', '.join(models[:4])}{' ...' if len(models) > 4 else ''})")
    if s["failures"]:
        lines.append("failures:")
        for r in s["failures"]:
            lines.append(f"  {r['name']}: {r['status']}: {r['error']}")
    return "\n".join(lines)


def sweep_summary_markdown(zoo: str, s: dict, out: str) -> str:
    """The sweep's Markdown summary (``--markdown``)."""
    parts = [f"# Whole-zoo sweep: {zoo}\n",
             f"Every architecture at its zoo's default input size, batch 1, shape-only on the meta device (a model whose "
             f"cost depends on the data, such as a detector, on real tensors on the CPU, with a note). "
             f"MACs = multiply-accumulates of conv + linear + attention + recurrent, no bias. Rows: `{out}`.\n",
             f"- counted: **{s['counted']} / {s['total']} ({100 * s['rate']:.1f} %)**",
             f"- statuses: {', '.join(f'{k}: {v}' for k, v in sorted(s['by_status'].items()))}",
             f"- how the counted models were built: "
             f"{', '.join(f'{k}: {v}' for k, v in sorted(s['builds'].items()))} "
             "(meta = nothing allocated; meta-params = parameters on meta, an initialiser read data; "
             "cpu = real weights, the pass on meta, or on the CPU for a data-dependent model)\n"]
    if s["seconds"]:
        secs = s["seconds"]
        parts.insert(-1, f"- seconds per counted model (build + pass, one worker): median {secs['median']:.2f} s, "
                         f"max {secs['max']:.1f} s ({secs['max_name']}), total {secs['total'] / 60:.1f} min")
    if s["uncovered"]:
        parts.append("## Ops without a counting rule\n")
        parts.append(_tabulate([(op, len(m), ", ".join(m[:6]) + (" ..." if len(m) > 6 else ""))
                                for op, m in sorted(s["uncovered"].items(), key=lambda kv: -len(kv[1]))],
                               ["op", "models", "examples"], tablefmt="github"))
        parts.append("")
    if s["failures"]:
        parts.append("## Failures\n")
        parts.append(_tabulate([(r["name"], r["status"], r["error"].replace("|", "\\|")) for r in s["failures"]],
                               ["model", "status", "reason"], tablefmt="github"))
        parts.append("")
    return "\n".join(parts) + "\n"


# -- block-family study (profiler.studies.blocks) -------------------------------------------------------------
def _ms(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _block_columns(has_cpu: bool, has_cuda: bool) -> list[tuple[str, str]]:
    cols = [("block", "block"), ("params", "params"), ("macs", "MACs [macs]"),
            ("state_dict_bytes", "state_dict (bytes)")]
    if has_cpu:
        cols += [("cpu_median_ms", "CPU median (ms)"), ("cpu_iqr_ms", "CPU IQR (ms)"),
                 ("cpu_min_ms", "CPU min (ms)")]
    if has_cuda:
        cols += [("cuda_median_ms", "CUDA median (ms)"), ("cuda_iqr_ms", "CUDA IQR (ms)")]
    return cols


def _block_cell(key, value) -> str:
    if key.endswith("_ms"):
        return _ms(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _block_notes(rows, cuda_requested: bool, load: tuple | None = None) -> list[str]:
    import torch

    from profiler.studies.blocks import STUDY_TIMING_NOTE

    r0 = rows[0]
    notes = ["MACs: multiply-accumulates of conv + linear, bias not counted (convention `macs`), batch 1, "
             "the dataset's input size. params: unique parameters. state_dict: bytes of "
             "torch.save(model.state_dict())."]
    if r0.cpu is not None:
        notes.append(f"CPU latency: median, interquartile range (Q3 - Q1) and minimum of {r0.cpu.runs} timed "
                     f"batch-1 forward passes per model, eval mode, no_grad, float32, {r0.cpu.threads} CPU "
                     f"thread(s), taken in {r0.rounds} round-robin round(s) over all models after "
                     f"{r0.cpu.warmup} warm-up passes (plus 1 before each later round); torch {torch.__version__}, "
                     f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs.")
        if load:
            notes.append(f"Machine load: 1-minute load average {load[0]:.2f} before and {load[1]:.2f} after the "
                         f"measurements on {os.cpu_count()} logical CPUs; other processes compete for the CPU, "
                         "and a wide IQR marks a model timed under contention; the minimum is the least "
                         "disturbed figure.")
        notes.append(STUDY_TIMING_NOTE)
    else:
        notes.append("Latency not measured (--runs 0).")
    if r0.cuda is not None:
        notes.append(f"CUDA latency: same protocol on {torch.cuda.get_device_name()}, synchronized "
                     "before and after each pass.")
    elif r0.cpu is not None:
        why = ("--no-cuda given." if not cuda_requested and torch.cuda.is_available()
               else "no GPU is present on this machine.")
        notes.append("CUDA latency omitted: " + why)
    return notes


def blocks_by_dataset(rows) -> dict[str, list]:
    """The study's rows grouped by dataset, in order of first appearance."""
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r.dataset, []).append(r)
    return out


def blocks_report(rows, fmt: str, *, plot_path: str | None = None, output_path: str | None = None,
                  cuda_requested: bool = True, load: tuple | None = None, command: str | None = None) -> str:
    """The block study's rows (:class:`profiler.studies.blocks.BlockRow`) in ``fmt``: table, markdown, csv, json.

    load: (1-minute load average before, after) the measurements, stated in the notes when given;
    command: the command line that regenerates the output, quoted in markdown.
    """
    from profiler.models.blocks import DATASETS

    dicts = [r.to_dict() for r in rows]
    if fmt == "json":
        return json.dumps(dicts, indent=2)
    has_cpu = rows[0].cpu is not None
    has_cuda = any(r.cuda is not None for r in rows)
    if fmt == "csv":
        keys = [k for k in dicts[0] if (has_cuda or not k.startswith("cuda"))]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for d in dicts:
            w.writerow({k: ("x".join(map(str, v)) if isinstance(v, list) else v) for k, v in d.items()})
        return buf.getvalue()

    cols = _block_columns(has_cpu, has_cuda)
    aligns = ["left"] + ["right"] * (len(cols) - 1)
    md = fmt == "markdown"
    parts = []
    if md:
        parts.append("# Block-family study: cost and latency of nine block types\n")
        parts.append(f"Generated by `{command or 'profile-model blocks'}` (profiler/cli/cmd_blocks.py). Networks: "
                     "stem + stages of 4 blocks + global pool + FC, as built in profiler/models/blocks.py "
                     "(`blocks_{dataset}_{block}`).\n")
    for ds, group in blocks_by_dataset(rows).items():
        d = DATASETS[ds]
        title = f"{ds}: input 1x{'x'.join(map(str, d.input_size))}, channels {' -> '.join(map(str, d.channels))}"
        table = _tabulate([[_block_cell(k, r.to_dict()[k]) for k, _ in cols] for r in group],
                          [h for _, h in cols], tablefmt="github" if md else "simple", colalign=aligns)
        parts.append(f"## {title}\n\n{table}\n" if md else f"{title}\n{table}\n")
    notes = _block_notes(rows, cuda_requested, load)
    if md:
        parts.append("## Notes\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
        if plot_path:
            rel = os.path.relpath(plot_path, os.path.dirname(os.path.abspath(output_path)) if output_path else ".")
            parts.append(f"![CPU latency vs MACs per block type]({rel})\n")
    else:
        parts.append("\n".join(f"note: {n}" for n in notes) + "\n")
    return "\n".join(parts)
