"""Regenerate reports/crosscheck.md: our counts reconciled with ptflops (pytorch and aten backends), fvcore,
torch's FlopCounterMode, thop, torchinfo and torchsummary on seven ImageNet models at 224x224.

    python benchmarks/crosscheck_report.py [--models timm:mixnet_s ...] [--output reports/crosscheck.md]

Heavy (each peer runs a real CPU pass; fvcore jit-traces): a few minutes on two cores. Every number is in
the peer's own unit, stated in the table.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata as md
import os
import sys
import time
import warnings

import torch
from profiler.progress import progress

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from profiler import profile, zoo  # noqa: E402
from profiler.crosscheck.core import crosscheck  # noqa: E402
from profiler.report.crosscheck import grouped_reasons  # noqa: E402
from profiler.report.tables import markdown_table  # noqa: E402

MODELS = ["timm:mixnet_s", "timm:mobilenetv1_100", "torchvision:mobilenet_v2", "torchvision:shufflenet_v2_x1_0",
          "timm:efficientnet_b0", "torchvision:resnet50", "timm:vit_base_patch16_224"]
PEERS = ["ptflops", "fvcore", "thop", "torchinfo", "torchsummary"]

# Known peer behaviours behind the recurring reasons, with where they are discussed upstream.
CITATIONS = """\
- **Fused attention.** `F.scaled_dot_product_attention` on CPU runs `aten._scaled_dot_product_flash_attention_for_cpu`.
  fvcore has no handle for `aten::scaled_dot_product_attention` (skipped and listed by `unsupported_ops()`; unsupported
  ops are "expected", facebookresearch/fvcore#129; MzeroMiko/VMamba#296). `torch.utils.flop_counter` registers the
  CUDA kernels only (pytorch/pytorch#195460, fix proposed in pytorch/pytorch#195801). ptflops' aten backend knows
  conv/mm/matmul/addmm/bmm only; thop and torchinfo see no module rule for the op (thop: allenai/olmoearth_pretrain#605).
  So every tool drops QK^T and AV of ViT-B/16 (715,327,488 MACs) unless it has a module rule for the attention block
  (ptflops' timm `Attention` hook).
- **ptflops (pytorch backend)** hooks `type(module) in MODULES_MAPPING` (exact type): timm's `BatchNormAct2d` is not
  hooked, so its batch norm is lost. The per-module sum stops at a hooked module, so the `qkv`/`proj` Linears under
  timm's `Attention` are not added although the hook's comment says they are "already covered"
  (sovrasov/flops-counter.pytorch#124): ViT-B/16 gives 12.0 G MACs instead of about 17.6 G. Patched functionals
  (`F.relu`, pools, `F.interpolate` ...) count again what an `nn.ReLU`/pool/`nn.Upsample` hook already counted.
- **Transposed convolution.** We cost it from the input side (every input position scattered through the kernel),
  as ptflops does since sovrasov/flops-counter.pytorch#57/#58 and as fvcore does since facebookresearch/fvcore#78/#80.
  thop's conv formula and torchinfo's parameters x output positions cost it from the output side (cf.
  Lyken17/pytorch-OpCounter#20).
- **What ptflops' patches see depends on spelling.** Outside its hooked modules ptflops counts only calls to the
  functions it patches: `torch.matmul`/`Tensor.matmul`/`mm`/`bmm`/`addmm`/`baddbmm`, `F.relu`/`gelu`/`silu`/`softmax`,
  `F.*pool*`, `F.interpolate`, `torch.add`/`mul` and `Tensor.add`/`mul` (its broadcast lines shapes up from the left).
  `a @ b`, `x.softmax()`, `x + y` are not seen. The cross-check records those calls in one extra pass
  (`profiler.crosscheck.census`) and names what each family adds or loses. A module registered under several
  parents (CoaT's shared convolutions) is summed once per parent.
- **fvcore** counts batch norm at 4 (5 with a weight) per element in training mode or with batch statistics, as
  its `batchnorm_flop_jit` and its own `test_batchnorm` say; `F.instance_norm` and weight standardisation
  (`F.batch_norm(w, None, None, training=True)` in timm's StdConv2d) are that case. It has no handle for `aten::lstm`
  / `aten::gru` / `aten::rnn_tanh` (a whole nn.LSTM counts 0), `aten::_convolution_mode` (`padding="same"`), nor
  a `scaled_dot_product_attention` call whichever kernel runs it; einsums other than two fixed equations are half
  of numpy's `einsum_path` FLOP count read from its printout (four significant digits).
- **thop**: exact-type `register_hooks` (no BatchNorm subclass), ReLU and max pooling 0, BN 4 ops per element (2 x 2
  with affine), avg pooling per output, no bias; the RNN rules are its own formulas; a single-layer model is
  counted (the root's own rule) but its parameters are not.
- **torchinfo** derives mult-adds from parameters: `output_size[0] * params` for non-conv leaves, so a Linear on
  (B, T, C) tokens is counted for B rows, not B x T (TylerYep/torchinfo#77; fixed by TylerYep/torchinfo#318 after the
  1.8.0 release used here): ViT-B/16 gives 0.20 G; BN/LN layers add batch x parameters.
- **torchsummary** adds `module.weight` and `module.bias` per hooked call: class tokens, position embeddings and
  parameters held by the root or a container are missed; a module called twice is counted twice.
"""


def fmt(n: int) -> str:
    return f"{n:,}"


PACKAGES = ("torch", "ptflops", "fvcore", "thop", "torchinfo", "torchsummary", "timm", "torchvision")


def versions(packages=PACKAGES) -> str:
    """The installed versions of ``packages``, for a report's provenance line."""
    out = []
    for pkg in packages:
        try:
            out.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            out.append(f"{pkg} (not installed)")
    return ", ".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--output", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                     "reports", "crosscheck.md"))
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    torch.manual_seed(0)

    results, ours_macs, skipped = {}, {}, {}
    t0 = time.time()
    for spec in progress(args.models, desc="crosscheck"):
        model, info = zoo.create(spec)
        x = torch.randn(1, *info.input_size)
        prof = profile(model, x, name=info.spec)
        ours_macs[spec] = (prof.macs, prof.params, prof.by_category.get("attention", 0))
        r = crosscheck(model, x, profile=prof)
        results[spec] = r
        skipped[spec] = dict(r.skipped)
        del model

    lines = [
        "# Cross-check with peer tools",
        "",
        f"Regenerate: `python benchmarks/crosscheck_report.py` ({len(args.models)} models at 1x3x224x224, CPU, fp32, "
        f"eval mode; {time.time() - t0:.0f} s here). Versions: {versions()}.",
        "",
        "Each peer is run on its own copy of the model with the same input; **theirs** is the total the tool returns "
        "(what it prints), **ours** is our per-op count weighted by that tool's rules (the named convention: "
        "`profile-model NAME --convention ptflops` ...), and every difference is named with its layer and amount "
        "(predicted from the model's structure and our counts, not read off the peer): "
        "`theirs - ours - explained = unexplained`. Units are the tool's own: ptflops, thop, torchinfo = MACs "
        "(bias/element ops as each adds them); fvcore \"flops\" = MACs; torch (`FlopCounterMode`) = FLOPs = 2 x MACs; "
        "torchsummary = parameters. Reproduce one model: `profile-model timm:mixnet_s --crosscheck`.",
        "",
        "## Totals",
        "",
    ]
    head = ["model", "ours: MACs [macs]", "ptflops (MACs)", "ptflops aten (MACs)", "fvcore (flops = MACs)",
            "torch (FLOPs)", "thop (MACs)", "torchinfo (MACs)", "largest |unexplained| / theirs"]
    rows = []
    for spec, r in results.items():
        worst = max((abs(e["unexplained"]) / e["theirs"] for e in r.values() if e["theirs"]), default=0.0)
        rows.append([spec, fmt(ours_macs[spec][0])] +
                    [fmt(r[t]["theirs"]) if t in r else "n/a" for t in
                     ("ptflops", "ptflops_aten", "fvcore", "torch", "thop", "torchinfo")] + [f"{100 * worst:.4f}%"])
    lines += [markdown_table(rows, head), ""]
    lines += ["Our `macs` = multiply-accumulates of conv + linear + attention, bias not counted. "
              "ViT-B/16's attention proper (QK^T and AV, fused CPU kernel): "
              f"{fmt(ours_macs.get('timm:vit_base_patch16_224', (0, 0, 0))[2])} MACs.", ""]

    lines += ["## Reconciliation per model", ""]
    for spec, r in results.items():
        lines += [f"### {spec}", ""]
        rows = []
        for tool, e in r.items():
            explained = sum(i["macs"] for i in e["explained"])
            rows.append([tool, e["unit"], fmt(e["theirs"]), fmt(e["ours"]), f"{explained:+,}", f"{e['unexplained']:+,}",
                         f"{100 * abs(e['unexplained']) / e['theirs']:.4f}%" if e["theirs"] else "-"])
            p = e.get("params")
            if p and (p["theirs"] != p["ours"] or p["unexplained"]):
                pe = sum(i["macs"] for i in p["explained"])
                rows.append([f"{tool} params", "params", fmt(p["theirs"]), fmt(p["ours"]), f"{pe:+,}",
                             f"{p['unexplained']:+,}", f"{100 * abs(p['unexplained']) / p['theirs']:.4f}%"])
        lines += [markdown_table(rows, ["tool", "unit", "theirs", "ours (their convention)", "explained",
                                        "unexplained", "|unexplained| / theirs"]), ""]
        reasons = []
        for tool, e in r.items():
            parts = [(tool, e)]
            if e.get("params") and e["params"]["explained"]:
                parts.append((f"{tool} params", dict(e["params"], unit="params")))
            for name, entry in parts:
                for what, n, amount, example in grouped_reasons(entry):
                    reasons.append([name, what, n, f"`{example}`", f"{amount:+,} {entry['unit']}"])
        if reasons:
            lines += [markdown_table(reasons, ["tool", "reason (their count minus ours)", "layers", "e.g. layer",
                                               "amount"]), ""]
        if skipped[spec]:
            lines += ["Not run: " + "; ".join(f"{t} ({w})" for t, w in skipped[spec].items()), ""]
        notes = [f"{t}: {n}" for t, e in r.items() for n in e.get("notes", [])]
        if notes:
            lines += ["Notes: " + "; ".join(notes), ""]

    lines += ["## Why the peers differ", "", CITATIONS,
              f"_Generated {datetime.date.today().isoformat()} by benchmarks/crosscheck_report.py._", ""]
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    from profiler.atomic import atomic_open

    with atomic_open(args.output, "w", encoding="utf-8") as fh:  # a failed write leaves the old report
        fh.write("\n".join(lines))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
