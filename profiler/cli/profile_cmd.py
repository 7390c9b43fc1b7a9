"""The default command: ``profile-model MODEL [options]``: a per-layer table and the totals of one model.

MODEL is ``NAME`` or ``ZOO:NAME`` (zoos: builtin, timm, torchvision, pytorchcv, hf; unqualified names resolve
in that order), ``path/to/file.py:factory`` or ``package.module:factory`` (``--kwargs key=value`` go to the
constructor, or override an ``hf:`` model's config fields or set ``from_config``'s dtype, attn_implementation and
experts_implementation). The input defaults to the model's own resolution from its zoo's config; a language
model's is its sequence length in tokens (default 128; CLIP and SigLIP also get an image at their config's size,
Whisper its audio features, ``--input`` being its decoder's tokens).

Language models: ``--generate N`` counts greedy generation (the prefill, then each decoded token with the KV
cache); ``--input 512,2048,8192`` (several lengths, commas only) one forward pass per length. For every other
model commas are the same as ``x`` (``3,32,32`` is an image size), as before.

By default the pass runs on the meta device (shapes only: counts are exact, nothing is computed, so it
takes well under a second); a model the meta device cannot run (data-dependent shapes ...) is profiled on
the CPU instead, with a note. ``--device cpu|cuda`` runs a real pass.

After the profile is made, every ``profiler/cli/ext_*.py`` module gets ``apply(args, ctx)`` (see
:class:`profiler.cli.common.Context`): it may add keys to the JSON document and text sections.
"""
from __future__ import annotations

import argparse
import re
import sys

from profiler.cli.common import (Context, emit, format_for, input_dims, make_parser, non_negative_int, output_errors,
                                 output_file, positive_float, positive_int)
# The option names only: the modules that define them import torch, which --help must not wait for.
from profiler.cli.choices import FORMATS, GROUPINGS, LOSSES, OPTIMIZERS, TASKS

EPILOG = """examples:
  profile-model mixnet_s --input 224                   per-layer table (timm's mixnet_s, 1x3x224x224)
  profile-model torchvision:resnet50 --depth 2         modules folded below depth 2
  profile-model pytorchcv:mobilenet_w1 --by kind       MACs and params per layer kind
  profile-model efficientnet_b0 --top 10 --format markdown
  profile-model vit_base_patch16_224 --format json --output vit.json
  profile-model my_net.py:build --kwargs width=0.5 num_classes=10 --input 3x32x32
  profile-model list mobilenet                         names across zoos
  profile-model torchvision:resnet50 --train --optimizer adamw --loss cross-entropy --batch 32
                                                       a training step: forward/backward/optimizer per layer
  profile-model hf:gpt2 --input 128                    a language model, 128 tokens (Hugging Face config, no weights)
  profile-model hf:llama --kwargs num_hidden_layers=2 --generate 32 --input 512
                                                       prefill + 31 decode steps with the KV cache
  profile-model hf:path/to/config.json --input 512,2048,8192   MACs and attention share per sequence length
  profile-model hf:mixtral --kwargs experts_implementation=batched_mm dtype=bfloat16 num_hidden_layers=2
                                                       from_config's arguments beside config fields
  profile-model hf:whisper --input 64                  80x3000 log-mel features and 64 decoder tokens
  profile-model hf:llama --tp 8 --train --input 8192   one rank of TP=8 (the config's plan, simulated): its MACs,
                                                       the global model's, and the collectives' bytes
  profile-model hf:llama --tp 8 --dp-shard 64 --train   one rank of TP=8 x FSDP=64 (fake tensors, nothing allocated)

MACs under the default convention 'macs' = multiply-accumulates of conv + linear + attention + recurrent,
bias not counted (the papers' FLOPs / Mult-Adds); --convention flops doubles them."""

_DEVICE = re.compile(r"^(auto|cpu|meta|cuda(:\d+)?)$")


def device_arg(text: str) -> str:
    if not _DEVICE.match(text or ""):
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from auto, cpu, cuda, cuda:N, meta)")
    return text


def depth_arg(text: str) -> int | str:
    """``--depth``: an integer >= 0, or ``all`` (every module, no folding)."""
    if str(text).strip().lower() == "all":
        return "all"
    try:
        return non_negative_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0 or 'all', got {text!r}") from None


def build_parser(subcommands: dict, extensions: list):
    p = make_parser("profile-model", "Per-layer MACs and parameters of a model. Other commands: "
                    + (", ".join(f"profile-model {c}" for c in sorted(subcommands)) or "none"))
    p.epilog = EPILOG
    # Optional to argparse, required by main(): argparse reports a missing positional before an unknown option,
    # so `profile-model --bogus` would say "model is required" instead of naming --bogus.
    p.add_argument("model", nargs="?", default=None,
                   help="NAME, ZOO:NAME, path/to/file.py:factory or package.module:factory")
    g = p.add_argument_group("model and input")
    g.add_argument("--input", type=input_dims, default=None, metavar="SIZE",
                   help="224 | 224x320 (HxW) | 3x224x224 (CxHxW); default: the model's own size from its zoo. "
                        "Several inputs: x shapes separated by commas, 3x520x960,3x520x960 (RAFT's image pair; "
                        "a detection model's list of images, each repeated --batch times). Language models: "
                        "tokens, 128 (default) or several lengths 512,2048,8192 (commas alone); CLIP/SigLIP: "
                        "the text's tokens; Whisper: the decoder's tokens")
    g.add_argument("--batch", type=positive_int, default=1, help="batch size (default 1)")
    g.add_argument("--kwargs", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="constructor arguments, read as Python literals when possible (num_classes=10 act=relu); "
                        "an hf: model's config fields or from_config's dtype, attn_implementation, "
                        "experts_implementation; they end at the first word without '=', so the model name may "
                        "follow them")
    g.add_argument("--convention", default="macs",
                   help="how operations are counted: macs (default), flops, all, or a peer tool's "
                        "(see profiler.list_conventions())")
    g.add_argument("--device", type=device_arg, default="auto", metavar="{auto,cpu,cuda,meta}",
                   help="where the pass runs: meta = shapes only; auto (default) = meta, CPU if meta fails")
    g.add_argument("--strict", action="store_true", help="fail (exit 1) if an op has no counting rule")
    g.add_argument("--task", default=None, choices=TASKS,
                   help="head of a Hugging Face model (hf:): default causal-lm for a decoder, seq2seq-lm for an "
                        "encoder-decoder, else base")
    lm = p.add_argument_group("language models")
    lm.add_argument("--generate", type=positive_int, default=None, metavar="N",
                    help="count greedy generation of N tokens after the --input prompt: the prefill, then N-1 decode "
                         "steps with the KV cache (per-token table; --plot draws MACs per token)")
    d = p.add_argument_group("parallelism (one rank simulated in this process)")
    d.add_argument("--tp", type=positive_int, default=None, metavar="N",
                   help="count one rank of N tensor-parallel ranks: the model (hf:) sharded with its config's own "
                        "tensor-parallel plan (transformers' apply_tensor_parallelism) under torch's fake process "
                        "group, in this process; the table is this rank's, the footer adds the global (logical) "
                        "model and the communication per collective kind")
    d.add_argument("--dp-shard", type=positive_int, default=None, metavar="M",
                   help="count one rank of M fully-sharded data-parallel ranks (FSDP2's fully_shard on each decoder "
                        "layer and the root, hf:), with --tp on a (M, N) mesh; counted on fake tensors, nothing "
                        "allocated; each data-parallel rank runs its own --batch")
    d.add_argument("--param-dtype", default=None, choices=("bfloat16", "float16", "float32"),
                   help="FSDP's mixed precision (--dp-shard): parameters all-gathered and computed in this dtype, "
                        "gradients reduce-scattered in float32 (default: the model's dtype throughout)")
    d.add_argument("--rank", type=non_negative_int, default=None, metavar="R",
                   help="which rank --tp/--dp-shard or --ep counts (default 0; R = data-parallel rank x N + "
                        "tensor-parallel rank)")
    d.add_argument("--ep", type=int, default=None, metavar="N",
                   help="count one rank of N expert-parallel ranks sharing one batch (hf: MoE): the config's "
                        "expert-parallel plan with transformers' all_to_all dispatch, simulated like --tp, balanced "
                        "routing")
    t = p.add_argument_group("training step")
    t.add_argument("--train", action="store_true",
                   help="count a training step: forward, loss, the backward autograd runs and, with --optimizer, "
                        "one optimizer step; per-layer forward/backward/optimizer columns")
    t.add_argument("--optimizer", default=None, choices=sorted(OPTIMIZERS), help="optimizer of the step (--train)")
    t.add_argument("--loss", default="sum", choices=LOSSES,
                   help="sum (default: of every floating output) or cross-entropy against random classes (--train)")
    t.add_argument("--step-time", type=positive_float, default=None, metavar="SECONDS",
                   help="measured seconds of one training step: with --peak-tflops, prints the MFU")
    t.add_argument("--peak-tflops", type=positive_float, default=None, metavar="TFLOPS",
                   help="the hardware's peak, in 10^12 FLOP/s (e.g. 989 for an H100's dense bf16)")
    o = p.add_argument_group("output")
    o.add_argument("--format", default=None, choices=FORMATS,
                   help="table (default), markdown, csv, json, html, tree (inclusive ptflops-style tree)")
    o.add_argument("--output", type=output_file, default=None, metavar="FILE",
                   help="write there instead of stdout (format from the suffix unless --format)")
    o.add_argument("--depth", type=depth_arg, default=None, metavar="N|all",
                   help="module tree depth: deeper modules are folded into their depth-N ancestor; all = every "
                        "module. Default: the terminal's table folds to the deepest depth that keeps it to about "
                        "60 rows (the footer says what was folded); other formats and files keep every module")
    o.add_argument("--wide", action="store_true",
                   help="the text table with every column, long headers and unwrapped lines (default: fit 120 "
                        "columns: short headers (--legend explains them), the least needed columns left out)")
    o.add_argument("--legend", action="store_true",
                   help="the per-layer table's full legend under the terminal's table: what each column and cell "
                        "means, with units and convention (default: one 'legend' line; files always have it)")
    o.add_argument("--top", type=positive_int, default=None, metavar="N",
                   help="only the N heaviest rows (by cost), the rest in one row")
    o.add_argument("--by", default="layer", choices=GROUPINGS,
                   help="layer (default), kind (conv, conv_depthwise, conv_pointwise, linear ...) or type")
    o.add_argument("--summary", action="store_true",
                   help="torchsummary-style view: output shapes, params, input/activation/param sizes in MB")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    before = {a.dest for a in p._actions}
    for ext in extensions:
        ext.add_arguments(p)
    p.set_defaults(_extension_options={a.dest: (a.option_strings[0], a.default) for a in p._actions
                                       if a.dest not in before and a.option_strings})
    p.usage = p.format_usage().removeprefix("usage: ").rstrip("\n").replace(" [model]", " model").replace("%", "%%")
    return p


def _check_convention(name: str):
    from profiler.conventions import get_convention
    from profiler.errors import UsageError

    try:
        return get_convention(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_training(args) -> None:
    from profiler.cli.ext_mfu import resolve_peak
    from profiler.errors import UsageError

    resolve_peak(args)  # --accelerator NAME: --peak-tflops from the table of known accelerators
    if not args.train:
        given = [o for o, v in (("--optimizer", args.optimizer), ("--step-time", args.step_time),
                                ("--peak-tflops", args.peak_tflops), ("--loss", args.loss != "sum" or None)) if v]
        if given:
            raise UsageError(f"{', '.join(given)} {'describes' if len(given) == 1 else 'describe'} a training step: add --train")
    if (args.step_time is None) != (args.peak_tflops is None):
        raise UsageError("the MFU needs both --step-time SECONDS and --peak-tflops TFLOPS (or --accelerator NAME)")


def _check_device(device: str) -> None:
    from profiler.errors import UsageError

    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f"--device {device}: no CUDA device is available here (use cpu or meta)")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise UsageError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")


def _language_mode(args) -> str | None:
    """``generate`` (--generate N), ``lengths`` (several comma-separated --input numbers) or None."""
    if args.generate is not None:
        return "generate"
    if args.input is not None and len(args.input) > 1 and getattr(args.input, "listed", False):
        return "lengths"
    return None


def _check_language_options(args, mode: str) -> None:
    """Options of the per-layer table or of a training step do not apply to --generate / several lengths."""
    from profiler.errors import UsageError

    what = "--generate" if mode == "generate" else "several --input lengths"
    given = [o for o, v in (("--train", args.train), ("--depth", args.depth is not None), ("--top", args.top is not None),
                            ("--by", args.by != "layer"), ("--summary", args.summary),
                            ("--format tree", args.format == "tree")) if v]
    given += [opt for dest, (opt, default) in getattr(args, "_extension_options", {}).items()
              if dest != "plot" and getattr(args, dest, default) != default]
    if given:
        raise UsageError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to one forward pass's "
                         f"per-layer table, not to {what}")
    if mode == "generate" and args.input is not None and len(args.input) > 1:
        raise UsageError("--generate takes one prompt length: --input LENGTH (e.g. --input 512)")


def _language_model(args, mode: str, fmt: str, kwargs: dict):
    """Run --generate or several lengths when the model is a language model; None for any other model (whose
    comma-separated --input is an image size, as before)."""
    from profiler import zoo
    from profiler.errors import UsageError
    from profiler.report import generation as G
    from profiler.zoo.names import TOKEN_KINDS

    if mode == "generate":
        _check_language_options(args, mode)
    built = zoo.build_model(args.model, device=args.device, task=args.task, **kwargs)
    kind = built.info.input_kind
    if kind != "tokens":
        if mode == "generate" or kind in TOKEN_KINDS:  # CLIP's, Whisper's: tokens with an image or audio
            takes = {"text-image": "tokens and an image", "speech-text": "audio features and decoder tokens"}.get(
                kind, "no tokens")
            what = "--generate" if mode == "generate" else "several --input lengths"
            raise UsageError(f"{what} needs a language model fed tokens alone (hf:gpt2, hf:llama, hf:t5 ...); "
                             f"{built.info.spec} takes {takes}" + ("" if mode == "generate" else
                                                                   ": give one --input LENGTH"))
        return None, built
    _check_language_options(args, mode)
    run = dict(batch=args.batch, convention=args.convention, device=args.device, strict=args.strict)
    width = _text_width(args)
    if mode == "generate":
        from profiler.zoo.generate import profile_generate

        result = profile_generate(built, new_tokens=args.generate, input=args.input[0] if args.input else None,
                                  **run)
        text = G.generation_page(result, fmt, width=width)
        figure = G.plot_generation if getattr(args, "plot", None) else None
    else:
        result = zoo.profile_lengths(built, list(args.input), **run)
        text = G.scaling_page(result, fmt, width=width)
        figure = G.plot_scaling if getattr(args, "plot", None) else None
    if figure is not None:
        from profiler.report.plots import save_figure

        save_figure(figure(result), args.plot)
        sys.stderr.write(f"profile-model: wrote the plot to {args.plot}\n")
    return text, built


def _text_width(args) -> int | None:
    """The columns the text pages fit: the terminal's 120 by default; None (unwrapped, every column) for
    ``--wide`` and for a file (``--output``)."""
    from profiler.report.textfit import TEXT_WIDTH

    return None if args.wide or args.output else TEXT_WIDTH


def _tp_options(args, mode) -> dict:
    """``--tp N``, ``--dp-shard M``, ``--ep N``, ``--param-dtype D`` and ``--rank R`` as profile_model's arguments;
    the fix named for values that cannot go together."""
    from profiler.errors import UsageError

    ep = getattr(args, "ep", None)
    dp = getattr(args, "dp_shard", None)
    param_dtype = getattr(args, "param_dtype", None)
    if param_dtype is not None and dp is None:
        raise UsageError("--param-dtype is FSDP's mixed precision: add --dp-shard M (e.g. --dp-shard 8)")
    if ep is not None:
        if dp is not None:
            raise UsageError("--ep and --dp-shard together are not simulated (FSDP runs on fake tensors, which hold "
                             "no values for the router's choices): give one of them")
        if args.tp is not None and args.tp != ep:
            raise UsageError(f"--tp {args.tp} --ep {ep}: transformers places the experts' ranks in the "
                             f"tensor-parallel group, so --tp must equal --ep (e.g. --tp {ep} --ep {ep})")
        if ep < 1:
            raise UsageError(f"--ep must be at least 1 (the expert-parallel ranks, e.g. --ep 8), got {ep}")
        opt, world = "--ep", ep
    elif args.tp is None and dp is None:
        if args.rank is not None:
            raise UsageError("--rank R picks a rank of a simulated layout: add --tp N, --dp-shard M or --ep N "
                             "(e.g. --tp 8 --rank 3)")
        return {}
    else:
        opt = "--tp" if dp is None else "--dp-shard" if args.tp is None else "--tp x --dp-shard"
        world = (args.tp or 1) * (dp or 1)
    rank = args.rank or 0
    if rank >= world:
        which = f"{opt} ({world} ranks)" if args.tp is not None and dp is not None else f"{opt} {world}"
        raise UsageError(f"--rank {rank} is not a rank of {which}: give --rank 0..{world - 1}")
    if mode is not None:
        raise UsageError(f"{opt} counts one forward pass or training step: leave out "
                         f"{'--generate' if mode == 'generate' else 'the several --input lengths'}")
    if args.device not in ("auto", "meta", "cpu"):
        raise UsageError(f"{opt} simulates the ranks in this process: --device auto, meta or cpu, not {args.device}")
    given = {"rank": rank, "tp": args.tp, "ep": ep, "dp_shard": dp, "param_dtype": param_dtype}
    return {k: v for k, v in given.items() if v is not None}


def _view_depth(args, fmt: str):
    """The depth the report folds to: ``--depth N``; every module for ``--depth all``, files and formats other
    than the text table; else ``auto`` (the terminal table: the deepest depth that keeps it to ~60 rows).
    Sets ``args.depth`` to None for ``all``, so extensions (--plot) read it as every module."""
    given = args.depth
    if given == "all":
        args.depth = None
    if given is not None:
        return args.depth
    return "auto" if fmt == "table" and args.output is None else None


def _kwargs_argv(argv) -> list:
    """``argv`` with each KEY=VALUE after ``--kwargs`` as its own ``--kwargs=KEY=VALUE``: argparse's ``+``
    would swallow the words after them too (``--kwargs num_classes=10 torchvision:resnet50``), the model
    name included; the first word without ``=`` (or an option) ends them."""
    out, argv, i = [], list(argv), 0
    while i < len(argv):
        word = argv[i]
        out.append(word)
        i += 1
        if word == "--":
            out.extend(argv[i:])
            break
        if word == "--kwargs":
            start = i
            while i < len(argv) and "=" in argv[i] and not argv[i].startswith("-"):
                i += 1
            if i > start:
                out[-1:] = [f"--kwargs={item}" for item in argv[start:i]]
    return out


def main(argv, subcommands: dict, extensions: list) -> int:
    parser = build_parser(subcommands, extensions)
    args = parser.parse_args(_kwargs_argv(argv))
    if args.model is None:
        parser.error("the following arguments are required: model")
    with output_errors(parser, args):
        return _run(args, extensions)


def _run(args, extensions: list) -> int:
    from profiler import report, zoo

    conv = _check_convention(args.convention)
    _check_device(args.device)
    fmt = format_for(args.format, args.output)
    _check_training(args)
    kwargs = zoo.parse_kwargs(args.kwargs)
    task = {"task": args.task} if args.task else {}
    model = args.model
    mode = _language_mode(args)
    tp = _tp_options(args, mode)
    if mode is not None:
        text, built = _language_model(args, mode, fmt, kwargs)
        if text is not None:
            emit(text, args.output, f"the {fmt} report")
            return 0
        model, kwargs, task = built, {}, {}  # an image model given 3,32,32: its size, as before
    # --depth all = no folding (what extensions read as args.depth); not given = the terminal table folds
    depth = _view_depth(args, fmt)
    step = dict(backward=True, loss=args.loss, optimizer=args.optimizer) if args.train else {}
    prof = zoo.profile_model(model, input=args.input, batch=args.batch, convention=conv.name,
                             device=args.device, strict=args.strict, **step, **tp, **task, **kwargs)

    ctx = Context(args=args, profile=prof)
    if args.step_time is not None:
        from profiler.report.training import mfu_record, mfu_section

        ctx.result["mfu"] = mfu_record(prof, args.step_time, args.peak_tflops)
        ctx.sections.append(mfu_section(prof, args.step_time, args.peak_tflops, width=_text_width(args)))
    for ext in extensions:
        ext.apply(args, ctx)

    if fmt == "json":
        doc = prof.to_dict(depth=args.depth, top=args.top)
        if args.summary:
            doc["summary"] = report.summary_sizes(prof)
        text = report.to_json({**doc, **ctx.result})
    else:
        text = report.render(prof, fmt, by=args.by, depth=depth, top=args.top, summary=args.summary,
                             width=_text_width(args),
                             sections=ctx.sections, legend=args.legend)
    emit(text, args.output, f"the {fmt} report")
    for line in ctx.messages:  # files the extensions wrote (--plot, --roofline): stderr, never the report
        sys.stderr.write(f"profile-model: {line}\n")
    return 0
