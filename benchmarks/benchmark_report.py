"""Cost of profiling, measured in one process: the plain forward pass against this package (real and meta
passes) and the peers (ptflops, fvcore, thop, torch's FlopCounterMode) on the same models and inputs.

    python benchmarks/benchmark_report.py                       # writes reports/benchmark.md + reports/benchmark_resolution.png
    python benchmarks/benchmark_report.py --repeats 5 --quick   # fewer repeats, fewer resolutions

Method: every method runs once per round, rounds are repeated (interleaved, so load from other processes
on a shared machine hits every method alike), and the median of the rounds is reported, as wall-clock time
(``time.perf_counter``) and as CPU time of this process (``time.process_time``, less sensitive to other
processes). Ratios are to the plain forward pass (eval, ``torch.no_grad()``) of the same model and input.
Model construction is not timed. Not a test: numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import copy
import io
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout

import torch

warnings.simplefilter("ignore")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import profiler  # noqa: E402


def _quiet(fn):
    def run():
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            return fn()
    return run


def methods(model, x):
    """name -> zero-argument callable doing one profile (or one forward) of ``model`` on ``x``."""
    out = {}

    def plain():
        with torch.no_grad():
            model(x)
    out["plain forward"] = plain
    out["profiler (real pass)"] = lambda: profiler.profile(model, x)
    out["profiler (meta pass)"] = lambda: profiler.profile(model, x, device="meta")
    try:
        from ptflops import get_model_complexity_info
        shape = tuple(x.shape[1:])
        out["ptflops"] = _quiet(lambda: get_model_complexity_info(model, shape, as_strings=False,
                                                                  print_per_layer_stat=False, verbose=False))
    except ImportError:
        pass
    try:
        from fvcore.nn import FlopCountAnalysis

        def fv():
            a = FlopCountAnalysis(model, x)
            a.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return a.total()
        out["fvcore"] = _quiet(fv)
    except ImportError:
        pass
    try:
        from thop import profile as thop_profile
        thop_model = copy.deepcopy(model)  # thop registers buffers on the model it is given

        out["thop"] = _quiet(lambda: thop_profile(thop_model, inputs=(x,), verbose=False))
    except ImportError:
        pass
    from torch.utils.flop_counter import FlopCounterMode

    def fcm():
        with torch.no_grad(), FlopCounterMode(display=False) as f:
            model(x)
        return f.get_total_flops()
    out["FlopCounterMode"] = fcm
    return out


def measure(fns: dict, repeats: int, warmup: int = 3) -> dict:
    """name -> (median wall s, median cpu s), interleaved rounds."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def build(name: str):
    from profiler import zoo
    model, info = zoo.create(name)
    return model, info


def overhead_table(results: dict) -> list[tuple]:
    base_w, base_c = results["plain forward"]
    return [(k, f"{w * 1e3:.1f}", f"{w / base_w:.2f}x", f"{c * 1e3:.1f}", f"{c / base_c:.2f}x")
            for k, (w, c) in results.items()]


def resolution_sweep(name: str, sizes, repeats: int):
    model, _ = build(name)
    rows = []
    for s in sizes:
        x = torch.randn(1, 3, s, s)
        fns = {"plain forward": methods(model, x)["plain forward"],
               "profiler (real pass)": lambda x=x: profiler.profile(model, x),
               "profiler (meta pass)": lambda x=x: profiler.profile(model, x, device="meta")}
        reps = repeats if s <= 512 else max(1, repeats // 3)
        r = measure(fns, reps, warmup=2 if s <= 512 else 1)
        rows.append((s, {k: v[0] for k, v in r.items()}))
        print(f"  {name} {s}x{s}: " + ", ".join(f"{k} {v[0] * 1e3:.0f} ms" for k, v in r.items()), flush=True)
    return rows


def big_model_child(spec: str) -> dict:
    """Profile ``spec`` built on meta in a fresh process; its wall time and peak RSS."""
    code = ("import time, json; t=time.perf_counter(); from profiler import profile_model; "
            f"p = profile_model({spec!r}); "
            "print(json.dumps({'seconds': time.perf_counter()-t, 'macs': p.macs, 'params': p.params, "
            "'build': p.source.build, 'rss_gib': [int(l.split()[1]) for l in open('/proc/self/status') "
            "if l.startswith('VmHWM:')][0] / 2**20}))")
    # VmHWM (peak resident set of this process image): ru_maxrss would carry over the parent's peak, since
    # Linux keeps it across fork + exec.
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    import json
    d = json.loads(out.stdout.strip().splitlines()[-1])
    d["process_seconds"] = time.perf_counter() - t0  # including the imports of torch and timm
    return d


def plot(rows, name: str, path: str):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    sizes = [s for s, _ in rows]
    for k, style in (("plain forward", "k-o"), ("profiler (real pass)", "C0-s"), ("profiler (meta pass)", "C2-^")):
        ax.plot(sizes, [r[k] * 1e3 for _, r in rows], style, label=k)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("input resolution (pixels, square, batch 1)")
    ax.set_ylabel("wall time per call (ms, median)")
    ax.set_title(f"{name}: cost against resolution (meta pass: shapes only)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="timm:mixnet_s,torchvision:resnet18,timm:vit_small_patch16_224")
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--quick", action="store_true", help="resolutions 224, 512, 1024 only")
    ap.add_argument("--out", default=os.path.join(ROOT, "reports", "benchmark.md"))
    args = ap.parse_args(argv)
    from tabulate import tabulate

    torch.manual_seed(0)
    lines = ["# Cost of profiling\n",
             f"Generated by `python benchmarks/benchmark_report.py` on {platform.machine()} with {os.cpu_count()} CPU "
             f"cores (shared with other work), torch {torch.__version__}, {torch.get_num_threads()} intra-op "
             f"threads. Median of {args.repeats} interleaved rounds; wall = `time.perf_counter`, "
             "CPU = `time.process_time` of this process. Ratio = time / plain forward of the same model and "
             "input (eval, no_grad). Model construction not timed.\n"]
    for spec in args.models.split(","):
        model, info = build(spec)
        x = torch.randn(1, *info.input_size)
        print(f"{spec} {tuple(x.shape)} ...", flush=True)
        res = measure(methods(model, x), args.repeats)
        lines.append(f"## {spec}, input {'x'.join(map(str, x.shape))}\n")
        lines.append(tabulate(overhead_table(res), headers=["method", "wall ms", "wall ratio", "CPU ms", "CPU ratio"],
                              tablefmt="github", disable_numparse=True))
        lines.append("")
        for row in overhead_table(res):
            print("  ", *row, flush=True)

    sizes = [224, 512, 1024] if args.quick else [224, 320, 512, 768, 1024, 1536, 2048]
    print("resolution sweep (mixnet_s) ...", flush=True)
    rows = resolution_sweep("timm:mixnet_s", sizes, max(3, args.repeats // 2))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    png = os.path.join(os.path.dirname(os.path.abspath(args.out)), "benchmark_resolution.png")
    plot(rows, "timm:mixnet_s", png)
    lines.append("## Cost against resolution: timm:mixnet_s\n")
    lines.append(f"![cost against resolution]({os.path.basename(png)})\n")
    lines.append(tabulate([(f"{s}x{s}", f"{r['plain forward'] * 1e3:.0f}", f"{r['profiler (real pass)'] * 1e3:.0f}",
                            f"{r['profiler (meta pass)'] * 1e3:.0f}",
                            f"{r['profiler (meta pass)'] / rows[0][1]['profiler (meta pass)']:.2f}x")
                           for s, r in rows],
                          headers=["input", "plain forward ms", "profiler real ms", "profiler meta ms",
                                   "meta vs meta at 224"], tablefmt="github", disable_numparse=True))
    lines.append("")

    print("vit_giant_patch14_224 built and profiled on meta ...", flush=True)
    big = big_model_child("timm:vit_giant_patch14_224")
    lines.append("## A 1B-parameter model shape-only: timm:vit_giant_patch14_224\n")
    lines.append(f"`profiler.profile_model('timm:vit_giant_patch14_224')` in a fresh process: built "
                 f"`{big['build']}`, {big['params']:,} params, {big['macs']:,} MACs (multiply-accumulates, conv + "
                 f"linear + attention, no bias) at 1x3x224x224; build + profile {big['seconds']:.2f} s "
                 f"(whole process with the torch/timm imports {big['process_seconds']:.1f} s), "
                 f"peak resident memory {big['rss_gib']:.2f} GiB.\n")
    print(f"  {big}", flush=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
