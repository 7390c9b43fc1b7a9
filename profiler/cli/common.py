"""Shared pieces of the CLI: parser construction, one-line errors, the context handed to extensions."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (usage stays available with --help)."""

    def error(self, message: str):  # noqa: D401
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog.split()[0]} --help)\n")
        raise SystemExit(EXIT_USAGE)


def make_parser(prog: str, description: str) -> OneLineParser:
    return OneLineParser(prog=prog, description=description,
                         formatter_class=argparse.RawDescriptionHelpFormatter)


def fail(exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr and return its exit code (2 = the user's input, 1 = the model)."""
    from profiler.engine import ProfilingError, UncoveredOpsError
    from profiler.errors import UsageError

    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("profile-model: interrupted\n")
        return 130
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, UsageError):
        sys.stderr.write(f"profile-model: error: {msg}\n")
        return EXIT_USAGE
    if isinstance(exc, (ProfilingError, UncoveredOpsError)):
        sys.stderr.write(f"profile-model: error: {msg} (rerun with --debug for the traceback)\n")
        return EXIT_FAIL
    sys.stderr.write(f"profile-model: error: {type(exc).__name__}: {msg} (rerun with --debug for the traceback)\n")
    return EXIT_FAIL


@dataclass
class Context:
    """What a profile-command extension (``ext_*.py``) gets after the profile is made.

    The extension may add keys to ``result`` (the JSON document, e.g. ``result["crosscheck"]``) and append
    ``(title, text)`` to ``sections`` (printed after the per-layer table in text formats); it must not print.
    """
    args: argparse.Namespace
    model: Any  # the nn.Module (eval mode)
    info: Any  # profiler.zoo.ModelInfo
    inputs: Any  # the input tensor(s) the profile was made with (on the profile's device)
    profile: Any  # profiler.Profile
    result: dict = field(default_factory=dict)
    sections: list = field(default_factory=list)
