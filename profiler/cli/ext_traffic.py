"""``--traffic``: memory traffic per layer: bytes read (inputs + weights), bytes written (outputs) and
arithmetic intensity (MACs per byte), from the op records of the profile (see :mod:`profiler.analysis.traffic`).

Adds ``result["traffic"]`` (bytes in B, intensity in MACs/B) and a table section (MB = 10^6 B).
"""
from __future__ import annotations

from profiler.cli.common import positive_int


def add_arguments(parser) -> None:
    g = parser.add_argument_group("memory traffic")
    g.add_argument("--traffic", action="store_true",
                   help="per-layer bytes read (inputs + weights) and written (outputs), and MACs per byte "
                        "(unfused, cache-less traffic: each op reads its arguments and writes its outputs)")
    g.add_argument("--traffic-top", type=positive_int, default=None, metavar="N",
                   help="only the N layers that move the most bytes in the traffic table")


def apply(args, ctx) -> None:
    if not getattr(args, "traffic", False):
        return
    from profiler.analysis.traffic import traffic
    from profiler.report.sections import traffic_section
    from profiler.report.textfit import width_for

    tr = traffic(ctx.profile)
    ctx.result["traffic"] = tr.to_dict()
    ctx.sections.append(traffic_section(tr, top=getattr(args, "traffic_top", None), width=width_for(args)))
