"""Cost of profiling, measured in one process: the plain forward pass against this package (its default
``profile(model, x)``, shapes only on meta copies, and the real pass ``device="cpu"``) and the peers (ptflops
with its pytorch and aten backends, fvcore, thop, torchinfo, torch's FlopCounterMode, all real passes) on the
same models and inputs; then, once, the time of ``profile-model check`` (every entry of the registry).

    python benchmarks/benchmark_report.py --threads 2  # full: reports/benchmark.md and its two figures
    python benchmarks/benchmark_report.py --quick      # a check in about two minutes (fewer rounds and resolutions)

Method: every method does one full profile of the model on the given input per call (the plain forward: one
eval forward under ``torch.no_grad()``). Each method first runs once untimed (a probe: what it counted, whether
autograd was on during the forward), then warm-up rounds, then timed rounds. Rounds are interleaved (every
method once per round, the order rotated each round, so load from other processes on a shared machine and
any order effect hit every method alike) and the median of the rounds is reported, as wall-clock time
(``time.perf_counter``) and CPU time of this process (``time.process_time``, less sensitive to other
processes). Before every timed call, untimed: ``gc.collect()``, and for this package's *cold* methods
:func:`profiler.core.engine.fresh_caches` around the call (no state carried into it from earlier calls, and the warm
calls' state put back after it). Ratio = median time of the method /
median time of the plain forward of the same model and input. Model construction is not timed. The issue's
targets (``DEFAULT_TARGETS``, ``REAL_OVER_PEER``) are checked in the report's first table; the *floors* (observers
that count nothing, for the real pass and for the shapes-only pass) show what is left of each target for counting.
Not a test: numbers depend on the machine. Figures are drawn by :mod:`profiler.report.plots`.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Callable

import torch

warnings.simplefilter("ignore")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the other report scripts

import profiler  # noqa: E402
from profiler.core import engine  # noqa: E402
from crosscheck_report import versions  # noqa: E402  - one provenance helper for the reports

BASELINE = "plain forward"
DEFAULT = "profiler default (shapes)"
REAL = "profiler device='cpu' (real pass)"
OURS = (DEFAULT, "profiler default (shapes, cold)", REAL, "profiler device='cpu' (real pass, cold)")
MODELS = ("timm:mixnet_s", "torchvision:resnet18", "torchvision:resnet50", "timm:vit_small_patch16_224")
# The targets (wall ratio to the plain forward, median of the rounds): the default profile(m, x) at most
# these and below every peer on every model; the real pass at most REAL_OVER_PEER x the cheapest peer's ratio.
DEFAULT_TARGETS = {"timm:mixnet_s": 0.5, "torchvision:resnet18": 0.2, "torchvision:resnet50": 0.2,
                   "timm:vit_small_patch16_224": 0.2}
REAL_OVER_PEER = 1.05
PACKAGES = ("torch", "torchvision", "timm", "ptflops", "fvcore", "thop", "torchinfo", "numpy")


def _reset_caches() -> list[str]:
    """Forget what the engine learned in earlier calls (untimed, before a cold call); what was cleared, for the
    report's method text."""
    engine.clear_caches()
    return ["profiler.core.engine.clear_caches()"]


def _quiet(fn):
    def run():
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            return fn()
    return run


@dataclass
class Method:
    fn: Callable[[], float | None]  # one profile (or forward); returns the count it reports, None on failure
    what: str  # the count's unit, for the probe column
    module: torch.nn.Module  # the module whose forward it runs (thop gets its own copy)
    reset: bool = False  # ours, cold: run inside engine.fresh_caches()


@dataclass
class Result:
    wall: list = field(default_factory=list)
    cpu: list = field(default_factory=list)

    def med(self, which: str) -> float:
        return statistics.median(getattr(self, which))

    def iqr_pct(self, which: str) -> float:
        xs = getattr(self, which)
        if len(xs) < 4:
            return float("nan")
        q = statistics.quantiles(xs, n=4)
        return 100 * (q[2] - q[0]) / statistics.median(xs)


def methods(model, x) -> dict[str, Method]:
    """name -> :class:`Method` doing one full profile (or one plain forward) of ``model`` on ``x``."""
    out = {}

    def plain():
        with torch.no_grad():
            model(x)
        return None
    out[BASELINE] = Method(plain, "", model)
    # Warm: what the engine learned in earlier calls (module types classified, which stock module classes the real
    # pass's leaf fast paths were checked for, the traces of known composites a pass replays) is kept, as in
    # any session that profiles more than once. Cold: the caches emptied around each call, as in a fresh process,
    # and the warm calls' knowledge put back after it. The Profile itself is returned: the probe reads which pass
    # ran (the default falls back to a real pass where meta cannot run the model, and the benchmark must show
    # which it timed).
    out[DEFAULT] = Method(lambda: profiler.profile(model, x), "MACs", model)
    out[OURS[1]] = Method(lambda: profiler.profile(model, x), "MACs", model, reset=True)
    out[REAL] = Method(lambda: profiler.profile(model, x, device="cpu"), "MACs", model)
    out[OURS[3]] = Method(lambda: profiler.profile(model, x, device="cpu"), "MACs", model, reset=True)
    # Every peer gets its own copy of the model (made untimed): a peer that leaves something on the model it
    # is given (thop's buffers; ptflops 0.7.5's aten backend leaves a forward pre-hook and hook on every child,
    # one more pair per call) must not slow the methods that run after it.
    try:
        from ptflops import get_model_complexity_info

        def ptf(backend):
            own = copy.deepcopy(model)

            def run():
                # input_constructor: the same input tensor as every other method (ptflops' default is an
                # uninitialised tensor of the shape)
                macs, _ = get_model_complexity_info(own, tuple(x.shape[1:]), as_strings=False,
                                                    print_per_layer_stat=False, verbose=False, backend=backend,
                                                    input_constructor=lambda _res: x)
                return macs
            return _quiet(run), own
        for backend in ("pytorch", "aten"):
            fn, own = ptf(backend)
            out[f"ptflops ({backend})"] = Method(fn, "MACs", own)
    except ImportError:
        pass
    try:
        from fvcore.nn import FlopCountAnalysis
        fv_model = copy.deepcopy(model)

        def fv():
            a = FlopCountAnalysis(fv_model, x)
            a.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return a.total()
        out["fvcore"] = Method(_quiet(fv), "MACs (fvcore 'flops')", fv_model)
    except ImportError:
        pass
    try:
        from thop import profile as thop_profile
        thop_model = copy.deepcopy(model)

        out["thop"] = Method(_quiet(lambda: thop_profile(thop_model, inputs=(x,), verbose=False)[0]), "MACs",
                             thop_model)
    except ImportError:
        pass
    try:
        import torchinfo
        ti_model = copy.deepcopy(model)

        out["torchinfo"] = Method(lambda: torchinfo.summary(ti_model, input_data=x, verbose=0).total_mult_adds,
                                  "mult-adds", ti_model)
    except ImportError:
        pass
    from torch.utils.flop_counter import FlopCounterMode
    fc_model = copy.deepcopy(model)

    def fcm():
        with torch.no_grad(), FlopCounterMode(display=False) as f:
            fc_model(x)
        return f.get_total_flops()
    out["FlopCounterMode"] = Method(fcm, "FLOPs", fc_model)
    return out


# -- floors: observers that count nothing ----------------------------------------------------------------------
# What observing a forward costs before any counting, in the same run as the methods: the lower bound of any
# profiler built on that observer. Each runs one no_grad forward and keeps no tensor (holding the activations
# alive would slow the allocator and inflate the figure).
REAL_FLOORS = ("floor: module hooks", "floor: dispatch mode", "floor: hooks + mode, stock leaves stepped aside",
               "floor: torch profiler (C++ RecordFunction, shapes read)")
# The same for a shapes-only pass: a meta copy of the model (made untimed) run under the fast meta kernels'
# mode (every op answered from shapes, nothing recorded), then with do-nothing module hooks as well, as the
# default pass observes it. Setting up the copies is not in it: what is left is the model's own Python and
# one Python dispatch per op.
META_FLOORS = ("floor (shapes): meta forward, fast meta kernels", "floor (shapes): + module hooks")
FLOORS = REAL_FLOORS + META_FLOORS


def floors(model, x) -> dict[str, Method]:
    from torch.nn.modules import module as module_mod
    from torch.utils._python_dispatch import TorchDispatchMode

    from profiler.core import leaf_paths

    class Nothing(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:  # as the engine's observer: no per-op dynamo wrapper
            return False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    def hooked(pre, post, mode=None):
        h1 = module_mod.register_module_forward_pre_hook(pre)
        h2 = module_mod.register_module_forward_hook(post)
        try:
            with torch.no_grad():
                if mode is None:
                    model(x)
                else:
                    with mode:
                        model(x)
        finally:
            h1.remove()
            h2.remove()

    def hooks_only():
        hooked(lambda m, a: None, lambda m, a, o: None)

    def mode_only():
        with torch.no_grad(), Nothing():
            model(x)

    def leaves_aside():
        # The engine's design with its bookkeeping taken out: the mode sees every op outside torch's own leaf
        # modules; a leaf that has a fast path runs with the mode popped (leaf_paths.key decides, as in the engine).
        mode, stack = Nothing(), []
        pop, push = torch._C._pop_torch_dispatch_stack, torch._C._push_on_torch_dispatch_stack

        def pre(m, a):
            aside = not m._modules and leaf_paths.key(m, a) is not None
            if aside:
                pop(None)
            stack.append(aside)

        def post(m, a, o):
            if stack.pop():
                push(mode)
        hooked(pre, post, mode)

    out = {FLOORS[0]: Method(hooks_only, "", model), FLOORS[1]: Method(mode_only, "", model),
           FLOORS[2]: Method(leaves_aside, "", model)}
    try:  # the autograd profiler's legacy collector: torch's cheapest recorder of every op with its shapes
        from torch._C._autograd import _disable_profiler_legacy, _enable_profiler_legacy
        from torch._C._profiler import ProfilerConfig, ProfilerState, _ExperimentalConfig

        def recorded():
            cfg = ProfilerConfig(ProfilerState.CPU, True, False, False, False, False, _ExperimentalConfig())
            _enable_profiler_legacy(cfg)
            try:
                with torch.no_grad():
                    model(x)
            finally:
                events = _disable_profiler_legacy()
            for thread in events:  # what any use of the record needs: each event's name and input shapes
                for e in thread:
                    e.name()
                    e.shapes()
        out[FLOORS[3]] = Method(recorded, "", model)
    except (ImportError, TypeError, RuntimeError):
        pass
    from profiler.core.meta_kernels import FastMeta

    meta_model, meta_x = copy.deepcopy(model).to("meta"), x.to("meta")

    def meta_forward():
        with torch.no_grad(), FastMeta():
            meta_model(meta_x)

    def meta_hooked():
        h1 = module_mod.register_module_forward_pre_hook(lambda m, a: None)
        h2 = module_mod.register_module_forward_hook(lambda m, a, o: None)
        try:
            meta_forward()
        finally:
            h1.remove()
            h2.remove()
    out[META_FLOORS[0]] = Method(meta_forward, "", meta_model)
    out[META_FLOORS[1]] = Method(meta_hooked, "", meta_model)
    return out


# Small inputs for the overhead section: the same modules and ops, kernels too small to hide a millisecond.
SMALL = {"timm:vit_small_patch16_224": ({"img_size": 32}, (3, 32, 32))}


# The peers of the small-input section: all but fvcore, whose TorchScript trace costs several times the others.
SMALL_PEERS = ("ptflops (aten)", "ptflops (pytorch)", "thop", "torchinfo", "FlopCounterMode")


def small_overhead(spec: str, rounds: int) -> dict[str, float]:
    """Milliseconds each floor, this package's real pass and the peers (but fvcore) add to a plain forward,
    on a 32x32 input with one torch thread, CPU time of the process, median of ``rounds`` interleaved rounds:
    the Python cost of observing and counting, with almost no kernel time to add noise (kernels only grow with
    the input; the Python work does not)."""
    from profiler import zoo

    kwargs, shape = SMALL.get(spec, ({}, (3, 32, 32)))
    model, _ = zoo.create(spec, **kwargs)
    x = torch.randn(1, *shape)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        every = methods(model, x)
        fns = {BASELINE: every[BASELINE], **{k: v for k, v in floors(model, x).items() if k in REAL_FLOORS},
               REAL: every[REAL],
               **{k: every[k] for k in SMALL_PEERS if k in every}}
        for k in probe(fns)[1]:  # a peer that cannot profile the small input: its column says so
            fns.pop(k)
        cpu: dict[str, list] = {k: [] for k in fns}
        for _ in range(3):
            for m in fns.values():
                m.fn()
        names = list(fns)
        for r in range(rounds):
            for k in names[r % len(names):] + names[:r % len(names)]:
                gc.collect()
                c0 = time.process_time()
                fns[k].fn()
                cpu[k].append(time.process_time() - c0)
    finally:
        torch.set_num_threads(threads)
    base = statistics.median(cpu[BASELINE])
    return {BASELINE: base * 1e3, **{k: (statistics.median(v) - base) * 1e3 for k, v in cpu.items() if k != BASELINE}}


def probe(fns: dict[str, Method]) -> tuple[dict, dict]:
    """One untimed call of each method: (name -> (count, autograd on during the forward)), (name -> error)."""
    info, failed = {}, {}
    for name, m in fns.items():
        seen = []
        h = m.module.register_forward_pre_hook(lambda *_: seen.append(torch.is_grad_enabled()))
        try:
            with engine.fresh_caches() if m.reset else contextlib.nullcontext():
                count = m.fn()
            if m.what and count is None:
                raise RuntimeError("returned no count (its own error handling swallowed an exception)")
            kind = getattr(count, "pass_kind", None)  # ours: a Profile, and which pass it ran
            if kind is not None:
                count = (count.macs, f"{kind} pass")
            info[name] = (count, any(seen) if seen else None)
        except Exception as e:  # a peer that cannot profile this model: left out of the timing, and said so
            failed[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
        finally:
            h.remove()
    return info, failed


def measure(fns: dict[str, Method], repeats: int, warmup: int = 3) -> dict[str, Result]:
    """Interleaved rounds, the order rotated each round; gc and (ours) cache resets untimed before each call."""
    names = list(fns)
    for _ in range(warmup):
        for k in names:
            fns[k].fn()
    res = {k: Result() for k in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            m = fns[k]
            gc.collect()
            # a cold call starts from empty caches, and the warm calls keep what they learned around it
            with engine.fresh_caches() if m.reset else contextlib.nullcontext():
                c0, t0 = time.process_time(), time.perf_counter()
                m.fn()
                res[k].wall.append(time.perf_counter() - t0)
                res[k].cpu.append(time.process_time() - c0)
    return res


def build(name: str):
    from profiler import zoo
    return zoo.create(name)


def overhead_rows(results: dict[str, Result], info: dict, fns: dict[str, Method]) -> list[tuple]:
    from profiler.report.plots import si

    bw, bc = results[BASELINE].med("wall"), results[BASELINE].med("cpu")
    rows = []
    for k, r in results.items():
        count, grad = info.get(k, (None, None))
        kind = ""
        if isinstance(count, tuple):
            count, kind = count[0], f" ({count[1]})"
        what = f"{si(count)} {fns[k].what}{kind}" if count is not None else ""
        rows.append((k, f"{r.med('wall') * 1e3:.1f}", f"{r.med('wall') / bw:.2f}x", f"{r.iqr_pct('wall'):.0f}%",
                     f"{r.med('cpu') * 1e3:.1f}", f"{r.med('cpu') / bc:.2f}x",
                     {True: "on", False: "off", None: "?"}[grad], what))
    return rows


def resolution_sweep(name: str, sizes, repeats: int):
    model, _ = build(name)
    rows = []
    for s in sizes:
        x = torch.randn(1, 3, s, s)
        all_m = methods(model, x)
        fns = {k: all_m[k] for k in (BASELINE, DEFAULT, REAL)}
        reps = repeats if s <= 512 else max(1, repeats // 3)
        r = measure(fns, reps, warmup=2 if s <= 512 else 1)
        rows.append((s, {k: v.med("wall") for k, v in r.items()}))
        print(f"  {name} {s}x{s}: " + ", ".join(f"{k} {v.med('wall') * 1e3:.0f} ms" for k, v in r.items()),
              flush=True)
    return rows


RESOLUTION_HEADING = "## Cost against resolution: timm:mixnet_s"


def resolution_section(rows, png_res: str, taken: float, when: str = "") -> list[str]:
    """The report's resolution section: the figure, the table, and the cores other processes took meanwhile."""
    from profiler.report.tables import markdown_table

    L = [RESOLUTION_HEADING + "\n", f"![cost against resolution]({os.path.basename(png_res)})\n"]
    L.append((when + " " if when else "") + f"Other processes kept {taken:.2f} of the {os.cpu_count()} cores busy "
             "during these rounds (a plain forward on two threads slows down many times over when they take one "
             "of the two cores: its threads spin waiting for each other).\n")
    L.append(markdown_table([(f"{s}x{s}", f"{r[BASELINE] * 1e3:.0f}", f"{r[REAL] * 1e3:.0f}",
                              f"{r[DEFAULT] * 1e3:.1f}", f"{r[REAL] / r[BASELINE]:.2f}x",
                              f"{r[DEFAULT] / r[BASELINE]:.3f}x", f"{r[DEFAULT] / rows[0][1][DEFAULT]:.2f}x")
                             for s, r in rows],
                            ["input", "plain forward ms", "real pass ms", "default ms", "real / plain",
                             "default / plain", "default vs default at 224"]))
    L.append("")
    return L


def run_resolution(sizes, repeats: int, out_dir: str) -> tuple[list, str, float]:
    """The mixnet_s resolution sweep and its figure: (rows, figure path, cores other processes took)."""
    from profiler.report.plots import plot_cost_vs_resolution, save_figure

    print("resolution sweep (mixnet_s) ...", flush=True)
    others = Others()
    others.start()
    rows = resolution_sweep("timm:mixnet_s", sizes, repeats)
    taken = others.stop()
    print(f"   (other processes kept {taken:.2f} of {os.cpu_count()} cores busy)", flush=True)
    png_res = os.path.join(out_dir, "benchmark_resolution.png")
    save_figure(plot_cost_vs_resolution(rows, "timm:mixnet_s", methods=(BASELINE, REAL, DEFAULT)), png_res, dpi=120)
    return rows, png_res, taken


def replace_resolution(path: str, section: list[str]) -> None:
    """Put ``section`` in place of the resolution section of the report at ``path`` (the rest unchanged)."""
    from profiler.atomic import atomic_open

    with open(path) as f:
        lines = f.read().split("\n")
    start = lines.index(RESOLUTION_HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    new = "\n".join(lines[:start] + "\n".join(section).split("\n") + lines[end:])
    with atomic_open(path, "w") as f:
        f.write(new)


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
    d = json.loads(out.stdout.strip().splitlines()[-1])
    d["process_seconds"] = time.perf_counter() - t0  # including the imports of torch and timm
    return d


def check_time() -> dict:
    """``profile-model check`` (every entry of the shipped registry) run once in a fresh process: its wall and
    CPU time (the child's user + system), exit status and summary line."""
    exe = os.path.join(os.path.dirname(sys.executable), "profile-model")
    cmd = [exe, "check"] if os.path.exists(exe) else [
        sys.executable, "-c", "import sys; from profiler.cli import console; sys.argv[1:] = ['check']; console()"]
    before = os.times()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = os.times()
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    return {"cmd": " ".join(["profile-model", "check"]), "wall": wall, "rc": out.returncode,
            "cpu": (after.children_user - before.children_user) + (after.children_system - before.children_system),
            "summary": lines[-1].strip() if lines else (out.stderr.strip().splitlines() or ["no output"])[-1]}


def sweep_time() -> dict | None:
    """The whole-timm sweep's figures as reports/sweep.md states them (the sweep itself takes minutes and is
    not rerun here), with the commit that last wrote that file."""
    path = os.path.join(ROOT, "reports", "sweep.md")
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    counted = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("- counted:")), None)
    seconds = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("- seconds per counted model")), None)
    if seconds is None:
        return None
    try:
        commit = subprocess.run(["git", "log", "-1", "--format=%h, %cs", "--", "reports/sweep.md"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        commit = ""
    return {"counted": counted, "seconds": seconds, "commit": commit}


# -- the machine ---------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


class Others:
    """Cores that other processes kept busy between ``start()`` and ``stop()``: the busy time of every CPU
    (/proc/stat, all of it: other containers on the same machine included) less this process's CPU time, over
    the wall time. The load average counts waiting tasks too; this is what was taken from the run."""

    def start(self) -> None:
        self.t, self.own, self.busy = time.perf_counter(), time.process_time(), self._busy()

    def stop(self) -> float:
        busy = self._busy()
        if busy is None or self.busy is None:
            return float("nan")
        wall = time.perf_counter() - self.t
        return max(0.0, (busy - self.busy) - (time.process_time() - self.own)) / wall

    @staticmethod
    def _busy() -> float | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # (guest time is inside user already)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:
        return "(uptime not available)"


def peers_of(names) -> list[str]:
    """The other profilers among ``names`` (not the plain forward, not ours, not a floor)."""
    return [k for k in names if k != BASELINE and k not in OURS and k not in FLOORS]


def paired(res: dict[str, Result], a: str, b: str) -> float:
    """Median over the rounds of a's time / b's time in the same round: the rounds are interleaved, so load
    that drifts over the run cancels in each pair."""
    return statistics.median(x / y for x, y in zip(res[a].wall, res[b].wall))


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds per model (full 21, quick 5)")
    ap.add_argument("--quick", action="store_true",
                    help="a check in about two minutes: 5 rounds, 1 warm-up, resolutions 224 and 512 only")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads for every method (default: torch's own choice)")
    ap.add_argument("--no-big", action="store_true", help="skip the 1B-parameter meta build in a child process")
    ap.add_argument("--no-floors", action="store_true", help="leave out the observers that count nothing")
    ap.add_argument("--no-check", action="store_true", help="do not time `profile-model check`")
    ap.add_argument("--only-resolution", action="store_true",
                    help="measure the resolution sweep alone and put it in place of that section of --out (a "
                         "report this script wrote), the rest of it unchanged: for a sweep that other processes "
                         "disturbed")
    ap.add_argument("--out", default=os.path.join(ROOT, "reports", "benchmark.md"))
    args = ap.parse_args(argv)
    from profiler.report.tables import markdown_table

    from profiler.report.plots import plot_profiling_cost, save_figure

    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (5 if args.quick else 21)
    warmup = 1 if args.quick else 3
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    # (up to 1024: the whole run within about a quarter of an hour on two cores; the default's time is flat
    # in the resolution, the real pass's converges on the plain forward's as the kernels grow)
    sizes = [224, 512] if args.quick else [224, 320, 512, 768, 1024]
    if args.only_resolution:
        t0, la = time.perf_counter(), load()
        rows, png_res, taken = run_resolution(sizes, max(3, repeats // 2), out_dir)
        cmd = "python benchmarks/benchmark_report.py --only-resolution" + (" --quick" if args.quick else "") + (
            f" --threads {args.threads}" if args.threads else "") + (
            f" --repeats {args.repeats}" if args.repeats else "")
        when = (f"Measured apart from the rest of this report by `{cmd}` ({(time.perf_counter() - t0) / 60:.1f} "
                f"min, torch threads {torch.get_num_threads()}; load average {la} before, {load()} after).")
        replace_resolution(args.out, resolution_section(rows, png_res, taken, when))
        print(f"rewrote the resolution section of {args.out} and {png_res}")
        return 0
    t_start = time.perf_counter()
    load_before, uptime_before = load(), uptime()
    cleared = _reset_caches()
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}; {uptime_before}",
          flush=True)

    per_model, wall_ratios, cpu_ratios, failures, results_wall, results, probes = [], {}, {}, {}, {}, {}, {}
    for spec in args.models.split(","):
        model, info = build(spec)
        x = torch.randn(1, *info.input_size)
        la = load()
        print(f"{spec} {tuple(x.shape)} (load {la}) ...", flush=True)
        fns = {**methods(model, x), **({} if args.no_floors else floors(model, x))}
        counts, failed = probe(fns)
        for k, why in failed.items():
            failures.setdefault(k, []).append((spec, why))
            print(f"   {k} FAILED on {spec}: {why}", flush=True)
            fns.pop(k)
        others = Others()
        others.start()
        res = measure(fns, repeats, warmup=warmup)
        taken = others.stop()
        rows = overhead_rows(res, counts, fns)
        bw, bc = res[BASELINE].med("wall"), res[BASELINE].med("cpu")
        wall_ratios[spec] = {k: r.med("wall") / bw for k, r in res.items()}
        results_wall[spec] = bw
        results[spec] = res
        probes[spec] = counts
        cpu_ratios[spec] = {k: r.med("cpu") / bc for k, r in res.items()}
        per_model.append((spec, x, rows, la, load(), failed, taken))
        print(f"   (other processes kept {taken:.2f} of {os.cpu_count()} cores busy)", flush=True)
        for row in rows:
            print("  ", *row, flush=True)

    method_names = []
    for d in wall_ratios.values():
        method_names += [k for k in d if k not in method_names]
    for k in failures:
        if k not in method_names:
            method_names.append(k)

    # -- the targets ------------------------------------------------------------------------------------------
    summary, real_targets = [], {}
    for spec, w in wall_ratios.items():
        c, res = cpu_ratios[spec], results[spec]
        peers = peers_of(w)
        if not peers or DEFAULT not in w or REAL not in w:
            continue
        cheapest = min(peers, key=w.get)
        cheapest_cpu = min(peers, key=c.get)
        real_targets[spec] = REAL_OVER_PEER * w[cheapest]
        kind = probes[spec].get(DEFAULT, ((None, "?"), None))[0]
        kind = kind[1] if isinstance(kind, tuple) else "?"
        d_target = DEFAULT_TARGETS.get(spec)
        summary.append({
            "spec": spec, "plain_ms": results_wall[spec] * 1e3, "kind": kind,
            "default": w[DEFAULT], "default_cpu": c[DEFAULT], "default_target": d_target,
            "default_ok": d_target is None or w[DEFAULT] <= d_target,
            "below_peers": w[DEFAULT] < w[cheapest], "below_peers_cpu": c[DEFAULT] < c[cheapest_cpu],
            "cheapest": cheapest, "cheapest_ratio": w[cheapest], "cheapest_cpu": cheapest_cpu,
            "cheapest_cpu_ratio": c[cheapest_cpu],
            "real": w[REAL], "real_cpu": c[REAL], "real_over": w[REAL] / w[cheapest],
            "real_over_cpu": c[REAL] / c[cheapest_cpu], "real_paired": paired(res, REAL, cheapest),
            "real_ok": w[REAL] <= REAL_OVER_PEER * w[cheapest],
        })

    small = {}
    if not args.no_floors:
        for spec in args.models.split(","):
            print(f"{spec}: overhead on a small input, one thread ...", flush=True)
            small[spec] = small_overhead(spec, 11 if args.quick else 21)
            print("   " + ", ".join(f"{k} {v:.2f} ms" for k, v in small[spec].items()), flush=True)

    png = os.path.join(out_dir, "benchmark.png")
    plotted_wall = {spec: {k: v for k, v in d.items() if k not in FLOORS} for spec, d in wall_ratios.items()}
    plotted_cpu = {spec: {k: v for k, v in d.items() if k not in FLOORS} for spec, d in cpu_ratios.items()}
    save_figure(plot_profiling_cost(plotted_wall, plotted_cpu, targets={k: v for k, v in DEFAULT_TARGETS.items()
                                                                          if k in wall_ratios},
                                    target_method=DEFAULT,
                                    title=f"Cost of one profile per call, batch 1, {cpu_model()}, "
                                          f"torch threads {torch.get_num_threads()} (median of {repeats} rounds)"),
                png, dpi=120)

    rows, png_res, taken_res = run_resolution(sizes, max(3, repeats // 2), out_dir)

    big = None
    if not args.no_big:
        print("vit_giant_patch14_224 built and profiled on meta ...", flush=True)
        big = big_model_child("timm:vit_giant_patch14_224")
        print(f"  {big}", flush=True)
    check = None
    if not args.no_check:
        print("profile-model check ...", flush=True)
        check = check_time()
        print(f"  {check}", flush=True)
    sweep = sweep_time()
    load_after, uptime_after = load(), uptime()
    minutes = (time.perf_counter() - t_start) / 60

    # -- the report ------------------------------------------------------------------------------------------
    cmd = "python benchmarks/benchmark_report.py" + (" --quick" if args.quick else "") + (
        f" --threads {args.threads}" if args.threads else "") + (f" --repeats {args.repeats}" if args.repeats else "")
    L = ["# Cost of profiling\n",
         f"Generated by `{cmd}` ({minutes:.1f} min; {repeats} timed rounds per model). Numbers depend on the "
         "machine and its load; they are comparable within this report (same process, interleaved rounds), not "
         "across machines.\n",
         "## Targets (issue 24)\n",
         f"Wall-clock ratios to a plain forward of the same model at {'x'.join(map(str, per_model[0][1].shape[2:]))}"
         f" (batch 1, {torch.get_num_threads()} torch threads), median of {repeats} interleaved rounds; CPU-time "
         "ratios in brackets. `profile(m, x)` (the default, shapes only on meta copies): at most the target and "
         "below every peer (all of which run the model for real). `profile(m, x, device=\"cpu\")` (the real "
         f"pass): at most {REAL_OVER_PEER:g}x the cheapest peer's time on each model (the ratio of the medians; "
         "*paired* is the median over the rounds of the real pass's time / that peer's in the same round, which "
         "load drifting over the run does not move).\n"]
    if summary:
        trows = []
        for r in summary:
            trows.append([r["spec"].split(":")[-1], f"{r['plain_ms']:.1f}",
                          f"{r['default']:.2f}x ({r['default_cpu']:.2f}x), {r['kind']}",
                          f"{r['default_target']:g}x: {verdict(r['default_ok'])}" if r["default_target"] else "",
                          f"{r['cheapest']} {r['cheapest_ratio']:.2f}x ({r['cheapest_cpu_ratio']:.2f}x)",
                          verdict(r["below_peers"]) + ("" if r["below_peers_cpu"] else " (CPU: not met)"),
                          f"{r['real']:.2f}x ({r['real_cpu']:.2f}x)",
                          f"{r['real_over']:.3f} ({r['real_over_cpu']:.3f}); paired {r['real_paired']:.3f}",
                          f"<= {REAL_OVER_PEER:g}: {verdict(r['real_ok'])}"])
        L.append(markdown_table(trows, ["model", "plain ms", "default", "default target", "cheapest peer",
                                        "default below every peer", "real pass", "real / cheapest peer",
                                        "real target"]))
        L.append("")
    if check or sweep:
        L.append("### Whole-registry and whole-zoo times\n")
    if check:
        L.append(f"- `{check['cmd']}` (every entry of the shipped registry, device auto), run once after the "
                 f"measurements in a fresh process: **{check['wall']:.1f} s** wall, {check['cpu']:.1f} s CPU "
                 f"(user + system), exit status {check['rc']}; it printed `{check['summary']}`.")
    if sweep:
        L.append(f"- Whole-timm sweep (not rerun here; it takes minutes): reports/sweep.md (last written in "
                 f"commit {sweep['commit'] or '?'}) states: counted {sweep['counted']}; {sweep['seconds']}.")
    if check or sweep:
        L.append("")
    L += ["## Machine and load\n",
          f"- CPU: {cpu_model()} ({platform.machine()}), {os.cpu_count()} logical CPUs "
          f"({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} usable by this process), "
          f"torch intra-op threads {torch.get_num_threads()}, interop threads {torch.get_num_interop_threads()}",
          f"- Load average (1 / 5 / 15 min) before: {load_before}; after: {load_after}. The machine was shared "
          "with other work (test runs of other engineers); per model, below, the 1-minute load at its start and "
          "end, and the cores other processes kept busy during its rounds (busy time of all CPUs from "
          "/proc/stat less this process's CPU time, over the wall time): "
          + ", ".join(f"{p[0].split(':')[-1]} {p[6]:.2f}" for p in per_model) + ".",
          f"- `uptime` before: `{uptime_before}`; after: `{uptime_after}`",
          f"- Python {platform.python_version()}, {versions(PACKAGES)}",
          f"- {platform.platform()}\n",
          "## Method\n",
          "Every method does one full profile of the model on the same input tensor (batch 1) per call; the "
          "plain forward is one eval forward under `torch.no_grad()`. Calls: `profiler.profile(model, x)` (the "
          "default, `device=\"auto\"`: a CPU model's pass runs on meta copies of its parameters and of the input, "
          "shapes only, nothing computed; the probe column says which pass ran) and `profiler.profile(model, x, "
          "device=\"cpu\")` (the real pass); ptflops "
          "`get_model_complexity_info(model, shape, as_strings=False, print_per_layer_stat=False, "
          "backend='pytorch' | 'aten', input_constructor=lambda _: x)`; fvcore `FlopCountAnalysis(model, x)"
          ".total()` (a TorchScript trace); thop `profile(copy_of_model, inputs=(x,))`; torchinfo "
          "`summary(model, input_data=x, verbose=0)` (its forward-pass cache off, the default); "
          "`torch.utils.flop_counter.FlopCounterMode(display=False)` around a `no_grad` forward. The peers are "
          "called as their documentation shows, each on its own copy of the model; the column *autograd* says "
          "whether autograd was on during the model's forward (recorded by a forward pre-hook in an untimed probe "
          "call): a peer that runs the forward with autograd on also pays for recording the graph.",
          "",
          f"Each method runs once untimed (the probe, whose count is shown), {warmup} warm-up round(s), then "
          f"{repeats} timed rounds, interleaved: every method once per round, the order rotated by one each "
          "round. Before every timed call, untimed: `gc.collect()`; the methods marked *cold* run inside "
          "`profiler.core.engine.fresh_caches()` (untimed: what earlier calls learned set aside, the caches "
          "emptied as by " + (", ".join(f"`{c}`" for c in cleared) if cleared else "nothing") + ", and put back "
          "after the call): each such call costs what the first call in a fresh process would, less the imports. "
          "The other calls of this package keep what earlier calls learned (module types classified, which "
          "stock module classes the real pass's leaf fast paths were checked against the observer for, and the "
          "traces of known composites (timm's and torchvision's blocks, nn.Sequential) a pass replays: knowledge of torch's dispatch and of module "
          "configurations, no count of any model), as a session that profiles more than once does. Reported: the median per method "
          "of wall-clock time (`time.perf_counter`) and of CPU time of this process (`time.process_time`, all "
          "threads; less sensitive to other processes than wall time), the interquartile range of the wall "
          "times as a share of their median (noise), and ratio = median / median of the plain forward of the "
          "same model and input. Model construction is not timed. The count column is what each method "
          "reported in its probe call, there to show that it did count the whole model; counts differ by "
          "convention and coverage (see crosscheck.md) and are not compared here."
          + (f" Every method ran with {args.threads} torch intra-op thread(s) (`--threads {args.threads}`): on a "
             "machine with more runnable processes than cores, torch's multi-threaded kernels spin-wait and the "
             "plain forward itself becomes several times slower and erratic, which would make every ratio "
             "meaningless." if args.threads else "") + "\n",
          "The rows named *floor* count nothing: they are the observers a real-pass profiler can be built on, "
          "each alone around one `no_grad` forward, timed in the same rounds: do-nothing process-wide module "
          "forward hooks (pre and post); a do-nothing `TorchDispatchMode` (sees every aten op); the two together "
          "as this package's real pass uses them, with the mode popped inside torch's own leaf modules that have "
          "a fast path (`profiler.core.leaf_paths.key` decides, as in the engine) and no bookkeeping at all; and "
          "torch's C++ op recorder (the autograd profiler's legacy collector, `record_shapes=True`, every event's "
          "name and shapes read once: RecordFunction callbacks, no Python per op during the forward). A profiler "
          "on an observer costs that observer's floor plus its counting. The rows named *floor (shapes)* are "
          "the same for a shapes-only pass (see their section below).\n",
          "## Ratios to the plain forward\n",
          f"![profiling cost relative to a plain forward]({os.path.basename(png)})\n",
          "Wall ratio (CPU ratio in brackets). Targets: the default "
          + ", ".join(f"{k.split(':')[-1]} {v:g}x" for k, v in DEFAULT_TARGETS.items() if k in wall_ratios)
          + f" and below every peer; the real pass {REAL_OVER_PEER:g}x the cheapest peer (its row below).\n"]
    header = ["method"] + [f"{s.split(':')[-1]}" for s in wall_ratios]
    table = []
    for k in method_names:
        cells = [k]
        for s in wall_ratios:
            if k in wall_ratios[s]:
                cells.append(f"{wall_ratios[s][k]:.2f}x ({cpu_ratios[s][k]:.2f}x)")
            else:
                cells.append("failed")
        table.append(cells)
    table.append([f"target: {DEFAULT}"] + [f"{DEFAULT_TARGETS[s]:g}x" if s in DEFAULT_TARGETS else ""
                                          for s in wall_ratios])
    table.append([f"target: {REAL} ({REAL_OVER_PEER:g}x cheapest peer)"]
                 + [f"{real_targets[s]:.2f}x" if s in real_targets else "" for s in wall_ratios])
    L.append(markdown_table(table, header))
    L.append("")
    floor_rows = [k for k in REAL_FLOORS if all(k in d for d in wall_ratios.values())]
    if floor_rows:
        L.append("### Floors against the real pass's target\n")
        L.append(f"Each floor's wall ratio minus 1 is what observing alone adds; the margin is the real pass's "
                 f"target ({REAL_OVER_PEER:g}x the cheapest peer's ratio on that model) minus the floor: what is "
                 "left for all of the counting (rules, the layer tree, the buffer snapshot) if the real pass were "
                 "built on that observer. A floor observes every module and op; the real pass does not: the later "
                 "calls of a known composite (`profiler/core/block_paths.py`) run with the observer stepped aside "
                 "and their children's hooks quiet, their records written from the first call's trace, so the real "
                 "pass can cost less than the floors.\n")
        rows_f = []
        for k in floor_rows:
            rows_f.append([k] + [f"{wall_ratios[s][k]:.2f}x (margin {real_targets[s] - wall_ratios[s][k]:+.2f}x)"
                                 if s in real_targets else f"{wall_ratios[s][k]:.2f}x" for s in wall_ratios])
        L.append(markdown_table(rows_f, header))
        L.append("")
    meta_rows = [k for k in META_FLOORS if all(k in d for d in wall_ratios.values())]
    if meta_rows:
        L.append("### Floors of the default (shapes-only) pass\n")
        L.append("A meta copy of the model run under the fast meta kernels' dispatch mode, counting nothing (then "
                 "with do-nothing module hooks too, as the default pass observes it); the copies are made "
                 "untimed. What is left is the model's own Python and one Python dispatch per op: no shapes-only "
                 "pass that runs all of the model's forward on meta tensors under a dispatch mode gets below it "
                 "(the default does not: a known composite's later calls write their first call's trace instead of "
                 "running their forward). Margin: "
                 f"the default's target minus the floor; *default - floor*: what the pass adds to it (the layer "
                 "tree, the meta copies swapped in and out, recording every op and module).\n")
        rows_m = []
        for k in meta_rows:
            rows_m.append([k] + [f"{wall_ratios[s][k]:.2f}x (margin {DEFAULT_TARGETS[s] - wall_ratios[s][k]:+.2f}x)"
                                 if s in DEFAULT_TARGETS else f"{wall_ratios[s][k]:.2f}x" for s in wall_ratios])
        if DEFAULT in method_names:
            rows_m.append([f"{DEFAULT} - {meta_rows[-1]}"] + [
                f"{wall_ratios[s][DEFAULT] - wall_ratios[s][meta_rows[-1]]:+.2f}x" if DEFAULT in wall_ratios[s]
                else "" for s in wall_ratios])
        L.append(markdown_table(rows_m, header))
        L.append("")
    if small:
        L.append("### Overhead in milliseconds, small input, one thread\n")
        L.append("The Python cost of observing and counting (the floors, this package's real pass, and the peers "
                 "but fvcore), with the kernels made too small to hide it: each model on a 32x32 input (vit_small "
                 "built with `img_size=32`: the same modules and ops), one torch thread, CPU time, median of "
                 "interleaved rounds, milliseconds added to the plain forward. The allowance is what the real "
                 "pass's target leaves at 224x224 in the table above: (target - 1) x the plain forward's wall "
                 "time there. The Python work does not grow with the input, so an observer whose overhead here "
                 "exceeds the allowance cannot meet the target there.\n")
        cols = [k for k in next(iter(small.values())) if k != BASELINE]
        rows_s = []
        for spec, d in small.items():
            allowance = (real_targets[spec] - 1) * results_wall[spec] * 1e3 if spec in real_targets else float("nan")
            rows_s.append([spec.split(":")[-1], f"{d[BASELINE]:.2f}"] + [f"+{d[k]:.2f}" if k in d else "failed"
                                                                        for k in cols] + [f"{allowance:.2f}"])
        L.append(markdown_table(rows_s, ["model", "plain ms"] + cols + ["allowance at 224 ms"]))
        L.append("")
    if failures:
        L.append("Methods that could not profile a model (left out of its timing):\n")
        for k, lst in failures.items():
            for spec, why in lst:
                L.append(f"- {k} on {spec}: `{why}`")
        L.append("")
    for spec, x, rows_m, la, lb, failed, taken in per_model:
        L.append(f"## {spec}, input {'x'.join(map(str, x.shape))}\n")
        L.append(f"1-minute load average at start {la.split(' / ')[0]}, at end {lb.split(' / ')[0]}; other "
                 f"processes kept {taken:.2f} of the {os.cpu_count()} cores busy during its rounds.\n")
        L.append(markdown_table(rows_m, ["method", "wall ms", "wall ratio", "wall IQR", "CPU ms", "CPU ratio",
                                         "autograd", "count (probe)"]))
        L.append("")

    L += resolution_section(rows, png_res, taken_res)
    if big:
        L.append("## A 1B-parameter model shape-only: timm:vit_giant_patch14_224\n")
        L.append(f"`profiler.profile_model('timm:vit_giant_patch14_224')` in a fresh process: built "
                 f"`{big['build']}`, {big['params']:,} params, {big['macs']:,} MACs (multiply-accumulates, conv + "
                 f"linear + attention, no bias) at 1x3x224x224; build + profile {big['seconds']:.2f} s "
                 f"(whole process with the torch/timm imports {big['process_seconds']:.1f} s), "
                 f"peak resident memory {big['rss_gib']:.2f} GiB.\n")
    from profiler.atomic import atomic_open

    with atomic_open(args.out, "w") as f:  # a failed write leaves the old report
        f.write("\n".join(L) + "\n")
    print(f"wrote {args.out}, {png} and {png_res} in {minutes:.1f} min; load {load_before} -> {load_after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
