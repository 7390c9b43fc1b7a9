"""Regenerate or check the committed outputs of notebooks/exploration.ipynb.

    python benchmarks/make_notebook.py            # execute the notebook in place: fresh outputs, cell ids
    python benchmarks/make_notebook.py --check    # execute a copy; exit 1 if an output differs from the file's

The notebook's outputs are part of the repository (they show the API's real output), so CI checks that they are
what a fresh run prints: the copy is executed from the notebook's folder in a fresh kernel of this Python
(PYTHONHASHSEED=0; the notebook seeds torch and sets its own widths) and every cell's outputs are compared after
:func:`normalise` (elapsed times, memory addresses and the paths of this checkout and
this Python masked, pictures compared by kind only, output metadata dropped). A cell that raises fails the check too. Exit codes: 0 equal, 1 different or failed, 2 bad usage.
"""
from __future__ import annotations

import argparse
import copy
import difflib
import os
import re
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "notebooks", "exploration.ipynb")

#: (pattern, replacement) applied to every text output before comparing: what legitimately changes between runs.
SANITIZE = [
    (re.compile(re.escape(sys.prefix)), "<python>"),                                   # this environment
    (re.compile(re.escape(ROOT)), "<repo>"),                                           # this checkout
    (re.compile(r"\b0x[0-9a-fA-F]{6,}\b"), "0xADDR"),                                   # memory addresses
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:s|ms|us|µs|seconds?|sec)\b(?![\w-])"), "<TIME>"),  # elapsed times
]
#: Outputs compared by kind only: a picture's bytes depend on matplotlib's and libpng's versions.
BINARY = ("image/png", "image/jpeg", "image/svg+xml", "application/pdf")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def sanitize(text: str) -> str:
    for pattern, replacement in SANITIZE:
        text = pattern.sub(replacement, text)
    return text


def normalise(output: dict) -> dict:
    """One output, reduced to what must not change between runs."""
    kind = output.get("output_type")
    if kind == "stream":
        return {"stream": output.get("name"), "text": sanitize(_text(output.get("text", "")))}
    if kind in ("execute_result", "display_data"):
        data = {}
        for mime, value in sorted(output.get("data", {}).items()):
            data[mime] = f"<{mime}>" if mime in BINARY else sanitize(_text(value))
        return {"type": kind, "data": data}
    if kind == "error":
        return {"error": output.get("ename"), "value": sanitize(output.get("evalue", ""))}
    return {"type": kind}


def _lines(outputs: list[dict]) -> list[str]:
    lines = []
    for out in outputs:
        head = {k: v for k, v in out.items() if k not in ("text", "data")}
        lines.append(f"--- {head}")
        if "text" in out:
            lines += out["text"].splitlines()
        for mime, value in out.get("data", {}).items():
            lines.append(f"[{mime}]")
            lines += value.splitlines()
    return lines


def compare(committed, fresh) -> list[str]:
    """Differences between two executed notebooks, one message (with a unified diff) per differing cell."""
    problems = []
    old_cells, new_cells = committed.cells, fresh.cells
    if [c.get("id") for c in old_cells] != [c.get("id") for c in new_cells]:
        return ["the cells differ (ids or order)"]
    for index, (old, new) in enumerate(zip(old_cells, new_cells)):
        if old.cell_type != "code":
            continue
        a = [normalise(o) for o in old.get("outputs", [])]
        b = [normalise(o) for o in new.get("outputs", [])]
        if a != b:
            diff = difflib.unified_diff(_lines(a), _lines(b), "committed", "fresh run", lineterm="", n=2)
            problems.append(f"cell {index} (id {old.get('id')}): outputs differ\n" + "\n".join(list(diff)[:80]))
    return problems


def execute(nb, path: str, timeout: int = 600):
    """Run every cell of ``nb`` (in place) in a fresh kernel of this Python, from ``path``'s folder."""
    os.environ["PYTHONHASHSEED"] = "0"  # the kernel inherits it
    # A bare name's header lists the other zoos that have it from the names cache of `profile-model list` when
    # one exists: off, so the outputs depend on the notebook alone, not on whether this machine has a cache.
    os.environ["PROFILER_NO_CACHE"] = "1"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
    client.execute()
    return nb


def check_format(nb) -> list[str]:
    problems = []
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        problems.append(f"nbformat {nb.nbformat}.{nb.nbformat_minor}: cell ids need 4.5")
    ids = [c.get("id") for c in nb.cells]
    if None in ids or len(set(ids)) != len(ids):
        problems.append("every cell needs a unique id")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.strip() and cell.get("execution_count") is None:
            problems.append(f"cell {index} (id {cell.get('id')}) was not executed: run make_notebook.py")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", default=NOTEBOOK)
    parser.add_argument("--check", action="store_true", help="execute a copy and compare; write nothing")
    args = parser.parse_args(argv)
    committed = nbformat.read(args.notebook, as_version=4)
    fresh = copy.deepcopy(committed)
    for cell in fresh.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.get("metadata", {}).pop("execution", None)
    start = time.perf_counter()
    try:
        execute(fresh, args.notebook)
    except CellExecutionError as exc:
        print(f"{args.notebook}: a cell failed\n{exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    if not args.check:
        nbformat.validate(fresh)
        nbformat.write(fresh, args.notebook)
        print(f"wrote {os.path.relpath(args.notebook)}: {len(fresh.cells)} cells executed in {seconds:.1f} s")
        return 0
    problems = check_format(committed) + compare(committed, fresh)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{os.path.relpath(args.notebook)}: {len(problems)} problem(s); if the change is intended, "
              "regenerate with: python benchmarks/make_notebook.py", file=sys.stderr)
        return 1
    print(f"{os.path.relpath(args.notebook)}: outputs equal a fresh run's ({len(committed.cells)} cells, "
          f"executed in {seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
