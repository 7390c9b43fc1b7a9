"""Renderers of a Profile: per-layer, per-kind and torchsummary-style tables, a ptflops-style tree, and the
JSON document; text (tabulate), Markdown, CSV, JSON and HTML. Renderers never count: every number is read
off the Profile (``profiler.core.rows``), and the Profile never formats itself beyond calling these.

    >>> from profiler import report
    >>> print(report.render(prof, "table", depth=2))        # or "markdown", "csv", "json", "html", "tree"
    >>> print(report.render(prof, "table", depth="auto", width=120))   # what profile-model prints
    >>> prof.to_dict()                                      # the JSON contract as a dict
    >>> report.to_dataframe(prof)                           # pandas, one row per module

Plots (``profiler.report.plots``, ``profiler.report.pareto``) import matplotlib and are not loaded here.
"""
import importlib

#: Each public name and the module it lives in, imported on first use (PEP 562): ``profiler.report.tables``
#: needs only tabulate, and the command line's listing uses it without loading torch through the renderers.
_EXPORTS = {
    **dict.fromkeys(("GroupRow", "Row", "group_rows", "layer_rows", "percent_strings", "rows_for", "top_rows"),
                    "profiler.core.rows"),
    **dict.fromkeys(("FORMATS", "GROUPINGS", "TEXT_WIDTH", "render", "to_dataframe", "to_html", "to_json"),
                    "profiler.report.page"),
    **dict.fromkeys(("Column", "Table", "render_table"), "profiler.report.tables"),
    "tree": "profiler.report.tree",
    **dict.fromkeys(("group_table", "layer_table", "summary_sizes", "summary_table"), "profiler.report.views"),
}

__all__ = ["FORMATS", "GROUPINGS", "TEXT_WIDTH", "render", "to_json", "to_html", "to_dataframe", "Row",
           "GroupRow", "layer_rows", "rows_for", "top_rows", "group_rows", "percent_strings", "Column", "Table",
           "render_table", "tree", "layer_table", "group_table", "summary_table", "summary_sizes"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
