"""Where a zoo sweep's time goes: construction on meta vs the meta pass, per model, in worker processes.

    python benchmarks/sweep_timing.py --zoo timm --slowest reports/sweep_timm.csv 15
    python benchmarks/sweep_timing.py --zoo timm --jobs 2 --output /tmp/timing.csv          # every model
    python benchmarks/sweep_timing.py --zoo timm --only 'sequencer*' --fast-build

Each model is built as ``profile_model`` builds it (:func:`profiler.zoo.build.create_meta`) and profiled on
meta at its default input; the CSV gets build and pass seconds (wall and CPU: the machine may be shared),
MACs and params (to compare with a sweep's CSV). ``--fast-build`` builds under
:class:`profiler.core.meta_kernels.FastMeta` (fast in-place kernels for the initialisers), what
``create_meta`` does once it enters that mode, to measure it before it is wired in. Worker processes import
torch and the zoo before their first model, so no model pays for the imports.
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import sys
import time

COLUMNS = ("name", "build_s", "pass_s", "cpu_s", "macs", "params", "build", "status", "error")


def _init(fast_build: bool, zoo: str) -> None:
    import warnings

    import torch

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    from profiler.studies import sweep

    sweep._import_zoo(zoo)
    sweep._warm_up()
    if fast_build:
        from profiler.core.meta_kernels import FastMeta
        from profiler.zoo import names

        create = names.create

        def fast_create(*args, **kwargs):
            with FastMeta():
                return create(*args, **kwargs)

        names.create = fast_create  # build.py calls names.create(...) through the module


def time_one(spec: str) -> dict:
    from profiler.core.engine import profile
    from profiler.zoo import build

    row = {"name": spec.split(":", 1)[1], "status": "ok", "error": ""}
    c0, t0 = time.process_time(), time.perf_counter()
    try:
        built = build.create_meta(spec)
        t1 = time.perf_counter()
        # profile_model's own input making differs between versions of build.py: go through it when it can
        # give the shapes, else the default size of the zoo's metadata.
        info = built.info
        size = getattr(build, "sample_shapes", None)
        if size is not None:
            shape = size(None, info.input_size or (), info.spec, rank_known=True, kind=info.input_kind)[0]
        else:
            shape = build.sample_shape(None, info.input_size or (), info.spec, rank_known=True,
                                       kind=info.input_kind)
        prof = profile(built.model, device="meta", input_size=(1, *shape), name=info.spec)
        t2 = time.perf_counter()
        row.update(build_s=round(t1 - t0, 3), pass_s=round(t2 - t1, 3), macs=prof.macs, params=prof.params,
                   build=built.build)
    except Exception as exc:  # noqa: BLE001 - a row with the reason
        row.update(status="failed", error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                   build_s=round(time.perf_counter() - t0, 3), pass_s="")
    row["cpu_s"] = round(time.process_time() - c0, 3)
    return row


def _names(args) -> list[str]:
    if args.names:
        return list(args.names)
    if args.slowest:
        path, n = args.slowest
        with open(path, newline="") as f:
            rows = sorted(csv.DictReader(f), key=lambda r: -float(r["seconds"] or 0))
        return [r["name"] for r in rows[:int(n)]]
    from profiler import zoo

    return [n for _, n in zoo.list_names(args.only, zoos=(args.zoo,))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zoo", default="timm")
    p.add_argument("--only", default=None, help="names matching this glob")
    p.add_argument("--slowest", nargs=2, metavar=("CSV", "N"), help="the N slowest models of a sweep CSV")
    p.add_argument("--names", nargs="+", default=None, help="these models")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--fast-build", action="store_true", help="build under meta_kernels.FastMeta")
    p.add_argument("--output", default=None, help="CSV path (default: print only)")
    args = p.parse_args(argv)

    names = _names(args)
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    rows = []
    with ctx.Pool(args.jobs, initializer=_init, initargs=(args.fast_build, args.zoo), maxtasksperchild=200) as pool:
        for row in pool.imap_unordered(time_one, [f"{args.zoo}:{n}" for n in names]):
            rows.append(row)
            print(f"{row['name']:45s} build {row['build_s']:>7} pass {row['pass_s']:>7} {row['status']}",
                  flush=True)
    wall = time.perf_counter() - t0
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        from profiler.atomic import atomic_open

        with atomic_open(args.output, "w", newline="") as f:  # a failed write leaves the old timings
            w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    done = [r for r in rows if r["status"] == "ok"]
    build_s = sum(r["build_s"] for r in done)
    pass_s = sum(r["pass_s"] for r in done)
    slow = sorted(rows, key=lambda r: -(r["build_s"] + (r["pass_s"] or 0)))[:10]
    print(f"\n{len(rows)} models ({len(done)} ok), {args.jobs} worker(s), wall {wall:.1f} s "
          f"(worker start-up included); build {build_s:.1f} s + pass {pass_s:.1f} s summed; "
          f"load {os.getloadavg()[0]:.2f}")
    print("slowest: " + ", ".join(f"{r['name']} {r['build_s'] + (r['pass_s'] or 0):.2f}s" for r in slow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
