"""`profile-model sweep`: every architecture of a zoo at its default size, shape-only (meta), into a CSV; with
``--crosscheck``, every architecture built on the CPU and cross-checked with peer tools, into a CSV and a
Markdown report (:mod:`profiler.studies.zoo_crosscheck`)."""
from __future__ import annotations

import csv
import os

from profiler.cli.common import add_no_progress, output_file, positive_float, positive_int
from profiler.errors import UsageError

HELP = """Profile every architecture of a zoo at its default input size on the meta device (shapes only, no
weights allocated), in worker processes with a per-model timeout. Writes one CSV row per model
(zoo, name, input, macs [multiply-accumulates, conv+linear+attention+recurrent, no bias, batch 1], params,
seconds, status, error, ...) as results arrive, then lists the failures with their reasons.

  profile-model sweep --zoo torchvision --limit 3
  nice -n 19 profile-model sweep --zoo timm --jobs 1 --output reports/sweep_timm.csv --markdown reports/sweep.md

With --crosscheck [TOOL ...] (default: fvcore ptflops torch) every model is instead built on the CPU (random
weights, eval mode), run through each peer tool for real at its default input size (batch 1) beside our count,
and the totals reconciled: one CSV row per (model, peer) with the peer's total and ours in its convention (its
unit: fvcore flops = MACs, ptflops MACs, torch FLOPs = 2 x MACs), the named differences and what is left
unexplained, then a Markdown report per peer (models tried, reconciled, peer failures, classes of named
differences and how many models each touches). --sample K takes K models of every family (timm's model
modules, torchvision's builder modules) instead of all.

  profile-model sweep --zoo torchvision --crosscheck fvcore ptflops torch --limit 3
  profile-model sweep --zoo timm --crosscheck --sample 1 --jobs 2 --resume
"""

ZOO_CHOICES = ("timm", "torchvision", "pytorchcv", "builtin", "hf")


def add_arguments(p) -> None:
    p.add_argument("--zoo", required=True, choices=ZOO_CHOICES, help="which zoo to sweep")
    p.add_argument("--jobs", type=positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--resume", action="store_true", help="skip models already in the output CSV, append")
    p.add_argument("--output", type=output_file, default=None, help="CSV path (default reports/sweep_ZOO.csv)")
    p.add_argument("--only", default=None, metavar="PATTERN",
                   help="names matching this glob (substring if no wildcard)")
    p.add_argument("--limit", type=positive_int, default=None, help="at most N models (after --only and --resume)")
    p.add_argument("--timeout", type=positive_float, default=300.0, help="seconds per model (default 300)")
    p.add_argument("--max-memory", type=positive_float, default=8.0, metavar="GIB",
                   help="resident memory per worker beyond which its model is abandoned (default 8 GiB)")
    p.add_argument("--markdown", type=output_file, default=None, metavar="PATH",
                   help="also write a Markdown summary there (with --crosscheck: default reports/crosscheck_zoo.md)")
    add_no_progress(p)
    p.add_argument("--crosscheck", nargs="*", default=None, metavar="TOOL",
                   help="cross-check every model with these peer tools (default: fvcore ptflops torch), real "
                        "CPU passes; CSV default reports/crosscheck_zoo_ZOO.csv")
    p.add_argument("--sample", type=positive_int, default=None, metavar="K",
                   help="a stratified sample: K models of every family (after --only), not every model")


def run(args) -> int:
    from profiler import zoo
    from profiler.report.sections import sweep_summary_markdown, sweep_summary_text
    from profiler.studies import sweep

    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive seconds, got {args.timeout}")
    names = [n for _, n in zoo.list_names(args.only, zoos=(args.zoo,))]
    if not names:
        raise UsageError(f"no {args.zoo} model matches {args.only!r}")
    if args.sample is not None:
        from profiler.studies.zoo_crosscheck import stratified_sample
        names = stratified_sample(args.zoo, names, args.sample)
    if args.crosscheck is not None:
        return _run_crosscheck(args, names)
    out = args.output or os.path.join("reports", f"sweep_{args.zoo}.csv")
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
        # a bar with the remaining time on a terminal; else a line on stderr every ~10 s (CI logs, pipes)
        bar = progress(total=len(todo), desc=f"sweep {args.zoo}", log=True)
    # Not atomic: the rows are flushed one by one so that a killed sweep leaves what --resume continues from.
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
    skipped = _skipped_lines(s)
    from profiler.report.textfit import TEXT_WIDTH, wrap_lines

    print(wrap_lines("\n".join([sweep_summary_text(args.zoo, s, out)] + skipped), TEXT_WIDTH))
    if args.markdown:
        from profiler.atomic import atomic_open

        with atomic_open(args.markdown, "w") as f:  # the summary is written whole: a failure leaves the old one
            text = sweep_summary_markdown(args.zoo, s, out)
            if skipped:
                text = text.rstrip("\n") + "\n\n## Not counted, not failed\n\n" + "\n".join(
                    f"- {line.strip()}" for line in skipped[1:]) + "\n"
            f.write(text)
    return 0


#: What each status that is no failure means (a missing dependency says its own: the pip command).
_SKIPPED_WORDS = {"needs-inputs": "take inputs profile_model does not make (several inputs no metadata gives shapes "
                                  "for; an hf input kind not made yet)",
                  "not-buildable": "have no model class of their own (an hf sub-config, built inside its composite)",
                  "remote-code": "have their model code on the hub only (trust_remote_code)",
                  "hf-error": "raise transformers' own error building their default config",
                  "hf-forward": "raise in transformers' forward on their default config and our default input"}


def _skipped_lines(s: dict) -> list[str]:
    """The models that are no failure: a missing optional dependency (with the pip command), several inputs
    no metadata gives shapes for."""
    if not s.get("skipped"):
        return []
    lines = ["not counted, not failed:"]
    for reason, models in sorted(s["skipped"].items()):
        what = _SKIPPED_WORDS.get(reason) or f"{reason} (pip install {reason.rsplit(' ', 1)[-1]})"
        lines.append(f"  {len(models)} {what}: {', '.join(models[:6])}{' ...' if len(models) > 6 else ''}")
    return lines


def _run_crosscheck(args, names: list[str]) -> int:
    from profiler.crosscheck.core import TOOLS
    from profiler.report.crosscheck import zoo_markdown, zoo_text
    from profiler.studies import sweep, zoo_crosscheck as zc

    tools = list(dict.fromkeys(args.crosscheck)) or list(zc.DEFAULT_TOOLS)
    bad = [t for t in tools if t not in TOOLS]
    if bad:
        raise UsageError(f"--crosscheck: unknown tool(s) {', '.join(bad)}; choose from {', '.join(TOOLS)}")
    out = args.output or os.path.join("reports", f"crosscheck_zoo_{args.zoo}.csv")
    markdown = args.markdown or os.path.join("reports", "crosscheck_zoo.md")
    previous = zc.read_rows(out) if args.resume else []
    done: dict[str, set] = {}
    for r in previous:
        if r["zoo"] == args.zoo:
            done.setdefault(r["name"], set()).add(r["tool"])
    todo = [("crosscheck", args.zoo, n, [t for t in tools if t not in done.get(n, ())]) for n in names]
    todo = [job for job in todo if job[3]]
    if args.limit is not None:
        todo = todo[:args.limit]

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    append = args.resume and os.path.exists(out)
    chosen = set(names)
    rows = [r for r in previous if r["zoo"] == args.zoo and r["name"] in chosen and r["tool"] in tools]
    bar = None
    if not args.no_progress and todo:
        from profiler.progress import progress
        bar = progress(total=len(todo), desc=f"crosscheck {args.zoo}", log=True)  # lines when not a terminal
    # Real passes: the workers share the cores.
    threads = max(1, (os.cpu_count() or 1) // max(1, min(args.jobs, len(todo) or 1)))
    # Not atomic: the rows are flushed model by model so that a killed sweep leaves what --resume continues from.
    with open(out, "a" if append else "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=zc.COLUMNS)
        if not append:
            writer.writeheader()
        for model_rows in sweep.run_sweep(todo, jobs=args.jobs, timeout=args.timeout,
                                          max_memory_gib=args.max_memory, threads=threads):
            for row in model_rows:
                writer.writerow(row)
                rows.append({k: str(v) for k, v in row.items()})
            f.flush()  # a killed sweep keeps every finished model for --resume
            if bar is not None:
                worst = max(model_rows, key=lambda r: zc.STATUSES.index(r["status"]))
                bar.set_postfix_str(f"{model_rows[0]['name'][:28]} {worst['status']}", refresh=False)
                bar.update(1)
    if bar is not None:
        bar.close()

    summary = zc.summarise(rows, tools)
    scope = f"{len({r['name'] for r in rows})} {args.zoo} models" + (
        f" (stratified sample: {args.sample} per family)" if args.sample else "")
    from profiler.report.textfit import TEXT_WIDTH

    print(zoo_text(summary, scope, out, width=TEXT_WIDTH))
    if markdown:
        os.makedirs(os.path.dirname(os.path.abspath(markdown)), exist_ok=True)
        from profiler.atomic import atomic_open

        with atomic_open(markdown, "w") as fh:  # the summary is written whole: a failure leaves the old one
            fh.write(zoo_markdown(summary, scope, out, command=_command(args, tools)))
    return 0


def _command(args, tools) -> str:
    parts = ["profile-model sweep", f"--zoo {args.zoo}", "--crosscheck " + " ".join(tools)]
    if args.only:
        parts.append(f"--only '{args.only}'")
    if args.sample:
        parts.append(f"--sample {args.sample}")
    if args.limit:
        parts.append(f"--limit {args.limit}")
    return " ".join(parts)
