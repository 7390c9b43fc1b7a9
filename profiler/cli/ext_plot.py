"""``--plot FILE.png|.svg|.pdf``: per-layer picture of the profile (per module at ``--depth N`` when the
profile command has that option set), coloured by layer kind, with the split by kind.

The picture's path goes into ``result["plot"]``; one line on stderr says where it is (never in the report).
"""
from __future__ import annotations

from profiler.cli.common import output_file


def add_arguments(parser) -> None:
    parser.add_argument("--plot", type=output_file, metavar="FILE", default=None,
                        help="write a picture of MACs and parameters per layer (per module with --depth), "
                             "coloured by layer kind, plus the split by kind (.png, .svg or .pdf)")


def apply(args, ctx) -> None:
    path = getattr(args, "plot", None)
    if not path:
        return
    from profiler.report.plots import plot_layers, save_figure

    depth = getattr(args, "depth", None)  # the table's --depth option (profile command), when given
    fig = plot_layers(ctx.profile, depth=depth)
    save_figure(fig, path)
    ctx.result["plot"] = {"path": str(path), "depth": depth}
    ctx.messages.append(f"wrote {path} ({'per layer' if depth is None else f'per module at depth {depth}'}, "
                        f"{ctx.profile.unit} [convention '{ctx.profile.convention}'] and parameters)")
