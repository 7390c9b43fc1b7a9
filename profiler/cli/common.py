"""Shared pieces of the CLI: parser construction, one-line errors, the context handed to extensions,
argument parsers (input sizes, positive integers), output writing; the progress bar (profiler.progress)."""
from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from profiler.progress import progress, progress_enabled  # noqa: F401 - re-exported for the commands

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (usage stays available with --help)."""

    def error(self, message: str):  # noqa: D401
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
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
    Section text is plain text (tables in tabulate's ``simple`` format, whatever ``--format`` is): every page
    format shows it preformatted (a fenced block in Markdown, ``<pre>`` in HTML).
    """
    args: argparse.Namespace
    model: Any  # the nn.Module (eval mode)
    info: Any  # profiler.zoo.ModelInfo
    # The input tensor(s) of the profiled shape (batch included): the very tensor of the pass on cpu/cuda;
    # a real random CPU tensor of the same shape when the pass ran on the meta device (shapes only).
    inputs: Any
    profile: Any  # profiler.Profile
    result: dict = field(default_factory=dict)  # the JSON document (profiler.report.document) + extension keys
    sections: list = field(default_factory=list)
    model_kwargs: dict = field(default_factory=dict)  # --kwargs, to rebuild the model

    def real_model(self):
        """The model with real weights. ``--device meta`` builds shape-only (nothing allocated); extensions
        that run real kernels (peer tools, latency) get the same architecture rebuilt with random weights."""
        model = self.model
        if any(t.device.type == "meta" for t in (*model.parameters(), *model.buffers())):
            from profiler import zoo

            model, _ = zoo.create(self.info.spec if self.info.zoo != "user" else self.info.name,
                                  **self.model_kwargs)
            self.model = model
        return model


# -- argument types ------------------------------------------------------------------------------------------
def _int_at_least(lowest: int, expected: str):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except (TypeError, ValueError):
            n = None
        if n is None or n < lowest:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return n

    return parse


#: argparse types, checked while parsing (before any model is built): an integer >= 1 (``--batch``, ``--top``,
#: ``--runs`` ...) and an integer >= 0 (``--depth``, ``--warmup`` ...).
positive_int = _int_at_least(1, "a positive integer")
non_negative_int = _int_at_least(0, "an integer >= 0")


def output_file(text: str) -> str:
    """argparse type for a file to write (``--output``, ``--plot`` ...): its folder must exist, so a typo is
    reported while parsing rather than after the work."""
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: folder {folder!r} does not exist")
    return text


_SIZE = re.compile(r"^\s*-?\d+(\s*[x,*]\s*-?\d+)*\s*$", re.IGNORECASE)


def input_dims(text: str) -> tuple[int, ...]:
    """argparse type for ``--input``: ``224``, ``224x320`` or ``3x224x224`` (also ``,`` or ``*``), every
    number >= 1. How many numbers a model takes is checked by :func:`input_size` once it is built."""
    if not isinstance(text, str) or not _SIZE.match(text):
        raise argparse.ArgumentTypeError(
            f"expected H, HxW or CxHxW in pixels (e.g. 224, 224x320, 3x224x224), got {text!r}")
    dims = tuple(int(d) for d in re.split(r"[x,*]", text.replace(" ", "").lower()))
    if any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"sizes must be >= 1, got {text!r}")
    if len(dims) > 5:
        raise argparse.ArgumentTypeError(f"at most 5 numbers (C x T x H x W for video), got {text!r}")
    return dims


def input_size(dims: tuple[int, ...] | None, default: tuple[int, ...], model: str = "the model",
               rank_known: bool = True) -> tuple[int, ...]:
    """The per-sample input shape (no batch) from ``--input`` numbers and the model's default shape.

    ``default`` is (C, H, W) for images, (C, T, H, W) for video, (C, L) for 1-d signals. One number sets
    the spatial side(s) (a square image), two set H and W, and as many numbers as ``default`` has replace it
    whole. With ``rank_known=False`` (a user's model without an ``input_size`` attribute) three or more
    numbers are taken as the full shape.
    """
    from profiler.errors import UsageError

    default = tuple(int(d) for d in default)
    if dims is None:
        return default
    n, r = len(dims), len(default)
    if n == r or (not rank_known and n >= 3):
        return tuple(dims)
    if n == 1 and r >= 2:
        spatial = min(2, r - 1)
        return default[:r - spatial] + dims * spatial
    if n == 2 and r >= 3:
        return default[:r - 2] + tuple(dims)
    shown = "x".join(map(str, default))
    forms = {2: "L or CxL", 3: "H, HxW or CxHxW", 4: "H, HxW or CxTxHxW"}.get(r, f"{r} numbers")
    raise UsageError(f"--input {'x'.join(map(str, dims))} has {n} numbers but {model} takes {forms} "
                     f"(its default is {shown}; the batch size goes in --batch)")


# -- output ------------------------------------------------------------------------------------------------
def emit(text: str, output: str | None = None, what: str = "report") -> None:
    """Print ``text`` or write it to ``output`` (saying so on stderr)."""
    if output:
        from profiler.errors import UsageError

        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write --output {output!r}: {exc.strerror or exc}") from None
        sys.stderr.write(f"profile-model: wrote {what} to {output}\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


FORMAT_OF_SUFFIX = {".json": "json", ".csv": "csv", ".md": "markdown", ".markdown": "markdown",
                    ".html": "html", ".htm": "html", ".txt": "table"}


def format_for(fmt: str | None, output: str | None, default: str = "table") -> str:
    """``--format`` if given, else the one ``--output``'s suffix names (``.json`` ...), else ``default``."""
    if fmt:
        return fmt
    if output:
        return FORMAT_OF_SUFFIX.get(os.path.splitext(output)[1].lower(), default)
    return default

