"""reports/distributed.md: one rank of tensor, fully-sharded data and expert parallelism, simulated in one process.

    python benchmarks/distributed_report.py [--out reports/distributed.md] [--tokens 8192] [--tp 8] [--dp 64] [--ep 8]

Llama-3-8B and Llama-3-70B configs (LlamaConfig fields, no weights) under TP=8 at 8192 tokens, sharded with
the config's own tensor-parallel plan (transformers' apply_tensor_parallelism) under torch's fake process group
(``profile_model("hf:llama", tp=8, ...)``, :mod:`profiler.zoo.sharded`): the forward pass and the training step
(forward + backward, loss = sum of the logits), each in a fresh process (wall time and peak RSS of that
process). Per rank: MACs, the logical model's MACs, bytes this rank sends per collective kind, bytes per MAC;
beside them Megatron-LM's ``num_floating_point_operations`` / tp (its per-GPU figure under tensor parallelism).
Then the training step of one rank of TP=8 x FSDP=64 (``dp_shard=64``, on fake tensors) for both configs, and
Mixtral-8x7B's forward pass and training step at EP=8.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ROPE = {"rope_type": "default", "rope_theta": 500000.0}
CONFIGS = {
    "Llama-3-8B": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                       intermediate_size=14336, vocab_size=128256, rope_parameters=ROPE),
    "Llama-3-70B": dict(hidden_size=8192, num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8,
                        intermediate_size=28672, vocab_size=128256, rope_parameters=ROPE),
}


MIXTRAL = dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=14336, num_local_experts=8, num_experts_per_tok=2, vocab_size=32000)


def one(name: str, step: bool, tp: int, tokens: int, ep: int = 0, dp: int = 0, param_dtype: str | None = None) -> dict:
    """Profile one case in this process; what the report needs, as JSON-ready data (``ep``: Mixtral-8x7B at
    that expert parallelism instead of a Llama config under tensor parallelism; ``dp``: FSDP2 over that many
    data-parallel ranks beside tp)."""
    import profiler.zoo as zoo

    t0 = time.perf_counter()
    if ep:
        prof = zoo.profile_model("hf:mixtral", input=tokens, ep=ep, rank=0, backward=step, **MIXTRAL)
    elif dp:
        prof = zoo.profile_model("hf:llama", input=tokens, tp=tp, dp_shard=dp, rank=0, backward=step,
                                 param_dtype=param_dtype, **CONFIGS[name])
    else:
        prof = zoo.profile_model("hf:llama", input=tokens, tp=tp, rank=0, backward=step, **CONFIGS[name])
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    kinds: dict = {}
    for c in prof.communication:
        k = kinds.setdefault(c.kind, {"calls": 0, "bytes": 0, "sent": 0, "received": 0})
        k["calls"] += c.calls
        k["bytes"] += c.bytes
        k["sent"] += c.sent
        k["received"] += c.received
    return {"name": name, "step": step, "tp": tp, "dp": dp, "param_dtype": param_dtype or "float32", "tokens": tokens, "macs": prof.macs, "device": prof.device,
            "macs_global": prof.macs_global, "params": prof.params, "params_global": prof.params_global,
            "comm": kinds, "seconds": seconds, "peak_rss": rss}


def megatron_per_gpu(name: str, tp: int, tokens: int) -> float:
    """Megatron-LM's training-step FLOPs of the config (forward + backward) / tp: its per-GPU figure."""
    from transformers import LlamaConfig

    from profiler.formulas import megatron_flops, shape_of

    return megatron_flops(shape_of(LlamaConfig(**CONFIGS[name])), batch=1, seq=tokens).flops / tp


def _g(x: float) -> str:
    return f"{x / 1e9:,.1f} G"


def _gib(x: float) -> str:
    return f"{x / 2**30:.2f} GiB"


def markdown(rows: list[dict], tp: int, tokens: int, wall: float) -> str:
    out = [f"# One rank of tensor parallelism, simulated on meta (TP={tp}, {tokens} tokens)", "",
           "Regenerate: `python benchmarks/distributed_report.py` "
           f"(torch {_version('torch')}, transformers {_version('transformers')}, {platform.machine()}, "
           f"{os.cpu_count()} cores; {wall:.0f} s in all).", "",
           f"`profile_model(\"hf:llama\", tp={tp}, rank=0, input={tokens}, backward=...)` builds a LlamaConfig on "
           "meta (no weights), shards it with the config's own tensor-parallel plan applied by transformers' "
           "`apply_tensor_parallelism` (q/k/v, gate, up colwise; o, down rowwise; the input embeddings "
           "`embedding_rowwise`, sharded on the vocabulary; `lm_head` `colwise_gather_output`) under torch's fake "
           "process group (`backend=\"fake\"`: one process, no data moved), and counts rank 0's pass: its kernels "
           "on its shards (per-rank MACs), the logical model's (global MACs, equal to the unsharded count) and "
           "every collective with its size S and the bytes this rank sends (nccl-tests' ring factors: all_reduce "
           "2(n-1)/n S, all_gather (n-1)/n S). fp32 activations (the config's default dtype): bf16 halves every "
           "byte figure. Each case runs in a fresh process: wall time of the call (build, sharding, pass) and "
           "that process's peak RSS.", "",
           "| model | pass | per-rank MACs | global MACs | global / rank | Megatron per GPU (MACs) | "
           "all_reduce sent (calls) | all_gather sent (calls) | bytes sent per MAC | time | peak RSS |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        sent = sum(k["sent"] for k in r["comm"].values())
        kind = functools.partial(_sent_cell, r["comm"])
        mega = _g(r["megatron_per_gpu"] / 2) if r["step"] else "-"
        out.append(f"| {r['name']} | {'training step' if r['step'] else 'forward'} | {_g(r['macs'])} | "
                   f"{_g(r['macs_global'])} | {r['macs_global'] / r['macs']:.2f} | {mega} | {kind('all_reduce')} | "
                   f"{kind('all_gather')} | {sent / r['macs']:.2e} | {r['seconds']:.1f} s | {_gib(r['peak_rss'])} |")
    other = sorted({k for r in rows for k in r["comm"]} - {"all_reduce", "all_gather"})
    out += ["", "G = 10^9 MACs. Megatron's figure is `num_floating_point_operations` (FLOPs of forward + backward, "
            "vocabulary padded to a multiple of 128) / 2 for MACs / tp for one GPU: it counts no elementwise work and "
            "assumes an exact 1/tp split; the per-rank count here is the kernels rank 0 runs (its MACs, linear and "
            "attention, split exactly 1/tp: 'global / rank' = tp; the work every rank repeats, norms, the rotary "
            "embedding, the loss over the gathered logits, is elementwise, outside MACs). The gap to Megatron's "
            "figure is the formula's, not the sharding's: the unsharded step differs from it by the same factor "
            "(term by term: profiler.analysis.formula_check)." + (f" Other kinds met: {', '.join(other)}." if other
                                                                     else ""), "",
            "Communication per kind (S = the collectives' summed size, what this rank sends and receives):", "",
            "| model | pass | kind | calls | S | sent | received |", "|---|---|---|--:|--:|--:|--:|"]
    for r in rows:
        for k, c in sorted(r["comm"].items()):
            out.append(f"| {r['name']} | {'training step' if r['step'] else 'forward'} | {k} | {c['calls']} | "
                       f"{_gib(c['bytes'])} | {_gib(c['sent'])} | {_gib(c['received'])} |")
    out += ["", "Per decoder layer the forward pass all-reduces the two rowwise outputs (o_proj, down_proj: T x hidden "
            "each); the vocabulary-sharded embedding adds one all_reduce of T x hidden and the gathered logits one "
            "all_gather of T x vocab. The backward pass all-reduces each colwise layer's input gradient (q, k, v, "
            "gate, up and lm_head: transformers' DTensor styles reduce each one apart, where Megatron fuses q/k/v and "
            "gate/up into one reduction each).", ""]
    return "\n".join(out)


def fsdp_markdown(rows: list[dict], tp: int, dp: int, tokens: int) -> str:
    """The TP x FSDP2 section: the training step of one rank of ``tp`` x ``dp``."""
    out = ["", f"## One rank of TP={tp} x FSDP={dp} (training step, {tokens} tokens per data-parallel rank)", "",
           f"`profile_model(\"hf:llama\", tp={tp}, dp_shard={dp}, rank=0, input={tokens}, backward=True)`: the "
           f"config's tensor-parallel plan on the `tp` dimension of a ({dp}, {tp}) mesh of the fake process group "
           f"({tp * dp} ranks), then FSDP2's `fully_shard` on each decoder layer and on the root over the `dp_shard` "
           "dimension (reshard after forward; fp32 throughout, or `param_dtype=\"bfloat16\"`: FSDP's MixedPrecisionPolicy, "
           "parameters gathered and computed in bfloat16, gradients reduce-scattered in float32). The parameters are fake CPU tensors "
           "(torch's FakeTensorMode): FSDP's all-gather and reduce-scatter buffers are made and its collectives "
           "issued as on a real rank, nothing is allocated or computed (the document equals a real CPU pass of the "
           "same layout on small configs: tests/distributed/test_simulated_fsdp.py). Each data-parallel rank runs "
           "its own batch: per-rank MACs are its TP rank's, global MACs the logical model's on that batch (the "
           f"step's whole compute is {dp} x that). The issue's goal for the 70B case: under 60 s and 4 GiB.", "",
           "| model | FSDP param dtype | per-rank MACs | global MACs | Megatron per GPU (MACs) | per-rank params | "
           "all_gather sent (calls) | reduce_scatter sent (calls) | all_reduce sent (calls) | bytes sent per MAC | "
           "time | peak RSS |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        sent = sum(k["sent"] for k in r["comm"].values())
        kind = functools.partial(_sent_cell, r["comm"])
        out.append(f"| {r['name']} | {r['param_dtype']} | {_g(r['macs'])} | {_g(r['macs_global'])} | "
                   f"{_g(r['megatron_per_gpu'] / 2)} | "
                   f"{r['params']:,} | {kind('all_gather')} | {kind('reduce_scatter')} | {kind('all_reduce')} | "
                   f"{sent / r['macs']:.2e} | {r['seconds']:.1f} s | {_gib(r['peak_rss'])} |")
    out += ["", f"FSDP per decoder layer: an all_gather of its TP-local parameters (padded to a multiple of {dp} "
            "rows) in the forward, again in the backward (resharded after forward), and a reduce_scatter of their "
            "gradients; the root (embeddings, final norm, lm_head) is gathered once and reduce-scattered once. The "
            "all_gather column also holds the TP plan's gathered logits (one all_gather over the tp ranks). "
            "With bfloat16 parameters the all-gathers halve (the gathered logits and the TP all-reduces of "
            "activations too: the compute runs in bfloat16), the reduce-scatters stay float32.", ""]
    return "\n".join(out)


def ep_markdown(rows: list[dict], ep: int, tokens: int) -> str:
    """The expert-parallel section: Mixtral-8x7B's forward pass and training step, one rank of ``ep``."""
    out = ["", f"## One rank of expert parallelism (Mixtral-8x7B, EP={ep}, {tokens} tokens)", "",
           f"`profile_model(\"hf:mixtral\", ep={ep}, rank=0, input={tokens})`: the config's expert-parallel plan "
           "(`grouped_gemm` expert weights, `ep_dispatch_experts`) applied by transformers' "
           "`apply_expert_parallelism` with its all_to_all implementation under the fake process group; the ranks "
           "share one batch, routing balanced (the meta pass's assumption: every rank receives what it sends). "
           "Global = the same model unsharded, counted apart.", "",
           "| pass | per-rank MACs | global MACs | per-rank params | global params | bytes sent | bytes sent per MAC | "
           "time | peak RSS |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for row in rows:
        sent = sum(k["sent"] for k in row["comm"].values())
        out.append(f"| {'training step' if row['step'] else 'forward'} | {_g(row['macs'])} | {_g(row['macs_global'])} "
                   f"| {row['params']:,} | {row['params_global']:,} | {_gib(sent)} | {sent / row['macs']:.3g} | "
                   f"{row['seconds']:.1f} s | {_gib(row['peak_rss'])} |")
    out += ["", "| pass | kind | calls | S | sent | received |", "|---|---|--:|--:|--:|--:|"]
    for row in rows:
        for kind, k in sorted(row["comm"].items()):
            out.append(f"| {'training step' if row['step'] else 'forward'} | {kind} | {k['calls']} | "
                       f"{_gib(k['bytes'])} | {_gib(k['sent'])} | {_gib(k['received'])} |")
    out += ["", "Per MoE layer in the forward: three all_to_alls (the per-expert row counts, the (token, expert) rows "
            "out to their experts' ranks, the results back) and one all_gather of the token slices' outputs (T x "
            "hidden); the backward sends the rows' gradients back through two all_to_alls, and the gather's "
            "backward is transformers' own.", ""]
    return "\n".join(out)


def _sent_cell(comm: dict, kind: str) -> str:
    """A collective kind's bytes sent and calls, as a table cell ("-" where the pass had none)."""
    c = comm.get(kind)
    return f"{_gib(c['sent'])} ({c['calls']})" if c else "-"


def _version(mod: str) -> str:
    import importlib.metadata as md

    return md.version(mod)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "reports", "distributed.md"))
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--tp", type=int, default=8)
    ap.add_argument("--ep", type=int, default=8, help="expert parallelism of the Mixtral-8x7B case")
    ap.add_argument("--dp", type=int, default=64, help="FSDP ranks beside --tp in the TP x FSDP section")
    ap.add_argument("--one", nargs=2, metavar=("NAME", "STEP"), help=argparse.SUPPRESS)
    ap.add_argument("--one-ep", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--one-dp", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--one-bf16", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1] == "1", args.tp, args.tokens, args.ep if args.one_ep else 0,
                             args.dp if args.one_dp else 0, "bfloat16" if args.one_bf16 else None)))
        return
    t0 = time.perf_counter()

    def run(name: str, step: bool, *extra: str) -> dict:
        res = subprocess.run([sys.executable, __file__, "--one", name, "1" if step else "0", "--tp", str(args.tp),
                              "--ep", str(args.ep), "--dp", str(args.dp), "--tokens", str(args.tokens), *extra],
                             capture_output=True, text=True, cwd=ROOT)
        if res.returncode:
            raise SystemExit(f"{name} step={step} {' '.join(extra)} failed:\n{res.stderr[-3000:]}")
        row = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"{name} {'step' if step else 'forward'} {' '.join(extra)}: {row['seconds']:.1f} s, "
              f"{row['peak_rss'] / 2**30:.2f} GiB", file=sys.stderr)
        return row

    rows, fsdp = [], []
    for name in CONFIGS:
        for step in (False, True):
            row = run(name, step)
            row["megatron_per_gpu"] = megatron_per_gpu(name, args.tp, args.tokens)
            rows.append(row)
        for extra in ((), ("--one-bf16",)):
            row = run(name, True, "--one-dp", *extra)
            row["megatron_per_gpu"] = megatron_per_gpu(name, args.tp, args.tokens)
            fsdp.append(row)
    moe = [run("Mixtral-8x7B", step, "--one-ep") for step in (False, True)]
    with open(args.out, "w") as f:
        f.write(markdown(rows, args.tp, args.tokens, time.perf_counter() - t0))
        f.write(fsdp_markdown(fsdp, args.tp, args.dp, args.tokens))
        f.write(ep_markdown(moe, args.ep, args.tokens))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
