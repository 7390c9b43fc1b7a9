"""``--crosscheck [TOOL ...]``: run ptflops (pytorch and aten backends), fvcore, torch's FlopCounterMode, thop,
torchinfo and torchsummary on the same model and input, and reconcile each with our count in its convention.

Adds ``result["crosscheck"]`` = ``{tool: {"theirs", "ours", "explained": [{"what", "layer", "macs"}],
"unexplained", "unit", ...}}`` (``theirs - ours - sum(explained.macs) == unexplained``, in the tool's unit),
``result["crosscheck_skipped"]`` (tool -> why it did not run), and two text sections. With ``--train``,
``torch`` also checks the training step (``result["crosscheck_step"]``, :mod:`profiler.crosscheck.step`).
"""
from __future__ import annotations


def add_arguments(parser) -> None:
    from profiler.cli.choices import TOOLS  # profiler.crosscheck.TOOLS imports torch and the peers: --help would wait

    parser.add_argument("--crosscheck", nargs="*", default=None, metavar="TOOL",
                        help="compare with peer tools and explain every difference (default: all installed of "
                             f"{', '.join(TOOLS)}); runs a real CPU pass of each tool")


def apply(args, ctx) -> None:
    tools = getattr(args, "crosscheck", None)
    if tools is None:
        return
    from profiler.crosscheck import TOOLS, crosscheck
    from profiler.report.crosscheck import reasons_table, summary_table
    from profiler.report.textfit import width_for, wrap_item
    from profiler.errors import UsageError

    bad = [t for t in tools if t not in TOOLS]
    if bad:
        raise UsageError(f"--crosscheck: unknown tool(s) {', '.join(bad)}; choose from {', '.join(TOOLS)}")
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
