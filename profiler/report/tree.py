"""A ptflops-style module tree: every module with the *inclusive* totals of its subtree.

Unlike the per-layer table (own shares, columns add up to 100), each line here is the whole subtree of
that module, so a parent's percentage is the sum of its children's plus what it computes itself.
"""
from __future__ import annotations

from profiler.conventions import get_convention
from profiler.report import format as F
from profiler.core.rows import layer_rows, percent
from profiler.report.textfit import TEXT_WIDTH, wrap_line


def tree(profile, depth: int | None = None, width: int | None = TEXT_WIDTH, describe: bool = True) -> str:
    """One line per module, indented by depth: ``name (Type): params (share), cost (share), config``; a line
    wider than ``width`` wraps, its continuation 4 columns deeper than the module (None: never wraps). The
    closing line names the convention with its description (``describe=False``: its name only, for a page
    whose header has the description)."""
    conv = get_convention(profile.convention)
    total_cost = profile.total(conv)
    total_params = profile.params
    lines = []
    for r in layer_rows(profile, depth=depth):
        pp, pc = percent(r.params_inclusive, total_params), percent(r.cost_inclusive, total_cost)
        extra = F.kernel_stride_groups(r.config)
        lines.append(
            "  " * r.depth + f"{r.name} ({r.type}): "
            f"{F.scaled(r.params_inclusive)} params ({F.percent(pp, 3, '%')}), "
            f"{F.scaled(r.cost_inclusive, conv.unit)} ({F.percent(pc, 3, '%')} {conv.unit})"
            + (f", {extra}" if extra else "") + (f", out {F.shapes(r.output_shapes)}" if r.output_shapes else ""))
    said = f": {conv.description}" if describe else ", defined above"
    lines.append(f"(inclusive totals per module; {conv.unit} under convention '{conv.name}'{said})")
    return "\n".join(wrap_line(line, width) for line in lines)
