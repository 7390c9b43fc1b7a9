"""Startup of the command line: `--help` and `list`, which import no torch, and time to first output of
``profile-model NAME``, split into the imports of torch and of the zoo (``python -X importtime``) and ours.

    python benchmarks/startup_report.py                 # writes reports/startup.md
    python benchmarks/startup_report.py --repeats 3 --models "mixnet_s --input 224" torchvision:resnet18
    python benchmarks/startup_report.py --before /tmp/old   # also time an earlier copy: /tmp/old/profiler/...

Every command runs ``--repeats`` times in a fresh interpreter; the best (fastest) run is reported, with the
machine's load: the other runs lost time to whatever else the machine was doing. ``list`` runs with
XDG_CACHE_HOME in a temporary folder: its first run builds the name cache (cold), the others read it (warm).
Not a test: numbers depend on the machine and on the disk cache.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO_PACKAGES = ("timm", "torchvision", "transformers", "pytorchcv")
HEAVY = ("torch",) + ZOO_PACKAGES
MODELS = ("resnet18 --input 224", "mixnet_s --input 224", "torchvision:resnet18", "hf:gpt2")
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def _run(argv: list[str], importtime: bool = False, before: str | None = None,
         env: dict | None = None) -> tuple[float, float, str]:
    """(seconds to the first byte on stdout, seconds in all, stderr) of one fresh ``profile-model ARGV``, run as
    the console script runs it; ``before``: the folder holding an earlier ``profiler/`` to run instead."""
    code = ("import sys; sys.argv = ['profile-model'] + %r\n"
            "from profiler.cli import console\n"
            "console()") % (argv,)
    env = {**os.environ, "COLUMNS": "120", **(env or {})}
    if before:
        env["PYTHONPATH"] = before + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + ["-c", code]
    with tempfile.TemporaryFile("w+") as log:  # stderr to a file: a full pipe would block the command
        t0 = time.perf_counter()
        # -c puts the working folder first on sys.path: ROOT's profiler would shadow the earlier copy
        proc = subprocess.Popen(cmd, cwd=before or ROOT, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        first = proc.stdout.read(1)
        t_first = time.perf_counter() - t0
        proc.stdout.read()
        proc.wait()
        total = time.perf_counter() - t0
        log.seek(0)
        err = log.read()
    if proc.returncode != 0 or not first:
        raise RuntimeError(f"profile-model {shlex.join(argv)} failed: {err.strip().splitlines()[-1:]}")
    return t_first, total, err


def _best(argv, repeats: int, **kw) -> tuple[float, float]:
    runs = [_run(argv, **kw)[:2] for _ in range(repeats)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def _tree(log: str) -> list[dict]:
    """The import tree of a ``-X importtime`` log (it prints each module when its import ends, children first)."""
    pending: dict[int, list] = {}
    for m in _LINE.finditer(log):
        depth = len(m.group(3)) // 2
        node = {"name": m.group(4), "self": int(m.group(1)) / 1e6, "cum": int(m.group(2)) / 1e6,
                "children": pending.pop(depth + 1, [])}
        pending.setdefault(depth, []).append(node)
    return pending.get(0, [])


def _split(log: str) -> dict[str, float]:
    """Seconds of import: ``torch`` (its first import, all it imports), ``zoo`` (timm, torchvision, transformers,
    pytorchcv and all they import that was not loaded yet: torch._dynamo for timm ...), ``ours`` (every other
    module: profiler's own, tabulate, yaml ...)."""
    out = {"torch": 0.0, "zoo": 0.0, "ours": 0.0}

    def walk(nodes):
        for n in nodes:
            top = n["name"].split(".")[0]
            if top == "torch":
                out["torch"] += n["cum"]
            elif top in ZOO_PACKAGES:
                out["zoo"] += n["cum"]
            else:
                out["ours"] += n["self"]
                walk(n["children"])

    walk(_tree(log))
    return out


def _imported(log: str) -> list[str]:
    names = {m.group(4).split(".")[0] for m in _LINE.finditer(log)}
    return [p for p in HEAVY if p in names]


def _light(argv, repeats, before, env=None) -> dict:
    """Best wall time of a command that should import no torch, and what heavy packages it imported."""
    row = {"now": _best(argv, repeats, env=env)[1], "imports": _imported(_run(argv, importtime=True, env=env)[2])}
    if before:
        row["before"] = _best(argv, repeats, before=before, env=env)[1]
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=list(MODELS), metavar="COMMAND",
                    help="profile commands to time, each one argument (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before", default=None, metavar="DIR",
                    help="a folder holding an earlier copy of the profiler package, timed beside this one")
    ap.add_argument("--output", default=os.path.join(ROOT, "reports", "startup.md"))
    args = ap.parse_args(argv)
    before = os.path.abspath(args.before) if args.before else None
    from profiler.cli import subcommands

    load0 = os.getloadavg()
    light = {}
    for cmd in ["--help"] + [f"{c} --help" for c in sorted(subcommands())]:
        light[cmd] = _light(shlex.split(cmd), args.repeats, before)
        print(f"{cmd}: {light[cmd]}", flush=True)
    colds = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            colds.append(_run(["list"], env={"XDG_CACHE_HOME": cache})[1])
    with tempfile.TemporaryDirectory() as cache:
        env = {"XDG_CACHE_HOME": cache}
        _run(["list"], env=env)
        light["list"] = _light(["list"], args.repeats, before, env=env)
        light["list"]["cold"] = min(colds)
        print(f"list: {light['list']}", flush=True)
    models = []
    for cmd in args.models:
        first, total = _best(shlex.split(cmd), args.repeats)
        t_first, t_total, log = _run(shlex.split(cmd), importtime=True)
        row = {"cmd": cmd, "first": first, "total": total, "it_total": t_total, **_split(log),
               "zoos": [p for p in _imported(log) if p != "torch"]}
        row["rest"] = t_total - row["torch"] - row["zoo"] - row["ours"]
        if before:
            row["before"] = _best(shlex.split(cmd), args.repeats, before=before)[1]
        models.append(row)
        print(f"{cmd}: {row}", flush=True)
    load1 = os.getloadavg()

    had = " | before (s)" if before else ""
    lines = [
        "# Startup of `profile-model`",
        "",
        f"Made by `python benchmarks/startup_report.py{' --before DIR' if before else ''}` on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {load0[0]:.1f} before, {load1[0]:.1f} after. Best of {args.repeats} fresh processes per "
        "command (wall time until the process has ended)"
        + (f"; *before*: the same commands run on an earlier copy of the package (`--before`)." if before else "."),
        "",
        "## Without torch: `--help` and `list`",
        "",
        f"| command{had} | now (s) | heavy packages imported now |",
        "|---|" + ("---:|" if before else "") + "---:|---|",
    ]
    for cmd, row in light.items():
        shown = f"`profile-model {cmd}`" + (" (warm name cache)" if cmd == "list" else "")
        cells = ([f"{row['before']:.2f}"] if before else []) + [f"{row['now']:.2f}", ", ".join(row["imports"]) or "none"]
        lines.append(f"| {shown} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"`list`'s first run, which builds the name cache (`~/.cache/profiler/names-<hash>.json`): "
        f"{light['list']['cold']:.2f} s (best of {args.repeats}, each in an empty cache folder), the work every "
        "`list` did before (importing the four zoos, listing them, resolving each name) and writing the file. "
        "The parsers' option names come from `profiler/cli/choices.py`, so no "
        "`--help` imports torch or a zoo; a warm `list` reads the names and what to type for each from the "
        "cache, keyed by the installed versions of torch, timm, torchvision, pytorchcv, transformers and "
        "profiler and by the modification times of the files that decide the names (`PROFILER_NO_CACHE=1` "
        "bypasses it). What is left is the interpreter (about 0.05 s), `importlib.metadata` for the key and "
        "tabulate laying out all the rows.",
        "",
        "## Time to the table of a named model",
        "",
        "*first output* and *total* are the best of the plain runs. The split comes from one more run under "
        "`python -X importtime` (which slows imports a little, so its total is larger): *torch* is torch's "
        "first import with all it imports; *zoo* the zoos' packages with all they import that was not loaded "
        "yet (timm imports torchvision and `torch._dynamo`); *our imports* every other module (profiler's own, "
        "tabulate, yaml ...); *the rest* is what is left of that run: the interpreter's start, resolving the "
        "name, building the model on the meta device, the counted pass and printing.",
        "",
        "| command" + (" | before (s)" if before else "") + " | first output (s) | total (s) | importtime run (s) "
        "| torch (s) | zoo (s) | our imports (s) | the rest (s) | zoos imported |",
        "|---|" + ("---:|" if before else "") + "---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in models:
        cells = ([f"{r['before']:.2f}"] if before else []) + [
            f"{r[k]:.2f}" for k in ("first", "total", "it_total", "torch", "zoo", "ours", "rest")]
        lines.append(f"| `profile-model {r['cmd']}` | " + " | ".join(cells) + f" | {', '.join(r['zoos']) or '-'} |")
    worst = max(models, key=lambda r: r["ours"] + r["rest"]) if models else None
    if worst is not None:
        lines += [
            "",
            f"Ours (our imports and the rest, without torch and the zoo) is at most "
            f"{worst['ours'] + worst['rest']:.2f} s (`{worst['cmd']}`). What is imported is what the name needs: "
            "a timm name imports timm (and torchvision, which timm's feature-extraction helpers import), a "
            "`torchvision:` name does not import timm; no command imports matplotlib or pandas unless a plot or a "
            "DataFrame is asked for. The command leaves without the interpreter's clean-up once the report is out "
            "(tearing torch and timm down took about 1 s more).",
        ]
    from profiler.atomic import atomic_open

    with atomic_open(args.output, "w", encoding="utf-8") as fh:  # a failed write leaves the old report
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
