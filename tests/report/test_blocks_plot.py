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


def test_names_and_ticks_collide_with_nothing():
    # crowded: two blocks at nearly the same MACs (plain/residual) and a wide whisker next to a point
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def row(block, macs, med, q1, q3):
        return BlockRow("mnist", block, f"b_{block}", [1, 1, 28, 28], 10, macs, 100, _lat3(med, q1, q3), None, rounds=1)

    rows = [row("shuffle", 1_700_000, 2.6, 2.3, 4.0), row("resnext", 2_600_000, 1.45, 0.95, 1.75),
            row("bottleneck", 4_300_000, 1.25, 0.75, 1.5), row("dense", 6_000_000, 1.3, 1.05, 1.85),
            row("mobile_v1", 7_700_000, 2.35, 1.6, 3.0), row("plain", 54_000_000, 4.3, 2.9, 4.6),
            row("residual", 55_000_000, 3.8, 2.8, 4.5)]
    fig = plot_blocks(rows)
    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    (ax,) = fig.get_axes()
    from matplotlib.text import Text

    names = [Text.get_window_extent(t, r) for t in ax.texts]  # the name itself, not its leader line
    assert len(names) == len(rows)
    (container,) = ax.containers
    data_line, _, (bars,) = container
    centres = ax.transData.transform(data_line.get_xydata())
    segments = [ax.transData.transform(seg) for seg in bars.get_segments()]

    def overlap(a, b):
        return min(a.x1, b.x1) - max(a.x0, b.x0) > 0 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0

    for i, a in enumerate(names):
        assert not any(overlap(a, b) for b in names[i + 1:])
        assert not any(a.contains(x, y) for x, y in centres)
        for (x0, y0), (x1, y1) in segments:  # a whisker is a vertical segment: the box must not cross it
            assert not (a.x0 < x0 < a.x1 and min(y0, y1) < a.y1 and max(y0, y1) > a.y0)
    for axis in (ax.xaxis, ax.yaxis):
        lo, hi = axis.get_view_interval()
        ticks = [t.label1.get_window_extent(r) for t in axis.get_major_ticks() + axis.get_minor_ticks()
                 if t.label1.get_visible() and t.label1.get_text() and lo <= t.get_loc() <= hi]
        assert len(ticks) >= 2
        assert not any(overlap(a, b) for i, a in enumerate(ticks) for b in ticks[i + 1:])


def _lat3(median, q1, q3):
    return _lat(median, q1, q3)
