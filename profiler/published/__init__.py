"""Published complexity figures (MACs, params) of papers and model zoos, and the check that keeps them true.

    >>> from profiler.published import load_registry, run_check
    >>> results = run_check(load_registry())          # the registry shipped with the package
    >>> [r.to_dict() for r in results if r.status == "mismatch"]

The registry (``registry.yaml`` beside this file) holds one entry per published figure: the model as
``ZOO:NAME``, its input size, the published MACs with the source's counting convention, the published
parameter count, accuracy, the source (paper and table, or zoo document), a tolerance and, where the build
differs from the paper, the explanation. ``profile-model check`` runs it and prints the results with
:mod:`profiler.report.published`; a user's own file in the same format is their CI check. See
:mod:`profiler.published.registry` for the format.
"""
from profiler.published.check import EntryResult, FigureResult, run_check, select, summary
from profiler.published.registry import (DEFAULT_TOLERANCE, PARAM_CONVENTIONS, Entry, Figure, Quantity,
                                         default_registry_path, load_registry, parse_quantity, parse_registry)

__all__ = ["load_registry", "parse_registry", "default_registry_path", "run_check", "select", "summary",
           "Entry", "Figure", "Quantity", "EntryResult", "FigureResult", "parse_quantity",
           "DEFAULT_TOLERANCE", "PARAM_CONVENTIONS"]
