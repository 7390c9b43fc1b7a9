"""Cross-check against peer tools (ptflops pytorch/aten, fvcore, torch's FlopCounterMode, thop, torchinfo,
torchsummary) and explain every difference.

    >>> import profiler, torchvision
    >>> r = profiler.crosscheck(torchvision.models.resnet18(), input_size=(1, 3, 224, 224))
    >>> r["fvcore"]["theirs"], r["fvcore"]["ours"], r["fvcore"]["unexplained"]

See :func:`profiler.crosscheck.core.crosscheck`. The peers' counting rules are the named conventions of
:mod:`profiler.conventions.peers` (``--convention ptflops`` ...). Importing this package is cheap:
the peers are imported when run.
"""
from __future__ import annotations

import sys
import types


def crosscheck(model, inputs=None, **kwargs):
    """Reconcile peer tools with our counts; see :func:`profiler.crosscheck.core.crosscheck`."""
    from profiler.crosscheck.core import crosscheck as _crosscheck

    return _crosscheck(model, inputs, **kwargs)


def available_tools() -> list[str]:
    from profiler.crosscheck.core import available_tools as _available

    return _available()


def __getattr__(name: str):
    # ``TOOLS`` (the peer names) is defined once, in core.py, and read from there on first use.
    if name == "TOOLS":
        from profiler.crosscheck.core import TOOLS

        return TOOLS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallablePackage(types.ModuleType):
    """``profiler.crosscheck(model, inputs)`` works although ``profiler.crosscheck`` is also this package
    (importing a submodule rebinds the package attribute, so a plain function export would be lost)."""

    def __call__(self, model, inputs=None, **kwargs):
        return crosscheck(model, inputs, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
