"""Whole-file writes that land completely or not at all: :func:`atomic_open` and :func:`atomic_savefig`.

``open(path, "w")`` truncates the old file before the first byte of the new one is written, so a write that
fails midway (disk full, a file-size limit, Ctrl-C, an exception while rendering) leaves a broken file where
a good one was. These write a temporary file in the target's folder (same file system, so the rename is
atomic), flush and fsync it, and ``os.replace`` it onto the target; on any failure, KeyboardInterrupt
included, the temporary file is removed and the old file is left as it was.

What ``open`` would have done is kept where it can be: the new file gets the old file's permission bits, or
``0o666 & ~umask`` for a new one (not mkstemp's 0600); a symbolic link keeps pointing at its file; a target
that is no regular file (``/dev/null``, a FIFO, a terminal) and a folder where no file can be created (but
whose file may be writable) are written in place, as ``open`` would, without the guarantee; errors (a missing
folder, a read-only file) are ``open``'s own, naming the target.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from typing import IO, Iterator

_MODES = ("w", "wt", "wb")
# Why creating the temporary file may fail where open(path, "w") is the better judge: open fails too, before
# truncating anything (no such folder, a read-only file system), or succeeds in place (a folder we may not
# create files in, holding a file we may write).
_OPEN_DECIDES = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR}


def _umask() -> int:
    # /proc reads the umask without changing it: os.umask can only read it by setting it, and a file another
    # thread creates in between would get the wrong permissions.
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _open_temp(folder: str, name: str, mode: str, encoding: str | None, newline: str | None) -> tuple[IO, str]:
    """A new file object in ``folder`` and its path (the tests wrap it to fail midway)."""
    # The leading dot keeps the temporary file out of globs and listings; the name is cut so that a long
    # target name does not push the temporary one past the file system's limit.
    fd, tmp = tempfile.mkstemp(prefix=f".{name[:100]}.", suffix=".tmp", dir=folder)
    try:
        return open(fd, mode, encoding=encoding, newline=newline), tmp
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise


def _fsync_folder(folder: str) -> None:
    # Best effort: the rename survives a power cut only once the folder's entry is on disk; some file
    # systems cannot open or fsync a folder, and the file is already complete either way.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode: str = "w", encoding: str | None = None,
                newline: str | None = None) -> Iterator[IO]:
    """``with atomic_open(path) as fh: fh.write(...)``: like ``open(path, mode)`` for writing (``"w"`` text,
    ``"wb"`` binary), but ``path`` only changes, all at once, when the block ends without an exception."""
    if mode not in _MODES:
        raise ValueError(f"atomic_open writes whole files: mode must be one of {', '.join(_MODES)}, got {mode!r}")
    # Through symbolic links, as open does: the link stays and the file it points at is replaced.
    target = os.path.realpath(path)
    try:
        old = os.stat(target)
    except OSError:
        old = None
    fh = tmp = None
    # Replacing /dev/null or a FIFO would swap the device for a plain file; those are written in place.
    if old is None or stat.S_ISREG(old.st_mode):
        folder, name = os.path.split(target)
        try:
            fh, tmp = _open_temp(folder, name, mode, encoding, newline)
        except OSError as exc:
            if exc.errno not in _OPEN_DECIDES:  # a full disk: writing in place would truncate the old file
                raise type(exc)(exc.errno, exc.strerror, os.fspath(path)) from None
    if fh is None:
        with open(path, mode, encoding=encoding, newline=newline) as fh:
            yield fh
        return

    bits = stat.S_IMODE(old.st_mode) if old is not None else 0o666 & ~_umask()
    replaced = False
    try:
        yield fh
        fh.flush()
        os.fchmod(fh.fileno(), bits)
        os.fsync(fh.fileno())
        fh.close()
        os.replace(tmp, target)
        replaced = True
    finally:
        if not replaced:
            with contextlib.suppress(Exception):  # a close that fails again must not hide the first error
                fh.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _fsync_folder(os.path.dirname(target))


def atomic_savefig(fig, path, **kwargs) -> None:
    """``fig.savefig(path, **kwargs)`` through :func:`atomic_open`. The format comes from ``path``'s suffix
    (unless ``format=`` is given): matplotlib only sees the file object, not the target's name."""
    fmt = kwargs.pop("format", None) or os.path.splitext(os.fspath(path))[1][1:].lower() or None
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format=fmt, **kwargs)
