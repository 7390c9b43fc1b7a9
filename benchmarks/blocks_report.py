"""Regenerate reports/blocks.md and reports/blocks.png: the block-family study on all three datasets.

    python benchmarks/blocks_report.py      # about 3 minutes; latency needs a quiet machine to mean much
"""
import os
import sys

from profiler.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORTS = os.path.join(ROOT, "reports")

if __name__ == "__main__":
    sys.exit(main(["blocks", "--dataset", "all", "--format", "markdown", "--runs", "100", "--warmup", "10",
                   "--rounds", "10", "--threads", "1", "--output", os.path.join(REPORTS, "blocks.md"),
                   "--plot", os.path.join(REPORTS, "blocks.png")]))
