"""reports/training.md: what a training step costs, counted from the ops autograd runs.

    python benchmarks/training_report.py [--out reports/training.md] [--rounds 5]

1. ResNet-50, ViT-B/16, GPT-2 small (eager attention, 1024 tokens) and a Llama-3-8B config (2048 tokens),
   built on meta: forward / backward / AdamW step, the backward/forward ratio against the "3x" rule, frozen and
   LoRA variants, and the PaLM/nanoGPT formula 3N + 6LTd MACs per token beside the GPT-2 count.
2. The cost of profiling a step on real tensors (CPU time, median of interleaved rounds) against a plain
   training step: resnet18 and GPT-2 small; and a Llama-3-70B config's step at 2048 tokens on meta (wall
   time and peak RSS, in a fresh process).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import profiler  # noqa: E402
from profiler.report import format as F  # noqa: E402


# -- models -------------------------------------------------------------------------------------------------
def _hf(kind: str, **cfg):
    import transformers

    config = getattr(transformers, f"{kind}Config")(**cfg)
    config._attn_implementation = "eager" if kind == "GPT2" else "sdpa"
    model_cls = {"GPT2": transformers.GPT2LMHeadModel, "Llama": transformers.LlamaForCausalLM}[kind]
    with torch.device("meta"):
        return model_cls(config), config


LLAMA3_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192)
LLAMA3_70B = dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64,
                  num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192)


def _logits_loss(output):
    return output.logits.float().mean()


class LoRA(nn.Module):
    """A frozen projection plus a trainable rank-r update: y = base(x) + up(down(x))."""

    def __init__(self, base: nn.Module, d_in: int, d_out: int, r: int = 8):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.down = nn.Linear(d_in, r, bias=False, device="meta")
        self.up = nn.Linear(r, d_out, bias=False, device="meta")

    def forward(self, x):
        return self.base(x) + self.up(self.down(x))


def _freeze_all_but(model: nn.Module, keep) -> nn.Module:
    for name, p in model.named_parameters():
        p.requires_grad_(keep(name))
    return model


def _lora_gpt2(model):
    model.requires_grad_(False)
    for block in model.transformer.h:
        d = block.attn.c_attn.weight.shape[0]
        block.attn.c_attn = LoRA(block.attn.c_attn, d, 3 * d)
    return model


# -- counting -----------------------------------------------------------------------------------------------
def step(model, inputs, loss=None):
    macs = profiler.profile(model, inputs, device="meta", backward=True, loss=loss, optimizer=torch.optim.AdamW)
    ops = profiler.profile(model, inputs, device="meta", backward=True, loss=loss, optimizer=torch.optim.AdamW,
                           convention="all")
    return macs, ops


def split_rows():
    import torchvision

    img = torch.empty(1, 3, 224, 224, device="meta")
    tokens = lambda t: {"input_ids": torch.zeros(1, t, dtype=torch.long, device="meta")}  # noqa: E731
    rows = []
    cases = [
        ("ResNet-50, 1x3x224x224", lambda: torchvision.models.resnet50(), img, None),
        ("ResNet-50, only fc trainable", lambda: _freeze_all_but(torchvision.models.resnet50(),
                                                                  lambda n: n.startswith("fc.")), img, None),
        ("ViT-B/16, 1x3x224x224", lambda: torchvision.models.vit_b_16(), img, None),
        ("ViT-B/16, only the head trainable", lambda: _freeze_all_but(torchvision.models.vit_b_16(),
                                                                       lambda n: n.startswith("heads.")), img, None),
        ("GPT-2 small, 1024 tokens", lambda: _hf("GPT2")[0], tokens(1024), _logits_loss),
        ("GPT-2 small + LoRA r=8 on c_attn (base frozen)", lambda: _lora_gpt2(_hf("GPT2")[0]), tokens(1024),
         _logits_loss),
        ("Llama-3-8B config, 2048 tokens", lambda: _hf("Llama", **LLAMA3_8B)[0], tokens(2048), _logits_loss),
    ]
    for label, build, inputs, loss in cases:
        with torch.device("meta"):
            model = build()
        t0 = time.perf_counter()
        macs, ops = step(model, inputs, loss)
        secs = time.perf_counter() - t0
        ph = macs.by_phase
        rows.append({"model": label, "params": macs.params, "trainable": macs.params_trainable,
                     "forward": ph["forward"], "backward": ph["backward"],
                     "ratio": ph["backward"] / ph["forward"], "optimizer_ops": ops.by_phase["optimizer"],
                     "uncovered": [u.op for u in macs.coverage], "notes": macs.notes, "seconds": secs})
        print(f"  {label}: fwd {ph['forward']:,} bwd {ph['backward']:,} ({secs:.1f} s)", flush=True)
    return rows


def gpt2_formula():
    model, cfg = _hf("GPT2")
    t, d, layers = 1024, cfg.n_embd, cfg.n_layer
    prof = profiler.profile(model, {"input_ids": torch.zeros(1, t, dtype=torch.long, device="meta")}, device="meta",
                            backward=True, loss=_logits_loss)
    n = sum(m.weight.numel() for m in model.modules() if type(m).__name__ in ("Conv1D", "Linear"))
    formula = t * (3 * n + 6 * layers * t * d)
    return {"tokens": t, "N": n, "L": layers, "d": d, "counted": prof.macs, "formula": formula}


# -- profiling cost -----------------------------------------------------------------------------------------
def _cpu() -> float:
    return time.process_time()


def cost_rows(rounds: int):
    import torchvision

    torch.manual_seed(0)
    res = torchvision.models.resnet18()
    x = torch.randn(8, 3, 224, 224)
    gpt, _ = _hf("GPT2", n_layer=12)
    gpt = gpt.to_empty(device="cpu")
    for p in gpt.parameters():
        nn.init.normal_(p, std=0.02)
    ids = torch.randint(0, 50257, (2, 128))

    def plain(model, inputs, loss):
        out = model(*inputs) if isinstance(inputs, tuple) else model(**inputs)
        (loss(out) if loss else out.sum()).backward()
        model.zero_grad(set_to_none=True)

    def ours(model, inputs, loss):
        profiler.profile(model, inputs, backward=True, loss=loss)

    cases = [("torchvision resnet18, 8x3x224x224", res, (x,), None),
             ("GPT-2 small (eager), 2x128 tokens", gpt, {"input_ids": ids}, _logits_loss)]
    rows = []
    for label, model, inputs, loss in cases:
        model.train()
        plain(model, inputs, loss)
        ours(model, inputs, loss)  # warm-up (oneDNN's first calls are slow)
        times = {"plain": [], "ours": []}
        for _ in range(rounds):  # interleaved rounds: a burst of load lands on both alike
            for name, fn in (("plain", plain), ("ours", ours)):
                t0 = _cpu()
                fn(model, inputs if isinstance(inputs, dict) else inputs, loss)
                times[name].append(_cpu() - t0)
        p, o = statistics.median(times["plain"]), statistics.median(times["ours"])
        rows.append({"model": label, "plain_s": p, "ours_s": o, "ratio": o / p})
        print(f"  {label}: plain {p:.3f} s, profiled {o:.3f} s ({o / p:.2f}x)", flush=True)
    return rows


def big_child() -> dict:
    code = ("import time, json, torch, profiler, sys; sys.path.insert(0, %r); "
            "from benchmarks.training_report import _hf, LLAMA3_70B, _logits_loss; "
            "t = time.perf_counter(); m, _ = _hf('Llama', **LLAMA3_70B); "
            "p = profiler.profile(m, {'input_ids': torch.zeros(1, 2048, dtype=torch.long, device='meta')}, "
            "backward=True, loss=_logits_loss, optimizer=torch.optim.AdamW); "
            "print(json.dumps({'seconds': time.perf_counter() - t, 'params': p.params, 'by_phase': p.by_phase, "
            "'rss_gib': [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')][0] / 2**20}))"
            % ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the page -----------------------------------------------------------------------------------------------
def render(rows, gpt, cost, big) -> str:
    from profiler.report.tables import markdown_table

    lines = ["# Training steps: forward, backward and optimizer, counted", "",
             "Generated by `python benchmarks/training_report.py`; do not edit by hand. MACs are multiply-accumulates "
             "of conv + linear + attention (convention `macs`, bias and element ops not counted); the optimizer "
             "column is AdamW's element ops (convention `all`), one step over the trainable parameters. Every "
             "count is of the kernels autograd runs (`profiler.profile(model, x, backward=True, optimizer=...)`), "
             "each op charged to the module whose forward made its autograd node; shape-only (meta device).", "",
             "## Forward, backward, optimizer", ""]
    table = [[r["model"], F.count(r["params"]), F.count(r["trainable"]), F.count(r["forward"]),
              F.count(r["backward"]), f"{r['ratio']:.3f}", F.count(r["optimizer_ops"]),
              f"{r['seconds']:.1f}"] for r in rows]
    lines.append(markdown_table(table, ["model", "params", "trainable", "forward MACs", "backward MACs",
                                        "backward / forward", "AdamW element ops", "counted in (s)"]))
    lines += ["", "The \"3x\" rule (DeepSpeed's profiler, calflops) takes the backward as 2 x the forward. Counted, "
              "it is 2x less what autograd does not compute: the first layer's input gradient (an image or token "
              "ids need none: ResNet-50 and ViT-B/16 come out just under 2), every frozen layer's weight gradient "
              "and, below the last trainable parameter, every input gradient (only fc trainable: the backward is "
              "fc's weight gradient alone). LoRA keeps the frozen base's input gradients (the adapters below need "
              "them) but drops its weight gradients.", ""]
    for r in rows:
        for n in r["notes"]:
            lines.append(f"- note, {r['model']}: {n}")
        lines.append(f"- {r['model']}: " + (f"ops without a rule: {', '.join(r['uncovered'])}" if r["uncovered"]
                                             else "every op of the step has a counting rule"))
    lines += ["", "## GPT-2 small against the PaLM / nanoGPT formula", "",
              f"Training MACs per token = 3N + 6·L·T·d (PaLM appendix B's 6N + 12·L·H·Q·T FLOPs, nanoGPT's "
              f"`estimate_mfu`), N the matmul weights (the tied LM head included, the embedding lookups not): "
              f"N = {gpt['N']:,}, L = {gpt['L']}, T = {gpt['tokens']}, d = {gpt['d']}.", "",
              markdown_table([[F.count(gpt["formula"]), F.count(gpt["counted"]),
                               F.count(gpt["counted"] - gpt["formula"])]],
                             ["formula x T (MACs)", "counted (MACs)", "difference"]), "",
              "Eager attention computes the full T x T scores (the causal mask is applied after), as the formula "
              "assumes.", "", "## Cost of profiling a step", "",
              f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, load average "
              f"{os.getloadavg()[0]:.2f}; CPU time of the process, median of interleaved rounds.", ""]
    lines.append(markdown_table([[c["model"], f"{c['plain_s']:.3f}", f"{c['ours_s']:.3f}", f"{c['ratio']:.2f}x"]
                                 for c in cost],
                                ["model (real tensors, CPU)", "plain training step (s)", "profiled step (s)", "ratio"]))
    lines += ["", f"A Llama-3-70B config ({big['params']:,} params) trained one step at 2048 tokens with AdamW, "
              f"counted on meta in a fresh process: {big['seconds']:.1f} s (model construction included), peak RSS "
              f"{big['rss_gib']:.2f} GiB; forward {big['by_phase']['forward']:,} MACs, backward "
              f"{big['by_phase']['backward']:,} MACs.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "reports", "training.md"))
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    print("phase split ...", flush=True)
    rows = split_rows()
    gpt = gpt2_formula()
    print("profiling cost ...", flush=True)
    cost = cost_rows(args.rounds)
    print("Llama-3-70B on meta ...", flush=True)
    big = big_child()
    from profiler.atomic import atomic_open

    with atomic_open(args.out, "w", encoding="utf-8") as fh:  # a failed render leaves the old report
        fh.write(render(rows, gpt, cost, big).rstrip() + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
