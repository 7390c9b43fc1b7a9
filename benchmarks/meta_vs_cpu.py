"""Regenerate reports/meta_vs_cpu.md: the meta document against a real CPU pass's on 300+ models.

    python benchmarks/meta_vs_cpu.py [--jobs 2] [--zoos timm torchvision pytorchcv hf] [--per-family 1]
                                     [--only-sample] [--only PATTERN ...] [--limit N] [--output reports/meta_vs_cpu.md]

The comparison of tests/zoo/test_meta_equals_cpu.py (its sample, its ``differences()``, its causes of the listed
models) over a larger sample: that file's models, plus the smallest models of every timm family (timm's model
modules) and pytorchcv family (the name up to its first digit or underscore) not in it, read off the sweeps'
parameter counts (reports/sweep_*.csv), every other torchvision model up to ``--max-params``, and more ``hf:``
types, shrunk. Each model is profiled twice, ``device="meta"`` and ``device="cpu"`` (the same seeded input), in
worker processes of one torch thread; one that runs past ``--timeout`` or grows past ``--max-memory`` GiB is
killed and its model reported so.

A model of the extra sample gets 64 pixels (video: 4 frames of 56) and its zoo's own size when its real pass
refuses those. Where the documents differ, the cause is told from the ops behind the difference (a copy only
one pass made, an op the CPU runs fused ...) or, where the meta pass fails, from the error and the frame that
raised it; a model the test file lists keeps the cause written there. For every model that differs,
``device="auto"`` is run too, to report whether it falls back to a real pass.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import fnmatch
import importlib.util
import multiprocessing as mp
import os
import platform
import re
import sys
import time
import traceback
from multiprocessing.connection import wait

from profiler.studies.sweep import _rss_bytes  # the sweep's own reading of a worker's memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
TEST_FILE = os.path.join(ROOT, "tests", "zoo", "test_meta_equals_cpu.py")
ZOOS = ("timm", "torchvision", "pytorchcv", "hf")
PACKAGES = ("torch", "timm", "torchvision", "pytorchcv", "transformers")

# -- more hf: types, shrunk as the test file shrinks its own -------------------------------------------------
_D = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
          vocab_size=1000)
_E = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, vocab_size=1000)
_S2S = dict(encoder_layers=2, decoder_layers=2, d_model=64, encoder_ffn_dim=128, decoder_ffn_dim=128,
            encoder_attention_heads=4, decoder_attention_heads=4, vocab_size=1000, pad_token_id=0,
            decoder_start_token_id=0)
HF_EXTRA = {
    "hf:gemma2": (16, dict(_D, head_dim=16)), "hf:gemma3_text": (16, dict(_D, head_dim=16)),
    "hf:llama4_text": (16, dict(_D, num_local_experts=4, num_experts_per_tok=1, head_dim=16,
                                intermediate_size_mlp=128)),
    "hf:gpt_oss": (16, dict(_D, num_local_experts=4, num_experts_per_tok=2, head_dim=16)),
    "hf:olmo": (16, _D), "hf:stablelm": (16, _D), "hf:granite": (16, _D), "hf:persimmon": (16, _E),
    "hf:nemotron": (16, dict(_D, head_dim=16)), "hf:helium": (16, dict(_D, head_dim=16, pad_token_id=0)),
    "hf:glm": (16, dict(_D, head_dim=16, pad_token_id=0)), "hf:glm4": (16, dict(_D, head_dim=16, pad_token_id=0)),
    "hf:biogpt": (16, dict(_E, pad_token_id=0)),
    "hf:ctrl": (16, dict(n_layer=2, n_embd=64, n_head=4, dff=128, vocab_size=1000)),
    "hf:xglm": (16, dict(num_layers=2, d_model=64, ffn_dim=128, attention_heads=4, vocab_size=1000, pad_token_id=0)),
    "hf:camembert": (16, _E), "hf:ernie": (16, _E), "hf:megatron-bert": (16, _E), "hf:nystromformer": (16, _E),
    "hf:yoso": (16, _E),
    "hf:umt5": (16, dict(num_layers=2, num_decoder_layers=2, d_model=64, d_ff=128, num_heads=4, d_kv=16,
                         vocab_size=1000)),
    "hf:blenderbot": (16, _S2S), "hf:blenderbot-small": (16, _S2S), "hf:m2m_100": (16, _S2S), "hf:plbart": (16, _S2S),
    "hf:levit": (None, dict(image_size=64)), "hf:mobilevit": (None, dict(image_size=64)),
    "hf:convnextv2": (None, dict(depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 128], image_size=64)),
    "hf:regnet": (None, dict(depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 128], embedding_size=16)),
    "hf:vit_msn": (None, dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                              image_size=64, patch_size=16)),
}


# -- the sample ----------------------------------------------------------------------------------------------
def load_test_module():
    """tests/zoo/test_meta_equals_cpu.py as a module: its CASES, causes and comparison."""
    spec = importlib.util.spec_from_file_location("meta_equals_cpu", TEST_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sweep_params(zoo: str) -> dict[str, int]:
    """name -> parameters, from the zoo's shape-only sweep (reports/sweep_ZOO.csv), where counted."""
    path = os.path.join(ROOT, "reports", f"sweep_{zoo}.csv")
    if not os.path.exists(path):
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["name"]: int(r["params"]) for r in csv.DictReader(fh) if r.get("params", "").isdigit()}


def _family(zoo: str, name: str) -> str:
    from profiler.studies.zoo_crosscheck import family_of

    return family_of(zoo, name) if zoo == "timm" else re.split(r"[\d_]", name, maxsplit=1)[0] or name


def extra_cases(zoos, per_family: int, max_params: float, known: set) -> dict:
    """spec -> (input or "small", kwargs) of the models beyond the test file's: "small" is 64 pixels (4 frames
    of 56 for video), or the zoo's own size where the real pass refuses them."""
    out: dict = {}
    cap = int(max_params * 1e6)
    for zoo in ("timm", "pytorchcv"):
        if zoo not in zoos:
            continue
        params = _sweep_params(zoo)
        by_family: dict[str, list] = {}
        for name, n in params.items():
            if f"{zoo}:{name}" not in known and n <= cap:
                by_family.setdefault(_family(zoo, name), []).append((n, name))
        for family in sorted(by_family):
            for _, name in sorted(by_family[family])[:per_family]:
                out[f"{zoo}:{name}"] = ("small", {})
    if "torchvision" in zoos:
        import torchvision

        from profiler.zoo.names import torchvision_family

        params = _sweep_params("torchvision")
        for name in torchvision.models.list_models():
            if f"torchvision:{name}" in known or params.get(name, 0) > cap:
                continue
            family = torchvision_family(name)
            size = {"video": "small video", "detection": 128, "optical_flow": 128}.get(family, "small")
            out[f"torchvision:{name}"] = (size, {})
    if "hf" in zoos:
        out.update({k: v for k, v in HF_EXTRA.items() if k not in known})
    return out


# -- one model, in a worker ------------------------------------------------------------------------------------
_T = None  # the test module, imported once per worker


def _where(exc: BaseException) -> str:
    """The innermost frame of an installed package other than torch: the model's or its library's code that
    failed ("" when the profiler itself raised, as it does for a detector's data-dependent heads)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "site-packages" in f.filename and f"{os.sep}torch{os.sep}" not in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    path = f.filename.split("site-packages/")[-1]
    return f"{path}:{f.lineno} {f.name}"


def _error(exc: BaseException, limit: int = 160) -> tuple[str, str]:
    inner = exc.__cause__ or exc
    msg = " ".join(str(inner).split())
    return f"{type(inner).__name__}: {msg[:limit]}", _where(inner)


def _op_differences(meta, cpu) -> dict[str, tuple]:
    """aten op -> (calls, counts) on meta and on the CPU, summed over the layers, where the two differ."""
    def totals(prof):
        out: dict = {}
        for layer in prof.layers:
            for op, st in layer.ops.items():
                calls, counts = out.get(op, (0, {}))
                for c, n in st.counts.items():
                    counts[c] = counts.get(c, 0) + n
                out[op] = (calls + st.calls, counts)
        return out

    m, c = totals(meta), totals(cpu)
    return {op: (m.get(op), c.get(op)) for op in sorted(m.keys() | c.keys()) if m.get(op) != c.get(op)}


def _more(side, other, category: str) -> bool:
    get = lambda s: (s or (0, {}))[1].get(category, 0)  # noqa: E731
    return get(side) > get(other)


#: Causes told from the ops, and whose they are: "meta path" (ours: the documents could be equal) or "data".
def classify_ops(ops: dict, diffs: list[str]) -> list[tuple[str, str]]:
    if diffs and all(d.startswith("expert_tokens") for d in diffs):
        return [("routed experts: expert_tokens (the tokens each expert received) exist only on a real pass", "data")]
    out, left = [], dict(ops)
    if "aten.mkldnn_rnn_layer" in left:
        out.append(("LSTM/GRU: oneDNN's aten.mkldnn_rnn_layer on the CPU, torch's decomposition on meta "
                    "(memory differs)", "meta path"))
        for op in ("aten.mkldnn_rnn_layer", "aten.addmm", "aten.mul", "aten.add_", "aten.sigmoid_", "aten.tanh",
                   "aten.tanh_", "aten.stack", "aten.clone", "aten.sigmoid", "aten.add", "aten.cat"):
            left.pop(op, None)
    if "aten._scaled_dot_product_flash_attention_for_cpu" in left and "aten._safe_softmax" in left:
        out.append(("scaled_dot_product_attention: the CPU's fused flash kernel, torch's math decomposition on meta "
                    "(elementwise and memory differ)", "meta path"))
        for op in ("aten._scaled_dot_product_flash_attention_for_cpu", "aten._safe_softmax", "aten.bmm", "aten.mul",
                   "aten.add", "aten.clone", "aten.expand", "aten.where"):
            left.pop(op, None)
    if "aten._native_multi_head_attention" in left:
        out.append(("nn.MultiheadAttention: the fused fast path on the CPU, the slow path on meta (memory differs)",
                    "meta path"))
        for op in ("aten._native_multi_head_attention", "aten.addmm", "aten.clone", "aten.linear",
                   "aten._scaled_dot_product_flash_attention_for_cpu", "aten.bmm", "aten.baddbmm", "aten._softmax",
                   "aten.view", "aten.mm", "aten.transpose"):
            left.pop(op, None)
    if "aten.aminmax" in left and "aten.eq" in left:
        out.append(("F.one_hot: the checking path (aminmax, scatter_) on the CPU, the eq path on meta", "meta path"))
        for op in ("aten.aminmax", "aten.eq", "aten.scatter_", "aten._to_copy"):
            left.pop(op, None)
    if "aten._to_copy" in left and _more(*left["aten._to_copy"], "memory"):
        out.append(("a host-to-meta aten._to_copy: the forward makes a tensor on the CPU and moves it to the "
                    "weights' device, a no-op on the CPU", "meta path"))
        left.pop("aten._to_copy")
    if "aten.copy_" in left and _more(*left["aten.copy_"], "memory"):
        out.append(("Tensor.__setitem__ of a Python number: aten.fill_ (free) on the CPU, aten.copy_ from a meta "
                    "scalar on meta", "meta path"))
        left.pop("aten.copy_")
    shapes = [d for d in diffs if "output_shapes" in d or "input_shapes" in d]
    if not left and not out and shapes and len(shapes) == len(diffs):
        return [("layer input/output shapes differ, the counts agree (the first difference says where)", "meta path")]
    if left or not out:
        said = ", ".join(f"{op} meta {m} cpu {c}" for op, (m, c) in list(left.items())[:4])
        out.append((f"other ops differ: {said or ', '.join(diffs[:2])}", "unclassified"))
    return out


def classify_error(error: str, where: str, stray: int) -> tuple[str, str]:
    at = f" ({where})" if where else ""
    if "depends on the data" in error:
        return "detection post-processing: a data-dependent number of boxes (meta refuses it)", "data"
    if stray:
        return (f"the meta build left {stray} parameters on the CPU (a constructor that ignores the default device, "
                f"such as the legacy torch.Tensor(*shape)){at}", "meta path")
    if "warn_if_padding_and_no_attention_mask" in where:
        return f"a value read a meta shim could answer: transformers' padding warning{at}", "meta path"
    if ".item()" in error:
        return f"a value read (.item()) on meta{at}", "data"
    if "nonzero" in error:
        return f"torch.nonzero: a data-dependent size{at}", "data"
    if "Cannot copy out of meta" in error:
        return f"values copied out of a tensor (numpy, tolist){at}", "data"
    if "expected device" in error or "on device" in error:
        return f"cpu and meta tensors in one op: the forward makes tensors on the CPU{at}", "model"
    return f"{error}{at}", "unclassified"


def compare(spec: str, size, kwargs: dict, listed: str | None) -> dict:
    """One row: the two documents compared, the cause of a difference, what auto did."""
    from profiler.zoo.build import create_meta

    T = _T
    row = {"spec": spec, "zoo": spec.split(":", 1)[0], "input": "", "status": "", "cause": "", "kind": "",
           "listed": listed or "", "differences": 0, "first": "", "auto": "", "meta_s": 0.0, "cpu_s": 0.0}
    sizes = {"small": [64, None], "small video": [(3, 4, 56, 56), None]}.get(size, [size])
    cpu = None
    for s in sizes:
        T.CASES[spec] = (s, kwargs)
        t0 = time.perf_counter()
        try:
            cpu = T.profiled(spec, "cpu")
            row["cpu_s"] = time.perf_counter() - t0
            row["status"] = row["cause"] = ""
            break
        except Exception as exc:  # noqa: BLE001 - a size the model refuses: its own size next
            row["cpu_s"] = time.perf_counter() - t0
            row["status"], row["cause"] = "not compared", "the real pass failed: %s (%s)" % _error(exc)
    if cpu is None:
        row["kind"] = "model"
        return row
    row["input"] = _input_text(cpu)
    t0 = time.perf_counter()
    try:
        meta = T.profiled(spec, "meta")
    except Exception as exc:  # noqa: BLE001 - the meta pass's failure is a result
        row["meta_s"] = time.perf_counter() - t0
        error, where = _error(exc, limit=10_000)
        stray = 0
        if "device" in error:
            try:
                built = create_meta(spec, **kwargs)
                stray = sum(1 for p in built.model.parameters() if p.device.type != "meta") \
                    if built.build == "meta" else 0
            except Exception:  # noqa: BLE001 - the build's own failure was reported by the pass
                pass
        row["status"] = "meta refuses" if "depends on the data" in error else "meta fails"
        row["cause"], row["kind"] = classify_error(error, where, stray)
        row["first"] = error[:200]
        row["auto"] = _auto(T, spec)
        return row
    row["meta_s"] = time.perf_counter() - t0
    diffs = T.differences(T.document(meta), T.document(cpu))
    if not diffs:
        row["status"] = "equal"
        return row
    causes = classify_ops(_op_differences(meta, cpu), diffs)
    row.update(status="different", differences=len(diffs), first=diffs[0][:200],
               cause="; ".join(c for c, _ in causes), kind=", ".join(sorted({k for _, k in causes})),
               auto=_auto(T, spec))
    return row


def _auto(T, spec: str) -> str:
    try:
        p = T.profiled(spec, "auto")
    except Exception as exc:  # noqa: BLE001
        return "fails: %s" % _error(exc)[0]
    if p.device == "meta":
        return "meta, no fallback" + ("" if not p.notes else f" (notes: {len(p.notes)})")
    said = next((n for n in p.notes if "counted on real tensors" in n), "")
    return f"real pass on the CPU{', with a note' if said else ''}"


def _input_text(prof) -> str:
    src = prof.source
    if src is not None and src.input_kind in ("tokens", "text-image", "speech-text"):
        return f"{src.input_size[0]} tokens"
    batched = src is None or src.input_kind != "fixed"  # fixed inputs: pytorchcv's own shapes, batch included
    return ", ".join("x".join(str(d) for d in (s[1:] if batched else s)) for s in prof.inputs)


def _worker(conn) -> None:
    global _T
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)  # shared two-core machines: intra-op threads slowed real passes many times over
    _T = load_test_module()
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        t0 = time.perf_counter()
        try:
            row = compare(*job)
        except Exception as exc:  # noqa: BLE001 - the harness's own failure on one model: reported, go on
            row = _failed(job, "crashed", "%s (%s)" % _error(exc))
        row["seconds"] = round(time.perf_counter() - t0, 2)
        conn.send(row)


def _failed(job, status: str, why: str) -> dict:
    spec = job[0]
    return {"spec": spec, "zoo": spec.split(":", 1)[0], "input": "", "status": status, "cause": why, "kind": "",
            "listed": job[3] or "", "differences": 0, "first": "", "auto": "", "meta_s": 0.0, "cpu_s": 0.0}


def run(jobs_list, jobs: int, timeout: float, max_memory: float):
    """Yield one row per job, from ``jobs`` worker processes (a worker past the timeout or the memory cap is
    killed, its model reported as ``timeout``/``memory``, and a fresh one started)."""
    ctx = mp.get_context("spawn")
    pending = list(jobs_list)
    cap = int(max_memory * 2**30)

    def start():
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child,), daemon=True)
        proc.start()
        child.close()
        return {"conn": parent, "proc": proc, "job": None, "t0": 0.0}

    slots = [start() for _ in range(max(1, min(jobs, len(pending))))]
    try:
        while pending or any(s["job"] for s in slots):
            for s in slots:
                if s["job"] is None and pending:
                    s["job"], s["t0"] = pending.pop(0), time.perf_counter()
                    s["conn"].send(s["job"])
            busy = [s for s in slots if s["job"] is not None]
            ready = wait([s["conn"] for s in busy] + [s["proc"].sentinel for s in busy], timeout=1.0)
            for i, s in enumerate(slots):
                if s["job"] is None:
                    continue
                if s["conn"] in ready:
                    try:
                        row = s["conn"].recv()
                    except (EOFError, OSError):
                        row = None
                    if row is not None:
                        s["job"] = None
                        yield row
                        continue
                elapsed = time.perf_counter() - s["t0"]
                if not s["proc"].is_alive():
                    status, why = "crashed", f"the worker exited with code {s['proc'].exitcode}"
                elif elapsed > timeout:
                    status, why = "timeout", f"no result after {timeout:g} s"
                elif cap and _rss_bytes(s["proc"].pid) > cap:
                    status, why = "memory", f"the worker passed {max_memory:g} GiB resident"
                else:
                    continue
                row = _failed(s["job"], status, why)
                row["seconds"] = round(elapsed, 2)
                s["proc"].kill()
                s["proc"].join()
                slots[i] = start()
                yield row
    finally:
        for s in slots:
            try:
                s["conn"].send(None)
            except OSError:
                pass
            s["proc"].join(timeout=5)
            if s["proc"].is_alive():
                s["proc"].kill()


# -- the report --------------------------------------------------------------------------------------------------
def _versions() -> str:
    from importlib import metadata

    out = []
    for pkg in PACKAGES:
        try:
            out.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            out.append(f"{pkg} (not installed)")
    return ", ".join(out)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(rows: list[dict], wall: float, args, n_sample: int) -> str:
    by_zoo: dict[str, list] = {}
    for r in rows:
        by_zoo.setdefault(r["zoo"], []).append(r)
    compared = [r for r in rows if r["status"] in ("equal", "different", "meta fails", "meta refuses")]
    equal = [r for r in compared if r["status"] == "equal"]
    lines = [
        "# Meta document against a real CPU pass", "",
        f"Regenerate: `python benchmarks/meta_vs_cpu.py --jobs {args.jobs}` ({len(rows)} models: the {n_sample} of "
        "tests/zoo/test_meta_equals_cpu.py, the smallest model of every other timm and pytorchcv family, every other "
        f"torchvision model up to {args.max_params:g} M parameters, more `hf:` types). Versions: {_versions()}. "
        f"Machine: {os.cpu_count()} cores, {platform.machine()}; one torch thread per worker.", "",
        "Each model is profiled with `profile_model(name, input=..., device=\"meta\")` and `device=\"cpu\"` (built "
        "twice, the same seeded input) and the two JSON documents are compared whole (totals per category and under "
        "every convention, coverage, and per layer path the counts per category, calls, input and output shapes, "
        "parameters), `device`, `pass`, `build` and `notes` aside. Inputs: 64 pixels (video: 4 frames of 56; "
        "detection and optical flow: 128), the zoo's own size where a model refuses them; `hf:` configs shrunk to "
        "2 layers of width 64 and fed 16 tokens. A cause of kind `meta path` is a discrepancy of our meta pass (the "
        "documents could be equal), `data` one of the model's data-dependent cost or control flow, `model` a model "
        "that runs only with CPU inputs.", "",
        f"**{len(equal)} of {len(compared)} compared models give equal documents** "
        f"({100 * len(equal) / max(1, len(compared)):.1f} %); wall time {wall / 60:.1f} min with {args.jobs} "
        "workers.", "",
        "## Per zoo", "",
        "| zoo | models | compared | equal | different | meta fails | meta refuses | not compared "
        "| seconds (meta / cpu) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for zoo in [z for z in ZOOS if z in by_zoo]:
        rs = by_zoo[zoo]
        count = lambda st: sum(r["status"] == st for r in rs)  # noqa: E731
        other = sum(r["status"] not in ("equal", "different", "meta fails", "meta refuses") for r in rs)
        lines.append(f"| {zoo} | {len(rs)} | {len(rs) - other} | {count('equal')} | {count('different')} | "
                     f"{count('meta fails')} | {count('meta refuses')} | {other} | "
                     f"{sum(r['meta_s'] for r in rs):.0f} / {sum(r['cpu_s'] for r in rs):.0f} |")
    causes: dict[tuple, list] = {}
    for r in rows:
        if r["status"] in ("different", "meta fails", "meta refuses"):
            for cause in r["cause"].split("; "):
                key = (re.sub(r" \([^()]*:\d+ [^()]*\)$", "", cause), r["kind"])
                causes.setdefault(key, []).append(r["spec"])
    lines += ["", "## Differences by cause", "",
              "| cause | kind | models | which |", "|---|---|---:|---|"]
    for (cause, kind), specs in sorted(causes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shown = ", ".join(specs[:8]) + (f" and {len(specs) - 8} more" if len(specs) > 8 else "")
        lines.append(f"| {_cell(cause)} | {kind} | {len(specs)} | {_cell(shown)} |")
    lines += ["", "## Every model that differs", "",
              "`auto`: what `profile_model(device=\"auto\")` did. `listed`: the model is in the test file's "
              "KNOWN_BUGS or EXPECTED_DIFFERENT (its cause there is the worked-out one).", "",
              "| model | input | status | cause | first difference or error | auto | listed |",
              "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (ZOOS.index(r["zoo"]) if r["zoo"] in ZOOS else 9, r["spec"])):
        if r["status"] in ("different", "meta fails", "meta refuses"):
            lines.append(f"| {r['spec']} | {r['input']} | {r['status']} | {_cell(r['cause'])} | "
                         f"{_cell(r['first'])} | {_cell(r['auto'])} | {'yes' if r['listed'] else ''} |")
    skipped = [r for r in rows if r["status"] not in ("equal", "different", "meta fails", "meta refuses")]
    if skipped:
        lines += ["", "## Not compared", "", "The real pass itself failed (or the worker did): nothing to compare.",
                  "", "| model | status | why |", "|---|---|---|"]
        for r in sorted(skipped, key=lambda r: r["spec"]):
            lines.append(f"| {r['spec']} | {r['status']} | {_cell(r['cause'])} |")
    slowest = sorted(rows, key=lambda r: -r.get("seconds", 0))[:10]
    lines += ["", "## Slowest models", "", "| model | input | seconds (meta + cpu + auto) |", "|---|---|---:|"]
    lines += [f"| {r['spec']} | {r['input']} | {r.get('seconds', 0):.1f} |" for r in slowest]
    lines += ["", f"_Generated {datetime.date.today().isoformat()} by benchmarks/meta_vs_cpu.py._", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoos", nargs="+", default=list(ZOOS), choices=ZOOS)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--per-family", type=int, default=1, help="extra timm/pytorchcv models per family (default 1)")
    ap.add_argument("--max-params", type=float, default=100.0, help="extra models up to this many M parameters")
    ap.add_argument("--only-sample", action="store_true", help="the test file's models only")
    ap.add_argument("--only", nargs="+", default=None, metavar="PATTERN",
                    help="the models matching these fnmatch patterns only (timm:swin*, hf:*)")
    ap.add_argument("--limit", type=int, default=None, help="the first N models only (a quick look)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per model")
    ap.add_argument("--max-memory", type=float, default=8.0, help="GiB resident per worker")
    ap.add_argument("--output", default=os.path.join(ROOT, "reports", "meta_vs_cpu.md"))
    args = ap.parse_args(argv)

    T = load_test_module()
    listed = {**T.KNOWN_BUGS, **T.EXPECTED_DIFFERENT}
    sample = {k: v for k, v in T.CASES.items() if k.split(":", 1)[0] in args.zoos}
    extra = {} if args.only_sample else extra_cases(args.zoos, args.per_family, args.max_params, set(T.CASES))
    jobs_list = [(spec, size, kwargs, listed.get(spec)) for spec, (size, kwargs) in {**sample, **extra}.items()]
    if args.only:
        jobs_list = [j for j in jobs_list if any(fnmatch.fnmatchcase(j[0], p) for p in args.only)]
    jobs_list = jobs_list[:args.limit] if args.limit else jobs_list
    print(f"{len(jobs_list)} models ({len(sample)} of the test file), {args.jobs} workers", flush=True)
    rows, t0 = [], time.perf_counter()
    for row in run(jobs_list, args.jobs, args.timeout, args.max_memory):
        rows.append(row)
        print(f"[{len(rows)}/{len(jobs_list)}] {row['spec']}: {row['status']} {row.get('seconds', 0):.1f}s"
              + (f" - {row['cause'][:100]}" if row["status"] != "equal" else ""), flush=True)
    text = markdown(rows, time.perf_counter() - t0, args, len(sample))
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    from profiler.atomic import atomic_open

    with atomic_open(args.output, "w", encoding="utf-8") as fh:  # a failed write leaves the old report
        fh.write(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
