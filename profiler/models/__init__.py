"""Architectures that no installed zoo has, registered as the `builtin` zoo.

Each architecture module registers itself on import; every module of this package whose name does not
start with ``_`` (and is not ``registry``) is imported below, so a new architecture needs only its file.
"""
from profiler.models.registry import (  # noqa: F401
    create_model,
    default_input_size,
    is_builtin,
    list_models,
    register_model,
    register_pattern,
)

# Architecture modules (imported for their registrations).
import importlib as _importlib
import pkgutil as _pkgutil

for _m in _pkgutil.iter_modules(__path__):
    if _m.name != "registry" and not _m.name.startswith("_"):
        _importlib.import_module(f"{__name__}.{_m.name}")
