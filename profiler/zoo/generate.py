"""What generating text costs: the prompt's forward pass (prefill) and one forward pass per further token
with the model's own KV cache (decode), each a :class:`~profiler.core.profile.Profile`.

:func:`profile_generate` runs greedy decoding as ``model.generate(max_new_tokens=N, do_sample=False)`` does
it, pass for pass: the prefill over the prompt (the LM head on its last position only, as ``generate``
asks with ``logits_to_keep=1``) gives the first new token, then each of the ``N - 1`` decode steps feeds
the last token with the cache of every token before it. On ``meta`` (the default) nothing is computed:
token ids change no count, so each step is fed an id of the right shape; on a real device the next id is
the argmax of the logits, as greedy decoding takes it.

With a KV cache, a decode step at context length t (the keys it attends: the prompt, the tokens so far
and itself) costs every weight matrix once for one token plus ``2 * L * t * n_heads * d_head`` MACs of
attention (QK^T and AV; grouped-query attention shares K/V heads, it does not remove MACs); the prefill
of T tokens costs T tokens of weights (the LM head once) plus ``2 * L * T^2 * n_heads * d_head``: the full
T x T scores, as the kernels compute them.
"""
from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from profiler.conventions import get_convention
from profiler.core.document import input_record
from profiler.core.engine import ProfilingError, profile
from profiler.core.profile import Profile, Source
from profiler.errors import UsageError, short_error
from profiler.zoo.build import Built, build_model, _rebuild_on_cpu
from profiler.zoo.hf import DEFAULT_TOKENS
from profiler.zoo.inputs import text_inputs


@dataclass
class Generation:
    """The cost of generating ``new_tokens`` tokens after a prompt of ``prompt_tokens`` (per sequence, times
    ``batch`` sequences): the prefill and one Profile per decode step."""
    prefill: Profile
    decode: list[Profile]
    prompt_tokens: int
    new_tokens: int
    batch: int = 1
    # Keys each decode step's self-attention attends (the t of the closed form): the prompt plus the tokens
    # so far plus the one fed (a decoder-only model); an encoder-decoder's decoder tokens (its cross-attention
    # attends the prompt's prompt_tokens at every step).
    contexts: list[int] = field(default_factory=list)
    # Bytes the KV cache holds after the prefill and after each decode step (every sequence of the batch).
    cache_bytes: list[int] = field(default_factory=list)
    cache_dtype: str = ""
    encoder_decoder: bool = False
    device: str = "meta"
    notes: list[str] = field(default_factory=list)
    source: Source | None = None
    # Parameters outside the embedding tables and the LM head (the N of Kaplan et al.'s 2N FLOPs per token).
    body_params: int | None = None

    @property
    def convention(self) -> str:
        return self.prefill.convention

    @property
    def unit(self) -> str:
        return self.prefill.unit

    @property
    def per_token_macs(self) -> list[int]:
        """MACs of each decode step, in order (the first new token comes from the prefill)."""
        return [p.macs for p in self.decode]

    @property
    def decode_macs(self) -> int:
        return sum(self.per_token_macs)

    @property
    def macs(self) -> int:
        """MACs of the whole generation: prefill and every decode step."""
        return self.prefill.macs + self.decode_macs

    def total(self, convention=None) -> int:
        """The whole generation under ``convention`` (default the profiles' own), in its unit."""
        conv = get_convention(convention or self.convention)
        return self.prefill.total(conv) + sum(p.total(conv) for p in self.decode)

    @property
    def kv_bytes_per_token(self) -> int | None:
        """Bytes the KV cache grows by per generated token of one sequence (None without a decode step).
        A sliding-window cache stops growing at its window: this is then the average."""
        if not self.decode or len(self.cache_bytes) < 2:
            return None
        return int(round((self.cache_bytes[-1] - self.cache_bytes[0]) / len(self.decode) / self.batch))

    def to_dict(self) -> dict:
        """Plain data: totals, the prefill, each decode step (MACs, attention MACs, the convention's total)
        and the cache. What ``profile-model --generate N --format json`` writes; its ``input`` is the record
        every document has (:func:`profiler.core.document.input_record`: kind, the prompt's shapes, batch, tokens)."""
        conv = get_convention(self.convention)
        src = self.source

        def step(p: Profile) -> dict:
            cats = p.by_category
            return {"macs": p.macs, "attention_macs": cats["attention"], "total": p.total(conv)}

        return {
            "model": src.name if src is not None else self.prefill.model,
            "zoo": src.zoo if src is not None else None,
            "task": src.task if src is not None else None,
            "also": list(src.also) if src is not None else [],
            "input": input_record("tokens", self.prefill.inputs, self.batch, self.prompt_tokens),
            "new_tokens": self.new_tokens,
            "convention": conv.name, "unit": conv.unit, "convention_description": conv.description,
            "device": self.device,
            "params": self.prefill.params, "body_params": self.body_params,
            "macs": self.macs, "total": self.total(conv),
            "prefill": {"tokens": self.prompt_tokens, **step(self.prefill)},
            "decode": {"steps": len(self.decode), "macs": self.decode_macs,
                       "total": sum(p.total(conv) for p in self.decode)},
            "per_token": [{"step": i + 1, "context": t, **step(p)}
                          for i, (t, p) in enumerate(zip(self.contexts, self.decode))],
            "kv_cache": {"bytes": list(self.cache_bytes), "bytes_per_token": self.kv_bytes_per_token,
                         "dtype": self.cache_dtype},
            "encoder_decoder": self.encoder_decoder,
            "coverage": sorted({u.op for p in (self.prefill, *self.decode) for u in p.coverage}),
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        return (f"Generation({self.prefill.model}: prompt {self.prompt_tokens} tokens, {self.new_tokens} new, "
                f"prefill {self.prefill.macs:,} MACs, decode {self.decode_macs:,} MACs over {len(self.decode)} "
                f"steps)")


# -- the model's cache ----------------------------------------------------------------------------------------
def _cache_of(output):
    # transformers 5 renamed past_key_values to cache; asking an output that has the new field for the old name
    # logs a deprecation warning (through logging, which catch_warnings does not silence) before our one line
    fields = getattr(output, "__dataclass_fields__", None) or {}
    for name in ("cache",) if "cache" in fields else ("cache", "past_key_values"):
        try:
            value = getattr(output, name, None) if not isinstance(output, dict) else output.get(name)
        except Exception:  # noqa: BLE001 - a deprecated alias that warns or raises
            value = None
        if value is not None:
            return value
    return None


def _cache_tensors(cache) -> list[torch.Tensor]:
    """The floating-point tensors (keys and values) a transformers cache object holds, each once; index
    and length bookkeeping (integer tensors) is left out."""
    out, seen, visited = [], set(), set()
    stack = [cache]
    while stack:
        o = stack.pop()
        if isinstance(o, torch.Tensor):
            if o.is_floating_point() and id(o) not in seen:
                seen.add(id(o))
                out.append(o)
            continue
        if id(o) in visited:
            continue
        visited.add(id(o))
        if isinstance(o, (list, tuple)):
            stack.extend(reversed(o))
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif type(o).__module__.startswith("transformers") and hasattr(o, "__dict__"):
            stack.extend(vars(o).values())
    return out


def cache_bytes(cache) -> int:
    """Bytes of the keys and values a transformers cache object holds (each tensor once)."""
    return sum(t.numel() * t.element_size() for t in _cache_tensors(cache))


def _cache_dtype(cache) -> str:
    tensors = _cache_tensors(cache)
    return str(tensors[0].dtype).replace("torch.", "") if tensors else ""


def _next_ids(output, batch: int, device: torch.device) -> torch.Tensor:
    """The next token of each sequence: greedy (argmax of the last logits) on a real device; on meta an id of
    the right shape (no value to take: it changes no count)."""
    logits = output.get("logits") if isinstance(output, dict) else getattr(output, "logits", None)
    if logits is None or logits.device.type == "meta":
        return torch.zeros((batch, 1), dtype=torch.long, device="meta")
    return logits[:, -1, :].argmax(-1, keepdim=True)


def body_params(model: nn.Module) -> int:
    """Parameters outside every embedding table and the LM head (unless tied to the input embedding,
    which then is counted once, as a table): the N of the 2N FLOPs-per-token rule (Kaplan et al. 2020)."""
    excluded: dict[int, int] = {}
    for mod in model.modules():
        if isinstance(mod, nn.Embedding):
            for p in mod.parameters(recurse=False):
                excluded[id(p)] = p.numel()
    get = getattr(model, "get_output_embeddings", None)
    head = get() if callable(get) else None
    if isinstance(head, nn.Module):
        for p in head.parameters():
            excluded[id(p)] = p.numel()
    unique = {id(p): p.numel() for p in model.parameters()}
    return sum(n for i, n in unique.items() if i not in excluded)


# -- the run --------------------------------------------------------------------------------------------------
def _forward_params(model: nn.Module) -> set[str]:
    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return set()


def _run(model: nn.Module, input_ids: torch.Tensor, new_tokens: int, device: str, convention: str,
         strict: bool, name: str) -> tuple[Profile, list[Profile], list[int], list[int], str, bool]:
    config = getattr(model, "config", None)
    enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    params = _forward_params(model)
    cache_key = "cache" if "cache" in params else "past_key_values"
    batch, prompt = input_ids.shape
    first: dict = {"input_ids": input_ids, "use_cache": True}
    if enc_dec:
        start = getattr(config, "decoder_start_token_id", None) or 0
        first["decoder_input_ids"] = torch.full((batch, 1), int(start), dtype=torch.long, device=input_ids.device)
    for keep in ("logits_to_keep", "num_logits_to_keep"):  # generate() computes the prompt's last logits only
        if keep in params and not enc_dec:
            first[keep] = 1
            break
    captured: dict = {}
    hook = model.register_forward_hook(lambda mod, args, out: captured.__setitem__("out", out))
    run = dict(device=device, convention=convention, strict=strict, name=name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # transformers' deprecation notices are not the user's business
            prefill = profile(model, first, **run)
            out = captured.pop("out", None)
            cache = _cache_of(out)
            if cache is None:
                raise UsageError(f"{name} returned no KV cache (use_cache=True gave none): it cannot decode "
                                 "token by token; profile its forward pass at each length instead")
            encoder = getattr(out, "encoder_last_hidden_state", None) if enc_dec else None
            sizes = [cache_bytes(cache)]
            dtype = _cache_dtype(cache)
            contexts, steps = [], []
            target = torch.device(device)
            for i in range(1, new_tokens):
                ids = _next_ids(out, batch, target)
                step_in: dict = {"decoder_input_ids" if enc_dec else "input_ids": ids, cache_key: cache,
                                 "use_cache": True}
                if enc_dec:
                    step_in["encoder_outputs"] = (encoder,)
                steps.append(profile(model, step_in, **run))
                contexts.append(1 + i if enc_dec else prompt + i)
                out = captured.pop("out", None)
                cache = _cache_of(out) or cache
                sizes.append(cache_bytes(cache))
    finally:
        hook.remove()
    return prefill, steps, contexts, sizes, dtype, enc_dec


def profile_generate(model, input_ids=None, new_tokens: int = 32, *, input: int | None = None, batch: int = 1,
                     convention: str = "macs", device: str = "auto", strict: bool = False,
                     task: str | None = None, **kwargs) -> Generation:
    """Count greedy generation of ``new_tokens`` tokens: the prefill and each decode step with the KV cache.

    model: a transformers model (``nn.Module``) or a name (``hf:llama``, ``gpt2``, ``hf:path/config.json``;
    built on meta unless ``device`` is a real one; ``task`` and ``kwargs`` as for :func:`profile_model`).
    input_ids: the prompt, (batch, T) token ids; or ``input`` = T (default 128) and ``batch`` for made-up ids.
    new_tokens: tokens generated (``generate``'s ``max_new_tokens``): one from the prefill, then
    ``new_tokens - 1`` decode steps.
    device: ``auto`` (default) and ``meta`` count shapes only (nothing computed); ``auto`` falls back to a
    real CPU run, with a note, for a model the meta device cannot run; ``cpu``/``cuda`` run real greedy
    decoding there.
    """
    if not isinstance(new_tokens, int) or isinstance(new_tokens, bool) or new_tokens < 1:
        raise UsageError(f"new_tokens must be a positive integer, got {new_tokens!r}")
    device = str(device)
    built = build_model(model, device=device, task=task, **kwargs)
    info = built.info
    if info.zoo != "module" and info.input_kind != "tokens":
        raise UsageError(f"{info.spec} does not take tokens: generation needs a language model "
                         "(hf:gpt2, hf:llama, hf:t5 ...)")
    if getattr(built.model, "config", None) is None:
        raise UsageError(f"{info.name} is not a transformers model (no .config): generation needs one, with "
                         "its KV cache")
    on_meta = device in ("auto", "meta")
    if input_ids is None:
        length = DEFAULT_TOKENS if input is None else int(input)
        if length < 1:
            raise UsageError(f"the prompt needs at least one token, got input={input!r}")
        input_ids = text_inputs(built.model, length, batch, device="meta" if on_meta else "cpu")["input_ids"]
    elif input is not None:
        raise UsageError("give the prompt as input_ids or as input=LENGTH, not both")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise UsageError("input_ids must be a (batch, tokens) tensor of token ids")
    if not on_meta and any(t.device.type == "meta" for t in built.model.parameters()):
        raise UsageError(f"{info.name} has no weights (it is on meta): count it with device='meta', or build it "
                         "with weights to generate on a real device")
    name = info.spec if info.zoo != "module" else info.name
    target = "meta" if on_meta else device
    notes = list(built.notes)
    try:
        parts = _run(built.model, input_ids.to(target) if not on_meta else input_ids, new_tokens, target,
                     convention, strict, name)
    except ProfilingError as exc:
        if device != "auto" or info.zoo == "module":
            raise
        cause = short_error(exc.__cause__ or exc)
        if built.build != "cpu":
            built = _rebuild_on_cpu(built, notes + ["rebuilt with real weights on the CPU"],
                                    f"the pass failed on meta ({cause})")
            notes = built.notes
        target = "cpu"
        ids = text_inputs(built.model, input_ids.shape[1], input_ids.shape[0], device="cpu")["input_ids"]
        parts = _run(built.model, ids, new_tokens, "cpu", convention, strict, name)
        notes.append(f"the pass failed on meta ({cause}); generated on real tensors on the CPU")
    prefill, steps, contexts, sizes, dtype, enc_dec = parts
    from profiler.zoo.hf import context_note

    note = context_note(built.model.config, int(input_ids.shape[1]) + (0 if enc_dec else new_tokens - 1))
    if note:
        notes.append(note)
    source = None
    if info.zoo != "module":
        source = Source(zoo=info.zoo, name=info.name, input_size=(int(input_ids.shape[1]),),
                        batch=int(input_ids.shape[0]), build=built.build, device=device, kwargs=dict(built.kwargs),
                        input_kind="tokens", task=info.task, also=list(info.also))
    for p in (prefill, *steps):
        p.source = source
    return Generation(prefill=prefill, decode=steps, prompt_tokens=int(input_ids.shape[1]), new_tokens=new_tokens,
                      batch=int(input_ids.shape[0]), contexts=contexts, cache_bytes=sizes, cache_dtype=dtype,
                      encoder_decoder=enc_dec, device=target, notes=notes, source=source,
                      body_params=body_params(built.model))
