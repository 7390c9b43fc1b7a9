"""Conventions: named weightings of the counted categories (what one printed number means).

``registry`` holds the :class:`Convention` type and ours (``macs``, ``flops``, ``all``); ``peers`` the rules of
other tools (ptflops, fvcore, FlopCounterMode, thop, torchinfo); ``papers`` those of papers and studies.
Importing the package registers all of them.
"""
from profiler.conventions.registry import Convention, get_convention, list_conventions, register_convention
from profiler.conventions import papers, peers  # noqa: F401  - each registers its conventions on import

__all__ = ["Convention", "get_convention", "list_conventions", "register_convention"]
