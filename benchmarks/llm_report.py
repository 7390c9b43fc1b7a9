"""reports/llm.md: what language models cost per token, counted from their configs on the meta device.

    python benchmarks/llm_report.py [--out reports/llm.md] [--new-tokens 32] [--prompt 2048]

1. GPT-2 (hf:gpt2), BERT-base (hf:bert) and the Llama-3-8B, Mistral-7B-v0.1 and Qwen2-7B configs
   (benchmarks/configs/*.json, the architecture fields of their published config.json): parameters against
   the published sizes, MACs per token of one forward pass at several sequence lengths and the attention share.
2. Generation: a 2048-token prompt and 32 greedy tokens with the KV cache: prefill, each decode step, the cache
   per token; every decode step against its closed form written here from the config fields, and against the
   2N rule of thumb (Kaplan et al.).
3. FlopCounterMode on the same model: on meta (prefill and one decode step of the 7-8B configs) and, through
   profiler.crosscheck, on real CPU tensors (GPT-2, BERT-base), every difference named.
4. A Llama-3-70B config at 8192 tokens counted on meta in a fresh process: wall time and peak RSS.
5. Mixtures of experts (Mixtral-8x7B, Qwen3-30B-A3B, DeepSeek-V3 configs): total and active parameters against
   the published figures, MACs per token, prefill and decode against closed forms written here; DeepSeek-V3 at
   4096 tokens, forward and training step, on meta in a fresh process: wall time and peak RSS.
6. The training step beside the frameworks' FLOPs formulas (Megatron-LM, 6N + 12LHQT): Llama-3-8B, Llama-3-70B,
   Mixtral-8x7B, DeepSeek-V3 and a hybrid Mamba model (transformers' default Nemotron-H config), every difference
   named (profiler.analysis.formula_check). ``--only formulas`` regenerates this section alone in the existing
   report (the whole report takes well over 5 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CONFIGS = os.path.join(ROOT, "benchmarks", "configs")

import profiler  # noqa: E402
from profiler.report import format as F  # noqa: E402
from profiler.report.generation import non_embedding_params  # noqa: E402

# (label, spec, published parameter count and where it is published)
MODELS = [
    ("GPT-2 (small)", "hf:gpt2", "124M (Radford et al. 2019 list it as 117M; the HF model card: 124M)"),
    ("BERT-base", "hf:bert", "110M (Devlin et al. 2019)"),
    ("Llama-3-8B", "hf:benchmarks/configs/llama-3-8b.json", "8.03B (Meta's model card: 8B; the hub: 8.03B)"),
    ("Mistral-7B-v0.1", "hf:benchmarks/configs/mistral-7b-v0.1.json", "7.24B (the hub's safetensors size)"),
    ("Qwen2-7B", "hf:benchmarks/configs/qwen2-7b.json", "7.62B (Qwen2 report, Table 1: 7.6B)"),
]
LENGTHS = (128, 512, 2048, 8192)
# (label, spec, published total, published active, where they are published)
MOE_MODELS = [
    ("Mixtral-8x7B", "hf:benchmarks/configs/mixtral-8x7b-v0.1.json", "46.7B", "12.9B", "Mistral AI's release post"),
    ("Qwen3-30B-A3B", "hf:benchmarks/configs/qwen3-30b-a3b.json", "30.5B", "3.3B", "the model card"),
    ("DeepSeek-V3", "hf:benchmarks/configs/deepseek-v3.json", "671B", "37B", "the DeepSeek-V3 report"),
]
MOE_TOKENS = 4096


def _config(spec: str):
    from profiler.zoo import hf

    name = spec.split(":", 1)[1]
    return hf.load_config(os.path.join(ROOT, name) if name.endswith(".json") else name)


def _shape(cfg) -> dict:
    """The architecture numbers the closed forms need, from the config (GPT-2 names them differently)."""
    get = lambda *names: next(getattr(cfg, n) for n in names if getattr(cfg, n, None) is not None)  # noqa: E731
    d = get("hidden_size", "n_embd")
    heads = get("num_attention_heads", "n_head")
    return {"d": d, "layers": get("num_hidden_layers", "n_layer"), "heads": heads,
            "kv": getattr(cfg, "num_key_value_heads", None) or heads,
            "head_dim": getattr(cfg, "head_dim", None) or d // heads, "vocab": cfg.vocab_size,
            "ff": getattr(cfg, "intermediate_size", None) or getattr(cfg, "n_inner", None) or 4 * d,
            "context": get("max_position_embeddings", "n_positions"), "type": cfg.model_type}


def _weights_per_token(s: dict) -> int:
    """MACs of every weight matrix of the body for one token, from the config (the closed form)."""
    d, hd = s["d"], s["head_dim"]
    if s["type"] == "gpt2":  # c_attn (3 d^2), c_proj (d^2), MLP (8 d^2)
        return s["layers"] * 12 * d * d
    if s["type"] == "bert":
        return s["layers"] * (4 * d * d + 2 * d * s["ff"])
    attn = d * s["heads"] * hd * 2 + d * s["kv"] * hd * 2  # q and o; k and v of the K/V heads
    return s["layers"] * (attn + 3 * d * s["ff"])  # gated MLP: gate, up, down


def _decode_formula(s: dict, t: int) -> int:
    """One decode step at context t: every weight once, the LM head, 2 L t n_heads d_head of attention."""
    return _weights_per_token(s) + s["d"] * s["vocab"] + 2 * s["layers"] * t * s["heads"] * s["head_dim"]


# -- 1. sizes and MACs per token ------------------------------------------------------------------------------
def size_rows():
    rows = []
    for label, spec, published in MODELS:
        s = _shape(_config(spec))
        lengths = [t for t in LENGTHS if t <= s["context"]]
        t0 = time.perf_counter()
        profs = profiler.profile_lengths(spec, lengths)
        secs = time.perf_counter() - t0
        per_len = {}
        for p, t in zip(profs, lengths):
            att = p.by_category["attention"]
            per_len[t] = {"macs": p.macs, "per_token": p.macs / t, "attention": att, "share": att / p.macs}
        p = profs[0]
        rows.append({"model": label, "spec": spec, "published": published, "params": p.params,
                     "n": non_embedding_params(p), "shape": s, "lengths": per_len, "seconds": secs,
                     "uncovered": sorted({u.op for q in profs for u in q.coverage}), "task": p.source.task})
        print(f"  {label}: {p.params:,} params, {len(lengths)} lengths in {secs:.1f} s", flush=True)
    return rows


# -- 2. generation -----------------------------------------------------------------------------------------------
def generation_rows(prompt: int, new_tokens: int):
    rows = []
    for label, spec, _ in MODELS:
        cfg = _config(spec)
        if profiler.zoo.hf.default_task(cfg) != "causal-lm":
            continue
        s = _shape(cfg)
        length = min(prompt, s["context"] - new_tokens + 1)  # GPT-2's learned positions stop at 1024
        t0 = time.perf_counter()
        g = profiler.profile_generate(spec, input=length, new_tokens=new_tokens)
        secs = time.perf_counter() - t0
        formula = [_decode_formula(s, t) for t in g.contexts]
        tied = bool(getattr(cfg, "tie_word_embeddings", False))
        rows.append({"model": label, "spec": spec, "shape": s, "prompt": length, "prefill": g.prefill.macs,
                     "body_params": g.body_params, "tied": tied, "notes": g.notes,
                     "prefill_attention": g.prefill.by_category["attention"], "decode": g.per_token_macs,
                     "contexts": g.contexts, "formula": formula, "exact": formula == g.per_token_macs,
                     "kv": g.kv_bytes_per_token, "dtype": g.cache_dtype, "n": non_embedding_params(g.prefill),
                     "total": g.macs, "seconds": secs})
        print(f"  {label}: prefill {g.prefill.macs:,}, decode {g.decode_macs:,} MACs ({secs:.1f} s); "
              f"closed form {'exact' if formula == g.per_token_macs else 'DIFFERS'}", flush=True)
    return rows


# -- 3. FlopCounterMode ------------------------------------------------------------------------------------------
def _cache_of(out):
    return getattr(out, "cache", None) if getattr(out, "cache", None) is not None else out.past_key_values


def flopcounter_meta(prompt: int):
    """FlopCounterMode (torch.utils.flop_counter) over the same model on meta: the prefill, then one decode
    step; against our counts of the same passes."""
    from torch.utils.flop_counter import FlopCounterMode

    from profiler.zoo.generate import _forward_params

    rows = []
    for label, spec, _ in MODELS[2:]:
        built = profiler.zoo.build_model(spec)
        model = built.model
        params = _forward_params(model)
        key = "cache" if "cache" in params else "past_key_values"
        ids = torch.zeros(1, prompt, dtype=torch.long, device="meta")
        nxt = torch.zeros(1, 1, dtype=torch.long, device="meta")
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            with FlopCounterMode(display=False) as fc:
                out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
            theirs_prefill = fc.get_total_flops() // 2
            with FlopCounterMode(display=False) as fc:
                model(input_ids=nxt, use_cache=True, **{key: _cache_of(out)})
            theirs_decode = fc.get_total_flops() // 2
        g = profiler.profile_generate(built, input=prompt, new_tokens=2)
        rows.append({"model": label, "where": "meta", "pass": f"prefill, {prompt} tokens",
                     "ours": g.prefill.macs, "theirs": theirs_prefill})
        rows.append({"model": label, "where": "meta", "pass": f"decode step at t = {prompt + 1}",
                     "ours": g.decode[0].macs, "theirs": theirs_decode})
        print(f"  FlopCounterMode {label}: prefill {theirs_prefill:,} vs {g.prefill.macs:,}", flush=True)
    return rows


def crosscheck_cpu(tokens: int):
    """profiler.crosscheck against FlopCounterMode on real CPU tensors (small models only: real weights)."""
    rows = []
    for label, spec, _ in MODELS[:2]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, _ = profiler.zoo.create(spec)
            x = profiler.text_inputs(model, tokens)
            r = profiler.crosscheck(model, x, tools=["torch"])["torch"]
        named = {}
        for e in r["explained"]:
            named[e["what"]] = named.get(e["what"], 0) + e["macs"]
        rows.append({"model": label, "where": "cpu", "pass": f"forward, {tokens} tokens", "ours": r["ours"] // 2,
                     "theirs": r["theirs"] // 2, "named": {k: v // 2 for k, v in named.items()},
                     "unexplained": r["unexplained"] // 2})
        print(f"  crosscheck {label}: theirs {r['theirs']:,} FLOPs, unexplained {r['unexplained']}", flush=True)
    return rows


# -- 4. Llama-3-70B --------------------------------------------------------------------------------------------
def _fresh_process(call: str, fields: str) -> dict:
    """``p = profiler.profile_model(<call>)`` in a fresh process: wall time (construction included), peak RSS in
    GiB and ``fields`` (a Python dict expression of ``p``)."""
    code = ("import time, json, profiler; t = time.perf_counter(); "
            f"p = profiler.profile_model({call}); "
            f"print(json.dumps({{'seconds': time.perf_counter() - t, **{fields}, "
            "'rss_gib': [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')][0] / 2**20}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def big_child(tokens: int = 8192) -> dict:
    return _fresh_process(f"'hf:benchmarks/configs/llama-3-70b.json', input={tokens}",
                          "{'params': p.params, 'macs': p.macs, 'attention': p.by_category['attention'], "
                          "'uncovered': len(p.coverage)}")


# -- 5. mixtures of experts -------------------------------------------------------------------------------------
def _moe_forms(cfg) -> dict:
    """Closed forms of a MoE config (Mixtral, Qwen3-MoE, DeepSeek-V3's MLA): MACs of the weights one token
    multiplies (attention projections, router, top-k and shared experts, dense MLPs, LM head), MACs per layer of
    each cached token's latent expansion (MLA: transformers caches the latent and expands it at every step) and
    per layer of each attended key (QK^T and AV)."""
    d, L, H = cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads
    k = cfg.num_experts_per_tok
    if getattr(cfg, "kv_lora_rank", None):  # DeepSeek-V3: MLA, dense first layers, a shared expert
        qk = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim
        attn = d * cfg.q_lora_rank + cfg.q_lora_rank * H * qk + d * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) \
            + H * cfg.v_head_dim * d
        kv_b = cfg.kv_lora_rank * H * (cfg.qk_nope_head_dim + cfg.v_head_dim)
        dense, E = cfg.first_k_dense_replace, cfg.n_routed_experts
        mlp = dense * 3 * d * cfg.intermediate_size + (L - dense) * (
            d * E + (k + cfg.n_shared_experts) * 3 * d * cfg.moe_intermediate_size)
        scores = H * (qk + cfg.v_head_dim)
    else:  # Mixtral, Qwen3-MoE: every layer routed, no shared expert
        hd = getattr(cfg, "head_dim", None) or d // H
        attn = 2 * d * H * hd + 2 * d * cfg.num_key_value_heads * hd
        kv_b = 0
        ff = getattr(cfg, "moe_intermediate_size", None) or cfg.intermediate_size
        mlp = L * (d * cfg.num_local_experts + k * 3 * d * ff)
        scores = 2 * H * hd
    return {"per_token": L * (attn + kv_b) + mlp + d * cfg.vocab_size, "head": d * cfg.vocab_size,
            "kv_b": kv_b, "scores": scores, "layers": L}


def moe_rows(prompt: int, new_tokens: int):
    rows = []
    for label, spec, total, active, where in MOE_MODELS:
        f = _moe_forms(_config(spec))
        L = f["layers"]
        t0 = time.perf_counter()
        p = profiler.profile_model(spec, input=MOE_TOKENS)
        g = profiler.profile_generate(spec, input=prompt, new_tokens=new_tokens)
        secs = time.perf_counter() - t0
        forward = MOE_TOKENS * f["per_token"] + L * MOE_TOKENS ** 2 * f["scores"]
        prefill = prompt * (f["per_token"] - f["head"]) + f["head"] + L * prompt ** 2 * f["scores"]
        decode = [f["per_token"] + L * (t - 1) * f["kv_b"] + L * t * f["scores"] for t in g.contexts]
        expand = L * (g.contexts[0] - 1) * f["kv_b"]  # the first step's re-expansion of the cached latents
        rows.append({"model": label, "spec": spec, "params": p.params, "active": p.params_active, "expand": expand,
                     "published": total, "published_active": active, "where": where, "macs": p.macs,
                     "forward_exact": p.macs == forward, "prefill": g.prefill.macs,
                     "prefill_exact": g.prefill.macs == prefill, "decode": g.per_token_macs,
                     "contexts": g.contexts, "decode_exact": decode == g.per_token_macs, "kv": g.kv_bytes_per_token,
                     "dtype": g.cache_dtype, "uncovered": sorted({u.op for q in (p, g.prefill, *g.decode)
                                                                  for u in q.coverage}), "seconds": secs})
        verdict = {True: "exact", False: "DIFFERS"}
        print(f"  {label}: {p.params:,} params, {p.params_active:,} active, forward {verdict[p.macs == forward]}, "
              f"prefill {verdict[g.prefill.macs == prefill]}, decode {verdict[decode == g.per_token_macs]} "
              f"({secs:.1f} s)", flush=True)
    return rows


def moe_child(backward: bool, tokens: int = MOE_TOKENS) -> dict:
    """DeepSeek-V3 at ``tokens`` tokens on meta in a fresh process: wall time (construction included), peak RSS."""
    return _fresh_process(f"'hf:benchmarks/configs/deepseek-v3.json', input={tokens}, backward={backward}",
                          "{'macs': p.macs, 'phases': p.by_phase, 'uncovered': len(p.coverage)}")


def render_moe(moes, fwd, step, prompt: int, new_tokens: int) -> list[str]:
    L = ["## Mixtures of experts: total and active parameters, prefill and decode", "",
         "The published configs of Mixtral-8x7B, Qwen3-30B-A3B and DeepSeek-V3 (`benchmarks/configs/`), built on meta "
         "with transformers' default experts implementation (grouped matmuls over the tokens x top-k rows routed to "
         "the experts: the total is in the shapes, no routing value is read). Active parameters "
         "(`Profile.params_active`): what one token's forward multiplies, the total less the unrouted (E - k) / E of "
         "every MoE layer's experts, embeddings included. The closed forms, written in this script from the config "
         "fields: a token costs its attention projections, the router, its top-k experts (and the shared expert, "
         f"and the dense MLPs of DeepSeek-V3's first layers) and the LM head; forward at {MOE_TOKENS} tokens adds "
         "the full T x T scores; a decode step at context t the scores over t keys, and, for DeepSeek-V3's multi-head "
         "latent attention, the expansion of the t - 1 cached latents to keys and values (transformers caches the "
         f"latent, kv_lora_rank + qk_rope_head_dim per token and layer, and expands it at every step). Generation: a "
         f"{prompt}-token prompt, {new_tokens} new tokens.", ""]
    heads = ["model", "params (counted)", "published", "active (counted)", "published active",
             f"MACs/token at {MOE_TOKENS}", "prefill MACs", "first decode step", "last decode step", "closed forms",
             "KV cache per token", "seconds"]
    rows = []
    for r in moes:
        exact = r["forward_exact"] and r["prefill_exact"] and r["decode_exact"]
        rows.append([r["model"], F.count(r["params"]), f"{r['published']} ({r['where']})", F.count(r["active"]),
                     r["published_active"], F.scaled(r["macs"] / MOE_TOKENS, "MACs"), F.count(r["prefill"]),
                     f"{F.count(r['decode'][0])} (t = {r['contexts'][0]})",
                     f"{F.count(r['decode'][-1])} (t = {r['contexts'][-1]})",
                     "exact: forward, prefill, every step" if exact else "DIFFERS",
                     f"{F.count(r['kv'])} B ({r['dtype']})", f"{r['seconds']:.1f}"])
    L.append(_t(rows, heads))
    L += [""] + [f"{r['model']}'s first decode step: {100 * r['expand'] / r['decode'][0]:.1f} % of its MACs "
                 f"({F.count(r['expand'])}) re-expand the {r['contexts'][0] - 1} cached latents (kv_b_proj), as "
                 "transformers runs MLA (no absorption of kv_b_proj into the query and output projections); "
                 "the active weights are the rest." for r in moes if r["expand"]]
    L += ["", " ".join(f"{r['model']}: every op has a counting rule." if not r["uncovered"] else
                       f"{r['model']}: ops without a rule: {', '.join(r['uncovered'])}." for r in moes), "",
          f"DeepSeek-V3 at {MOE_TOKENS} tokens on meta, in a fresh process (model construction included; peak RSS of "
          "the whole process): forward "
          f"{fwd['seconds']:.1f} s, {fwd['rss_gib']:.2f} GiB, {F.count(fwd['macs'])} MACs (target: 30 s, 2 GiB); "
          f"training step (`backward=True`) {step['seconds']:.1f} s, {step['rss_gib']:.2f} GiB, "
          + ", ".join(f"{k} {F.count(v)}" for k, v in step["phases"].items()) + " MACs (target: 60 s, 4 GiB).", ""]
    return L


# -- 6. the frameworks' formulas ------------------------------------------------------------------------------
# (label, spec, config overrides): the hybrid is transformers' default Nemotron-H config (4 blocks, "ME*-")
FORMULA_MODELS = [
    ("Llama-3-8B", "hf:benchmarks/configs/llama-3-8b.json", {}),
    ("Llama-3-70B", "hf:benchmarks/configs/llama-3-70b.json", {}),
    ("Mixtral-8x7B", "hf:benchmarks/configs/mixtral-8x7b-v0.1.json", {}),
    ("DeepSeek-V3", "hf:benchmarks/configs/deepseek-v3.json", {}),
    ("Nemotron-H (transformers' default config)", "hf:nemotron_h", {}),
]
FORMULA_TOKENS = 4096
FORMULAS_HEADING = "## The training step beside the frameworks' FLOPs formulas"


def formula_rows(tokens: int = FORMULA_TOKENS):
    from profiler.analysis.formula_check import formula_check

    rows = []
    for label, spec, kwargs in FORMULA_MODELS:
        t0 = time.perf_counter()
        p = profiler.profile_model(spec, input=tokens, backward=True, device="meta", **kwargs)
        report = formula_check(p)
        rows.append({"model": label, "spec": spec, "report": report, "seconds": time.perf_counter() - t0,
                     "uncovered": sorted({u.op for u in p.coverage})})
        print(f"  {label}: " + ", ".join(f"{c.estimate.name} unexplained {c.unexplained:,}" for c in report.checks)
              + f" ({time.perf_counter() - t0:.1f} s)", flush=True)
    return rows


def _parts(check, ours: int) -> str:
    return "; ".join(f"{d.what}: {100 * d.flops / ours:+.3f} %" for d in check.differences if d.flops) or "none"


def render_formulas(rows, tokens: int = FORMULA_TOKENS) -> list[str]:
    from profiler.formulas import MEGATRON_SOURCE, NANOGPT_SOURCE

    L = [FORMULAS_HEADING, "",
         f"One training step (forward, loss, backward; no optimizer) of 1 x {tokens} tokens, counted on meta "
         "(`profile-model SPEC --input 4096 --train --crosscheck formulas` prints the same for one model). Ours: "
         "FLOPs = 2 x the step's MACs (linear + attention + conv + recurrent, every phase). Megatron-LM: "
         f"{MEGATRON_SOURCE}, transcribed in `profiler/formulas.py` (causal attention at seq/2, GEMMs x3, the logits "
         "on the vocabulary padded to a multiple of 128; hybrid patterns through its `hybrid_flops`). 6N + 12LHQT: "
         f"{NANOGPT_SOURCE}; N = every parameter but position embeddings (an MoE's routed experts at k/E). Each "
         "difference (ours - formula, % of ours) is named and sized from the profile's layers "
         "(`profiler.analysis.formula_check`); + where we count more, - where the formula does.", ""]
    heads = ["model", "ours (FLOPs)", "ours (MACs)", "Megatron-LM (FLOPs)", "ours - Megatron", "named (Megatron)",
             "unexplained", "6N+12LHQT (FLOPs)", "ours - 6N rule", "named (6N rule)", "unexplained", "seconds"]
    table = []
    for r in rows:
        rep = r["report"]
        ours = rep.ours_flops
        meg, palm = rep.checks
        table.append([r["model"], F.count(ours), F.count(rep.ours_macs), F.count(meg.estimate.flops),
                      f"{100 * (ours - meg.estimate.flops) / ours:+.3f} %", _parts(meg, ours), F.count(meg.unexplained),
                      F.count(palm.estimate.flops), f"{100 * (ours - palm.estimate.flops) / ours:+.3f} %",
                      _parts(palm, ours), F.count(palm.unexplained), f"{r['seconds']:.1f}"])
    L.append(_t(table, heads))
    L += ["", "Megatron-LM leaves out the router GEMMs and counts half of the T x T scores (a causal mask); our count "
          "has every pair the kernels compute and, for SDPA's fused backward, the scores it recomputes (DeepSeek-V3 "
          "runs eager attention in transformers: nothing recomputed). The 6N rule counts every parameter once per "
          "token in each of the three passes: the input embedding table (a lookup, no GEMM; tied models have none "
          "apart), norm weights and biases too. Nemotron-H's Mamba mixers: Megatron's estimate assumes d_inner = 2 x "
          "hidden and a 7·d_inner·N scan per token; the named part is our count of the mixers (projections, "
          "convolution, the chunked scan's products) less it. Element ops (norms, activations, residual adds) are in "
          "neither count.", ""]
    bad = [f"{r['model']}: {', '.join(r['uncovered'])}" for r in rows if r["uncovered"]]
    L += ["Ops without a counting rule: " + ("; ".join(bad) if bad else "none") + ".", ""]
    return L


def splice_formulas(text: str, section: list[str]) -> str:
    """``text`` (the report) with its formulas section replaced by ``section``, or inserted before the machine
    line when it has none."""
    lines = text.rstrip("\n").split("\n")
    if FORMULAS_HEADING in lines:
        start = lines.index(FORMULAS_HEADING)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(("## ", "Machine: "))),
                   len(lines))
    else:
        start = end = next((i for i, line in enumerate(lines) if line.startswith("Machine: ")), len(lines))
    return "\n".join(lines[:start] + section + lines[end:]) + "\n"


# -- the page --------------------------------------------------------------------------------------------------
def _t(rows, headers) -> str:
    from profiler.report.tables import markdown_table

    return markdown_table(rows, headers)


def render(sizes, gens, fc_meta, fc_cpu, big, moe, prompt: int, new_tokens: int, formulas=None) -> str:
    L = ["# Language models: parameters, MACs per token, prefill and decode", "",
         "Generated by `python benchmarks/llm_report.py`; do not edit by hand. MACs are multiply-accumulates of "
         "linear + attention (convention `macs`: bias and element ops not counted; FLOPs = 2 x MACs). Every model "
         "is built from its config with no weights and counted on the meta device (shapes only); the 7-8B configs "
         "are the architecture fields of their published config.json, in `benchmarks/configs/` (`profile-model "
         "hf:benchmarks/configs/llama-3-8b.json --generate 32 --input 2048` reproduces a row). The default head: "
         "the causal-LM head of a decoder, the base model of BERT (no LM head, its pooler included).", "",
         "## Parameters and MACs per token by sequence length", ""]
    heads = ["model", "params (counted)", "published", "N (non-embedding)"] + \
        [f"MACs/token at {t}" for t in LENGTHS] + ["attention share at the longest"]
    rows = []
    for r in sizes:
        longest = max(r["lengths"])
        rows.append([r["model"], F.count(r["params"]), r["published"], F.count(r["n"])] +
                    [F.scaled(r["lengths"][t]["per_token"], "MACs") if t in r["lengths"] else "- (context " +
                     F.count(r["shape"]["context"]) + ")" for t in LENGTHS] +
                    [f"{100 * r['lengths'][longest]['share']:.2f} % at {longest}"])
    L.append(_t(rows, heads))
    L += ["", "MACs per token = one forward pass over T tokens / T. Only attention grows with T (the full T x T "
          "scores: 2·L·T²·n_heads·d_head, as the kernels compute them, the causal mask applied after); every "
          "matrix product over tokens is linear in T. Grouped-query attention (Llama-3, Mistral, Qwen2: 8, 8 and 4 "
          "K/V heads) shrinks the K/V projections and the cache, not the attention MACs. "
          + " ".join(f"{r['model']}: every op has a counting rule." if not r["uncovered"] else
                     f"{r['model']}: ops without a rule: {', '.join(r['uncovered'])}." for r in sizes), ""]

    L += [f"## Generation: a {prompt}-token prompt, {new_tokens} new tokens (greedy, KV cache)", "",
          f"`profiler.profile_generate(spec, input={prompt}, new_tokens={new_tokens})`: the prefill (the LM head on "
          f"the last position only, as `generate()` runs it) gives the first token, then {new_tokens - 1} decode "
          "steps feed one token each with the cache of every token before it (GPT-2's prompt is shortened to fit "
          "its 1024 learned positions). The closed form of a decode step at context t, written in this script from "
          "the config fields: W + d·V + 2·L·t·n_heads·d_head (W = the body's weight matrices for one token, d·V "
          "the LM head).", ""]
    heads = ["model", "prompt", "prefill MACs", "attention in the prefill", "first decode step", "last decode step",
             "closed form", "growth per step", "KV cache per token", "decode total"]
    rows = []
    for g in gens:
        s = g["shape"]
        rows.append([g["model"], F.count(g["prompt"]), F.count(g["prefill"]),
                     f"{100 * g['prefill_attention'] / g['prefill']:.2f} %",
                     f"{F.count(g['decode'][0])} (t = {g['contexts'][0]})",
                     f"{F.count(g['decode'][-1])} (t = {g['contexts'][-1]})",
                     "exact, every step" if g["exact"] else "DIFFERS",
                     F.count(2 * s["layers"] * s["heads"] * s["head_dim"]),
                     f"{F.count(g['kv'])} B ({g['dtype']})", F.count(sum(g["decode"]))])
    L.append(_t(rows, heads))
    llama = next(g for g in gens if g["model"].startswith("Llama"))
    L += ["", "KV cache per token = 2 (K and V) x layers x K/V heads x d_head x bytes (bfloat16 for the 7-8B configs, "
          "as their config says; float32 for GPT-2's default config). A prefill costs about as much as "
          f"{llama['prefill'] / llama['decode'][0]:,.0f} decode steps of {llama['model']} at {llama['prompt']} tokens "
          "(the prompt's tokens, plus the quadratic scores); each decode step reads every weight for one token.", "",
          "## Against the 2N rule of thumb", "",
          "Kaplan et al. (2020) estimate the forward pass at 2N FLOPs = N MACs per token plus 2·L·n_ctx·d_attn for "
          "attention, N the parameters outside the embeddings (here also outside the LM head, the de-embedding). "
          "Counted decode steps exceed the rule by exactly the LM head d·V less the parameters of N that cost no "
          "MACs (norm weights, biases); d·V and W (the body's weight matrices) are written here from the config, N is "
          "the parameter count.", ""]
    heads = ["model", "N", "rule: N + 2·L·t·d_attn", "counted decode step", "counted / rule", "difference",
             "= LM head d·V", "- norm weights, biases"]
    rows = []
    for g in gens:
        s = g["shape"]
        t = g["contexts"][0]
        rule = g["body_params"] + 2 * s["layers"] * t * s["heads"] * s["head_dim"]
        head = s["d"] * s["vocab"]
        not_macs = g["body_params"] - _weights_per_token(s)
        diff = g["decode"][0] - rule
        rows.append([g["model"], F.count(g["body_params"]), F.count(rule), f"{F.count(g['decode'][0])} (t = {t})",
                     f"{g['decode'][0] / rule:.3f}", F.count(diff) + (" (=)" if diff == head - not_macs else " (!)"),
                     F.count(head), F.count(not_macs)])
    L.append(_t(rows, heads))
    L += ["", "(=): the difference is exactly d·V minus the norm and bias parameters. The LM head is "
          f"{100 * llama['shape']['d'] * llama['shape']['vocab'] / llama['decode'][0]:.1f} % of {llama['model']}'s "
          "decode step (a 128K vocabulary) and far more of GPT-2's.", "",
          "## FlopCounterMode on the same model", "",
          "On meta, `torch.utils.flop_counter.FlopCounterMode` sees the same products (scaled_dot_product_attention "
          "runs its math decomposition there, two batched products it has formulas for). On real CPU tensors "
          "(`profiler.crosscheck(model, inputs, tools=['torch'])`, GPT-2 and BERT-base with random weights) the "
          "fused CPU attention kernel has no FlopCounterMode formula: the cross-check names it per layer.", ""]
    rows = []
    for r in fc_meta + fc_cpu:
        named = "; ".join(f"{F.count(v)} MACs: {k}" for k, v in (r.get("named") or {}).items()) or \
            ("none: the same count" if r["theirs"] == r["ours"] else "")
        rows.append([r["model"], r["pass"], r["where"], F.count(r["ours"]), F.count(r["theirs"]),
                     F.count(r["theirs"] - r["ours"]), named,
                     F.count(r.get("unexplained", r["theirs"] - r["ours"] if r["theirs"] != r["ours"] else 0))])
    L.append(_t(rows, ["model", "pass", "device", "ours (MACs)", "FlopCounterMode FLOPs / 2", "difference",
                       "named differences", "unexplained"]))
    L += ["", "calflops (which also profiles Hugging Face models by name) is not a dependency of this package and "
          "was not run here: by default it builds its inputs with the model's tokenizer, which is downloaded.", "",
          "## A Llama-3-70B config at 8192 tokens on meta", "",
          f"`profile-model hf:benchmarks/configs/llama-3-70b.json --input 8192` in a fresh process: "
          f"{big['seconds']:.1f} s (model construction on meta included), peak RSS {big['rss_gib']:.2f} GiB "
          f"(the process: Python, torch and transformers included); {big['params']:,} params, {big['macs']:,} MACs "
          f"= {F.scaled(big['macs'], 'MACs')}, of which attention {100 * big['attention'] / big['macs']:.1f} %; "
          f"{'every op has a counting rule' if not big['uncovered'] else str(big['uncovered']) + ' ops without a rule'}.",
          ""] + render_moe(*moe, prompt, new_tokens) + (render_formulas(formulas) if formulas else []) + [
          f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, transformers "
          f"{__import__('transformers').__version__}.", ""]
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "reports", "llm.md"))
    ap.add_argument("--prompt", type=int, default=2048)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--only", choices=("formulas",), default=None,
                    help="regenerate one section in the existing report (formulas: the training step beside the "
                         "frameworks' FLOPs formulas)")
    args = ap.parse_args(argv)
    os.chdir(ROOT)  # the config specs are relative to the repository
    from profiler.atomic import atomic_open

    if args.only == "formulas":
        print("the frameworks' formulas ...", flush=True)
        with open(args.out, encoding="utf-8") as fh:
            old = fh.read()
        text = splice_formulas(old, render_formulas(formula_rows()))
        with atomic_open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote {args.out} (the formulas section)")
        return 0
    print("sizes and lengths ...", flush=True)
    sizes = size_rows()
    print("generation ...", flush=True)
    gens = generation_rows(args.prompt, args.new_tokens)
    print("FlopCounterMode ...", flush=True)
    fc_meta = flopcounter_meta(args.prompt)
    fc_cpu = crosscheck_cpu(512)
    print("Llama-3-70B on meta ...", flush=True)
    big = big_child()
    print("mixtures of experts ...", flush=True)
    moe = (moe_rows(args.prompt, args.new_tokens), moe_child(False), moe_child(True))
    print("the frameworks' formulas ...", flush=True)
    formulas = formula_rows()

    with atomic_open(args.out, "w", encoding="utf-8") as fh:  # a failed render leaves the old report
        fh.write(render(sizes, gens, fc_meta, fc_cpu, big, moe, args.prompt, args.new_tokens,
                        formulas).rstrip() + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
