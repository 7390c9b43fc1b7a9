"""Progress for work over many models (sweep, check, pareto, list, the block study): on stderr, never on stdout.

On a terminal (stderr a TTY, no CI): a tqdm bar with done/total, the elapsed and the remaining time
(tqdm's ``[elapsed<remaining]``). Elsewhere (CI logs, a pipe, a file) a command that asks for it
(``log=True``, or every bar started inside ``with log_lines():``: ``sweep``, ``blocks``, ``check``, ``pareto``,
``list``) gets plain lines instead, at most one every ``every`` seconds (default 10,
``PROFILER_PROGRESS_EVERY``; 0: one per step)::

    profile-model: sweep 4/10 models, 00:12 elapsed, about 00:18 left (resnet18 ok)

``PROFILER_NO_PROGRESS`` (or a command's ``--no-progress``) turns both off. A library call outside any command
(a notebook's ``profile_model``) writes no lines unless it asks."""
from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time

#: Seconds between two progress lines when stderr is not a terminal.
LOG_EVERY = 10.0

#: What ``progress(log=None)`` means: True inside :func:`log_lines` (a command's run), None inside
#: ``log_lines(False)`` (no progress at all), else False.
_LOG: contextvars.ContextVar[bool | None] = contextvars.ContextVar("profiler_progress_log", default=False)


@contextlib.contextmanager
def log_lines(on: bool = True):
    """``with log_lines():`` around a command's work: every bar started inside without its own ``log=`` (those
    of the library functions the command calls, e.g. :func:`profiler.studies.pareto.fill_counted`) writes
    lines off a terminal, as ``log=True`` does. ``on=False``: none of them shows at all (``--no-progress``)."""
    token = _LOG.set(on if on else None)  # None: disabled
    try:
        yield
    finally:
        _LOG.reset(token)


def progress_enabled(stream=None) -> bool:
    """A bar only for a person watching: stderr is a terminal and no CI / PROFILER_NO_PROGRESS is set."""
    stream = stream or sys.stderr
    if os.environ.get("CI") or os.environ.get("PROFILER_NO_PROGRESS"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _log_every() -> float:
    try:
        return max(0.0, float(os.environ.get("PROFILER_PROGRESS_EVERY", LOG_EVERY)))
    except ValueError:
        return LOG_EVERY


def progress(iterable=None, total: int | None = None, desc: str | None = None, unit: str = "model",
             log: bool | None = None, every: float | None = None, **kwargs):
    """Progress of ``total`` steps (or of ``iterable``) on stderr, with the remaining time:

        for name in progress(names, desc="profiling"):
            ...
        bar = progress(total=len(todo), desc="sweep", log=True); bar.update(1); bar.close()

    On a terminal: a tqdm bar. Otherwise, with ``log=True``: :class:`ProgressLines` (a line every ``every``
    seconds, default :data:`LOG_EVERY`); without it a silent pass-through with the same interface.
    ``log=None`` (the default): as :func:`log_lines` set it, False outside. ``disable=True`` silences both.
    """
    from tqdm.auto import tqdm

    if log is None:
        log = _LOG.get()
        if log is None:  # inside log_lines(False): --no-progress
            kwargs["disable"] = True
    if not kwargs.get("disable") and log and not progress_enabled() and not os.environ.get("PROFILER_NO_PROGRESS"):
        return ProgressLines(iterable, total=total, desc=desc, unit=unit,
                             every=_log_every() if every is None else every)
    kwargs.setdefault("disable", not progress_enabled())
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                leave=False, **kwargs)


def _plural(unit: str) -> str:
    """model -> models, entry -> entries, zoos stays zoos."""
    if unit.endswith("s"):
        return unit
    if unit.endswith("y") and unit[-2:-1] not in ("", "a", "e", "i", "o", "u"):
        return unit[:-1] + "ies"
    return unit + "s"


def _clock(seconds: float) -> str:
    """``00:12``, ``1:02:03``: tqdm's own format of a duration."""
    from tqdm import tqdm

    return tqdm.format_interval(seconds)


class ProgressLines:
    """The part of tqdm's interface the commands use (iterate, ``update``, ``set_postfix_str``, ``close``),
    written as plain lines for a log: ``profile-model: DESC done/total UNITs, ELAPSED elapsed, about
    REMAINING left (postfix)``, at most one every ``every`` seconds, and the last step's line when an
    earlier line was written (so that a log that showed progress shows its end)."""

    disable = False

    def __init__(self, iterable=None, total: int | None = None, desc: str | None = None, unit: str = "model",
                 every: float = LOG_EVERY, stream=None, clock=time.monotonic):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.stream = stream or sys.stderr
        self.clock = clock
        self.n, self.postfix, self.lines = 0, "", 0
        self.start = self.last = clock()

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        self.postfix = text

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        end = self.total is not None and self.n >= self.total
        if now - self.last >= self.every or (end and self.lines):
            self.last = now
            self.write(now)

    def line(self, now: float) -> str:
        elapsed = now - self.start
        units = self.unit if (self.total or self.n) == 1 else _plural(self.unit)
        done = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        text = f"profile-model: {self.desc + ' ' if self.desc else ''}{done} {units}, {_clock(elapsed)} elapsed"
        if self.total is not None and self.n:
            left = elapsed / self.n * max(self.total - self.n, 0)
            text += f", about {_clock(left)} left" if self.n < self.total else ", done"
        return text + (f" ({self.postfix})" if self.postfix else "")

    def write(self, now: float | None = None) -> None:
        self.stream.write(self.line(self.clock() if now is None else now) + "\n")
        self.stream.flush()
        self.lines += 1

    def close(self) -> None:
        pass
