"""Time to first output of ``profile-model NAME``: the whole command in a fresh process, and where the time
goes (imports by package, from ``python -X importtime``; the rest is building, counting and printing).

    python benchmarks/startup_report.py                 # writes reports/startup.md
    python benchmarks/startup_report.py --repeats 3 mixnet_s torchvision:resnet18

Each command runs ``--repeats`` times in a fresh interpreter; medians are reported, with the machine's load.
Not a test: numbers depend on the machine and on the disk cache.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# top-level packages whose import time is reported separately (cumulative, as -X importtime gives it)
PACKAGES = ("torch", "timm", "torchvision", "transformers", "pytorchcv", "profiler", "tabulate", "yaml",
            "matplotlib", "pandas")
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def _run(spec: str) -> tuple[float, float, str]:
    """(seconds to the first byte on stdout, seconds in all, the import log) of one fresh command."""
    code = ("import sys; sys.argv = ['profile-model', %r]\n"
            "from profiler.cli import console\n"
            "console()") % spec
    with tempfile.TemporaryFile("w+") as log:  # the import log to a file: a full stderr pipe would block
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=log, text=True, env={**os.environ, "COLUMNS": "120"})
        first = proc.stdout.read(1)
        t_first = time.perf_counter() - t0
        proc.stdout.read()
        proc.wait()
        total = time.perf_counter() - t0
        log.seek(0)
        err = log.read()
    if proc.returncode != 0 or not first:
        raise RuntimeError(f"profile-model {spec} failed: {err.strip().splitlines()[-1:]}")
    return t_first, total, err


def _imports(log: str) -> dict[str, float]:
    """Cumulative seconds of each top-level package in PACKAGES that was imported (first import only)."""
    out: dict[str, float] = {}
    for m in _LINE.finditer(log):
        name = m.group(4)
        if name in PACKAGES and name not in out:
            out[name] = int(m.group(2)) / 1e6
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="*", default=["mixnet_s", "torchvision:resnet18", "hf:gpt2"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--output", default=os.path.join(ROOT, "reports", "startup.md"))
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    rows = []
    for spec in args.specs:
        runs = [_run(spec) for _ in range(args.repeats)]
        first = statistics.median(r[0] for r in runs)
        total = statistics.median(r[1] for r in runs)
        imports = _imports(runs[-1][2])
        rows.append((spec, first, total, imports))
        print(f"{spec}: first output {first:.2f} s, total {total:.2f} s, imports "
              + ", ".join(f"{k} {v:.2f} s" for k, v in imports.items()), flush=True)
    load1 = os.getloadavg()
    lines = [
        "# Time to first output of `profile-model NAME`",
        "",
        f"Made by `python benchmarks/startup_report.py` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average {load0[0]:.1f} before, "
        f"{load1[0]:.1f} after. Median of {args.repeats} fresh processes per command.",
        "",
        "Import columns are cumulative seconds of each package's first import (`python -X importtime`; a "
        "package imported inside another counts in both: torchvision inside timm). `-` = not imported.",
        "",
        "| command | first output (s) | total (s) | " + " | ".join(f"{p} (s)" for p in PACKAGES) + " |",
        "|---|---:|---:|" + "---:|" * len(PACKAGES),
    ]
    for spec, first, total, imports in rows:
        cells = [f"{imports[p]:.2f}" if p in imports else "-" for p in PACKAGES]
        lines.append(f"| `profile-model {spec}` | {first:.2f} | {total:.2f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "What is imported is what the name needs: a timm name imports timm (and torchvision, which timm's "
        "feature-extraction helpers import, and with it `torch._dynamo`); a `torchvision:` name does not import "
        "timm; no command imports matplotlib or pandas unless a plot or a DataFrame is asked for. *total* is "
        "until the process has ended: the command leaves without the interpreter's clean-up once the report is "
        "out (tearing torch and timm down took about 1 s more).",
    ]
    from profiler.atomic import atomic_open

    with atomic_open(args.output, "w", encoding="utf-8") as fh:  # a failed write leaves the old report
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
