"""`profile-model sweep`: every architecture of a zoo at its default size, shape-only (meta), into a CSV."""
from __future__ import annotations

import csv
import os

from profiler.cli.common import positive_int
from profiler.errors import UsageError

HELP = """Profile every architecture of a zoo at its default input size on the meta device (shapes only, no
weights allocated), in worker processes with a per-model timeout. Writes one CSV row per model
(zoo, name, input, macs [multiply-accumulates, conv+linear+attention+recurrent, no bias, batch 1], params,
seconds, status, error, ...) as results arrive, then lists the failures with their reasons.

  profile-model sweep --zoo torchvision --limit 3
  nice -n 19 profile-model sweep --zoo timm --jobs 1 --output reports/sweep_timm.csv --markdown reports/sweep.md
"""

ZOO_CHOICES = ("timm", "torchvision", "pytorchcv", "builtin")


def add_arguments(p) -> None:
    p.add_argument("--zoo", required=True, choices=ZOO_CHOICES, help="which zoo to sweep")
    p.add_argument("--jobs", type=positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--resume", action="store_true", help="skip models already in the output CSV, append")
    p.add_argument("--output", default=None, help="CSV path (default reports/sweep_ZOO.csv)")
    p.add_argument("--only", default=None, metavar="PATTERN",
                   help="names matching this glob (substring if no wildcard)")
    p.add_argument("--limit", type=positive_int, default=None, help="at most N models (after --only and --resume)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per model (default 300)")
    p.add_argument("--max-memory", type=float, default=8.0, metavar="GIB",
                   help="resident memory per worker beyond which its model is abandoned (default 8 GiB)")
    p.add_argument("--markdown", default=None, metavar="PATH", help="also write a Markdown summary there")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from profiler import zoo
    from profiler.report.sections import sweep_summary_markdown, sweep_summary_text
    from profiler.studies import sweep

    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive seconds, got {args.timeout}")
    out = args.output or os.path.join("reports", f"sweep_{args.zoo}.csv")

    names = [n for _, n in zoo.list_names(args.only, zoos=(args.zoo,))]
    if not names:
        raise UsageError(f"no {args.zoo} model matches {args.only!r}")
    previous = sweep.read_rows(out) if args.resume else []
    done = {(r["zoo"], r["name"]) for r in previous}
    todo = [(args.zoo, n) for n in names if (args.zoo, n) not in done]
    if args.limit is not None:
        todo = todo[:args.limit]

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    append = args.resume and os.path.exists(out)
    rows = [r for r in previous if r["zoo"] == args.zoo and r["name"] in set(names)] if args.resume else []
    bar = None
    if not args.no_progress and todo:
        from profiler.progress import progress
        bar = progress(total=len(todo))
    with open(out, "a" if append else "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sweep.COLUMNS)
        if not append:
            writer.writeheader()
        for row in sweep.run_sweep(todo, jobs=args.jobs, timeout=args.timeout, max_memory_gib=args.max_memory):
            writer.writerow(row)
            f.flush()  # a killed sweep keeps every finished row for --resume
            rows.append({k: str(v) for k, v in row.items()})
            if bar is not None:
                bar.set_postfix_str(f"{row['name'][:28]} {row['status']}", refresh=False)
                bar.update(1)
    if bar is not None:
        bar.close()

    s = sweep.summarise(rows)
    print(sweep_summary_text(args.zoo, s, out))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(sweep_summary_markdown(args.zoo, s, out))
    return 0
