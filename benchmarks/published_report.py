"""Regenerate reports/published.md: the published-figures check on the whole registry, as Markdown.

    python benchmarks/published_report.py
Exit code 1 if any entry is a mismatch (the report is written all the same).
"""
import os
import sys

from profiler.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
    sys.exit(main(["check", "--format", "markdown", "--output", os.path.join(ROOT, "reports", "published.md")]))
