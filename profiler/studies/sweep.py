"""Profile every architecture of a zoo at its default size, shape-only (meta), in worker processes.

Each worker is a separate process that imports torch once and profiles the names it is sent, one at a time;
one that runs past the per-model timeout or grows past the memory cap is killed and replaced, and the model
is recorded as ``timeout`` / ``memory`` / ``crashed``. Rows are plain dicts (:data:`COLUMNS`), written to a
CSV as they arrive so an interrupted sweep can be resumed.
"""
from __future__ import annotations

import csv
import multiprocessing as mp
import os
import time
from multiprocessing.connection import wait

COLUMNS = ("zoo", "name", "input", "macs", "params", "seconds", "status", "error", "build", "uncovered", "notes")
#: status values: ok (counted, every op covered), uncovered (counted, some ops without a rule: see
#: ``uncovered``), missing-dependency (the zoo needs an optional package to build it, ``error`` names it: not
#: a failure of the model), needs-inputs (its forward takes several inputs no metadata gives shapes for),
#: failed (an exception; ``error`` says which), timeout, memory, crashed; the hf zoo's not-buildable,
#: remote-code, hf-error and hf-forward (:data:`profiler.zoo.hf_registry.HF_STATUSES`).
OK_STATUSES = ("ok", "uncovered")
#: Statuses that are no failure of the model or of the counting: listed apart from the failures.
SKIPPED_STATUSES = ("missing-dependency", "needs-inputs", "not-buildable", "remote-code", "hf-error",
                    "hf-forward")


def profile_row(zoo: str, name: str) -> dict:
    """One CSV row for ``zoo:name`` profiled at its default input size on meta (batch 1, MACs)."""
    import warnings

    from profiler.zoo import profile_model

    t0 = time.perf_counter()
    row = {"zoo": zoo, "name": name, "input": "", "macs": "", "params": "", "status": "failed", "error": "",
           "build": "", "uncovered": "", "notes": ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prof = profile_model(f"{zoo}:{name}")
        row.update(input=_input_text(prof),
                   macs=prof.macs, params=prof.params, build=prof.source.build,
                   uncovered=" ".join(u.op for u in prof.coverage), notes=" | ".join(prof.notes),
                   status="uncovered" if prof.coverage else "ok")
    except Exception as exc:  # noqa: BLE001 - every failure becomes a row with its reason
        cause = exc.__cause__ if exc.__cause__ is not None and "forward pass failed" in str(exc) else None
        msg = " ".join(str(exc).split())
        row["error"] = f"{type(exc).__name__}: {msg[:400]}" + (f" [{type(cause).__name__}]" if cause else "")
        from profiler.zoo.build import InputsError
        from profiler.zoo.names import MissingDependencyError
        if isinstance(exc, (MissingDependencyError, ModuleNotFoundError)):
            package = exc.package if isinstance(exc, MissingDependencyError) else (exc.name or "?").split(".")[0]
            row["status"], row["error"] = "missing-dependency", f"needs optional dependency {package} " \
                                                                f"(pip install {package})"
        elif isinstance(exc, InputsError):
            row["status"], row["error"] = "needs-inputs", msg
        elif zoo == "hf":  # the registry's own reasons (profiler.zoo.hf_registry.classify)
            from profiler.zoo.hf_registry import classify
            row["status"], row["error"] = classify(exc, name)
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


def _input_text(prof) -> str:
    """One sample's input shape(s) without the batch: ``3x224x224``; an image pair or several inputs
    comma-separated (``3x512x512,3x512x512``), as ``--input`` takes them."""
    src = prof.source
    if src is None or not src.input_size:
        return "x".join(str(d) for d in prof.inputs[0][1:]) if prof.inputs else ""
    size = src.input_size
    shapes = list(size) if isinstance(size[0], (tuple, list)) else [size]
    if src.input_kind == "image-pair" and len(shapes) == 1:
        shapes *= 2
    return ",".join("x".join(str(d) for d in s) for s in shapes)


def _run_job(job):
    """A job is ``(zoo, name)`` (one profile row) or ``("crosscheck", zoo, name, tools)`` (one row per peer,
    :func:`profiler.studies.zoo_crosscheck.crosscheck_rows`)."""
    if job[0] == "crosscheck":
        from profiler.studies.zoo_crosscheck import crosscheck_rows
        return crosscheck_rows(*job[1:])
    _import_zoo(job[0])
    return profile_row(*job)


def _import_zoo(zoo: str) -> None:
    """Import the zoo's package before the first model's clock starts: ``import timm`` takes 5-8 s, which
    the sweep charged to whichever model came first in each worker (aimv2_1b_patch14_224: 15 s, 0.4 s once
    imported). A missing package is left for :func:`profile_row` to report."""
    import importlib

    from profiler.zoo.names import ZOO_PACKAGES

    package = ZOO_PACKAGES.get(zoo)
    if package is not None:
        try:
            importlib.import_module(package)
        except ImportError:
            pass
    if zoo == "hf":  # transformers' log lines (docstring checks, kernel fallbacks) are no row's business
        from profiler.zoo.hf_registry import quiet
        quiet()


def _warm_up() -> None:
    """One tiny shape-only pass, so that the first model's time does not include importing the profiler and
    torch's one-off set-up of the meta and dispatch machinery."""
    import torch.nn as nn

    from profiler.core.engine import profile
    import profiler.zoo  # noqa: F401 - the import is the point

    try:
        profile(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2)),
                input_size=(1, 3, 3, 3), device="meta")
    except Exception:  # noqa: BLE001 - a warm-up only: the real jobs report their own failures
        pass


def _failure(job, status: str, error: str, seconds: float):
    """What a job that timed out, outgrew the memory cap or crashed its worker gives instead of its result."""
    if job[0] == "crosscheck":
        from profiler.studies.zoo_crosscheck import failure_rows
        return failure_rows(job[1], job[2], job[3], status, error, seconds)
    zoo, name = job
    return {"zoo": zoo, "name": name, "input": "", "macs": "", "params": "", "seconds": round(seconds, 3),
            "status": status, "error": error, "build": "", "uncovered": "", "notes": ""}


def _worker(conn, threads: int = 1, memory_gib: float = 0.0) -> None:
    import torch

    if memory_gib:
        # The cap run_sweep enforces from outside, told to the memory guard inside: a fallback or a construction
        # past it is refused in one line (a row with its reason) before the worker is killed for it.
        from profiler.zoo.memory import LIMIT_ENV
        os.environ[LIMIT_ENV] = f"{memory_gib:g}"

    # Shape-only passes: threads buy nothing and the machine is shared. Real passes (a cross-check) get
    # their share of the cores.
    torch.set_num_threads(threads)
    _warm_up()
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(_run_job(job))


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class _Slot:
    def __init__(self, ctx, threads: int = 1, memory_gib: float = 0.0):
        self.ctx = ctx
        self.threads = threads
        self.memory_gib = memory_gib
        self.start()

    def start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child, self.threads, self.memory_gib),
                                     daemon=True)
        self.proc.start()
        child.close()
        self.job = None
        self.t0 = 0.0

    def send(self, job):
        self.job, self.t0 = job, time.perf_counter()
        self.conn.send(job)

    def kill(self):
        self.proc.kill()
        self.proc.join()
        self.conn.close()

    def stop(self):
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.kill()


def run_sweep(jobs_list, *, jobs: int = 1, timeout: float = 300.0, max_memory_gib: float = 8.0, threads: int = 1):
    """Run every job of ``jobs_list`` in ``jobs`` worker processes; yields results as they finish.

    A job ``(zoo, name)`` gives one profile row; ``("crosscheck", zoo, name, tools)`` a list of rows, one per
    peer (see :func:`_run_job`). timeout: seconds per model (construction + pass). max_memory_gib: resident
    memory per worker (GiB) beyond which its model is abandoned. threads: torch threads per worker.
    """
    ctx = mp.get_context("spawn")
    pending = list(jobs_list)
    slots = [_Slot(ctx, threads, max_memory_gib) for _ in range(max(1, min(jobs, len(pending) or 1)))]
    cap = int(max_memory_gib * 2**30)
    try:
        while pending or any(s.job for s in slots):
            for s in slots:
                if s.job is None and pending:
                    if cap and _rss_bytes(s.proc.pid) > cap // 2:
                        # grown by the models before (imported modules, caches): a fresh worker, so the cap
                        # charges the next model its own memory, not theirs
                        s.stop()
                        s.start()
                    s.send(pending.pop(0))
            busy = [s for s in slots if s.job is not None]
            ready = wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout=1.0)
            for s in busy:
                row = None
                if s.conn in ready:
                    try:
                        row = s.conn.recv()
                    except (EOFError, OSError):
                        row = None
                    if row is not None:
                        s.job = None
                        yield row
                        continue
                if s.proc.sentinel in ready or not s.proc.is_alive():
                    status, err = "crashed", f"worker exited with code {s.proc.exitcode}"
                elif time.perf_counter() - s.t0 > timeout:
                    status, err = "timeout", f"no result after {timeout:g} s"
                elif cap and _rss_bytes(s.proc.pid) > cap:
                    status, err = "memory", f"worker passed {max_memory_gib:g} GiB resident"
                else:
                    continue
                job, elapsed = s.job, time.perf_counter() - s.t0
                s.kill()
                s.start()
                yield _failure(job, status, err, elapsed)
    finally:
        for s in slots:
            s.stop()


def read_rows(path: str, columns: tuple = ("zoo", "name", "status"), what: str = "sweep") -> list[dict]:
    """The rows of an earlier ``what`` CSV (``--resume``) that must hold ``columns``; [] when there is none."""
    from profiler.errors import UsageError, file_error

    if not path or not os.path.exists(path):
        return []
    if not os.path.isfile(path):  # a folder, or a device such as /dev/zero that would be read forever
        raise UsageError(f"cannot resume from {path!r}: not a regular file; give a {what} CSV or leave out --resume")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise UsageError(f"cannot resume from {path!r}: not a {what} CSV (no column {', '.join(missing)})")
            return list(reader)
    except (OSError, UnicodeDecodeError) as exc:
        raise file_error(exc, path, "the --resume CSV") from None
    except csv.Error as exc:
        raise UsageError(f"cannot resume from {path!r}: not a {what} CSV ({exc}); give its own CSV or "
                         "leave out --resume") from None


def summarise(rows: list[dict]) -> dict:
    """Counts per status, success rate (ok + uncovered over all) and failures grouped by reason."""
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    counted = sum(by_status.get(s, 0) for s in OK_STATUSES)
    failures = [r for r in rows if r["status"] not in OK_STATUSES + SKIPPED_STATUSES]
    skipped: dict[str, list[str]] = {}  # reason (the dependency to install, ...) -> models
    for r in rows:
        if r["status"] in SKIPPED_STATUSES:
            key = r["error"].split(" (pip install")[0] if r["status"] == "missing-dependency" else r["status"]
            skipped.setdefault(key, []).append(r["name"])
    reasons: dict[str, list[str]] = {}
    for r in failures:
        reasons.setdefault(_reason(r["error"]), []).append(r["name"])
    uncovered: dict[str, list[str]] = {}
    for r in rows:
        for op in (r.get("uncovered") or "").split():
            uncovered.setdefault(op, []).append(r["name"])
    builds: dict[str, int] = {}
    for r in rows:
        if r["status"] in OK_STATUSES:
            builds[r.get("build") or "?"] = builds.get(r.get("build") or "?", 0) + 1
    timed = sorted((float(r["seconds"]), r["name"]) for r in rows if r["status"] in OK_STATUSES and r["seconds"])
    seconds = {"median": timed[len(timed) // 2][0], "max": timed[-1][0], "max_name": timed[-1][1],
               "total": sum(t for t, _ in timed)} if timed else {}
    return {"total": len(rows), "counted": counted, "seconds": seconds, "rate": counted / len(rows) if rows else 0.0,
            "by_status": by_status, "failures": failures, "reasons": reasons, "uncovered": uncovered,
            "builds": builds, "skipped": skipped}


def _reason(error: str) -> str:
    """The error without the model-specific detail, to group failures."""
    head = error.split(" with input shapes ")[0]
    return head[:160]
