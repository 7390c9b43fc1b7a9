"""``--crosscheck [TOOL ...]``: run ptflops (pytorch and aten backends), fvcore, torch's FlopCounterMode, thop,
torchinfo and torchsummary on the same model and input, and reconcile each with our count in its convention.

Adds ``result["crosscheck"]`` = ``{tool: {"theirs", "ours", "explained": [{"what", "layer", "macs"}],
"unexplained", "unit", ...}}`` (``theirs - ours - sum(explained.macs) == unexplained``, in the tool's unit),
``result["crosscheck_skipped"]`` (tool -> why it did not run), and two text sections. With ``--train``,
``torch`` also checks the training step (``result["crosscheck_step"]``, :mod:`profiler.crosscheck.step`).

``--crosscheck formulas`` (with ``--train``, a Hugging Face language model) sets the exact step count beside
Megatron-LM's and the 6N + 12LHQT formulas instead, on the profile already made (no peer runs, no CPU pass):
``result["crosscheck_formulas"]`` and one section (:mod:`profiler.analysis.formula_check`); with
``--step-time`` the MFU of each beside ours.
"""
from __future__ import annotations


def add_arguments(parser) -> None:
    # profiler.crosscheck.TOOLS imports torch and the peers: --help would wait
    from profiler.cli.choices import FORMULA_CHECKS, TOOLS

    parser.add_argument("--crosscheck", nargs="*", default=None, metavar="TOOL",
                        help="compare with peer tools and explain every difference (default: all installed of "
                             f"{', '.join(TOOLS)}); runs a real CPU pass of each tool. "
                             f"'{FORMULA_CHECKS[0]}' (with --train, an hf: language model): the training step "
                             "beside Megatron-LM's and the 6N+12LHQT FLOPs formulas, every difference named")


def apply(args, ctx) -> None:
    tools = getattr(args, "crosscheck", None)
    if tools is None:
        return
    from profiler.cli.choices import FORMULA_CHECKS
    from profiler.crosscheck import TOOLS, crosscheck
    from profiler.report.crosscheck import reasons_table, summary_table
    from profiler.report.textfit import width_for, wrap_item
    from profiler.errors import UsageError

    bad = [t for t in tools if t not in TOOLS and t not in FORMULA_CHECKS]
    if bad:
        raise UsageError(f"--crosscheck: unknown tool(s) {', '.join(bad)}; choose from "
                         f"{', '.join(TOOLS + FORMULA_CHECKS)}")
    if any(t in FORMULA_CHECKS for t in tools):
        _formulas(args, ctx)
        tools = [t for t in tools if t not in FORMULA_CHECKS]
        if not tools:
            return
    # Our own CPU pass with the same input: the peers run real kernels (fused attention ...), so must we.
    result = crosscheck(ctx.real_model(), ctx.inputs, tools=tools or None)
    ctx.result["crosscheck"] = dict(result)
    if result.skipped:
        ctx.result["crosscheck_skipped"] = dict(result.skipped)
    width = width_for(args)
    text = summary_table(result, width=width)
    if result.skipped:
        text += "\n" + wrap_item("not run: ", "; ".join(f"{t} ({why})" for t, why in result.skipped.items()), width)
    ctx.sections.append(("Cross-check with peer tools (each in its own unit and convention)", text))
    ctx.sections.append(("Cross-check: reasons for each difference", reasons_table(result, width=width)))
    if getattr(args, "train", False) and (not tools or "torch" in tools):
        # The one peer that counts a backward: the same training step under FlopCounterMode.
        from profiler.core.step import loss_function
        from profiler.crosscheck.step import crosscheck_step

        step = {"torch (training step)": crosscheck_step(ctx.real_model(), ctx.inputs,
                                                         loss=loss_function(args.loss))}
        ctx.result["crosscheck_step"] = step["torch (training step)"]
        ctx.sections.append(("Cross-check of the training step (forward, loss, backward) with FlopCounterMode",
                             summary_table(step, width=width) + "\n\n"
                             + reasons_table(step, params=False, width=width)))


def _formulas(args, ctx) -> None:
    """``--crosscheck formulas``: the step beside the frameworks' formulas, on the profile already made."""
    from profiler.analysis.formula_check import formula_check
    from profiler.errors import UsageError
    from profiler.report.formulas import formula_record, formula_section
    from profiler.report.textfit import width_for

    if not getattr(args, "train", False):
        raise UsageError("--crosscheck formulas compares a training step with the frameworks' formulas: add --train")
    try:
        report = formula_check(ctx.profile)
    except ValueError as exc:
        raise UsageError(f"--crosscheck formulas: {exc}") from None
    seconds, peak = getattr(args, "step_time", None), getattr(args, "peak_tflops", None)
    ctx.result["crosscheck_formulas"] = formula_record(report, seconds, peak)
    ctx.sections.append(formula_section(report, seconds, peak, width=width_for(args)))
