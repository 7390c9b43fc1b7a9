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
from profiler.core.rows import GroupRow, Row, group_rows, layer_rows, percent_strings, rows_for, top_rows
from profiler.report.page import FORMATS, GROUPINGS, TEXT_WIDTH, render, to_dataframe, to_html, to_json
from profiler.report.tables import Column, Table, render_table
from profiler.report.tree import tree
from profiler.report.views import group_table, layer_table, summary_sizes, summary_table

__all__ = ["FORMATS", "GROUPINGS", "TEXT_WIDTH", "render", "to_json", "to_html", "to_dataframe", "Row",
           "GroupRow", "layer_rows", "rows_for", "top_rows", "group_rows", "percent_strings", "Column", "Table",
           "render_table", "tree", "layer_table", "group_table", "summary_table", "summary_sizes"]
