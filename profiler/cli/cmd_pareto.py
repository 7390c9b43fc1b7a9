"""``profile-model pareto``: top-1 accuracy against MACs (or params, latency), the Pareto frontier drawn and
listed, families coloured.

Data: ``--csv FILE`` (columns model,family,top1 and macs/params/latency_ms; a ``zoo`` column naming a model,
e.g. ``pytorchcv:mixnet_s``, lets empty macs/params cells be counted by profiling it), or the registry of
published figures (``--registry FILE``, default: the package's registry) whose published top-1 is plotted
against MACs *counted* here (:mod:`profiler.studies.pareto`).
"""
from __future__ import annotations

import os
import sys

from profiler.cli.common import add_no_progress, output_file
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
    add_no_progress(parser)


# -- command -----------------------------------------------------------------------------------------------
def run(args) -> int:
    import json

    from profiler.report.pareto import (MERGE_RULE, X_AXES, filter_points, frontier_table, load_csv, merge_duplicates,
                                        merge_note, pareto_front, source_label, usable, write_pareto)
    from profiler.studies.pareto import fill_counted, registry_points

    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--output must end in .png, .svg or .pdf, got {args.output!r}")
    from profiler.progress import log_lines

    with log_lines():  # the counting's bar: on a terminal, else a stderr line every 10 s (as sweep's)
        if args.csv:
            points = filter_points(load_csv(args.csv), args.models)
            notes = fill_counted(points, progress=not args.no_progress)
            source = args.csv
        else:
            points, notes = registry_points(args.registry, args.models, progress=not args.no_progress)
            source = args.registry or "the package registry"
    points = merge_duplicates(points)  # one point per model (after counting: a counted cost wins)
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
    sys.stderr.write(f"profile-model: wrote {args.output}\n")  # a message about a file: stderr, every format
    front = pareto_front(shown, args.axis)
    if args.format == "json":
        print(json.dumps({
            "output": args.output, "x": args.axis, "x_meaning": meaning, "source": source,
            "points": [{"model": p.name, "family": p.family, "top1": p.top1, "macs": p.macs, "params": p.params,
                        "latency_ms": p.latency_ms, "frontier": p in front,
                        "macs_source": p.extra.get("macs_source", "given"), "source": source_label(p),
                        "merged": p.extra.get("merged", [])} for p in shown],
            "not_shown": [p.name for p in missing], "merge_rule": MERGE_RULE, "notes": notes}))
        return 0
    from profiler.report.textfit import TEXT_WIDTH, wrap_item, wrap_line

    print(wrap_line(f"Pareto frontier: top-1 (%) vs {name} [{meaning}], {len(front)} of {len(shown)} models; "
                    f"from {source}", TEXT_WIDTH))
    print(frontier_table(shown, args.axis, tablefmt="github" if args.format == "markdown" else "simple",
                         width=TEXT_WIDTH))
    if missing:
        print(wrap_item(f"not shown (no {args.axis}): ", ", ".join(p.name for p in missing), TEXT_WIDTH))
    merged = merge_note(shown)
    if merged:
        print(wrap_line(f"{MERGE_RULE}; {merged}", TEXT_WIDTH))
    for n in notes:
        print(wrap_item("note: ", n, TEXT_WIDTH))
    return 0
