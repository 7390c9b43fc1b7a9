"""`profile-model`: the command line.

    profile-model NAME [options]          profile one model (profiler/cli/profile_cmd.py)
    profile-model SUBCOMMAND [options]    list, check, blocks, pareto, sweep ...

Extension points (so each feature lives in its own module and this file never grows):
- a subcommand is a module ``profiler/cli/cmd_<name>.py`` with ``HELP: str``,
  ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code), and ``TORCH_FREE = True`` if ``run`` can
  finish without torch (``list`` from its name cache), so that :func:`console` does not import it up front;
- an option of the profile command (``--crosscheck``, ``--separable``, ``--plot`` ...) is a module
  ``profiler/cli/ext_<name>.py`` with ``add_arguments(parser)`` and ``apply(args, ctx)``, called after the
  profile is made when the option is set; see :class:`profiler.cli.common.Context`.
Importing these modules and building their parsers imports neither torch nor a zoo (their option names come from
:mod:`profiler.cli.choices`), so that every ``--help`` answers at once; tests/cli/test_startup.py checks it.

Errors the user can fix (:class:`profiler.errors.UsageError`, bad option or ``--kwargs`` values, paths that
cannot be read or written) print one line and exit 2; a model whose forward pass fails exits 1 naming the layer,
as does one whose real build or pass would not fit in memory (:class:`profiler.zoo.memory.TooBigError`); Ctrl-C
exits 130 with "profile-model: interrupted" at most; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import os
import signal
import sys

# Nothing else at import: `from profiler.cli import console` runs before console() can answer Ctrl-C, so it
# loads no more than the interpreter already has.


def subcommands() -> dict[str, object]:
    """name -> module for every ``cmd_<name>.py`` in this package."""
    import importlib
    import pkgutil

    out = {}
    for m in pkgutil.iter_modules(__path__):
        if m.name.startswith("cmd_"):
            out[m.name[4:]] = importlib.import_module(f"{__name__}.{m.name}")
    return out


def extensions() -> list[object]:
    import importlib
    import pkgutil

    return [importlib.import_module(f"{__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name) if m.name.startswith("ext_")]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        from profiler.cli.common import make_parser, output_errors

        cmds = subcommands()
        if argv and argv[0] in cmds:
            mod = cmds[argv[0]]
            parser = make_parser(f"profile-model {argv[0]}", mod.HELP)
            mod.add_arguments(parser)
            parser.add_argument("--debug", action="store_true", help="show tracebacks")
            args = parser.parse_args(argv[1:])
            with output_errors(parser, args):
                return int(mod.run(args) or 0)
        from profiler.cli import profile_cmd
        return int(profile_cmd.main(argv, cmds, extensions()) or 0)
    except SystemExit as exc:  # argparse: --help (0) or a bad option (2, already printed on one line)
        from profiler.cli.common import EXIT_USAGE

        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    except BaseException as exc:  # noqa: BLE001 - every error becomes one line unless --debug
        if debug:
            raise
        from profiler.cli.common import fail  # here too: the import above may be what was interrupted

        return fail(exc)


def _interrupted_while_loading(signum, frame) -> None:
    """Ctrl-C while torch and the zoos are imported: leave at once, in one line. A KeyboardInterrupt raised
    inside an extension module's initialisation prints a long traceback through the import machinery, and the
    half-initialised module can abort (SIGABRT) the interpreter's exit."""
    try:
        os.write(2, b"profile-model: interrupted\n")
    finally:
        os._exit(130)


_console = False  # console() runs: the process is the command's, and so is its SIGINT handler


class loading:
    """``with loading():`` around the imports of torch and the zoos that a command makes itself (``list`` when
    its name cache misses): under :func:`console`, Ctrl-C there leaves at once, as while :func:`_load` runs;
    from :func:`main` called in Python (a notebook, the tests) nothing changes."""

    def __enter__(self):
        self._previous = None
        if _console:
            try:
                self._previous = signal.signal(signal.SIGINT, _interrupted_while_loading)
            except ValueError:  # not the main thread, where Python cannot set a handler
                pass
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _wants_help(argv: list[str]) -> bool:
    words = argv[:argv.index("--")] if "--" in argv else argv  # after "--", "-h" is a positional argument
    return "-h" in words or "--help" in words


def _load(argv: list[str]) -> None:
    """Import what the command in ``argv`` needs (the commands and extensions; torch, the zoos and the
    renderers unless it only asks for help or its subcommand is ``TORCH_FREE``) while
    :func:`_interrupted_while_loading` answers Ctrl-C."""
    cmds = subcommands()
    extensions()
    from profiler.cli import profile_cmd  # noqa: F401
    if not argv or _wants_help(argv) or getattr(cmds.get(argv[0]), "TORCH_FREE", False):
        return
    import profiler.report  # noqa: F401 - torch, profiler.core
    import profiler.zoo  # noqa: F401


def console() -> None:
    """The ``profile-model`` command: :func:`main`, then, for the profile command itself, leave without the
    interpreter's clean-up. Tearing down torch and the zoos' modules takes about a second after the report is
    out (0.45 s for torch alone here) and frees nothing the operating system does not: the report is written,
    files are closed, no worker process is left. Subcommands (sweeps with worker pools ...) exit normally.
    Ctrl-C exits 130 with one line: at once while the modules load, then through :func:`main`'s handling of
    KeyboardInterrupt (finally blocks run, a sweep's workers are stopped)."""
    global _console
    _console = True
    signal.signal(signal.SIGINT, _interrupted_while_loading)
    argv = sys.argv[1:]
    try:
        _load(argv)
    except Exception:  # noqa: BLE001 - main() imports it again and reports the error in one line
        pass
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = main(argv)
    except KeyboardInterrupt:  # between the two handlers, before main() could catch it
        from profiler.cli.common import fail

        code = fail(KeyboardInterrupt())
    if argv and argv[0] in subcommands():
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # the reader went away (| head): nothing left to show
        pass
    os._exit(code)
