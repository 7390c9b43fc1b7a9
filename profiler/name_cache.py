"""The rows ``profile-model list`` shows, cached per zoo in a JSON file: listing every zoo imports torch, timm,
torchvision, pytorchcv and transformers (6 s or more), while a later listing from the file imports none of them.
Stdlib only, beside :mod:`profiler.progress` and :mod:`profiler.atomic` at the package's top so that any layer
may use it: the command line writes it (``list``) and the zoo reads it (:func:`profiler.zoo.names.also_in`)
without the zoo importing the command line.

The file is ``$XDG_CACHE_HOME/profiler/names-<hash>.json`` (``~/.cache/profiler`` without XDG_CACHE_HOME, or
where it is not an absolute path: point XDG_CACHE_HOME at a temporary folder, as the tests do, to keep the
user's cache out of it),
``<hash>`` that of its key: the installed versions of torch, timm, torchvision, pytorchcv, transformers and
profiler (read with :mod:`importlib.metadata`, which imports no package) and the modification times of the
files that decide names in an editable install: the builtin zoo's modules and data (``profiler/models/``) and
the code that lists and resolves them. A new version or an edited file gives a new key, so a new file, built on
first use; the newest few older files are kept, for environments that share the cache folder.

A file that cannot be read or parsed, or whose key or rows are not what this version writes, is ignored and
rebuilt; a folder where no file can be written means no caching, not an error. ``PROFILER_NO_CACHE=1`` skips
the file altogether.
"""
from __future__ import annotations

import hashlib
import json
import os

#: set to anything but "" or "0": list from the zoos themselves, neither reading nor writing the file
DISABLE = "PROFILER_NO_CACHE"
_PACKAGES = ("torch", "timm", "torchvision", "pytorchcv", "transformers", "profiler")
_FORMAT = 1  # bumped when the rows' meaning changes without any key file changing
_KEEP_OLD = 3
_ROOT = os.path.dirname(os.path.abspath(__file__))  # the profiler package


def enabled() -> bool:
    return os.environ.get(DISABLE, "") in ("", "0")


def folder() -> str | None:
    """Where the files go; None where the user has no cache folder to name."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative path is invalid and ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
        if not os.path.isabs(base):  # no HOME: expanduser left "~" as it was
            return None
    return os.path.join(base, "profiler")


def key() -> dict:
    from importlib import metadata

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    files = [os.path.join(_ROOT, "zoo", "names.py"), os.path.join(_ROOT, "zoo", "hf.py"),
             os.path.join(_ROOT, "cli", "cmd_list.py"), os.path.abspath(__file__)]
    models = os.path.join(_ROOT, "models")
    try:
        files += sorted(e.path for e in os.scandir(models) if e.is_file() and not e.name.startswith("."))
    except OSError:
        pass
    mtimes = {}
    for path in files:
        try:
            mtimes[os.path.relpath(path, _ROOT)] = os.stat(path).st_mtime_ns
        except OSError:
            mtimes[os.path.relpath(path, _ROOT)] = None
    return {"format": _FORMAT, "versions": versions, "mtimes": mtimes}


def path_for(k: dict) -> str | None:
    where = folder()
    if where is None:
        return None
    digest = hashlib.sha256(json.dumps(k, sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(where, f"names-{digest}.json")


def load(zoos, build, progress=None) -> dict[str, list[list[str]]]:
    """zoo -> its rows, ``[name, use_as]`` pairs, for each of ``zoos``: from the file where it has them, else
    ``build(zoo)``, written back so that the next call finds them. ``progress`` wraps the list of the zoos to
    build (e.g. :func:`profiler.progress.progress`); it is not called when the file has them all."""
    k = key()
    path = path_for(k)
    rows = _read(path, k) if path else {}
    missing = [z for z in dict.fromkeys(zoos) if z not in rows]
    for z in (progress(missing) if progress and missing else missing):
        rows[z] = [list(r) for r in build(z)]
    if missing and path:
        _write(path, k, rows)
    return rows


def cached() -> dict[str, list[list[str]]]:
    """zoo -> its rows for the zoos the file holds now, building nothing ({} when caching is off or no file):
    what ``profiler.zoo.names.also_in`` reads to name the other zoos of a bare name without importing them."""
    if not enabled():
        return {}
    k = key()
    path = path_for(k)
    return _read(path, k) if path else {}


def _read(path: str, k: dict) -> dict[str, list[list[str]]]:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):  # missing, unreadable, not JSON, not UTF-8 (UnicodeDecodeError)
        return {}
    if not isinstance(doc, dict) or doc.get("key") != k or not isinstance(doc.get("zoos"), dict):
        return {}
    return {z: rows for z, rows in doc["zoos"].items() if _valid(rows)}


def _valid(rows) -> bool:
    return isinstance(rows, list) and all(
        isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r) for r in rows)


def _write(path: str, k: dict, rows: dict) -> None:
    from profiler.atomic import atomic_open

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_open(path, "w", encoding="utf-8") as fh:  # a reader never sees half a file
            json.dump({"key": k, "zoos": rows}, fh, separators=(",", ":"))
    except OSError:  # a read-only or full disk, a file where the folder should be: list without caching
        return
    _prune(os.path.dirname(path), os.path.basename(path))


def _prune(where: str, current: str) -> None:
    try:
        old = [e for e in os.scandir(where) if e.name.startswith("names-") and e.name.endswith(".json")
               and e.name != current and e.is_file()]
        old.sort(key=lambda e: e.stat().st_mtime_ns, reverse=True)
    except OSError:
        return
    for e in old[_KEEP_OLD:]:
        try:
            os.unlink(e.path)
        except OSError:
            pass
