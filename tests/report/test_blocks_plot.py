"""The block study's figure (profiler.report.plots.plot_blocks): one panel per dataset, latency against MACs,
read off hand-made rows."""
from types import SimpleNamespace

import numpy as np
import pytest

from profiler.errors import UsageError
from profiler.report.plots import _minor_tick, _plain_tick, plot_blocks
from profiler.studies.blocks import BlockRow


def _lat(median, q1, q3):
    return SimpleNamespace(median_ms=median, q1_ms=q1, q3_ms=q3, iqr_ms=q3 - q1, min_ms=q1, max_ms=q3, runs=5,
                           warmup=1, threads=1, device="cpu")


def _rows(cpu=True, cuda=False):
    def row(ds, block, inp, macs, med):
        return BlockRow(ds, block, f"blocks_{ds}_{block}", inp, 10, macs, 100,
                        _lat(med, med - 0.5, med + 1.0) if cpu else None,
                        _lat(med / 10, med / 10 - 0.01, med / 10 + 0.02) if cuda else None, rounds=1)
    return [row("mnist", "plain", [1, 1, 28, 28], 50_000_000, 4.0),
            row("mnist", "shuffle", [1, 1, 28, 28], 2_000_000, 2.0),
            row("cifar10", "plain", [1, 3, 32, 32], 80_000_000, 6.0)]


def test_one_panel_per_dataset_with_points_and_whiskers():
    fig = plot_blocks(_rows())
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["mnist (1x28x28)", "cifar10 (3x32x32)"]
    ax = axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    (container,) = ax.containers  # CPU only
    data_line, _, (bars,) = container
    assert list(data_line.get_xdata()) == [50.0, 2.0]  # millions of MACs
    assert list(data_line.get_ydata()) == [4.0, 2.0]
    # whiskers from Q1 to Q3
    assert [tuple(seg[:, 1]) for seg in bars.get_segments()] == [(3.5, 5.0), (1.5, 3.0)]
    assert sorted(t.get_text() for t in ax.texts) == ["plain", "shuffle"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["CPU"]


def test_cuda_points_and_png(tmp_path):
    fig = plot_blocks(_rows(cuda=True))
    ax = fig.get_axes()[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["CPU", "CUDA"]
    assert np.allclose(ax.containers[1][0].get_ydata(), [0.4, 0.2])
    path = tmp_path / "blocks.png"
    fig.savefig(path, dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_needs_timings():
    with pytest.raises(UsageError, match="--runs of at least 1"):
        plot_blocks(_rows(cpu=False))


def test_tick_labels():
    assert _plain_tick(0.5) == "0.5" and _plain_tick(20.0) == "20"
    # minor ticks: only the 2s and 5s of each decade are labelled
    assert [_minor_tick(v) for v in (0.2, 0.3, 5.0, 7.0, 20.0, 0.0)] == ["0.2", "", "5", "", "20", ""]
