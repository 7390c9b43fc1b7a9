"""Errors a user can fix. The CLI prints them as one line and exits with code 2 (no traceback)."""
from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user (a name, a size, an option value); the message names the fix."""


class UnknownModelError(UsageError, KeyError):
    """No zoo has a model of that name; the message lists the closest names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""



def short_error(exc: BaseException) -> str:
    """``Type: message`` of ``exc`` on one line, cut at 200 characters: the cause a note or a one-line error quotes."""
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg[:200]}"


def file_problem(exc: BaseException, path) -> tuple[str, str]:
    """``(why, what to do)`` for a file that cannot be read or written (``exc``: the OSError, or the
    UnicodeDecodeError of a binary file read as text)."""
    import errno
    import os

    if isinstance(exc, UnicodeError):
        return "it is not UTF-8 text (a binary file?)", "give the text file itself"
    if isinstance(exc, IsADirectoryError) or (path is not None and os.path.isdir(path)):
        return "it is a folder", "give a file path"
    code = getattr(exc, "errno", None)
    why = getattr(exc, "strerror", None) or " ".join(str(exc).split()) or type(exc).__name__
    fix = {errno.ENOENT: "check the path", errno.ENOTDIR: "check the path",
           errno.EACCES: "check its permissions or give another path",
           errno.EPERM: "check its permissions or give another path",
           errno.ENOSPC: "free some space or give a path on another disk",
           errno.EDQUOT: "free some space or give a path on another disk",
           errno.EROFS: "give a path on a writable disk"}.get(code, "give another path")
    return why, fix


def file_error(exc: BaseException, path, what: str = "file", *, writing: bool = False) -> UsageError:
    """The one-line :class:`UsageError` for a file the user named (``what``: ``"registry"``, ``"--resume CSV"``
    ...) that cannot be read or written: the path, why, and what to do."""
    why, fix = file_problem(exc, path)
    return UsageError(f"cannot {'write' if writing else 'read'} {what} {str(path)!r}: {why}; {fix}")
