"""The default command: ``profile-model NAME [options]``.

MINIMAL VERSION (to be completed by the CLI issue): builds the model, profiles it, runs the extensions,
prints totals or JSON.
"""
from __future__ import annotations

import json

from profiler.cli.common import Context, make_parser


def build_parser(subcommands: dict, extensions: list):
    p = make_parser("profile-model", "Per-layer MACs and parameters of a model. Subcommands: "
                    + ", ".join(sorted(subcommands)))
    p.add_argument("model", help="NAME, ZOO:NAME, path/to/file.py:factory or package.module:factory")
    p.add_argument("--input", default=None, help="224 | 224x320 | 3x224x224 (default: the zoo's own size)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--convention", default="macs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--format", default="table", choices=["table", "markdown", "csv", "json", "html"])
    p.add_argument("--output", default=None)
    p.add_argument("--kwargs", nargs="*", default=[])
    p.add_argument("--debug", action="store_true")
    for ext in extensions:
        ext.add_arguments(p)
    return p


def main(argv, subcommands: dict, extensions: list) -> int:
    from profiler import profile, zoo

    args = build_parser(subcommands, extensions).parse_args(argv)
    model, info = zoo.create(args.model)
    size = info.input_size if args.input is None else (3, int(args.input), int(args.input))
    prof = profile(model, input_size=(args.batch, *size), convention=args.convention, device=args.device,
                   name=info.spec)
    ctx = Context(args=args, model=model, info=info, inputs=None, profile=prof, result=prof.to_dict())
    for ext in extensions:
        ext.apply(args, ctx)
    if args.format == "json":
        print(json.dumps(ctx.result))
    else:
        print(f"{info.spec}: {prof.macs:,} {prof.unit} [{prof.convention}], {prof.params:,} params")
        for title, text in ctx.sections:
            print(f"\n{title}\n{text}")
    return 0
