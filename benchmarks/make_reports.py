"""Regenerate everything under ``reports/``: ``python benchmarks/make_reports.py`` (``make reports``).

What it writes itself (pictures and ``reports/analysis.md`` with the tables that go with them):

- Pareto plots of the seed tables: the ~5M-parameter backbones (published top-1 against MACs *counted* from
  today's pytorchcv builds), MobileNet vs ShuffleNet (published MFLOPs, which are MACs), classic networks
  (published FLOPs / 2, and V100 latency); plus the published registry's top-1 entries when it has some;
- per-layer and per-stage pictures of mixnet_s and MobileNet v2;
- the separable-conv table (counted ratio vs 1/N + 1/k^2) of MobileNet v1 and v2.

Then it runs the other report scripts that exist, each optional: ``benchmarks/*_report.py`` (cross-check,
published figures, block study ...), in name order, each in its own process; a failing one is reported and
makes the exit code 1, the others still run.

    python benchmarks/make_reports.py [--out reports] [--only pareto,layers,separable,scripts]
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "profiler", "data")
PARTS = ("pareto", "layers", "separable", "scripts")

# Per-layer pictures: (zoo spec, file stem, depth of the per-stage picture).
LAYER_MODELS = [("mixnet_s", "mixnet_s", 2), ("torchvision:mobilenet_v2", "mobilenet_v2", 2)]
SEPARABLE_MODELS = [("timm:mobilenetv1_100", "MobileNet v1 (timm mobilenetv1_100)"),
                    ("torchvision:mobilenet_v2", "MobileNet v2 (torchvision)")]


def _log(msg: str) -> None:
    print(msg, flush=True)


def _rel(path: str, out: str) -> str:
    return os.path.relpath(path, out).replace(os.sep, "/")


# -- Pareto ------------------------------------------------------------------------------------------------
def pareto_reports(out: str) -> list[str]:
    from profiler.report.tables import markdown_table

    from profiler.studies.pareto import fill_counted
    from profiler.report.pareto import filter_points, frontier_table, load_csv, write_pareto

    md = ["## Accuracy vs cost: the seed tables as Pareto plots", "",
          "Black rings and the dashed staircase mark the Pareto frontier (no other model is both cheaper and more "
          "accurate). x is on a log scale; the axis label says how it was counted.", ""]

    # E: ~5M-parameter backbones, published top-1, MACs counted from today's pytorchcv builds.
    pts = load_csv(os.path.join(DATA, "seed_backbones_5m.csv"))
    published_params = {p.name: p.params for p in pts}
    notes = fill_counted(pts, progress=True)
    f = write_pareto(pts, os.path.join(out, "pareto_backbones_5m.png"), "macs",
                     title="Lightweight backbones around 5M parameters: published top-1 vs counted MACs",
                     xlabel="MACs per 224x224 image, log scale - counted by profiler from the pytorchcv builds "
                            "(convention macs: conv + linear multiply-accumulates, bias not counted)",
                     ylabel="top-1 accuracy (%), ImageNet-1k val, as published (pytorchcv)")
    rows = [[p.name, p.family, f"{p.top1:.2f}", f"{p.macs / 1e6:.1f}", f"{published_params[p.name]:,.0f}",
             f"{p.extra.get('counted_params', 0):,}",
             f"{p.extra.get('counted_params', 0) - published_params[p.name]:+,.0f}"] for p in pts]
    md += ["### Lightweight backbones around 5M parameters (seed tables, section E)", "",
           f"![backbones]({_rel(f, out)})", "",
           markdown_table(rows, ["model (pytorchcv)", "family", "top-1 (%) published", "MMACs counted",
                                 "params published", "params counted", "difference"]), "",
           "Parameter differences are today's pytorchcv builds against the published table (the seed notes two "
           "such drifts: hardnet68ds and mnasnet_a1).", "",
           "Frontier:", "", frontier_table(pts, "macs", tablefmt="github"), ""]
    md += [f"- note: {n}" for n in notes]

    # B: MobileNet vs ShuffleNet, published MFLOPs (= MACs) and top-1.
    pts = filter_points(load_csv(os.path.join(DATA, "seed_mobile.csv")), "MobileNet,ShuffleNet")
    f = write_pareto(pts, os.path.join(out, "pareto_mobilenet_shufflenet.png"), "macs",
                     title="MobileNet v1/v2 vs ShuffleNet v1/v2 (published figures)",
                     xlabel="MACs per 224x224 image, log scale - as published (the papers' MFLOPs: one "
                            "multiply-accumulate counted once; conv + linear)",
                     ylabel="top-1 accuracy (%), ImageNet-1k val, as published (100 - error)")
    md += ["### MobileNet vs ShuffleNet (seed tables, section B)", "", f"![mobile]({_rel(f, out)})", "",
           frontier_table(pts, "macs", tablefmt="github"), ""]

    # C: classic networks, published FLOPs (x2 convention, halved to MACs) and V100 latency.
    pts = load_csv(os.path.join(DATA, "seed_classic.csv"))
    f1 = write_pareto(pts, os.path.join(out, "pareto_classic.png"), "macs",
                      title="Classic networks: published top-1 vs MACs",
                      xlabel="MACs per image, log scale - published FLOPs / 2 (the source counts a multiply-add "
                             "as 2 FLOPs); 224x224, DarkNet53 256x256",
                      ylabel="top-1 accuracy (%), ImageNet-1k val, as published")
    f2 = write_pareto(pts, os.path.join(out, "pareto_classic_latency.png"), "latency",
                      title="Classic networks: published top-1 vs V100 latency",
                      xlabel="latency (ms), log scale - published, V100 GPU, FP32, batch 1",
                      ylabel="top-1 accuracy (%), ImageNet-1k val, as published")
    md += ["### Classic networks (seed tables, section C)", "", f"![classic]({_rel(f1, out)})", "",
           frontier_table(pts, "macs", tablefmt="github"), "", f"![classic latency]({_rel(f2, out)})", "",
           frontier_table(pts, "latency", tablefmt="github"), ""]

    # The published registry, when present and carrying accuracies.
    try:
        from profiler.studies.pareto import registry_points
        pts, notes = registry_points(None, None, progress=True)
    except Exception as exc:  # noqa: BLE001 - optional part; say why it is missing
        md += [f"(registry plot skipped: {type(exc).__name__}: {exc})", ""]
    else:
        f = write_pareto(pts, os.path.join(out, "pareto_registry.png"), "macs",
                         title="Published registry: published top-1 vs counted MACs",
                         xlabel="MACs, log scale - counted by profiler at each entry's input size (convention "
                                "macs: conv + linear multiply-accumulates, bias not counted)")
        md += ["### Every registry entry with a published top-1", "", f"![registry]({_rel(f, out)})", "",
               frontier_table(pts, "macs", tablefmt="github"), ""]
        md += [f"- note: {n}" for n in notes]
    return md


# -- per-layer pictures -------------------------------------------------------------------------------------
def layer_reports(out: str) -> list[str]:
    from profiler import profile_model
    from profiler.report.plots import plot_layers, save_figure

    md = ["## Per-layer pictures", "",
          "One bar per layer in execution order (own MACs, convention macs; parameters below), coloured by layer "
          "kind; shaded bands are the network's stages. The per-stage picture stacks each stage's bar by kind.", ""]
    for spec, stem, depth in LAYER_MODELS:
        prof = profile_model(spec)
        src = prof.source
        f1 = save_figure(plot_layers(prof), os.path.join(out, f"layers_{stem}.png"))
        f2 = save_figure(plot_layers(prof, depth=depth), os.path.join(out, f"layers_{stem}_depth{depth}.png"))
        md += [f"### {src.spec} ({'x'.join(map(str, src.input_size))})", "", f"![{stem}]({_rel(f1, out)})", "",
               f"![{stem} per stage]({_rel(f2, out)})", ""]
        _log(f"  {src.spec}: {prof.macs:,} MACs, {prof.params:,} params")
    return md


# -- separable ratio -----------------------------------------------------------------------------------------
def separable_reports(out: str) -> list[str]:
    from profiler import profile_model
    from profiler.analysis.separable import separable_pairs
    from profiler.report.sections import separable_table

    md = ["## Depthwise separable convolutions: counted vs analytic cost ratio", "",
          "Per depthwise -> pointwise pair: counted MACs of the pair over the MACs of a dense k x k conv M -> N "
          "with the same stride and padding, beside 1/N + 1/k^2 (MobileNet eq. 5). rho and M cancel; stride and "
          "padding scale every cost alike. `profile-model NAME --separable` prints this table.", ""]
    for spec, title in SEPARABLE_MODELS:
        prof = profile_model(spec)
        md += [f"### {title}", "", separable_table(separable_pairs(prof), tablefmt="github"), ""]
    return md


# -- other scripts --------------------------------------------------------------------------------------------
def run_scripts(root: str = ROOT) -> list[tuple[str, int, float]]:
    """Run every ``benchmarks/*_report.py`` that exists; (script, exit code, seconds) each."""
    results = []
    for script in sorted(glob.glob(os.path.join(root, "benchmarks", "*_report.py"))):
        rel = os.path.relpath(script, root)
        _log(f"running {rel}")
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, script], cwd=root)
        results.append((rel, rc, time.perf_counter() - t0))
        if rc:
            _log(f"  {rel} failed (exit {rc})")
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/make_reports.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "reports"), help="folder to write (default: reports/)")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to regenerate: {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        parser.error(f"unknown part(s) {', '.join(bad)}; choose from {', '.join(PARTS)}")
    os.makedirs(args.out, exist_ok=True)

    md = ["# Analysis reports", "",
          "Generated by `python benchmarks/make_reports.py` (`make reports`); do not edit by hand. MACs are "
          "multiply-accumulates (conv + linear, bias not counted: the papers' FLOPs/Mult-Adds) unless a label "
          "says otherwise.", ""]
    builders = {"pareto": pareto_reports, "layers": layer_reports, "separable": separable_reports}
    for part in parts:
        if part in builders:
            _log(f"{part} ...")
            t0 = time.perf_counter()
            md += builders[part](args.out)
            _log(f"{part}: {time.perf_counter() - t0:.1f} s")
    if any(p in builders for p in parts):
        path = os.path.join(args.out, "analysis.md")
        from profiler.atomic import atomic_open

        with atomic_open(path, "w", encoding="utf-8") as f:  # a failed write leaves the old report
            f.write("\n".join(md).rstrip() + "\n")
        _log(f"wrote {path}")
    failed = []
    if "scripts" in parts:
        for rel, rc, secs in run_scripts():
            _log(f"  {rel}: {'ok' if rc == 0 else f'exit {rc}'} ({secs:.1f} s)")
            if rc:
                failed.append(rel)
    if failed:
        _log(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
