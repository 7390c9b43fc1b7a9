"""Progress bars for work over many models (sweep, check, pareto, the block study): tqdm on stderr, shown
only to a person watching a terminal, never in CI logs or when stderr is a file."""
from __future__ import annotations

import os
import sys


def progress_enabled(stream=None) -> bool:
    """A bar only for a person watching: stderr is a terminal and no CI / PROFILER_NO_PROGRESS is set."""
    stream = stream or sys.stderr
    if os.environ.get("CI") or os.environ.get("PROFILER_NO_PROGRESS"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, total: int | None = None, desc: str | None = None, unit: str = "model", **kwargs):
    """A tqdm progress bar on stderr for commands that profile many models (sweep, pareto, check ...).

        for name in progress(names, desc="profiling"):
            ...

    Disabled (a plain pass-through with the same interface) when stderr is not a terminal or under CI.
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", not progress_enabled())
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                leave=False, **kwargs)
