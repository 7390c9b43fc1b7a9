"""Fake tensors (torch's FakeTensor, which keep their device) against this package's bare meta shapes pass
(issue 24): which is faster, and which counts exactly what a real CPU forward runs.

    python benchmarks/fake_tensor_report.py                       # writes reports/fake_tensor.md (a few minutes)
    python benchmarks/fake_tensor_report.py --repeats 5 --warmup 1 --models torchvision:resnet18

Timed, per model, in one process with ONE torch thread (``torch.set_num_threads(1)``: on a shared two-core
machine a multi-threaded plain forward spin-waits and its time means nothing), eval mode, input 1x3x224x224:

- *plain forward*: ``model(x)`` under ``torch.no_grad()``;
- *FakeTensor: convert + forward*: ``with FakeTensorMode() as mode``, every parameter and buffer and the input
  converted by ``mode.from_tensor``, then ``torch.func.functional_call(model, params, (fx,))`` under no_grad: the
  floor of any counter built on fake tensors (it counts nothing);
- *FakeTensor: forward alone*: the same, the mode and the conversions made untimed before the call;
- *FakeTensor: convert + forward, cache cleared*: as the first, with FakeTensorMode's dispatch cache (a
  class-level dict, shared by every mode in the process) emptied untimed before the call: a first call;
- *FakeTensor + FlopCounterMode*: the first, with ``torch.utils.flop_counter.FlopCounterMode(display=False)``
  around the forward: what a fake-tensor counter would at least cost;
- ``profiler.profile(model, x)`` (the default: shapes only, on meta copies) and ``profiler.profile(model, x,
  device="cpu")`` (the real pass).

Rounds are interleaved (every method once per round, the order rotated by one each round) after warm-up rounds;
``gc.collect()`` and a method's setup run untimed before each call; reported is the median over the timed rounds
of CPU time of the process (``time.process_time``) and of wall time (``time.perf_counter``). Exactness is checked
untimed on the same model and input: FlopCounterMode on the fake pass against on a real CPU forward; the aten ops
a counting TorchDispatchMode sees on the fake pass (and on a bare meta copy, for contrast) against a real CPU
forward; this package's default document against its ``device="cpu"`` document (tests/zoo/test_meta_equals_cpu.py's
``document`` and ``differences``: ``to_dict()`` plus the total under every convention, the keys ``device``,
``pass``, ``build`` and ``notes`` left out). Not a test: times depend on the machine.
"""
from __future__ import annotations

import argparse
import collections
import copy
import gc
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch

warnings.simplefilter("ignore")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the other report scripts

import profiler  # noqa: E402
from benchmark_report import Others, Result, build, cpu_model, load, uptime  # noqa: E402
from crosscheck_report import versions  # noqa: E402
from meta_vs_cpu import load_test_module  # noqa: E402  - the test file's document() and differences()
from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

MODELS = ("timm:mixnet_s", "torchvision:resnet18", "torchvision:resnet50", "timm:vit_small_patch16_224")
PACKAGES = ("torch", "torchvision", "timm")
PLAIN = "plain forward (no_grad)"
FAKE = "FakeTensor: convert + forward"
FAKE_FWD = "FakeTensor: forward alone"
FAKE_COLD = "FakeTensor: convert + forward, cache cleared"
FAKE_FCM = "FakeTensor + FlopCounterMode"
DEFAULT = "profiler.profile(m, x) (default, shapes)"
REAL = "profiler.profile(m, x, device='cpu')"


@dataclass
class Method:
    run: Callable[[Any], Any]  # the timed call, given what setup returned
    setup: Callable[[], Any] = lambda: None  # untimed, before each call
    teardown: Callable[[Any], None] = lambda state: None  # untimed, after each call, given what setup returned


# -- the fake-tensor pass ------------------------------------------------------------------------------------
def fake_inputs(mode: FakeTensorMode, model, x):
    """The model's parameters and buffers (by name) and the input, as fake tensors of ``mode`` (same device)."""
    params = {k: mode.from_tensor(v) for k, v in (*model.named_parameters(), *model.named_buffers())}
    return params, mode.from_tensor(x)


def fake_forward(model, x, inner=None):
    """One forward on fake copies, made in a fresh FakeTensorMode; ``inner``: a mode entered around the forward
    (inside the fake mode: it sees each op before the fake mode answers it). Returns ``inner``."""
    with FakeTensorMode() as mode:
        params, fx = fake_inputs(mode, model, x)
        with torch.no_grad():
            if inner is None:
                torch.func.functional_call(model, params, (fx,))
            else:
                with inner:
                    torch.func.functional_call(model, params, (fx,))
    return inner


def methods(model, x) -> dict[str, Method]:
    def plain(_):
        with torch.no_grad():
            model(x)

    def emptied_cache():
        saved = dict(FakeTensorMode.cache)
        FakeTensorMode.cache.clear()
        return saved

    def restored_cache(saved):
        # the other fake rows keep their warm entries: under FlopCounterMode some ops reach the fake mode in
        # another form (batch norm as _native_batch_norm_legit_no_training, not native_batch_norm), entries a
        # plain fake pass would not refill, and that row would pay a half-cold call every round
        FakeTensorMode.cache.clear()
        FakeTensorMode.cache.update(saved)

    def prepared():
        mode = FakeTensorMode()
        with mode:
            params, fx = fake_inputs(mode, model, x)
        return mode, params, fx

    def forward_alone(state):
        mode, params, fx = state
        with mode, torch.no_grad():
            torch.func.functional_call(model, params, (fx,))

    return {
        PLAIN: Method(plain),
        FAKE: Method(lambda _: fake_forward(model, x)),
        FAKE_FWD: Method(forward_alone, prepared),
        FAKE_COLD: Method(lambda _: fake_forward(model, x), emptied_cache, restored_cache),
        FAKE_FCM: Method(lambda _: fake_forward(model, x, FlopCounterMode(display=False)).get_total_flops()),
        DEFAULT: Method(lambda _: profiler.profile(model, x)),
        REAL: Method(lambda _: profiler.profile(model, x, device="cpu")),
    }


def measure(fns: dict[str, Method], repeats: int, warmup: int) -> dict[str, Result]:
    """As benchmark_report.measure (interleaved rounds, the order rotated each round, gc untimed before each
    call), with each method's setup and teardown run untimed before and after its call."""
    names = list(fns)
    for _ in range(warmup):
        for k in names:
            state = fns[k].setup()
            fns[k].run(state)
            fns[k].teardown(state)
    res = {k: Result() for k in names}
    for r in range(repeats):
        for k in names[r % len(names):] + names[:r % len(names)]:
            state = fns[k].setup()
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            fns[k].run(state)
            res[k].wall.append(time.perf_counter() - t0)
            res[k].cpu.append(time.process_time() - c0)
            fns[k].teardown(state)
            del state
    return res


# -- exactness -----------------------------------------------------------------------------------------------
class Ops(TorchDispatchMode):
    """Counts the ops it sees by name (``aten::convolution``, ``prim::device`` ...), changes nothing."""

    def __init__(self):
        super().__init__()
        self.seen = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen[func.name()] += 1
        return func(*args, **(kwargs or {}))


def real_ops(model, x) -> collections.Counter:
    ops = Ops()
    with torch.no_grad(), ops:
        model(x)
    return ops.seen


def meta_ops(model, x) -> collections.Counter:
    """A bare meta copy (``model.to("meta")``, no shims, no fast kernels): what meta tensors alone dispatch."""
    mm, mx = copy.deepcopy(model).to("meta"), x.to("meta")
    ops = Ops()
    with torch.no_grad(), ops:
        mm(mx)
    return ops.seen


def flop_counts(fcm: FlopCounterMode) -> dict:
    return {str(k): v for k, v in fcm.get_flop_counts().get("Global", {}).items()}


def diff_text(a: collections.Counter, b: collections.Counter, a_name: str, b_name: str) -> str:
    only_a, only_b = a - b, b - a
    parts = []
    if only_a:
        parts.append(f"more on {a_name}: " + ", ".join(f"`{k}` x{v}" for k, v in sorted(only_a.items())))
    if only_b:
        parts.append(f"more on {b_name}: " + ", ".join(f"`{k}` x{v}" for k, v in sorted(only_b.items())))
    return "; ".join(parts) or "equal"


def compute(c: collections.Counter) -> collections.Counter:
    """The ops that compute or make tensors: ``prim::`` queries (``prim::device``) left out."""
    return collections.Counter({k: v for k, v in c.items() if not k.startswith("prim::")})


def exactness(model, x, T) -> dict:
    real_fcm = FlopCounterMode(display=False)
    with torch.no_grad(), real_fcm:
        model(x)
    fake_fcm = fake_forward(model, x, FlopCounterMode(display=False))
    real, fake, meta = real_ops(model, x), fake_forward(model, x, Ops()).seen, meta_ops(model, x)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        p_def = profiler.profile(model, x)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        p_cpu = profiler.profile(model, x, device="cpu")
    diffs = T.differences(T.document(p_def), T.document(p_cpu))
    return {
        "fcm_real": real_fcm.get_total_flops(), "fcm_fake": fake_fcm.get_total_flops(),
        "fcm_ops_equal": flop_counts(real_fcm) == flop_counts(fake_fcm),
        "n_real": sum(real.values()), "n_fake": sum(fake.values()), "n_meta": sum(meta.values()),
        "fake_vs_real": diff_text(fake, real, "fake", "CPU"),
        "fake_compute_equal": compute(fake) == compute(real),
        "meta_vs_real": diff_text(meta, real, "bare meta", "CPU"),
        "meta_compute_equal": compute(meta) == compute(real),
        "sdpa": (fake.get("aten::_scaled_dot_product_flash_attention_for_cpu", 0),
                 real.get("aten::_scaled_dot_product_flash_attention_for_cpu", 0),
                 meta.get("aten::_scaled_dot_product_flash_attention_for_cpu", 0)),
        "doc_diffs": diffs, "macs_default": p_def.macs, "macs_cpu": p_cpu.macs,
        "pass_default": f"{p_def.pass_kind} on {p_def.to_dict()['device']}",
        "notes_default": p_def.to_dict().get("notes") or [], "notes_cpu": p_cpu.to_dict().get("notes") or [],
    }


# -- the report ----------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--repeats", type=int, default=11, help="timed rounds per model (default %(default)s)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default %(default)s)")
    ap.add_argument("--output", default=os.path.join(ROOT, "reports", "fake_tensor.md"))
    args = ap.parse_args(argv)
    from profiler.atomic import atomic_open
    from profiler.report.tables import markdown_table

    torch.set_num_threads(1)
    torch.manual_seed(0)
    T = load_test_module()
    t_start = time.perf_counter()
    load_before, uptime_before = load(), uptime()
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, torch threads 1; {uptime_before}", flush=True)

    results, exact, per_model = {}, {}, []
    for spec in args.models:
        model, info = build(spec)
        model.eval()
        x = torch.randn(1, *info.input_size)
        la = load()
        print(f"{spec} {tuple(x.shape)} (load {la}) ...", flush=True)
        exact[spec] = exactness(model, x, T)
        print(f"   exactness: {exact[spec]}", flush=True)
        others = Others()
        others.start()
        results[spec] = measure(methods(model, x), args.repeats, args.warmup)
        taken = others.stop()
        per_model.append((spec, tuple(x.shape), la, load(), taken))
        for k, r in results[spec].items():
            print(f"   {k}: CPU {r.med('cpu') * 1e3:.1f} ms, wall {r.med('wall') * 1e3:.1f} ms", flush=True)
        print(f"   (other processes kept {taken:.2f} of {os.cpu_count()} cores busy)", flush=True)
        del model
    load_after, uptime_after = load(), uptime()
    minutes = (time.perf_counter() - t_start) / 60

    names = list(next(iter(results.values())))
    short = [s.split(":")[-1] for s in results]

    def table(which: str) -> str:
        rows = []
        for k in names:
            row = [k]
            for spec, res in results.items():
                base = res[PLAIN].med(which)
                row.append(f"{res[k].med(which) * 1e3:.1f} ({res[k].med(which) / base:.2f}x)")
            rows.append(row)
        return markdown_table(rows, ["method"] + [f"{s} ms (ratio)" for s in short])

    def ratio(spec, a, b, which="cpu"):
        return results[spec][a].med(which) / results[spec][b].med(which)

    cmd = "python benchmarks/fake_tensor_report.py" + (
        f" --models {' '.join(args.models)}" if list(args.models) != list(MODELS) else "") + (
        f" --repeats {args.repeats}" if args.repeats != 11 else "") + (
        f" --warmup {args.warmup}" if args.warmup != 3 else "")
    def span(xs, fmt=".1f"):
        lo, hi = format(min(xs), fmt), format(max(xs), fmt)
        return f"{lo}x" if lo == hi else f"{lo}-{hi}x"

    fake_over_default = [ratio(s, FAKE, DEFAULT) for s in results]
    fwd_over_default = [ratio(s, FAKE_FWD, DEFAULT) for s in results]
    fake_over_plain = [ratio(s, FAKE, PLAIN) for s in results]
    cold_over_plain = [ratio(s, FAKE_COLD, PLAIN) for s in results]
    fcm_over_default = [ratio(s, FAKE_FCM, DEFAULT) for s in results]
    fcm_equal = all(e["fcm_real"] == e["fcm_fake"] and e["fcm_ops_equal"] for e in exact.values())
    fake_ops_equal = all(e["fake_compute_equal"] for e in exact.values())
    docs_equal = all(not e["doc_diffs"] for e in exact.values())
    meta_off = [s.split(":")[-1] for s, e in exact.items() if not e["meta_compute_equal"]]

    L = ["# FakeTensor against the bare meta shapes pass (issue 24)\n",
         f"Generated by `{cmd}` ({minutes:.1f} min; {args.warmup} warm-up and {args.repeats} timed interleaved "
         "rounds per model, one torch thread). Numbers depend on the machine and its load; they are comparable "
         "within this report (same process, interleaved rounds), not across machines.\n",
         "## Conclusion\n",
         f"- **The default meta pass is the faster, by {span(fake_over_default)} in CPU time** (FakeTensor "
         "convert + forward / default; " + ", ".join(f"{s.split(':')[-1]} {r:.1f}x" for s, r in
                                                     zip(results, fake_over_default))
         + f"): a bare forward on FakeTensors (converting the weights included) costs "
         f"{span(fake_over_plain, '.2f')} a real plain forward at 224x224 on one thread (the first call, its "
         f"dispatch cache empty, {span(cold_over_plain, '.1f')}), {span(fwd_over_default)} "
         "`profiler.profile(m, x)` even with the "
         f"conversion taken out, and with FlopCounterMode on top {span(fcm_over_default)}. "
         "FakeTensor's per-op cost (Python dispatch through FakeTensorMode: device propagation, its dispatch cache, "
         "torch's Python meta/reference kernels) is what the profiler's fast meta kernels and leaf shortcuts avoid.",
         "- **Exactness: " + ("both are exact on these models**" if fcm_equal and fake_ops_equal and docs_equal else
                              "see the findings below**") + ": "
         + ("FlopCounterMode counts the same on the fake pass as on a real CPU forward (total and per op), the fake "
            "pass dispatches the same aten ops as the CPU (SDPA included: the CPU's fused "
            "`_scaled_dot_product_flash_attention_for_cpu`), " if fcm_equal and fake_ops_equal else
            "the fake pass differs from the CPU somewhere (below), ")
         + ("and the profiler's default document equals its `device=\"cpu\"` document field for field."
            if docs_equal else "and the profiler's default document differs from its CPU document (below).")
         + (f" Bare meta tensors alone would not be exact ({', '.join(meta_off)}: SDPA decomposed into the math "
            "backend's ops); the profiler gets the CPU's op by its SDPA shim (profiler/core/meta_shims.py), which is "
            "what FakeTensor's kept device gives for free." if meta_off else ""),
         "- So keeping the device buys nothing the default pass lacks on these models, at "
         f"{min(fake_over_default):.1f}x or more the time: these measurements do not support switching to "
         "FakeTensor.\n",
         "## Times\n",
         "Median CPU time of the process (`time.process_time`), milliseconds, and the ratio to the plain forward "
         "of the same model:\n",
         table("cpu"), "",
         "Median wall time (`time.perf_counter`), milliseconds (ratio to the plain forward):\n",
         table("wall"), ""]
    counted = [f"{s.split(':')[-1]}: {e['pass_default']}" for s, e in exact.items()]
    L.append("Which pass the default ran: " + "; ".join(counted) + ".\n")

    L += ["## Exactness\n",
          "### (a) FlopCounterMode: fake pass against a real CPU forward\n",
          markdown_table([[s.split(":")[-1], f"{e['fcm_fake']:,}", f"{e['fcm_real']:,}",
                           "yes" if e["fcm_fake"] == e["fcm_real"] else "**no**",
                           "yes" if e["fcm_ops_equal"] else "**no**"] for s, e in exact.items()],
                         ["model", "FLOPs, fake", "FLOPs, CPU", "totals equal", "per-op counts equal"]), "",
          "### (b) The aten ops dispatched: fake pass against a real CPU forward\n",
          "A counting `TorchDispatchMode` (it changes nothing) around the forward: on the fake pass inside the "
          "FakeTensorMode (it sees each op before the fake mode answers it), on the CPU around `model(x)`, and "
          "for contrast around a bare meta copy (`copy.deepcopy(model).to(\"meta\")`, no fast kernels, no shims). "
          "Compared: the multisets of op names. `prim::device` is not a computation but a query: FakeTensor is "
          "a Python tensor subclass, so when the C++ code of a composite op reads an operand's device (almost "
          "all of them on resnet18 from `torch.batch_norm` choosing its backend, the rest from `F.linear` and "
          "`torch.flatten`) the read is dispatched to the Python modes, one more Python round trip per read; "
          "a real or meta tensor answers it in C++.\n",
          markdown_table([[s.split(":")[-1], f"{e['n_fake']} / {e['n_real']} / {e['n_meta']}",
                           e["fake_vs_real"], "yes" if e["fake_compute_equal"] else "**no**",
                           e["meta_vs_real"], "yes" if e["meta_compute_equal"] else "**no**",
                           "{} / {} / {}".format(*e["sdpa"])] for s, e in exact.items()],
                         ["model", "ops seen fake / CPU / bare meta", "fake vs CPU", "fake: aten ops equal",
                          "bare meta vs CPU", "bare meta: aten ops equal",
                          "`_scaled_dot_product_flash_attention_for_cpu` fake / CPU / bare meta"]), "",
          "### (c) The profiler's default document against its `device=\"cpu\"` document\n",
          "`tests/zoo/test_meta_equals_cpu.py`'s `document()` (`p.to_dict()` plus the total under every "
          "registered convention) and `differences()` (every key and every layer by path; `device`, `pass`, "
          "`build`, `notes` left out), each pass run with the global generator seeded alike.\n",
          markdown_table([[s.split(":")[-1], f"{e['macs_default']:,}", f"{e['macs_cpu']:,}",
                           "equal" if not e["doc_diffs"] else f"**{len(e['doc_diffs'])} differences**: "
                           + "; ".join(e["doc_diffs"][:5]).replace("|", "\\|"),
                           "; ".join(e["notes_default"]).replace("|", "\\|") or "none"]
                          for s, e in exact.items()],
                         ["model", "MACs, default", "MACs, device='cpu'", "documents", "notes of the default"]), ""]

    L += ["## Machine and load\n",
          f"- CPU: {cpu_model()} ({platform.machine()}), {os.cpu_count()} logical CPUs "
          f"({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} usable by this process); "
          "torch intra-op threads 1 (`torch.set_num_threads(1)`) for every method",
          f"- Load average (1 / 5 / 15 min) before: {load_before}; after: {load_after}. The machine was shared with "
          "other work (test runs of other engineers); per model, the 1-minute load at its start and end and the "
          "cores other processes kept busy during its timed rounds (busy time of all CPUs from /proc/stat less "
          "this process's CPU time, over the wall time): "
          + "; ".join(f"{s.split(':')[-1]} {la.split(' / ')[0]} -> {lb.split(' / ')[0]}, {taken:.2f} cores"
                      for s, _shape, la, lb, taken in per_model) + ". CPU time is the figure to read when the "
          "machine is loaded; wall time includes waiting for a core.",
          f"- `uptime` before: `{uptime_before}`; after: `{uptime_after}`",
          f"- Python {platform.python_version()}, {versions(PACKAGES)}",
          f"- {platform.platform()}\n",
          "## Method\n",
          "Models built by `profiler.zoo.create` (random weights, no download), eval mode, input "
          f"{'x'.join(map(str, per_model[0][1]))} from `torch.randn` (seed 0). Every method does one full pass per "
          "call:\n",
          f"- *{PLAIN}*: `with torch.no_grad(): model(x)`.",
          f"- *{FAKE}*: `with FakeTensorMode() as mode:` (`torch._subclasses.fake_tensor`), "
          "`params = {name: mode.from_tensor(t)}` for every parameter and buffer, `fx = mode.from_tensor(x)`, then "
          "`torch.func.functional_call(model, params, (fx,))` under `torch.no_grad()`. The fake tensors keep the "
          "CPU device, so the dispatcher picks the CPU's kernels (and SDPA backend) and FakeTensorMode answers "
          "them from shapes. Counts nothing: the floor of a fake-tensor counter.",
          f"- *{FAKE_FWD}*: the mode and the conversions made untimed before the call; timed: entering the mode "
          "and the `functional_call`.",
          f"- *{FAKE_COLD}*: as *{FAKE}*, with `FakeTensorMode.cache` (the fake dispatch cache, class-level: "
          "shared by every mode in the process and kept from one call to the next, which the warm rows profit "
          "from) emptied untimed before each call and restored untimed after it (under FlopCounterMode some ops reach "
          "the fake mode in another form, batch norm as `_native_batch_norm_legit_no_training` instead of "
          "`native_batch_norm`: entries the cold row would not refill, so without the restore that row would pay "
          "a half-cold call every round): "
          "what a first call in a fresh process pays, less the imports.",
          f"- *{FAKE_FCM}*: as *{FAKE}*, with `FlopCounterMode(display=False)` entered inside the fake mode "
          "around the forward and its total read: the least a fake-tensor counter would cost (it counts only "
          "the FLOPs of matmul/conv/attention ops, without the per-layer document this package makes).",
          f"- *{DEFAULT}*: this package's default, `device=\"auto\"`: meta copies of the parameters and the input "
          "swapped into the model, the forward under a TorchDispatchMode with fast Python meta kernels "
          "(profiler/core/meta_kernels.py) and shortcuts for stock leaf modules; the full per-layer document. "
          "Warm: what the engine learned about torch in earlier calls is kept, as in any session that profiles "
          "more than once.",
          f"- *{REAL}*: the real pass, the model's own CPU kernels observed.\n",
          f"{args.warmup} warm-up round(s), then {args.repeats} timed rounds, interleaved: every method once per "
          "round, the order rotated by one each round, so load from other processes and order effects hit every "
          "method alike. Before each timed call, untimed: the method's setup and `gc.collect()`; after it, "
          "untimed, the cold row's restoring of the fake dispatch cache. Reported: the "
          "median over the rounds of CPU time of this process (`time.process_time`) and of wall time "
          "(`time.perf_counter`); ratio = median / median of the plain forward of the same model. Model "
          "construction and the exactness checks are not timed.\n",
          "Exactness is checked once per model before its rounds, as in the sections above. (a) compares "
          "`get_total_flops()` and the per-op table `get_flop_counts()['Global']` of a FlopCounterMode around the "
          "fake pass and around a real `no_grad` CPU forward. (b) compares the multisets of op names "
          "(`func.name()`) seen by a do-nothing counting `TorchDispatchMode`. (c) compares the two documents of "
          "this package as its test of the meta pass does.\n"]
    with atomic_open(args.output, "w", encoding="utf-8") as fh:  # a failed write leaves the old report
        fh.write("\n".join(L) + "\n")
    print(f"wrote {args.output} in {minutes:.1f} min; load {load_before} -> {load_after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
