"""Shared pieces of the CLI: parser construction, one-line errors, the context handed to extensions,
argument parsers (input sizes, positive integers), output writing; the progress bar (profiler.progress)."""
from __future__ import annotations

import argparse
import contextlib
import errno
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


def add_no_progress(parser) -> None:
    """``--no-progress``, the same for every command that works through many models or entries (sweep, check,
    pareto, list): its progress is a tqdm bar on a terminal, else a stderr line every 10 s (profiler.progress)."""
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress on stderr (default: a bar with the remaining time on a terminal, else a "
                             "line every 10 s, PROFILER_PROGRESS_EVERY seconds)")


def make_parser(prog: str, description: str) -> OneLineParser:
    return OneLineParser(prog=prog, description=description,
                         formatter_class=argparse.RawDescriptionHelpFormatter)


def fail(exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr and return its exit code (2 = the user's input, 1 = the model)."""
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("profile-model: interrupted\n")
        return 130
    from profiler.errors import UsageError

    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, UsageError):
        sys.stderr.write(f"profile-model: error: {msg}\n")
        return EXIT_USAGE
    # Not imported here: the error may be torch's own failure to import.
    engine = sys.modules.get("profiler.core.engine")
    if engine is not None and isinstance(exc, (engine.ProfilingError, engine.UncoveredOpsError)):
        sys.stderr.write(f"profile-model: error: {msg} (rerun with --debug for the traceback)\n")
        return EXIT_FAIL
    sys.stderr.write(f"profile-model: error: {type(exc).__name__}: {msg} (rerun with --debug for the traceback)\n")
    return EXIT_FAIL


@dataclass
class Context:
    """What a profile-command extension (``ext_*.py``) gets after the profile is made.

    The extension may add keys to ``result`` (merged into the JSON document, e.g. ``result["crosscheck"]``)
    and append ``(title, text)`` to ``sections`` (printed after the per-layer table in text formats); it must
    not print. Section text is plain text, made by :mod:`profiler.report.sections`: every page format shows
    it preformatted (a fenced block in Markdown, ``<pre>`` in HTML). A line about a file the extension wrote
    (``wrote plot.png (...)``) goes into ``messages``: the command prints those on stderr, never in the report.
    """
    args: argparse.Namespace
    profile: Any  # profiler.Profile, its ``source`` saying how the model was built
    result: dict = field(default_factory=dict)  # keys added to the JSON document
    sections: list = field(default_factory=list)
    messages: list = field(default_factory=list)  # lines about files written: stderr, after the report
    _model: Any = None
    _inputs: Any = None

    def real_model(self):
        """The profiled architecture with real (random) weights on the CPU, built again from its source:
        extensions that run real kernels (peer tools, latency) need weights the meta pass never made."""
        if self._model is None:
            from profiler import zoo

            src = self.profile.source
            task = {"task": src.task} if src.task else {}
            self._model, _ = zoo.create(src.spec, **task, **src.kwargs)
        return self._model

    @property
    def inputs(self):
        """A random real CPU tensor of the profiled input shape (batch included), in the model's dtype; a
        language model's keyword inputs (``input_ids`` ..., CLIP's image, Whisper's audio features) of the
        profiled length."""
        if self._inputs is None:
            from profiler.zoo.inputs import float_dtype, random_inputs, text_inputs
            from profiler.zoo.names import TOKEN_KINDS

            src = self.profile.source
            if src is not None and src.input_kind in ("images", "image-pair"):
                from profiler.errors import UsageError

                what = "a list of images" if src.input_kind == "images" else "an image pair"
                raise UsageError(f"--crosscheck and --latency run the model on one input tensor; {src.spec} takes "
                                 f"{what}: profile it without them")
            if src is not None and src.input_kind in TOKEN_KINDS:
                self._inputs = text_inputs(self.real_model(), src.input_size[0], src.batch, device="cpu")
            else:
                self._inputs = random_inputs(self.profile.inputs[0], float_dtype(self.real_model()))
        return self._inputs


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


def positive_float(text: str) -> float:
    """argparse type for a finite number > 0 (``--step-time``, ``--peak-tflops``, ``--timeout``,
    ``--max-memory``): nan, inf and negative numbers are refused."""
    try:
        v = float(text)
    except (TypeError, ValueError):
        v = None
    if v is None or not 0 < v < float("inf"):  # nan fails both comparisons
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return v


def output_file(text: str) -> str:
    """argparse type for a file to write (``--output``, ``--plot`` ...): its folder must exist, so a typo is
    reported while parsing rather than after the work."""
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: folder {folder!r} does not exist")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: it is a folder; give a file path in it")
    return text


#: errno values of a write that failed after the file was opened (no file name in the OSError): the disk, not
#: the program.
_WRITE_ERRNOS = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS") if hasattr(errno, n))


@contextlib.contextmanager
def output_errors(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """Turn an OSError writing one of the files the options of ``parser`` typed :func:`output_file` name
    (``--output``, ``--plot`` ...) into a one-line :class:`~profiler.errors.UsageError` naming that option and
    path: a folder, a full disk (``/dev/full``), no permission. Other OSErrors pass through."""
    try:
        yield
    except OSError as exc:
        from profiler.errors import UsageError, file_problem

        given = {a.option_strings[0]: getattr(args, a.dest, None) for a in parser._actions
                 if a.type is output_file and a.option_strings and getattr(args, a.dest, None)}
        name = exc.filename
        if isinstance(name, (str, bytes, os.PathLike)):
            named = [(opt, path) for opt, path in given.items()
                     if os.path.abspath(os.fsdecode(name)) == os.path.abspath(path)]
        elif name is None and exc.errno in _WRITE_ERRNOS:
            named = list(given.items())  # a failed write names no file: every output is a suspect
            if not named:  # the command's default paths (reports/...)
                why, fix = file_problem(exc, None)
                raise UsageError(f"cannot write the output: {why}; {fix}") from None
        else:
            named = []
        if not named:
            raise
        why, fix = file_problem(exc, named[0][1])
        what = " or ".join(f"{opt} {path!r}" for opt, path in named)
        raise UsageError(f"cannot write {what}: {why}; {fix}") from None


_SIZE = re.compile(r"^\s*-?\d+(\s*[x,*]\s*-?\d+)*\s*$", re.IGNORECASE)
_LIST = re.compile(r"^\s*-?\d+(\s*,\s*-?\d+)+\s*$")


class InputDims(tuple):
    """``--input``'s numbers; ``listed`` when there are several, separated by commas only: several sequence
    lengths for a language model (``512,2048,8192``), the same as ``x`` for any other model (``3,32,32``)."""
    listed: bool = False


class InputShapes(tuple):
    """Several inputs' shapes (a tuple of :class:`InputDims`), from commas between ``x`` shapes
    (``3x520x960,3x520x960``): RAFT's image pair, a detection model's list of images, a user model's
    positional tensors."""
    listed: bool = False


_SHAPE = re.compile(r"^\s*-?\d+(\s*[x*]\s*-?\d+)*\s*$", re.IGNORECASE)


def input_dims(text: str) -> tuple[int, ...]:
    """argparse type for ``--input``: ``224``, ``224x320`` or ``3x224x224`` (also ``,`` or ``*``), every
    number >= 1; a language model's sequence length ``128``, or several ``512,2048,8192``; several inputs as
    ``x`` shapes separated by commas, ``3x520x960,3x520x960`` (:class:`InputShapes`: a comma between parts of
    which one has an ``x`` separates inputs; commas alone stay numbers of one shape, or lengths). How many
    numbers and inputs a model takes is checked by :func:`profiler.zoo.inputs.sample_shapes`."""
    if isinstance(text, str) and "," in text and re.search(r"[x*]", text, re.IGNORECASE):
        parts = text.split(",")
        if not all(_SHAPE.match(part) for part in parts):
            raise argparse.ArgumentTypeError(
                f"several inputs are x-shapes separated by commas (e.g. 3x520x960,3x520x960), got {text!r}")
        return InputShapes(input_dims(part) for part in parts)
    if not isinstance(text, str) or not _SIZE.match(text):
        raise argparse.ArgumentTypeError(
            f"expected H, HxW or CxHxW in pixels (e.g. 224, 224x320, 3x224x224), several inputs' shapes "
            f"separated by commas (3x520x960,3x520x960) or, for a language model, tokens (128, or several "
            f"lengths 512,2048,8192), got {text!r}")
    dims = InputDims(int(d) for d in re.split(r"[x,*]", text.replace(" ", "").lower()))
    dims.listed = bool(_LIST.match(text))
    if any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"sizes must be >= 1, got {text!r}")
    if len(dims) > 5 and not dims.listed:
        raise argparse.ArgumentTypeError(f"at most 5 numbers (C x T x H x W for video), got {text!r}")
    return dims


# -- output ------------------------------------------------------------------------------------------------
def emit(text: str, output: str | None = None, what: str = "report") -> None:
    """Print ``text`` or write it to ``output`` (saying so on stderr); a failed write leaves the old file."""
    if output:
        from profiler.atomic import atomic_open
        from profiler.errors import UsageError

        try:
            with atomic_open(output, "w", encoding="utf-8") as fh:
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

