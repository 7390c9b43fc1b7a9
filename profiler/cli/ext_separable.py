"""``--separable``: every depthwise -> pointwise pair, counted ratio beside the analytic 1/N + 1/k^2.

Adds a table section and ``result["separable"]`` (one entry per pair with ``ratio`` = the counted ratio; see
:mod:`profiler.analysis.separable`).
"""
from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--separable", action="store_true",
                        help="list depthwise -> pointwise pairs: counted MACs of the pair over a standard conv of "
                             "the same shape, beside the analytic ratio 1/N + 1/k^2")


def apply(args, ctx) -> None:
    if not getattr(args, "separable", False):
        return
    from profiler.analysis.separable import pairs_json, separable_pairs
    from profiler.report.sections import separable_section
    from profiler.report.textfit import width_for

    pairs = separable_pairs(ctx.profile)
    ctx.result["separable"] = pairs_json(pairs)
    ctx.sections.append(separable_section(pairs, width=width_for(args)))
