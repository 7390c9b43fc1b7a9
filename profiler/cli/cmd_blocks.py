"""``profile-model blocks``: the nine block types of the block-family study, side by side, per dataset."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import platform

from profiler.cli.common import emit, non_negative_int, output_file, positive_int
from profiler.errors import UsageError

HELP = ("Compare the block-family study's nine block types (plain, residual, bottleneck, resnext, xception, "
        "dense, mobile_v1, mobile_v2, shuffle) on mnist/cifar10/stl10: parameters, MACs, saved state_dict "
        "size, CPU latency (and CUDA latency when a GPU is present), with an optional plot.")

FORMATS = ("table", "markdown", "csv", "json")


def add_arguments(p) -> None:
    p.add_argument("--dataset", default="all",
                   help="mnist, cifar10, stl10, a comma-separated list of those, or all (default)")
    p.add_argument("--format", default="table", choices=FORMATS)
    p.add_argument("--output", type=output_file, default=None, metavar="FILE", help="write the result to FILE instead of stdout")
    p.add_argument("--plot", type=output_file, default=None, metavar="FILE",
                   help="save a latency-vs-MACs plot (one panel per dataset) to FILE (.png, .svg, .pdf)")
    p.add_argument("--runs", type=non_negative_int, default=50, help="timed batch-1 runs per model and device (default 50; "
                   "0 skips timing)")
    p.add_argument("--warmup", type=non_negative_int, default=10,
                   help="untimed warm-up runs before a model's first timed round (default 10)")
    p.add_argument("--rounds", type=positive_int, default=5,
                   help="spread the timed runs over this many round-robin rounds over all models (default 5)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads for the timings (default: torch's setting)")
    p.add_argument("--no-cuda", action="store_true", help="skip CUDA timing even when a GPU is present")


# -- rendering (rows -> text; nothing here counts or times) ------------------------------------------------
def _ms(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _columns(has_cpu: bool, has_cuda: bool) -> list[tuple[str, str]]:
    cols = [("block", "block"), ("params", "params"), ("macs", "MACs [macs]"),
            ("state_dict_bytes", "state_dict (bytes)")]
    if has_cpu:
        cols += [("cpu_median_ms", "CPU median (ms)"), ("cpu_iqr_ms", "CPU IQR (ms)"),
                 ("cpu_min_ms", "CPU min (ms)")]
    if has_cuda:
        cols += [("cuda_median_ms", "CUDA median (ms)"), ("cuda_iqr_ms", "CUDA IQR (ms)")]
    return cols


def _cell(key, value) -> str:
    if key.endswith("_ms"):
        return _ms(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _notes(rows, cuda_requested: bool, load: tuple | None = None) -> list[str]:
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
        import torch.cuda
        notes.append(f"CUDA latency: same protocol on {torch.cuda.get_device_name()}, synchronized "
                     "before and after each pass.")
    elif r0.cpu is not None:
        notes.append("CUDA latency omitted: " + ("no GPU is present on this machine." if not cuda_requested
                                                 or not torch.cuda.is_available() else "--no-cuda given."))
    return notes


def _by_dataset(rows):
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r.dataset, []).append(r)
    return out


def render(rows, fmt: str, *, plot_path: str | None = None, output_path: str | None = None,
           cuda_requested: bool = True, load: tuple | None = None, command: str | None = None) -> str:
    """Text of the comparison in ``fmt`` (table, markdown, csv, json).

    load: (1-minute load average before, after) the measurements, stated in the notes when given;
    command: the command line that regenerates the output, quoted in markdown.
    """
    from tabulate import tabulate

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

    cols = _columns(has_cpu, has_cuda)
    aligns = ["left"] + ["right"] * (len(cols) - 1)
    md = fmt == "markdown"
    parts = []
    if md:
        parts.append("# Block-family study: cost and latency of nine block types\n")
        parts.append(f"Generated by `{command or 'profile-model blocks'}` (profiler/cli/cmd_blocks.py). Networks: "
                     "stem + stages of 4 blocks + global pool + FC, as built in profiler/models/blocks.py "
                     "(`blocks_{dataset}_{block}`).\n")
    for ds, group in _by_dataset(rows).items():
        d = DATASETS[ds]
        title = f"{ds}: input 1x{'x'.join(map(str, d.input_size))}, channels {' -> '.join(map(str, d.channels))}"
        table = tabulate([[_cell(k, r.to_dict()[k]) for k, _ in cols] for r in group],
                         headers=[h for _, h in cols], tablefmt="github" if md else "simple", colalign=aligns)
        parts.append(f"## {title}\n\n{table}\n" if md else f"{title}\n{table}\n")
    notes = _notes(rows, cuda_requested, load)
    if md:
        parts.append("## Notes\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
        if plot_path:
            rel = os.path.relpath(plot_path, os.path.dirname(os.path.abspath(output_path)) if output_path else ".")
            parts.append(f"![CPU latency vs MACs per block type]({rel})\n")
    else:
        parts.append("\n".join(f"note: {n}" for n in notes) + "\n")
    return "\n".join(parts)


def _tick(v, _pos=None) -> str:
    return f"{v:g}"


def _minor_tick(v, _pos=None) -> str:
    # label only the 2s and 5s of each decade, so that narrow and wide axes both stay readable
    if v <= 0:
        return ""
    mantissa = round(v / 10 ** math.floor(math.log10(v)), 6)
    return f"{v:g}" if mantissa in (2, 5) else ""


def plot(rows, path: str) -> None:
    """One panel per dataset: latency (median, whiskers Q1..Q3) against MACs, one point per block type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    groups = _by_dataset(rows)
    if rows[0].cpu is None:
        raise UsageError("--plot needs latency measurements (--runs of at least 1)")
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 4.4), squeeze=False)
    for ax, (ds, group) in zip(axes[0], groups.items()):
        for dev, marker, color in (("cpu", "o", "tab:blue"), ("cuda", "s", "tab:orange")):
            pts = [(r.macs / 1e6, getattr(r, dev)) for r in group if getattr(r, dev) is not None]
            if not pts:
                continue
            x = [p[0] for p in pts]
            y = [s.median_ms for _, s in pts]
            err = [[s.median_ms - s.q1_ms for _, s in pts], [s.q3_ms - s.median_ms for _, s in pts]]
            ax.errorbar(x, y, yerr=err, fmt=marker, color=color, ms=5, capsize=3, label=dev.upper())
            if dev == "cpu":
                prev = None
                for xi, yi, name in sorted(zip(x, y, (r.block for r in group))):
                    # a neighbour at nearly the same MACs (plain/residual) gets its label below the point
                    below = prev is not None and xi / prev < 1.3
                    ax.annotate(name, (xi, yi), textcoords="offset points", xytext=(4, -10 if below else 4),
                                fontsize=7)
                    prev = xi
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers (0.5, 2, 20) rather than 2x10^0 on log axes
            axis.set_major_formatter(FuncFormatter(_tick))
            axis.set_minor_formatter(FuncFormatter(_minor_tick))
        ax.set_xlabel("MACs (millions, convention `macs`)")
        ax.set_ylabel("latency, batch 1 (ms; median, bars Q1-Q3)")
        ax.set_title(f"{ds} ({'x'.join(map(str, group[0].input[1:]))})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _command(args) -> str:
    """The profile-model command line that reproduces this output."""
    parts = ["profile-model blocks", f"--dataset {args.dataset}", f"--format {args.format}",
             f"--runs {args.runs}", f"--warmup {args.warmup}", f"--rounds {args.rounds}"]
    if args.threads is not None:
        parts.append(f"--threads {args.threads}")
    if args.no_cuda:
        parts.append("--no-cuda")
    if args.output:
        parts.append(f"--output {args.output}")
    if args.plot:
        parts.append(f"--plot {args.plot}")
    return " ".join(parts)


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None


def run(args) -> int:
    from profiler.studies.blocks import compare_blocks, parse_datasets

    datasets = parse_datasets(args.dataset)  # UsageError on a bad name, before any work
    if args.plot and args.runs == 0:
        raise UsageError("--plot needs latency measurements (--runs of at least 1)")
    if args.plot and not os.path.splitext(args.plot)[1]:
        raise UsageError(f"--plot {args.plot!r}: give a file name with an extension (.png, .svg, .pdf)")
    load0 = _loadavg()
    rows = compare_blocks(datasets, runs=args.runs, warmup=args.warmup, rounds=args.rounds,
                          cuda=False if args.no_cuda else None, threads=args.threads)
    if args.plot:
        plot(rows, args.plot)
    text = render(rows, args.format, plot_path=args.plot, output_path=args.output,
                  cuda_requested=not args.no_cuda, load=(load0, _loadavg()) if load0 is not None else None,
                  command=_command(args))
    emit(text, args.output, f"the {args.format} comparison" + (f" (plot: {args.plot})" if args.plot else ""))
    return 0
