"""`profile-model`: the command line.

    profile-model NAME [options]          profile one model (profiler/cli/profile_cmd.py)
    profile-model SUBCOMMAND [options]    list, check, blocks, pareto, sweep ...

Extension points (so each feature lives in its own module and this file never grows):
- a subcommand is a module ``profiler/cli/cmd_<name>.py`` with ``HELP: str``,
  ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code);
- an option of the profile command (``--crosscheck``, ``--separable``, ``--plot`` ...) is a module
  ``profiler/cli/ext_<name>.py`` with ``add_arguments(parser)`` and ``apply(args, ctx)``, called after the
  profile is made when the option is set; see :class:`profiler.cli.common.Context`.

Errors the user can fix (:class:`profiler.errors.UsageError`, bad option values) print one line and exit 2;
a model whose forward pass fails exits 1 naming the layer, as does one whose real build or pass would not fit in
memory (:class:`profiler.zoo.memory.TooBigError`); ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys

from profiler.cli.common import EXIT_USAGE, fail, make_parser


def subcommands() -> dict[str, object]:
    """name -> module for every ``cmd_<name>.py`` in this package."""
    out = {}
    for m in pkgutil.iter_modules(__path__):
        if m.name.startswith("cmd_"):
            out[m.name[4:]] = importlib.import_module(f"{__name__}.{m.name}")
    return out


def extensions() -> list[object]:
    return [importlib.import_module(f"{__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name) if m.name.startswith("ext_")]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        cmds = subcommands()
        if argv and argv[0] in cmds:
            mod = cmds[argv[0]]
            parser = make_parser(f"profile-model {argv[0]}", mod.HELP)
            mod.add_arguments(parser)
            parser.add_argument("--debug", action="store_true", help="show tracebacks")
            args = parser.parse_args(argv[1:])
            return int(mod.run(args) or 0)
        from profiler.cli import profile_cmd
        return int(profile_cmd.main(argv, cmds, extensions()) or 0)
    except SystemExit as exc:  # argparse: --help (0) or a bad option (2, already printed on one line)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    except BaseException as exc:  # noqa: BLE001 - every error becomes one line unless --debug
        if debug:
            raise
        return fail(exc)


def console() -> None:
    """The ``profile-model`` command: :func:`main`, then, for the profile command itself, leave without the
    interpreter's clean-up. Tearing down torch and the zoos' modules takes about a second after the report is
    out (0.45 s for torch alone here) and frees nothing the operating system does not: the report is written,
    files are closed, no worker process is left. Subcommands (sweeps with worker pools ...) exit normally."""
    argv = sys.argv[1:]
    code = main(argv)
    if argv and argv[0] in subcommands():
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # the reader went away (| head): nothing left to show
        pass
    os._exit(code)
