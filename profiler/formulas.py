"""The training-step FLOPs that training frameworks log, computed from a transformers config: the closed forms
behind the MFU a user reads in Megatron-LM's or nanoGPT's logs, to set beside our exact count
(:mod:`profiler.analysis.formula_check` names every difference).

Units: every value is in FLOPs (a multiply-accumulate = 2 FLOPs), for one training step (forward and
backward) of ``batch`` sequences of ``seq`` tokens; no optimizer.

- :func:`megatron_flops`: Megatron-LM's ``num_floating_point_operations`` (dense, MoE with shared experts and
  its own FFN size, MLA, hybrid Mamba patterns), transcribed term by term;
- :func:`palm_flops`: the ``6N + 12·L·H·Q·T`` rule of PaLM's appendix B as nanoGPT's ``estimate_mfu`` writes it.

The architecture numbers are read once from the config by :func:`shape_of` (it accepts the field names of
Llama, Mixtral, Qwen-MoE, DeepSeek-V2/V3 (MLA), GPT-2, Nemotron-H, Jamba and Zamba configs). Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

#: Megatron-LM's source these functions transcribe (``num_floating_point_operations``).
MEGATRON_SOURCE = ("NVIDIA/Megatron-LM megatron/training/training.py, num_floating_point_operations "
                   "(commit 001b00c2734d8f0fad096fe48a382fedf755d321)")
#: nanoGPT's source of the 6N + 12LHQT rule (``GPT.estimate_mfu``, ``GPT.get_num_params``).
NANOGPT_SOURCE = ("karpathy/nanoGPT model.py, GPT.estimate_mfu and GPT.get_num_params (stored copy at commit "
                  "04a1d697ddc57aadb2edbe95816bf86c6b8918b0); PaLM (Chowdhery et al. 2022), appendix B")
#: Megatron-LM pads the vocabulary to a multiple of ``--make-vocab-size-divisible-by`` (default 128) x the
#: tensor-parallel size before the logits GEMM (``padded_vocab_size``); tensor parallelism 1 here.
MEGATRON_VOCAB_MULTIPLE = 128

# Model types whose MLP is two matrices (no gate): Megatron's ``--swiglu`` off.
_UNGATED = {"gpt2", "gpt_neox", "gptj", "opt", "bloom", "falcon", "nemotron", "nemotron_h", "phi", "starcoder2",
            "gpt_bigcode", "bert", "roberta", "mpt", "codegen"}
# transformers' layer type names -> Megatron's hybrid symbols (megatron/core/ssm/mamba_hybrid_layer_allocation.py:
# M = Mamba, * = attention, - = MLP, E = MoE)
_SYMBOLS = {"mamba": "M", "linear_attention": "M", "attention": "*", "full_attention": "*", "mlp": "-",
            "moe": "E", "hybrid": "*-M"}


@dataclass(frozen=True)
class Shape:
    """The architecture numbers the formulas read (see :func:`shape_of`). ``pattern`` lists the layers in
    Megatron's symbols: ``*`` attention, ``-`` dense MLP, ``E`` MoE MLP, ``M`` Mamba (a Llama layer is ``*-``)."""
    model_type: str
    hidden: int
    layers: int  # the config's num_hidden_layers (a hybrid's blocks)
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    gated: bool  # SwiGLU-style MLP: three matrices (Megatron's --swiglu)
    pattern: str
    experts: int = 0
    top_k: int = 0
    moe_ffn: int = 0
    shared_ffn: int = 0  # all shared experts together
    tied: bool = False
    # multi-head latent attention (DeepSeek-V2/V3); None when the attention is MHA/GQA
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_dim: int | None = None
    qk_rope_dim: int | None = None
    v_head_dim: int | None = None
    # Mamba-2 mixers of a hybrid
    mamba_state: int = 128
    mamba_head_dim: int = 64
    mamba_groups: int = 8
    mamba_heads: int | None = None

    @property
    def mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def attention_layers(self) -> int:
        return self.pattern.count("*")

    @property
    def moe_layers(self) -> int:
        return self.pattern.count("E")

    @property
    def hybrid(self) -> bool:
        return "M" in self.pattern


def _get(config, *names, default=None):
    for n in names:
        v = getattr(config, n, None)
        if v is not None:
            return v
    return default


def _layer_pattern(config, layers: int, experts: int) -> str:
    """Megatron symbols per layer from the config's own layout fields."""
    types = _get(config, "layers_block_type", "layer_types")
    mt = getattr(config, "model_type", "")
    if mt == "nemotron_h" and getattr(config, "hybrid_override_pattern", None):
        return str(config.hybrid_override_pattern)
    if isinstance(types, (list, tuple)) and types and all(t in _SYMBOLS for t in types) and \
            any(_SYMBOLS[t] in ("M", "*-M") for t in types):
        if mt == "jamba":  # each Jamba layer is a mixer and an FFN, MoE every expert_layer_period layers
            period, offset = _get(config, "expert_layer_period", default=1), _get(config, "expert_layer_offset",
                                                                                   default=0)
            return "".join(_SYMBOLS[t] + ("E" if experts and i % period == offset else "-")
                           for i, t in enumerate(types))
        return "".join(_SYMBOLS[t] for t in types)
    if not experts:
        return "*-" * layers
    moe = [True] * layers
    first_dense = _get(config, "first_k_dense_replace")
    if first_dense is not None:  # DeepSeek-V2/V3: dense before layer k, then MoE every moe_layer_freq layers
        freq = _get(config, "moe_layer_freq", default=1)
        moe = [i >= first_dense and i % freq == 0 for i in range(layers)]
    step = _get(config, "decoder_sparse_step")
    if step:  # Qwen-MoE: MoE where (i + 1) % step == 0, except mlp_only_layers
        only = set(_get(config, "mlp_only_layers", default=()) or ())
        moe = [(i + 1) % step == 0 and i not in only for i in range(layers)]
    return "".join("*E" if m else "*-" for m in moe)


def shape_of(config) -> Shape:
    """The numbers of ``config`` (a transformers config, or any object with those attributes) the formulas need,
    read under every name the common configs use; a text config inside a multimodal one is used."""
    config = _get(config, "text_config", default=config) if hasattr(config, "text_config") else config
    hidden = _get(config, "hidden_size", "n_embd", "d_model")
    layers = _get(config, "num_hidden_layers", "n_layer", "num_layers")
    heads = _get(config, "num_attention_heads", "n_head")
    if hidden is None or layers is None or heads is None:
        raise ValueError("the config has no hidden_size/num_hidden_layers/num_attention_heads: not a language "
                         "model these formulas describe")
    kv = _get(config, "num_key_value_heads", "num_kv_heads", "n_head_kv",
              default=1 if getattr(config, "multi_query", False) else heads)
    head_dim = _get(config, "head_dim", "kv_channels", default=hidden // heads)
    experts = int(_get(config, "num_local_experts", "num_experts", "n_routed_experts", default=0) or 0)
    ffn = _get(config, "intermediate_size", "n_inner", "ffn_hidden_size", default=4 * hidden)
    moe_ffn = _get(config, "moe_intermediate_size", default=ffn) if experts else 0
    shared = _get(config, "shared_expert_intermediate_size", "moe_shared_expert_intermediate_size", default=0) or 0
    n_shared = _get(config, "n_shared_experts", default=0) or 0
    if experts and not shared and n_shared:
        shared = n_shared * moe_ffn  # DeepSeek: n_shared_experts experts of moe_intermediate_size
    mt = getattr(config, "model_type", "") or ""
    mamba_heads = _get(config, "mamba_num_heads")
    return Shape(
        model_type=mt, hidden=int(hidden), layers=int(layers), heads=int(heads), kv_heads=int(kv),
        head_dim=int(head_dim), ffn=int(ffn), vocab=int(config.vocab_size), gated=mt not in _UNGATED,
        pattern=_layer_pattern(config, int(layers), experts), experts=experts,
        top_k=int(_get(config, "num_experts_per_tok", "moe_top_k", "top_k", default=0) or 0) if experts else 0,
        moe_ffn=int(moe_ffn), shared_ffn=int(shared), tied=bool(getattr(config, "tie_word_embeddings", False)),
        q_lora_rank=_get(config, "q_lora_rank"), kv_lora_rank=_get(config, "kv_lora_rank"),
        qk_nope_dim=_get(config, "qk_nope_head_dim"), qk_rope_dim=_get(config, "qk_rope_head_dim"),
        v_head_dim=_get(config, "v_head_dim"),
        mamba_state=int(_get(config, "ssm_state_size", "mamba_d_state", "state_size", default=128)),
        mamba_head_dim=int(_get(config, "mamba_head_dim", default=64)),
        mamba_groups=int(_get(config, "n_groups", "mamba_n_groups", default=8)),
        mamba_heads=int(mamba_heads) if mamba_heads else None)


@dataclass(frozen=True)
class Estimate:
    """One formula's training-step FLOPs. ``flops``: per step (forward + backward, no optimizer), in FLOPs;
    ``terms``: its parts (FLOPs per step, summing to ``flops``); ``includes``: what it counts, in words."""
    name: str
    flops: float
    tokens: int
    includes: str
    source: str
    terms: dict = field(default_factory=dict)

    @property
    def per_token(self) -> float:
        return self.flops / self.tokens


def _exact(x):
    """A Fraction as an int when whole (the formulas' halves of even products), else a float."""
    x = Fraction(x)
    return int(x) if x.denominator == 1 else float(x)


# -- Megatron-LM --------------------------------------------------------------------------------------------

def megatron_padded_vocab(vocab: int, multiple: int = MEGATRON_VOCAB_MULTIPLE) -> int:
    """The vocabulary Megatron-LM's logits GEMM runs on: ``vocab`` rounded up to a multiple of ``multiple``
    (``--make-vocab-size-divisible-by`` x tensor-parallel size; megatron/training/tokenizer/tokenizer.py
    ``_vocab_size_with_padding``)."""
    return -(-vocab // multiple) * multiple


def megatron_gqa_attention(s: Shape, seq: int) -> Fraction:
    """FLOPs per token of one MHA/GQA attention layer, forward and backward, as ``transformer_flops`` writes its
    ``standard_self_attn_term``: ``3 x 2 x (h·(q + k + v) + q·seq/2·2 + q·h)`` with ``q = kv_channels·heads``,
    ``k = v = kv_channels·groups``; the core attention at ``seq/2`` ("causal mask (only half of the mask is
    non-zero)"). Source: :data:`MEGATRON_SOURCE`."""
    q, kv = s.head_dim * s.heads, s.head_dim * s.kv_heads
    return 6 * (s.hidden * (q + 2 * kv) + Fraction(q * seq, 2) * 2 + q * s.hidden)


def megatron_mla_attention(s: Shape, seq: int) -> Fraction:
    """FLOPs per token of one multi-latent attention layer (DeepSeek-V2/V3), forward and backward, as
    ``transformer_flops`` writes it: ``3 x 2 x (q_term + kv_lora·(h + n·(qk + v) + 1) + h·rope + n·v·h
    + seq·n·(qk + rope)/2 + seq·n·v/2)``, ``q_term = q_lora·(h + n·(qk + rope) + 1)`` (or ``h·n·(qk + rope)``
    without a query LoRA); the ``+ 1`` are its q/kv norm terms, the ``/2`` the causal mask.
    Source: :data:`MEGATRON_SOURCE`."""
    h, n, qk, rope, v = s.hidden, s.heads, s.qk_nope_dim, s.qk_rope_dim, s.v_head_dim
    q_term = h * n * (qk + rope) if s.q_lora_rank is None else s.q_lora_rank * (h + n * (qk + rope) + 1)
    return 6 * (q_term + s.kv_lora_rank * (h + n * (qk + v) + 1) + h * rope + n * v * h
                + Fraction(seq * n * (qk + rope), 2) + Fraction(seq * n * v, 2))


def megatron_mlp(s: Shape) -> dict:
    """FLOPs per token of the MLPs, forward and backward, as ``transformer_flops`` writes them:
    ``3 x 2 x h x (ffn·e·dense + moe_ffn·k·e·moe + shared·e·moe)``, ``e`` = 3 with SwiGLU else 2; the router is
    not counted. Returns the dense, routed and shared parts. Source: :data:`MEGATRON_SOURCE`."""
    e = 3 if s.gated else 2
    moe, dense = s.moe_layers, s.pattern.count("-")
    return {"dense MLP": 6 * s.hidden * s.ffn * e * dense,
            "routed experts": 6 * s.hidden * s.moe_ffn * s.top_k * e * moe,
            "shared experts": 6 * s.hidden * s.shared_ffn * e * moe}


def megatron_logits(s: Shape, mtp_layers: int = 0, multiple: int = MEGATRON_VOCAB_MULTIPLE) -> int:
    """FLOPs per token of the logits GEMM (and one per MTP layer), forward and backward:
    ``3 x 2 x h x padded_vocab x (mtp + 1)``. Source: :data:`MEGATRON_SOURCE`."""
    return 6 * s.hidden * megatron_padded_vocab(s.vocab, multiple) * (mtp_layers + 1)


def megatron_transformer_flops(s: Shape, batch: int, seq: int, mtp_layers: int = 0,
                               vocab_multiple: int = MEGATRON_VOCAB_MULTIPLE) -> Estimate:
    """Megatron-LM's ``transformer_flops`` (its non-hybrid branch) for one step of ``batch`` x ``seq`` tokens:
    ``batch·seq·(MLP + attention·layers + MTP norms and proj + logits)``, every GEMM x3 (forward, weight and
    data gradients). MTP layers (``--mtp-num-layers``) count as one more layer of the last layer's kind.
    Source: :data:`MEGATRON_SOURCE`."""
    if mtp_layers:
        s = replace(s, pattern=s.pattern + s.pattern[-2:] * mtp_layers)
    attn = (megatron_mla_attention if s.mla else megatron_gqa_attention)(s, seq) * s.attention_layers
    per_token = {"attention": attn, **megatron_mlp(s),
                 "MTP norms and proj": 6 * mtp_layers * (3 * s.hidden + 2 * s.hidden * s.hidden),
                 "logits": megatron_logits(s, mtp_layers, vocab_multiple)}
    tokens = batch * seq
    terms = {k: _exact(v * tokens) for k, v in per_token.items() if v}
    what = ("MLA" if s.mla else "MHA/GQA") + " attention with causal seq/2, " + \
        ("MoE (routed top-k and shared experts; no router), " if s.experts else "") + \
        "MLP and logits GEMMs, x3 for forward + backward; no norms, element ops, embeddings or optimizer"
    return Estimate("Megatron-LM", _exact(sum(per_token.values()) * tokens), tokens, what, MEGATRON_SOURCE, terms)


def megatron_mamba_layer(s: Shape) -> int:
    """Forward FLOPs per token of one Mamba layer in Megatron-LM's ``mamba_layer_flops``:
    ``2·h·(2·d_in + 2·G·N + heads)`` (in_proj) ``+ 7·d_in·N`` (scan) ``+ 2·d_in·h`` (out_proj), with
    ``d_in = 2·h`` as Megatron hard-codes it (``heads = d_in / head_dim`` when not given).
    Source: :data:`MEGATRON_SOURCE`."""
    d_in = 2 * s.hidden
    heads = s.mamba_heads or d_in // s.mamba_head_dim
    return (2 * s.hidden * (2 * d_in + 2 * s.mamba_groups * s.mamba_state + heads)
            + 7 * d_in * s.mamba_state + 2 * d_in * s.hidden)


def megatron_hybrid_flops(s: Shape, batch: int, seq: int, mtp_layers: int = 0,
                          vocab_multiple: int = MEGATRON_VOCAB_MULTIPLE) -> Estimate:
    """Megatron-LM's ``hybrid_flops`` for a hybrid pattern (Nemotron-H, Jamba ...): per layer symbol
    ``*`` ``attn_layer_flops`` (``4·h·p·(h + h·g/n + seq/2)``, p = kv_channels·n/h), ``-`` ``mlp_layer_flops``
    (``4·ffn·h``, x3/2 with SwiGLU), ``M`` :func:`megatron_mamba_layer`, ``E`` ``moe_layer_flops``
    (``4·h·moe_ffn·k`` + ``4·h·shared``, x3/2 with SwiGLU), plus ``2·h·vocab·(1 + mtp)`` logits; the forward
    x3. Source: :data:`MEGATRON_SOURCE`."""
    h, scale = s.hidden, Fraction(3, 2) if s.gated else 1
    p = Fraction(s.head_dim * s.heads, h)
    per_token = {
        "attention": s.attention_layers * 4 * h * p * (h + Fraction(h * s.kv_heads, s.heads) + Fraction(seq, 2)),
        "dense MLP": s.pattern.count("-") * 4 * s.ffn * scale * h,
        "Mamba": s.pattern.count("M") * megatron_mamba_layer(s),
        "routed experts": s.moe_layers * 4 * h * s.moe_ffn * s.top_k * scale,
        "shared experts": s.moe_layers * 4 * h * s.shared_ffn * scale,
        "logits": 2 * h * megatron_padded_vocab(s.vocab, vocab_multiple) * (1 + mtp_layers),
    }
    tokens = batch * seq
    terms = {k: _exact(3 * v * tokens) for k, v in per_token.items() if v}
    what = ("hybrid pattern " + s.pattern + ": Mamba (d_in = 2·hidden), attention with causal seq/2, MLP, "
            "MoE (no router) and logits, forward x3; no norms, convolutions' bias, element ops or optimizer")
    return Estimate("Megatron-LM", _exact(3 * sum(per_token.values()) * tokens), tokens, what, MEGATRON_SOURCE,
                    terms)


def megatron_flops(s: Shape, batch: int, seq: int, mtp_layers: int = 0,
                   vocab_multiple: int = MEGATRON_VOCAB_MULTIPLE) -> Estimate:
    """Megatron-LM's ``num_floating_point_operations(args, batch)`` at ``seq_length = seq``: ``hybrid_flops``
    when the pattern holds Mamba layers (``is_hybrid_model``), else ``transformer_flops``."""
    fn = megatron_hybrid_flops if s.hybrid else megatron_transformer_flops
    return fn(s, batch, seq, mtp_layers, vocab_multiple)


# -- PaLM appendix B / nanoGPT --------------------------------------------------------------------------------

def palm_flops(n_params: int, attention_layers: int, heads: int, qk_dim: int, v_dim: int, seq: int,
               batch: int) -> Estimate:
    """The PaLM appendix B rule as nanoGPT's ``estimate_mfu`` writes it: ``flops_per_token = 6*N + 12*L*H*Q*T``
    (N = ``get_num_params()``: every parameter but the position embeddings; L layers, H heads, Q head dim,
    T = the sequence length), ``flops_per_fwdbwd = flops_per_token * T`` per sequence, times ``batch``. With
    query/key and value head dims apart (MLA) the attention term is ``6·L·H·(Qk + Qv)·T`` (= 12·L·H·Q·T when
    equal). Source: :data:`NANOGPT_SOURCE`."""
    per_token = {"6N": 6 * n_params, "12LHQT": 6 * attention_layers * heads * (qk_dim + v_dim) * seq}
    tokens = batch * seq
    return Estimate("PaLM / nanoGPT 6N+12LHQT", sum(per_token.values()) * tokens, tokens,
                    "6 x N (all parameters but position embeddings; an MoE's active ones) + the attention scores "
                    "over every T x T pair, x3 for forward + backward", NANOGPT_SOURCE,
                    {k: v * tokens for k, v in per_token.items()})


def palm_attention_dims(s: Shape) -> tuple[int, int]:
    """(query/key, value) head dims of the 12LHQT term: MLA's ``qk_nope + qk_rope`` and ``v_head_dim``, else
    the head dim twice."""
    if s.mla:
        return s.qk_nope_dim + s.qk_rope_dim, s.v_head_dim
    return s.head_dim, s.head_dim


def config_formulas(config, batch: int, seq: int, n_params: int, mtp_layers: int = 0) -> list[Estimate]:
    """Every formula for ``config`` at ``batch`` x ``seq`` tokens; ``n_params`` is the N of the 6N rule."""
    s = shape_of(config)
    qk, v = palm_attention_dims(s)
    return [megatron_flops(s, batch, seq, mtp_layers),
            palm_flops(n_params, s.attention_layers, s.heads, qk, v, seq, batch)]
