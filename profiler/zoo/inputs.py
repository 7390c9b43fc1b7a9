"""A model's inputs: one sample's shape from the numbers a user gives (``224``, ``224x320``, ``3x224x224``;
a language model's sequence length ``128``) and the zoo's default, random tensors of that shape in the
model's dtype, and a language model's token inputs (:func:`text_inputs`)."""
from __future__ import annotations

import operator

import torch
import torch.nn as nn

from profiler.errors import UsageError
from profiler.zoo.names import TOKEN_KINDS


def sample_shape(dims, default: tuple[int, ...], model: str = "the model",
                 rank_known: bool = True, kind: str = "tensor") -> tuple[int, ...]:
    """One sample's input shape (no batch) from ``dims`` and the model's default shape.

    ``default`` is (C, H, W) for images, (C, T, H, W) for video, (C, L) for 1-d signals. ``dims`` None keeps
    it; one number sets the spatial side(s) (a square image), two set H and W, and as many numbers as
    ``default`` has replace it whole. With ``rank_known=False`` (a user's model without an ``input_size``
    attribute) three or more numbers are taken as the full shape. A language model (``kind`` one of
    :data:`profiler.zoo.names.TOKEN_KINDS`, ``default`` = (sequence length,)) takes one number, its sequence
    length (Whisper's: its decoder's).
    """
    default = tuple(int(d) for d in default)
    if dims is None:
        return default
    dims = _numbers(dims)
    if not dims or any(d < 1 for d in dims):
        raise UsageError(f"input sizes must be integers >= 1, got {'x'.join(map(str, dims)) or 'nothing'}")
    n, r = len(dims), len(default)
    if kind in TOKEN_KINDS:
        if n == 1:
            return dims
        what = {"text-image": "tokens and an image at its config's size",
                "speech-text": "audio features at its config's size and decoder tokens"}.get(kind, "tokens")
        several = "; several lengths, comma-separated, on the command line: --input 512,2048,8192" \
            if kind == "tokens" else ""
        raise UsageError(f"--input {'x'.join(map(str, dims))}: {model} takes {what}: --input LENGTH (e.g. 128), "
                         f"the sequence length in tokens (the batch size goes in --batch{several})")
    if n == r or (not rank_known and n >= 3):
        return dims
    if n == 1 and r >= 2:
        spatial = min(2, r - 1)
        return default[:r - spatial] + dims * spatial
    if n == 2 and r >= 3:
        if dims[0] in (1, 3, 4) and dims[1] > 4 * dims[0]:
            # 3x224 is far more likely a channel count and a side than a 3-pixel-high image
            full = "x".join(map(str, (dims[0],) + default[1:r - 2] + (dims[1], dims[1])))
            raise UsageError(f"--input {dims[0]}x{dims[1]} reads as HxW, a {dims[0]}-pixel-high image; for "
                             f"{dims[0]} channels give the full shape ({full}) or the side alone ({dims[1]}); "
                             f"for that height give the full shape ({'x'.join(map(str, default[:r - 2] + dims))})")
        return default[:r - 2] + dims
    shown = "x".join(map(str, default))
    forms = {2: "L or CxL", 3: "H, HxW or CxHxW", 4: "H, HxW or CxTxHxW"}.get(r, f"{r} numbers")
    raise UsageError(f"--input {'x'.join(map(str, dims))} has {n} numbers but {model} takes {forms} "
                     f"(its default is {shown}; the batch size goes in --batch)")


def _numbers(dims) -> tuple[int, ...]:
    """``input``'s integers: one (``224``) or a sequence (``(3, 224, 224)``, a ``torch.Size``); anything else
    (``"abc"``, ``2.5``, ``True``) is refused rather than truncated or read digit by digit."""
    def whole(d) -> int:
        if isinstance(d, bool):
            raise TypeError
        return operator.index(d)

    try:
        if isinstance(dims, (str, bytes)):
            raise TypeError
        return (whole(dims),) if not hasattr(dims, "__iter__") else tuple(whole(d) for d in dims)
    except TypeError:
        raise UsageError(f"input={dims!r}: give one sample's size as integers: 224, (224, 320) or (3, 224, 224); "
                         "for a language model its number of tokens (128)") from None


def several_shapes(dims) -> bool:
    """Whether ``dims`` (``profile_model``'s ``input``) gives several inputs' shapes: a list or tuple of shapes,
    e.g. ``[(3, 520, 960), (3, 520, 960)]``, rather than one shape's numbers."""
    return isinstance(dims, (list, tuple)) and bool(dims) and all(isinstance(d, (list, tuple)) for d in dims)


def sample_shapes(dims, default: tuple[int, ...], model: str = "the model", rank_known: bool = True,
                  kind: str = "tensor") -> tuple[tuple[int, ...], ...]:
    """Each input's sample shape (no batch) for a model taking ``kind`` inputs (see
    :data:`profiler.zoo.names.INPUT_KINDS`): ``dims`` is None, one shape's numbers (for every input) or
    several shapes (:func:`several_shapes`), each read by :func:`sample_shape` against ``default``.

    A detection model (``images``) takes any number of images (a list; ``batch`` repeats it); an optical
    flow model (``image-pair``) two images (one shape is used for both); a one-tensor model of known rank one
    shape; a user's model of unknown rank (``rank_known=False``) one positional tensor per shape.
    """
    given = [tuple(d) for d in dims] if several_shapes(dims) else [dims]
    shapes = tuple(sample_shape(d, default, model, rank_known, kind) for d in given)
    if kind == "image-pair":
        if len(shapes) == 1:
            shapes = shapes * 2
        if len(shapes) != 2:
            raise UsageError(f"{model} takes an image pair: give one size for both (e.g. --input 3x520x960) or "
                             f"two (--input 3x520x960,3x520x960), not {len(shapes)}")
        for shape in shapes:
            if shape[-1] % 8 or shape[-2] % 8:
                raise UsageError(f"{model} needs H and W divisible by 8, got {'x'.join(map(str, shape))} "
                                 f"(e.g. {'x'.join(map(str, shape[:-2] + tuple(8 * -(-d // 8) for d in shape[-2:])))})")
    elif len(shapes) > 1 and kind != "images" and rank_known:
        raise UsageError(f"{model} takes one input tensor, got {len(shapes)} shapes "
                         f"({', '.join('x'.join(map(str, s)) for s in shapes)}); give one")
    return shapes


def float_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (inputs are made in it)."""
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def random_inputs(shape, dtype: torch.dtype = torch.float32, device="cpu") -> torch.Tensor:
    """One input tensor of ``shape`` (batch included): random values, or storage-free on ``meta``."""
    if str(device) == "meta":
        return torch.empty(tuple(shape), dtype=dtype, device="meta")
    return torch.randn(tuple(shape), dtype=dtype, device=device)


def text_inputs(model_or_config, seq_len: int, batch: int = 1, *, decoder_len: int | None = None,
                attention_mask: bool = False, device=None) -> dict:
    """Keyword inputs of a Hugging Face language model: ``input_ids`` of shape (batch, seq_len) and, for an
    encoder-decoder (T5, BART ...), ``decoder_input_ids`` of (batch, decoder_len or seq_len). A two-tower text
    and image model (CLIP, SigLIP) gets ``pixel_values`` of (batch, C, H, W) at its vision config's size too;
    Whisper gets ``input_features`` of (batch, mel bins, frames) (:func:`profiler.zoo.hf.features_of`) in place
    of ``input_ids``, ``seq_len`` being its decoder's length.

    model_or_config: a transformers model or its config (a config: the model its default task builds). Token
    ids are random below ``vocab_size`` and images and features random normal values (in the model's dtype) on
    a real device (fixed seed), storage-free on ``meta``; values change no count. ``device`` defaults to the
    model's (``cpu`` for a config). ``attention_mask=True`` adds masks of ones over the tokens; without them
    the model assumes every token is attended, which is the same computation, and a mask given on ``meta``
    cannot be read by the models that inspect its values.
    """
    config = getattr(model_or_config, "config", model_or_config)
    if not hasattr(config, "to_dict") or not hasattr(config, "model_type"):
        raise TypeError(f"text_inputs() needs a transformers model or config, got {type(model_or_config).__name__}")
    for what, v in (("seq_len", seq_len), ("batch", batch), ("decoder_len", decoder_len)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise UsageError(f"{what} must be a positive integer, got {v!r}")
    is_module = isinstance(model_or_config, nn.Module)
    if device is None:
        device = next((t.device for t in model_or_config.parameters()), "cpu") if is_module else "cpu"
    from profiler.zoo import hf

    # ids below every vocabulary the config gives: an encoder-decoder's encoder may have a smaller one (Dia's)
    vocabs = [getattr(c, "vocab_size", None) for c in (hf.text_config(config), config,
                                                        getattr(config, "encoder_config", None),
                                                        getattr(config, "decoder_config", None))]
    vocab = min([int(v) for v in vocabs if isinstance(v, int) and not isinstance(v, bool) and v > 0] or [2])
    dtype = float_dtype(model_or_config) if is_module else torch.get_default_dtype()
    if is_module:
        model = model_or_config
    else:
        try:
            model = hf.model_class(config)
        except (UsageError, KeyError):  # a config of no task's model: its tokens alone
            model = None
    kind = hf.input_of(model, config)[0] if model is not None else "tokens"

    def ids(length: int, arg: str = "input_ids") -> torch.Tensor:
        # codebook layouts (profiler.zoo.hf.token_layout): (batch x K, T) or (batch, T, K + 1)
        rows, cols = hf.token_layout(model, config, arg) if model is not None else (1, 1)
        shape = (batch * rows, length) + ((cols,) if cols > 1 else ())
        if str(device) == "meta":
            return torch.zeros(shape, dtype=torch.long, device="meta")
        gen = torch.Generator().manual_seed(0)
        return torch.randint(0, vocab, shape, generator=gen).to(device)

    def floats(shape: tuple) -> torch.Tensor:
        if str(device) == "meta":
            return torch.empty((batch, *shape), dtype=dtype, device="meta")
        return torch.randn((batch, *shape), dtype=dtype, generator=torch.Generator().manual_seed(0)).to(device)

    if kind == "speech-text":
        name, shape = hf.speech_input(model_or_config if is_module else hf.model_class(config), config)
        out = {name: floats(shape)}
    else:
        out = {"input_ids": ids(seq_len)}
        if attention_mask:
            out["attention_mask"] = torch.ones((batch, seq_len), dtype=torch.long, device=device)
        audio = hf.audio_beside_tokens(model, config) if kind == "tokens" and model is not None else None
        if audio is not None:  # CLAP's audio tower, CLVP's conditioning mel: the features the forward needs
            out[audio[0]] = floats(audio[1])
    if kind == "text-image":
        out["pixel_values"] = floats(hf.image_of(config))
    if getattr(config, "is_encoder_decoder", False):
        dec = decoder_len or seq_len
        out["decoder_input_ids"] = ids(dec, "decoder_input_ids")
        if attention_mask:
            out["decoder_attention_mask"] = torch.ones((batch, dec), dtype=torch.long, device=device)
    return out
