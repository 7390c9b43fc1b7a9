"""reports/replay.md: composite replay (profiler/core/block_paths.py) against the fully observed pass, model by model.

    python benchmarks/replay_report.py [--out reports/replay.md]     # about 15 minutes on one thread

For every torchvision classification model and a set of timm models (each family whose blocks are known, and
others), in eval and train mode, on the shapes-only pass (meta) and the real pass (CPU): the document with replay
off, the document of the first pass with it on (the process's caches emptied: keys met twice within the pass are
replayed) and that of a later pass (every key seen before replayed) must be equal, byte for byte (the JSON less
the elapsed time). A model whose own forward keeps state between calls (levit's attention-bias cache, made on its
first eval call) gives another document on its second call whatever the profiler does: its replayed documents are
compared with the observed document of the same call of the model (two passes with replay off, then two with it
on, the model's caches cleared between as its own ``train()`` clears them). Also shown: the composites kept and
the time of a later pass with replay on and off (one torch thread; meta: the median of three passes, CPU: one).
The real pass is run for models of at most 30 G MACs at the input used (``--cpu-macs``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TIMM = ["resnet26d", "resnet50d", "seresnext26d_32x4d", "vit_tiny_patch16_224", "vit_small_patch16_224",
        "deit_small_distilled_patch16_224", "convnext_atto", "efficientnet_b0", "mixnet_s", "mobilenetv3_large_100",
        "regnetx_002", "levit_128s", "cait_xxs24_224", "beit_base_patch16_224", "swin_tiny_patch4_window7_224",
        "mixer_b16_224", "resmlp_12_224", "poolformer_s12", "tf_efficientnetv2_b0", "ghostnet_100",
        "densenet121", "dla34", "eva02_tiny_patch14_224", "vgg11", "repvgg_a0", "xcit_nano_12_p16_224",
        "pit_ti_224", "twins_pcpvt_small", "coat_lite_tiny"]
# Not classification at 224 on one image: video, detection, segmentation, optical flow, quantized models.
_OTHER_TASKS = ("raft", "video", "mvit", "r3d", "r2plus1d", "mc3", "s3d", "swin3d", "rcnn", "retina", "ssd", "fcos",
                "keypoint", "mask", "deeplab", "fcn", "lraspp", "quantized")


def _doc(prof) -> str:
    d = prof.to_dict()
    d.pop("elapsed_s", None)
    return json.dumps(d, sort_keys=True, default=str)


def _timed(fn, n: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3, out


def compare(model, x, device: str) -> dict:
    """Replay off and on, on one pass kind: whether the documents are equal, traces kept, times."""
    import torch

    import profiler
    from profiler.core import block_paths, engine

    def run():
        torch.manual_seed(0)
        return _doc(profiler.profile(model, x, device=device))

    timed = _timed if device == "meta" else lambda fn: _timed(fn, 1)

    try:
        block_paths.ENABLED = False
        engine.clear_caches()
        model.train(model.training)
        off = [run(), run()]  # the model's own first and second call
        off_ms, _ = timed(run)
        block_paths.ENABLED = True
        engine.clear_caches()
        model.train(model.training)  # a model's own caches emptied as its train() does (levit's attention biases)
        on = [run(), run()]
        kept = sum(1 for v in block_paths.TRACES.values() if v)
        on_ms, _ = timed(run)
    finally:
        block_paths.ENABLED = True
    stateful = off[0] != off[1]
    return {"equal": on == off, "stateful": stateful, "kept": kept, "off_ms": off_ms, "on_ms": on_ms}


def _models():
    import timm
    import torchvision

    for name in torchvision.models.list_models(module=torchvision.models):
        if not any(k in name for k in _OTHER_TASKS):
            yield f"torchvision:{name}", lambda n=name: torchvision.models.get_model(n, weights=None), \
                299 if "inception" in name else 224
    for name in TIMM:
        yield f"timm:{name}", lambda n=name: timm.create_model(n), 224


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "reports", "replay.md"))
    ap.add_argument("--only", nargs="*", help="model names (as in the report) to run, for a quick check")
    ap.add_argument("--cpu-macs", type=float, default=30e9,
                    help="the real pass only for models of at most this many MACs at the report's input")
    args = ap.parse_args(argv)
    import warnings

    import torch
    import torchvision

    import profiler
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    rows, unequal, t0 = [], [], time.perf_counter()
    for name, build, size in _models():
        if args.only and name not in args.only:
            continue
        model = build()
        x = torch.randn(2, 3, size, size)
        macs = profiler.profile(model, x).macs
        for mode in ("eval", "train"):
            model.train(mode == "train")
            for device in ("meta", "cpu"):
                if device == "cpu" and macs > args.cpu_macs:
                    rows.append([name, mode, device, f"not run ({macs / 1e9:.0f} G MACs)", "", "", ""])
                    continue
                try:
                    r = compare(model, x, device)
                except Exception as exc:  # noqa: BLE001 - a model that fails profiles neither way: say so
                    rows.append([name, mode, device, f"error: {type(exc).__name__}: {str(exc)[:80]}", "", "", ""])
                    unequal.append(f"{name} {mode} {device} (error)")
                    continue
                if not r["equal"]:
                    unequal.append(f"{name} {mode} {device}")
                rows.append([name, mode, device, ("equal" if r["equal"] else "**differ**")
                             + (" (the model's own state changes between calls)" if r["stateful"] else ""),
                             r["kept"], f"{r['off_ms']:.1f}", f"{r['on_ms']:.1f}"])
                print(*rows[-1], flush=True)
    minutes = (time.perf_counter() - t0) / 60
    from profiler.report.tables import markdown_table  # noqa: PLC0415 - the renderer the other reports use

    skipped = sum(1 for r in rows if str(r[3]).startswith("not run"))
    n = len(rows) - skipped  # comparisons made
    lines = [
        "# Composite replay against the observed pass",
        "",
        f"Generated by `python benchmarks/replay_report.py` ({minutes:.1f} min, one torch thread; "
        f"Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"profiler {profiler.__version__}).",
        "",
        __doc__.split("\n\n", 2)[2].strip(),
        "",
        f"**{n - len(unequal)} of {n} comparisons equal**" + (f" ({skipped} real passes of larger models not run)."
                                                                if skipped else ".")
        + (" Not equal: " + ", ".join(unequal) + "." if unequal else ""),
        "",
        "Input: a batch of 2 (299x299 for inception_v3, else 224x224). *Kept*: composites whose trace was kept "
        "(keys; each replayed on its later calls). Times: a later pass, replay off and on, in ms. A model "
        "with none kept has no known composite, or none whose key could be read (hooks, unknown children).",
        "",
        markdown_table(rows, ["model", "mode", "pass", "documents", "kept", "off ms", "on ms"]),
        "",
    ]
    if not args.only:
        with open(args.out, "w") as f:
            f.write("\n".join(lines))
    print(f"{n - len(unequal)} / {n} equal ({skipped} not run); not equal: {unequal}")
    return 1 if unequal else 0


if __name__ == "__main__":
    sys.exit(main())
