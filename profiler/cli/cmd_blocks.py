"""``profile-model blocks``: the nine block types of the block-family study, side by side, per dataset.

The table (every format) is :func:`profiler.report.sections.blocks_report`, the figure
:func:`profiler.report.plots.plot_blocks`."""
from __future__ import annotations

import os

from profiler.cli.common import emit, format_for, non_negative_int, output_file, positive_int
from profiler.errors import UsageError

HELP = ("Compare the block-family study's nine block types (plain, residual, bottleneck, resnext, xception, "
        "dense, mobile_v1, mobile_v2, shuffle) on mnist/cifar10/stl10: parameters, MACs, saved state_dict "
        "size, CPU latency (and CUDA latency when a GPU is present), with an optional plot.")

FORMATS = ("table", "markdown", "csv", "json")


def add_arguments(p) -> None:
    p.add_argument("--dataset", default="all",
                   help="mnist, cifar10, stl10, a comma-separated list of those, or all (default)")
    p.add_argument("--format", default=None, choices=FORMATS,
                   help="table (default), markdown, csv or json; with --output, the default is its suffix's")
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


def _command(args) -> str:
    """The profile-model command line that reproduces this output."""
    parts = ["profile-model blocks", f"--dataset {args.dataset}", f"--format {_format(args)}",
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


def _format(args) -> str:
    """--format, else the one --output's suffix names (as the main command does), else table."""
    fmt = format_for(args.format, args.output)
    if fmt not in FORMATS:
        raise UsageError(f"--output {args.output!r}: the block comparison is written as {', '.join(FORMATS)} "
                         f"(.txt, .md, .csv, .json), not {fmt}; give --format or another suffix")
    return fmt


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return None


def run(args) -> int:
    from profiler.report.sections import blocks_report
    from profiler.studies.blocks import compare_blocks, parse_datasets

    datasets = parse_datasets(args.dataset)  # UsageError on a bad name, before any work
    fmt = _format(args)
    if args.plot and args.runs == 0:
        raise UsageError("--plot needs latency measurements (--runs of at least 1)")
    if args.plot and not os.path.splitext(args.plot)[1]:
        raise UsageError(f"--plot {args.plot!r}: give a file name with an extension (.png, .svg, .pdf)")
    load0 = _loadavg()
    rows = compare_blocks(datasets, runs=args.runs, warmup=args.warmup, rounds=args.rounds,
                          cuda=False if args.no_cuda else None, threads=args.threads)
    if args.plot:
        from profiler.atomic import atomic_savefig
        from profiler.report.plots import plot_blocks

        atomic_savefig(plot_blocks(rows), args.plot, dpi=130)
    text = blocks_report(rows, fmt, plot_path=args.plot, output_path=args.output,
                         cuda_requested=not args.no_cuda, load=(load0, _loadavg()) if load0 is not None else None,
                         command=_command(args))
    emit(text, args.output, f"the {fmt} comparison" + (f" (plot: {args.plot})" if args.plot else ""))
    return 0
