"""``--accelerator NAME``: the MFU's peak from the table of known accelerators (:data:`profiler.analysis.mfu.
ACCELERATORS`, dense, by ``--peak-dtype``) instead of ``--peak-tflops``; and, with ``--step-time`` on a Hugging Face
language model, the MFU that Megatron-LM's and the 6N + 12LHQT formulas give beside ours
(``result["mfu_formulas"]``, one section; :mod:`profiler.analysis.formula_check`)."""
from __future__ import annotations


def add_arguments(parser) -> None:
    from profiler.cli.choices import ACCELERATORS  # profiler.analysis.mfu's keys, copied (see choices)

    parser.add_argument("--accelerator", default=None, choices=ACCELERATORS, metavar="NAME",
                        help="the MFU's peak from the table of dense peaks (no sparsity) of known accelerators: "
                             f"{', '.join(ACCELERATORS)} (--train --step-time; instead of --peak-tflops)")
    parser.add_argument("--peak-dtype", default="bf16", choices=("bf16", "fp16"),
                        help="the dtype of --accelerator's peak (default bf16)")


def resolve_peak(args) -> None:
    """Set ``args.peak_tflops`` from ``--accelerator`` (before the training options are checked)."""
    name = getattr(args, "accelerator", None)
    if name is None:
        return
    from profiler.analysis.mfu import peak_tflops
    from profiler.errors import UsageError

    if not getattr(args, "train", False):
        raise UsageError("--accelerator gives the MFU's peak of a training step: add --train --step-time SECONDS")
    if args.peak_tflops is not None:
        raise UsageError("give the peak once: --accelerator NAME or --peak-tflops TFLOPS")
    try:
        args.peak_tflops = peak_tflops(name, getattr(args, "peak_dtype", "bf16"))
    except ValueError as exc:
        raise UsageError(f"--accelerator: {exc}") from None


def apply(args, ctx) -> None:
    seconds, peak = getattr(args, "step_time", None), getattr(args, "peak_tflops", None)
    src = ctx.profile.source
    if not seconds or not peak or "crosscheck_formulas" in ctx.result or src is None or src.zoo != "hf" \
            or src.input_kind != "tokens" or not ctx.profile.is_step:
        return  # --crosscheck formulas already printed each formula's MFU
    from profiler.analysis.formula_check import formula_check
    from profiler.report.formulas import formula_record, mfu_section
    from profiler.report.textfit import width_for

    try:
        report = formula_check(ctx.profile)
    except ValueError:
        return  # a config the formulas cannot read: ours alone, as before
    ctx.result["mfu_formulas"] = formula_record(report, seconds, peak)
    ctx.sections.append(mfu_section(report, seconds, peak, accelerator=getattr(args, "accelerator", None),
                                    dtype=getattr(args, "peak_dtype", "bf16"), width=width_for(args)))
