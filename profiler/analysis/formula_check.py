"""Our exact training-step count beside the frameworks' formulas (:mod:`profiler.formulas`), every difference
named and sized from the profile's own per-layer and per-phase numbers.

Ours = 2 x the step's MACs (conv + linear + attention + recurrent, every phase): FLOPs, as the MFU counts
them. For each formula the difference ``ours - formula`` is split into named parts, each computed on its own
(from the profile's layers, or from the config for what only the formula counts); ``unexplained`` is what
is left, and is 0 when every part is named (tests/analysis/test_formula_check.py asserts it for Llama, Mixtral
and DeepSeek-V3). Element ops (norms, activations, residual adds, the optimizer ...) are in neither count: they
are listed apart, in element ops. Returns data; the tables are :mod:`profiler.report.formulas`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from profiler.formulas import Estimate, megatron_flops, palm_attention_dims, palm_flops, shape_of

_MAC = ("conv", "linear", "attention", "recurrent")
_NOT_MAC = ("norm", "activation", "elementwise", "bias", "optimizer")
_ROUTER = re.compile(r"(^|_)(gate|router)$")
_POSITION = re.compile(r"wpe|position|pos_emb")


@dataclass
class Difference:
    """One named part of ``ours - formula``, in FLOPs: > 0 where we count more, < 0 where the formula does."""
    what: str
    flops: float


@dataclass
class Check:
    """One formula beside our count. ``ours`` and ``estimate.flops`` in FLOPs per step."""
    estimate: Estimate
    ours: int
    differences: list[Difference]

    @property
    def explained(self) -> float:
        return sum(d.flops for d in self.differences)

    @property
    def unexplained(self) -> float:
        return self.ours - self.estimate.flops - self.explained


@dataclass
class FormulaReport:
    """Our training step beside each formula. ``outside``: element ops per category that neither counts."""
    model: str
    batch: int
    seq: int
    ours_macs: int
    n_params: int  # the N of the 6N rule
    checks: list[Check]
    outside: dict = field(default_factory=dict)

    @property
    def ours_flops(self) -> int:
        return 2 * self.ours_macs


# -- what the profile says -----------------------------------------------------------------------------------

def _macs(layer, phase: str, cats=_MAC) -> int:
    counts = layer.counts(phase)
    return sum(counts.get(c, 0) for c in cats)


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r + ".") for r in roots)


def mamba_mixers(profile) -> list[str]:
    """Paths of the Mamba mixers (NemotronHMamba2Mixer, JambaMambaMixer ...): their scan and convolution are
    what no GEMM term of the formulas describes."""
    return [layer.path for layer in profile.layers if "Mamba" in layer.type and "Mixer" in layer.type]


def attention_parts(profile) -> dict[str, tuple[int, int, int]]:
    """path -> (forward, backward, recomputed) attention MACs of every layer that ran attention products; the
    recomputed part is what a fused backward kernel (:data:`profiler.counters.backward.RECOMPUTING`) spends
    beyond the forward's two gradients (dQ/dK and dP/dV): its backward less twice its forward."""
    from profiler.counters.backward import RECOMPUTING

    out = {}
    for layer in profile.layers:
        f, b = layer.counts("forward").get("attention", 0), layer.counts("backward").get("attention", 0)
        if f or b:
            fused = any(op in RECOMPUTING for op in layer.step_ops.get("backward", {}))
            out[layer.path] = (f, b, b - 2 * f if fused else 0)
    return out


def routers(profile) -> list[str]:
    """Paths of the routers (and shared-expert gates) beside routed experts: a layer named ``gate``/``router``
    (or of a ``...Router`` class) whose parent holds routed experts."""
    routed = [layer.path for layer in profile.layers if layer.routed is not None]
    parents = {p.rsplit(".", 1)[0] for r in routed for p in _ancestors(r)}
    out = []
    for layer in profile.layers:
        leaf = layer.path.rsplit(".", 1)[-1]
        parent = layer.path.rsplit(".", 1)[0] if "." in layer.path else ""
        if layer.path in routed or _under(layer.path, routed) or parent not in parents:
            continue
        if _ROUTER.search(leaf) or "Router" in layer.type:
            out.append(layer.path)
    return out


def _ancestors(path: str):
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _subtree_macs(profile, paths, phases=("forward", "backward")) -> int:
    return sum(_macs(layer, ph) for layer in profile.layers if _under(layer.path, paths) for ph in phases)


def skipped_gradients(profile, exclude=()) -> int:
    """MACs autograd did not spend where a GEMM's two gradients (data and weight) would cost twice its forward:
    ``2 x forward - backward`` of conv/linear/recurrent products, summed (0 when every gradient ran; frozen
    weights or inputs make it positive)."""
    cats = ("conv", "linear", "recurrent")
    return sum(2 * _macs(layer, "forward", cats) - _macs(layer, "backward", cats) for layer in profile.layers
               if not _under(layer.path, exclude))


def recomputed_forward(profile) -> int:
    """MACs of forwards re-run in the backward by activation checkpointing (the ``recompute`` phase)."""
    return sum(_macs(layer, "recompute") for layer in profile.layers)


def position_embedding_params(profile) -> int:
    """Parameters of position-embedding tables (GPT-2's ``wpe`` ...), which nanoGPT's N leaves out."""
    return sum(layer.params for layer in profile.layers
               if layer.kind == "embedding" and _POSITION.search(layer.path.rsplit(".", 1)[-1]))


def nanogpt_params(profile) -> int:
    """nanoGPT's ``get_num_params()``: every parameter less the position embeddings (token embeddings stay:
    nanoGPT ties them to the lm_head); an MoE's routed experts at k/E (:attr:`Profile.params_active`)."""
    return profile.params_active - position_embedding_params(profile)


def _linear_biases(profile, exclude) -> int:
    out = 0
    for layer in profile.layers:
        c = layer.config
        if layer.kind == "linear" and "in_features" in c and not _under(layer.path, exclude):
            out += layer.params - c["in_features"] * c["out_features"]
    return out


def _norm_params(profile, exclude) -> int:
    return sum(layer.params for layer in profile.layers if layer.kind == "norm" and not _under(layer.path, exclude))


def _token_embedding_params(profile, shape) -> int:
    table = sum(layer.params for layer in profile.layers
                if layer.kind == "embedding" and not _POSITION.search(layer.path.rsplit(".", 1)[-1]))
    return table - (shape.vocab * shape.hidden if shape.tied else 0)  # a tied table is the lm_head's weight


# -- the checks ----------------------------------------------------------------------------------------------

def _common(profile, attn, mixers) -> list[Difference]:
    return [
        Difference("fused attention backward recomputes the scores QK^T", 2 * sum(r for _, _, r in attn.values())),
        Difference("recomputed forward (activation checkpointing)", 2 * recomputed_forward(profile)),
        Difference("gradients autograd skipped (frozen weights or inputs)", -2 * skipped_gradients(profile, mixers)),
    ]


def megatron_check(profile, shape, batch: int, seq: int, mtp_layers: int = 0) -> Check:
    """Ours beside :func:`profiler.formulas.megatron_flops`, the difference named part by part."""
    est = megatron_flops(shape, batch, seq, mtp_layers)
    tokens = batch * seq
    attn, mixers, gates = attention_parts(profile), mamba_mixers(profile), routers(profile)
    diffs = [Difference("causal half of the attention scores (Megatron: seq/2; ours: every T x T pair)",
                        sum(f + b - r for f, b, r in attn.values())),
             *_common(profile, attn, mixers),
             Difference("routers and expert gates (no Megatron term)", 2 * _subtree_macs(profile, gates))]
    if shape.hybrid or mixers:
        diffs.append(Difference("Mamba mixers: counted (projections, conv, scan) - Megatron's estimate "
                                "(d_in = 2 x hidden, scan 7·d_in·N)",
                                2 * _subtree_macs(profile, mixers) - est.terms.get("Mamba", 0)))
    padded = megatron_flops(shape, batch, seq, mtp_layers, vocab_multiple=1)
    diffs.append(Difference(f"logits on the vocabulary padded to a multiple of 128 ({shape.vocab:,} tokens)",
                            padded.flops - est.flops))
    if shape.mla and not shape.hybrid:
        lora = (shape.q_lora_rank or 0) + shape.kv_lora_rank
        diffs.append(Difference("MLA's '+ 1' q/kv norm terms (q_lora + kv_lora per token)",
                                -6 * lora * tokens * shape.attention_layers))
    if mtp_layers:
        diffs.append(Difference(f"{mtp_layers} MTP layer(s) the model does not run",
                                megatron_flops(shape, batch, seq).flops - est.flops))
    return Check(est, 2 * profile.macs, diffs)


def palm_check(profile, shape, batch: int, seq: int) -> Check:
    """Ours beside :func:`profiler.formulas.palm_flops` with N = :func:`nanogpt_params`."""
    qk, v = palm_attention_dims(shape)
    n = nanogpt_params(profile)
    est = palm_flops(n, shape.attention_layers, shape.heads, qk, v, seq, batch)
    tokens = batch * seq
    attn, mixers = attention_parts(profile), mamba_mixers(profile)
    diffs = [*_common(profile, attn, mixers),
             Difference("input embedding table in N (a lookup, no GEMM)",
                        -6 * tokens * _token_embedding_params(profile, shape)),
             Difference("norm weights in N (no GEMM)", -6 * tokens * _norm_params(profile, mixers)),
             Difference("biases in N (added, no GEMM)", -6 * tokens * _linear_biases(profile, mixers))]
    if mixers:
        params = sum(layer.params for layer in profile.layers if _under(layer.path, mixers))
        diffs.append(Difference("Mamba mixers: counted (projections, conv, scan) - 6 x their parameters",
                                2 * _subtree_macs(profile, mixers) - 6 * tokens * params))
    return Check(est, 2 * profile.macs, diffs)


def config_of(profile):
    """The transformers config an ``hf:`` profile was built from (its --kwargs applied)."""
    from profiler.zoo import hf

    src = profile.source
    if src is None or src.zoo != "hf":
        raise ValueError("the formulas read a Hugging Face config: profile an hf: language model")
    _, fields = hf.from_config_args(dict(src.kwargs), src.spec)
    return hf.load_config(src.name, fields, src.spec)


def formula_check(profile, config=None, mtp_layers: int = 0) -> FormulaReport:
    """Our training step (``profile_model(..., backward=True)`` of a language model fed ``batch`` x ``seq``
    tokens) beside Megatron-LM's and the 6N + 12LHQT formulas, every difference named."""
    if not profile.is_step:
        raise ValueError("the formulas describe a training step: profile with backward=True (--train)")
    src = profile.source
    if src is None or src.input_kind != "tokens":
        raise ValueError("the formulas describe a language model fed tokens (hf:llama, hf:mixtral ...)")
    shape = shape_of(config if config is not None else config_of(profile))
    batch, seq = src.batch, int(src.input_size[0])
    cats = profile.by_category
    return FormulaReport(profile.model, batch, seq, profile.macs, nanogpt_params(profile),
                         [megatron_check(profile, shape, batch, seq, mtp_layers),
                          palm_check(profile, shape, batch, seq)],
                         {c: cats.get(c, 0) for c in _NOT_MAC if cats.get(c, 0)})
