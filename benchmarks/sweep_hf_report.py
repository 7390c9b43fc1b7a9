"""reports/sweep_hf.md from the hf registry sweep's CSV (issue 27): every model type of the installed
transformers at its default config and default head, counted on meta, or named with its reason.

  nice -n 19 .venv/bin/profile-model sweep --zoo hf --jobs 2 --resume --output reports/sweep_hf.csv
  .venv/bin/python benchmarks/sweep_hf_report.py --csv reports/sweep_hf.csv --wall 812

``--run`` runs that sweep itself (``--jobs``, resumable) and times it; ``--wall SECONDS`` states the time a sweep
run elsewhere took (the CSV alone holds each type's seconds, not the wall time of the run).
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from profiler.atomic import atomic_open  # noqa: E402
from profiler.studies.sweep import OK_STATUSES  # noqa: E402
from profiler.zoo.hf_registry import reason  # noqa: E402


def families() -> dict[str, set]:
    """The registry's causal-LM types and its encoder types (a masked-LM head, no encoder-decoder)."""
    from transformers.models.auto import modeling_auto

    seq2seq = set(modeling_auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES)
    return {"causal-LM types": set(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES),
            "encoder types (masked-LM head)": set(modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES) - seq2seq}


def _num(text: str) -> str:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return ""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:g}"


def _cell(text: str, width: int = 110) -> str:
    text = (text or "").replace("|", "\\|")
    return text if len(text) <= width else text[:width - 3] + "..."


def build_report(rows: list[dict], csv_path: str, wall: float | None, jobs: int, time_note: str = "") -> str:
    rows = sorted(rows, key=lambda r: r["name"])
    total = len(rows)
    counted = [r for r in rows if r["status"] in OK_STATUSES]
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    seconds = sum(float(r["seconds"] or 0) for r in rows)
    import transformers

    L = ["# Whole-registry sweep: Hugging Face transformers (`--zoo hf`)\n",
         f"Every model type of the installed transformers {transformers.__version__} registry (`CONFIG_MAPPING`), "
         "each from its default config (no weights, nothing downloaded) with its default head "
         "(`profiler.zoo.hf.default_task`: the causal-LM head of a decoder, the seq2seq-LM head of an "
         "encoder-decoder, else the base model; a type no task builds: the class another auto mapping or its own "
         "modeling module gives it), at its default input (128 tokens; images at the config's size; one second "
         "of audio at the config's rate; 1000 frames of filter-bank features; Whisper-like features at "
         "2 x max_source_positions frames; video clips at the config's frames), batch 1, shape-only on the meta "
         "device in worker processes (the sweep's timeout and memory cap). MACs = multiply-accumulates of "
         f"conv + linear + attention + recurrent, no bias. Rows: `{csv_path}`; written by "
         "`benchmarks/sweep_hf_report.py`.\n",
         f"- counted: **{len(counted)} / {total} ({100 * len(counted) / max(total, 1):.1f} %)** "
         "(complete coverage: `ok`; `uncovered`: counted, some ops without a rule)",
         f"- statuses: {', '.join(f'{k}: {v}' for k, v in sorted(by_status.items()))}"]
    if wall is not None:
        L.append(f"- time: **{wall / 60:.1f} min** wall on {jobs} workers (this machine: "
                 f"{os.cpu_count()} cores, shared); {seconds / 60:.1f} min of per-type seconds in all")
    else:
        L.append(f"- time: {seconds / 60:.1f} min of per-type seconds in all (wall time not given: --wall)")
    if time_note:
        L.append(f"- {time_note}")
    L.append("")
    L.append("Statuses that are no failure of our counting: `needs-inputs` (an input kind the sweep does not make "
             "yet, named), `not-buildable` (a sub-config with no model class of its own), `remote-code` (model "
             "code on the hub only), `hf-error` (transformers' own error building its default config, quoted), "
             "`hf-forward` (transformers' own forward code raised on its default config and our default input: "
             "its checks refusing the input or a field the default config leaves None, quoted). `failed`: the "
             "pass failed elsewhere (in an op, or our meta machinery): ours, or not told apart. `timeout`, "
             "`memory`, `crashed`: the sweep's worker limits.\n")

    L.append("## Families\n")
    by_name = {r["name"]: r for r in rows}
    for label, types in families().items():
        present = sorted(t for t in types if t in by_name)
        done = [t for t in present if by_name[t]["status"] in OK_STATUSES]
        missing = [t for t in present if t not in done]
        L.append(f"- {label}: counted {len(done)} / {len(present)}"
                 + ("; not counted: " + ", ".join(f"{t} ({by_name[t]['status']})" for t in missing) if missing
                    else ""))
    L.append("")

    groups: dict[str, list[str]] = {}
    for r in rows:
        if r["status"] not in OK_STATUSES:
            groups.setdefault(reason(r), []).append(r["name"])
    if groups:
        L.append("## Not counted, by reason\n")
        L.append("| types | reason | examples |")
        L.append("|---:|---|---|")
        for why, names in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            L.append(f"| {len(names)} | {_cell(why, 150)} | {', '.join(names[:5])}{' ...' if len(names) > 5 else ''} |")
        L.append("")

    uncovered: dict[str, list[str]] = {}
    for r in rows:
        for op in (r.get("uncovered") or "").split():
            uncovered.setdefault(op, []).append(r["name"])
    if uncovered:
        L.append("## Ops without a counting rule (types counted as `uncovered`)\n")
        L.append("| op | types | examples |")
        L.append("|---|---:|---|")
        for op, names in sorted(uncovered.items(), key=lambda kv: -len(kv[1])):
            L.append(f"| `{op}` | {len(names)} | {', '.join(names[:5])}{' ...' if len(names) > 5 else ''} |")
        L.append("")

    L.append("## Every type\n")
    L.append("| type | status | input | MACs | params | seconds | reason |")
    L.append("|---|---|---|---:|---:|---:|---|")
    for r in rows:
        why = "" if r["status"] in OK_STATUSES else _cell(r["error"])
        L.append(f"| {r['name']} | {r['status']} | {r['input']} | {_num(r['macs'])} | {_num(r['params'])} | "
                 f"{float(r['seconds'] or 0):.2f} | {why} |")
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", default=os.path.join("reports", "sweep_hf.csv"), help="the sweep's CSV")
    ap.add_argument("--out", default=os.path.join("reports", "sweep_hf.md"), help="the Markdown report")
    ap.add_argument("--run", action="store_true", help="run (or resume) the sweep first and time it")
    ap.add_argument("--jobs", type=int, default=2, help="sweep workers (--run; stated in the report)")
    ap.add_argument("--wall", type=float, default=None, metavar="SECONDS",
                    help="the wall time of a sweep run elsewhere, to state in the report")
    ap.add_argument("--time-note", default="", metavar="TEXT",
                    help="a sentence on how the time was measured (passes, load), stated under the time")
    args = ap.parse_args(argv)
    wall = args.wall
    if args.run:
        exe = os.path.join(os.path.dirname(sys.executable), "profile-model")
        t0 = time.perf_counter()
        done = subprocess.run([exe, "sweep", "--zoo", "hf", "--jobs", str(args.jobs), "--resume", "--output",
                               args.csv], cwd=ROOT)
        wall = time.perf_counter() - t0
        if done.returncode:
            print(f"sweep_hf_report: the sweep exited with code {done.returncode}; the report is not written",
                  file=sys.stderr)
            return done.returncode
    try:
        with open(args.csv, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r.get("zoo") == "hf"]
    except OSError as exc:
        print(f"sweep_hf_report: cannot read {args.csv}: {exc.strerror}; run the sweep first (--run)",
              file=sys.stderr)
        return 1
    if not rows:
        print(f"sweep_hf_report: {args.csv} has no hf rows; run the sweep first (--run)", file=sys.stderr)
        return 1
    text = build_report(rows, os.path.relpath(os.path.abspath(args.csv), ROOT), wall, args.jobs, args.time_note)
    with atomic_open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out} ({len(rows)} types)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
