"""Regenerate reports/crosscheck_zoo.md: the cross-check at zoo scale on a stratified sample (every family of
timm and torchvision once), fvcore, ptflops and FlopCounterMode run for real on the CPU beside our count.

    python benchmarks/crosscheck_zoo.py [--zoos timm torchvision] [--sample 1] [--jobs 2] [--fresh]

One CSV per zoo (reports/crosscheck_zoo_ZOO.csv, one row per model and peer) and the Markdown report. Runs
``profile-model sweep --zoo ZOO --crosscheck ... --sample K --resume`` per zoo, so an interrupted run goes on
where it stopped (``--fresh`` starts over). Heavy: every sampled model is built with random weights and run
four times or more on the CPU (about an hour for both zoos on two cores; the largest models need ~10 GiB).
The whole zoo: the same command without ``--sample`` (``profile-model sweep --zoo timm --crosscheck``).
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from profiler.cli import main as cli  # noqa: E402
from profiler.report.crosscheck import zoo_markdown  # noqa: E402
from profiler.studies import zoo_crosscheck as zc  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crosscheck_report import versions  # noqa: E402  - one provenance line for both cross-check reports

PACKAGES = ("torch", "fvcore", "ptflops", "timm", "torchvision")

TOOLS = ["fvcore", "ptflops", "torch"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoos", nargs="+", default=["timm", "torchvision"])
    ap.add_argument("--tools", nargs="+", default=TOOLS)
    ap.add_argument("--sample", type=int, default=1, help="models per family (default 1)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--max-memory", type=float, default=11.0)
    ap.add_argument("--fresh", action="store_true", help="start over instead of resuming")
    ap.add_argument("--output", default=os.path.join(ROOT, "reports", "crosscheck_zoo.md"))
    args = ap.parse_args(argv)

    sections = []
    for zoo in args.zoos:
        csv_path = os.path.join(ROOT, "reports", f"crosscheck_zoo_{zoo}.csv")
        if args.fresh and os.path.exists(csv_path):
            os.remove(csv_path)
        cmd = ["sweep", "--zoo", zoo, "--crosscheck", *args.tools, "--sample", str(args.sample), "--jobs",
               str(args.jobs), "--timeout", str(args.timeout), "--max-memory", str(args.max_memory), "--resume",
               "--output", csv_path, "--markdown", os.devnull]
        rc = cli(cmd)
        if rc:
            return rc
        rows = [r for r in zc.read_rows(csv_path) if r["zoo"] == zoo]
        names = {r["name"] for r in rows}
        scope = f"{len(names)} {zoo} models, {args.sample} of every family ({len({r['family'] for r in rows})} families)"
        command = (f"profile-model sweep --zoo {zoo} --crosscheck {' '.join(args.tools)} --sample {args.sample} "
                   f"--output reports/crosscheck_zoo_{zoo}.csv")
        sections.append(zoo_markdown(zc.summarise(rows, args.tools), scope, f"reports/crosscheck_zoo_{zoo}.csv",
                                     command=command, title=zoo, level=2))

    head = ["# Cross-check at zoo scale", "",
            "Regenerate: `python benchmarks/crosscheck_zoo.py` (a stratified sample: every family of each zoo once; "
            f"timm's families are its model modules, torchvision's its builder modules). Versions: {versions(PACKAGES)}.",
            "",
            "Every sampled model is built on the CPU with random weights (nothing downloaded), in eval mode, at its "
            "zoo's default input size, batch 1; each peer runs on its own copy and its total is reconciled with ours "
            "in its convention, in its own unit (fvcore flops = MACs; ptflops MACs with its bias and element ops; "
            "torch FlopCounterMode FLOPs = 2 x MACs): `theirs - ours - named differences = unexplained`. A class of "
            "named difference is a reason with the model's own module type names and counts taken out; "
            "`models` says how many models it touches and `total amount` what it adds up to over them. "
            f"`within 0.1 %` counts the models whose unexplained rest is at most {100 * zc.TOLERANCE:g} % of the "
            "peer's total.", ""]
    text = "\n".join(head) + "\n" + "\n".join(sections) + \
        f"\n_Generated {datetime.date.today().isoformat()} by benchmarks/crosscheck_zoo.py._\n"
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    from profiler.atomic import atomic_open

    with atomic_open(args.output, "w", encoding="utf-8") as fh:  # a failed write leaves the old report
        fh.write(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
