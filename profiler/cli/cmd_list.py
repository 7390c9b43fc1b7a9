"""``profile-model list [PATTERN]``: model names across zoos (nothing is built or profiled unless --sizes)."""
from __future__ import annotations

import fnmatch
import json

from profiler.cli.common import add_no_progress, emit, format_for, output_file, progress

HELP = ("List model names across zoos (builtin, timm, torchvision, pytorchcv, hf). PATTERN is a substring or a "
        "glob (mobilenet, 'resnet*d'). The 'use as' column is what to type: an unqualified name resolves in "
        "the zoo order builtin, timm, torchvision, pytorchcv, hf; names the first zoo already takes need ZOO:NAME. "
        "The hf zoo lists transformers' model types (each built from its default config; hf:path/to/config.json "
        "and cached hub ids hf:org/name work too).")

FORMATS = ("table", "markdown", "csv", "json", "html")
#: run() needs neither torch nor a zoo once the name cache holds the zoos' names (profiler.cli.__init__)
TORCH_FREE = True


def add_arguments(parser) -> None:
    from profiler.cli.choices import ZOOS

    parser.add_argument("pattern", nargs="?", default=None, help="substring or glob of the name")
    parser.add_argument("--zoo", action="append", choices=ZOOS, default=None,
                        help="only this zoo (repeatable); default: all")
    parser.add_argument("--sizes", action="store_true",
                        help="add each model's default input (C x H x W; a language model's tokens) from its zoo's "
                             "config (pytorchcv keeps it on the model, so its models are built: slower)")
    parser.add_argument("--format", default=None, choices=FORMATS, help="table (default), markdown, csv, json, html")
    parser.add_argument("--output", type=output_file, default=None, metavar="FILE", help="write there instead of stdout")
    add_no_progress(parser)


def rows(pattern: str | None, zoos, sizes: bool = False) -> list[dict]:
    """One record per (zoo, name): ``zoo``, ``name``, ``use_as`` (the spec that picks it) and ``input``."""
    out = [{"zoo": zoo_name, "name": name, "use_as": use_as} for zoo_name, name, use_as in _listed(pattern, zoos)]
    if sizes:
        from profiler.cli import loading

        with loading():
            from profiler import zoo  # noqa: F401 - torch, before the progress bar starts
        for rec in progress(out, desc="list: default inputs"):
            rec["input"] = _default_input(rec["zoo"], rec["name"])
    return out


def _listed(pattern: str | None, zoos) -> list[tuple[str, str, str]]:
    """(zoo, name, use_as) for each name matching ``pattern``, from the name cache (no zoo is imported once it
    holds them: :mod:`profiler.name_cache`) unless PROFILER_NO_CACHE is set. Building it (a zoo at a time, the
    slow part: seconds each) shows progress: a bar on a terminal, else a stderr line every 10 s."""
    from profiler import name_cache
    from profiler.cli import loading

    if not name_cache.enabled():
        with loading():  # torch and the zoos' packages
            from profiler import zoo as Z

            return [(zoo_name, name, _use_as(zoo_name, name)) for zoo_name, name in Z.list_names(pattern, zoos)]
    cached = name_cache.load(zoos, _zoo_rows,
                             progress=lambda todo: progress(todo, desc="list: names cache", unit="zoo"))
    glob = _glob(pattern)
    return [(zoo_name, name, use_as) for zoo_name in zoos for name, use_as in cached[zoo_name]
            if not glob or fnmatch.fnmatch(name, glob)]


def _glob(pattern: str | None) -> str | None:
    """The glob :func:`profiler.zoo.list_names` matches names with (a substring is ``*pattern*``), repeated here
    because profiler.zoo imports torch; tests/cli/test_startup.py compares the two listings."""
    if pattern and not any(ch in pattern for ch in "*?["):
        return f"*{pattern}*"
    return pattern


def _zoo_rows(zoo_name: str) -> list[tuple[str, str]]:
    """Every name of one zoo with what to type for it: what the cache holds."""
    from profiler.cli import loading

    with loading():  # torch and the zoos' packages, which resolving a name may import too
        from profiler import zoo as Z

        return [(name, _use_as(zoo_name, name)) for _, name in Z.list_names(None, (zoo_name,))]


def _use_as(zoo_name: str, name: str) -> str:
    from profiler import zoo as Z

    try:
        first = Z.resolve(name)[0]
    except Exception:  # noqa: BLE001 - a name no unqualified lookup reaches
        first = None
    return name if first == zoo_name else f"{zoo_name}:{name}"


def _default_input(zoo_name: str, name: str):
    import warnings

    from profiler import zoo as Z

    try:
        if zoo_name == "pytorchcv":  # pytorchcv's input size lives on the built model (in_size)
            model, info = Z.create(f"{zoo_name}:{name}")
            return list(info.input_size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(Z.default_input(zoo_name, name))
    except Exception as exc:  # noqa: BLE001 - one broken entry must not hide the others
        return f"error: {type(exc).__name__}"


def run(args) -> int:
    import sys

    from profiler.cli.choices import ZOOS

    from profiler.report.tables import Column, Table, render_table  # tabulate only: no torch
    from profiler.progress import log_lines

    zoos = tuple(args.zoo) if args.zoo else ZOOS
    with log_lines(not args.no_progress):  # building the names cache, --sizes: lines off a terminal
        recs = rows(args.pattern, zoos, args.sizes)
    fmt = format_for(args.format, args.output)
    if not recs:
        sys.stderr.write(f"profile-model list: no model name matches {args.pattern!r} in {', '.join(zoos)}\n")
        return 1
    if fmt == "json":
        emit(json.dumps(recs, indent=2), args.output, "the model list")
        return 0
    cols = [Column("zoo", "zoo"), Column("name", "name"), Column("use_as", "use as")]
    if args.sizes:
        cols.append(Column("input", "default input (CxHxW, or tokens)"))
    table = Table(cols)
    for r in recs:
        raw = [r["zoo"], r["name"], r["use_as"]]
        shown = list(raw)
        if args.sizes:
            size = r["input"]
            raw.append("x".join(map(str, size)) if isinstance(size, list) else size)
            shown.append(raw[-1])
        table.add(raw, shown)
    from profiler.report.textfit import TEXT_WIDTH, fit_table, wrap_line

    width = None if args.output else TEXT_WIDTH
    if fmt == "table":  # the names wrapped if a line would be wider than the terminal
        heads = [c.header.replace("input (", "input\n(") if width else c.header for c in cols]
        text = fit_table(table.shown, heads, width, wrap=(1, 2, 3))
    else:
        text = render_table(table, fmt, caption="models")
    if fmt in ("table", "markdown"):
        counts = ", ".join(f"{z} {sum(r['zoo'] == z for r in recs)}" for z in zoos)
        text += "\n\n" + wrap_line(f"{len(recs)} names ({counts}); architectures only, weights are never "
                                     "downloaded", width if fmt == "table" else None)
    emit(text, args.output, "the model list")
    return 0
