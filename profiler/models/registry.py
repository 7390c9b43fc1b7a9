"""Registry of the built-in architectures (the `builtin` zoo).

Two kinds of entries:
- fixed names, registered with :func:`register_model`;
- name grammars (e.g. ``crossnet58k5_b70e04g2``), registered with :func:`register_pattern`: a regular
  expression whose match is handed to the factory, plus a few example names for listings.

Input sizes are (C, H, W) without the batch dimension.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

InputSize = tuple[int, ...]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., nn.Module]
    input_size: InputSize
    family: str = ""


@dataclass(frozen=True)
class PatternEntry:
    regex: re.Pattern
    factory: Callable[..., nn.Module]  # factory(match, **kwargs)
    input_size: InputSize | Callable[[re.Match], InputSize]
    examples: tuple[str, ...] = field(default_factory=tuple)
    family: str = ""


_MODELS: dict[str, ModelEntry] = {}
_PATTERNS: list[PatternEntry] = []


def register_model(name: str | None = None, *, input_size: InputSize = (3, 224, 224), family: str = ""):
    """Decorator: register ``factory(**kwargs) -> nn.Module`` under ``name`` (default: the function name)."""

    def deco(fn):
        key = name or fn.__name__
        if key in _MODELS:
            raise ValueError(f"builtin model {key!r} registered twice")
        _MODELS[key] = ModelEntry(key, fn, tuple(input_size), family)
        return fn

    return deco


def register_pattern(regex: str, *, input_size=(3, 224, 224), examples=(), family: str = ""):
    """Decorator: register ``factory(match, **kwargs) -> nn.Module`` for every name matching ``regex``."""

    def deco(fn):
        _PATTERNS.append(PatternEntry(re.compile(regex), fn, input_size, tuple(examples), family))
        return fn

    return deco


def _load_all() -> None:
    # Importing the package imports every architecture module, which registers it.
    import profiler.models  # noqa: F401


def _find(name: str):
    _load_all()
    if name in _MODELS:
        return _MODELS[name], None
    for p in _PATTERNS:
        m = p.regex.fullmatch(name)
        if m:
            return p, m
    return None, None


def is_builtin(name: str) -> bool:
    return _find(name)[0] is not None


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the builtin architecture ``name`` (random init, no weights are ever downloaded)."""
    entry, match = _find(name)
    if entry is None:
        raise KeyError(f"unknown builtin model {name!r}")
    if match is None:
        return entry.factory(**kwargs)
    return entry.factory(match, **kwargs)


def default_input_size(name: str) -> InputSize:
    """The model's own input size (C, H, W)."""
    entry, match = _find(name)
    if entry is None:
        raise KeyError(f"unknown builtin model {name!r}")
    size = entry.input_size
    if callable(size):
        size = size(match)
    return tuple(size)


def family(name: str) -> str:
    entry, _ = _find(name)
    return entry.family if entry is not None else ""


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names plus the example names of each grammar, filtered by a glob pattern."""
    _load_all()
    names = list(_MODELS)
    for p in _PATTERNS:
        names.extend(p.examples)
    names = sorted(set(names))
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    return names
