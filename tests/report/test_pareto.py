"""Pareto frontier (checked against a brute-force definition), CSV loading, and non-overlapping labels."""
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.errors import UsageError
from profiler.report.pareto import (ParetoPoint, filter_points, frontier_table, load_csv, pareto_front,
                                    plot_pareto)


def _dominated(p, pts):
    return any(q.macs <= p.macs and q.top1 >= p.top1 and (q.macs < p.macs or q.top1 > p.top1) for q in pts)


@given(st.lists(st.tuples(st.integers(1, 50), st.integers(0, 50)), min_size=1, max_size=25))
def test_frontier_matches_definition(pairs):
    pts = [ParetoPoint(f"m{i}", "f", top1=float(a), macs=float(m)) for i, (m, a) in enumerate(pairs)]
    front = pareto_front(pts)
    assert {id(p) for p in front} == {id(p) for p in pts if not _dominated(p, pts)}
    # cheapest first, accuracy rising along the frontier (strictly, except for identical points)
    for a, b in zip(front, front[1:]):
        assert (a.macs, a.top1) == (b.macs, b.top1) or (a.macs < b.macs and a.top1 < b.top1)


def test_seed_table_frontier():
    # MobileNet/ShuffleNet comparison (seed tables, section B), typed from the paper into the CSV.
    pts = load_csv("profiler/data/seed_mobile.csv")
    names = [p.name for p in pareto_front(filter_points(pts, "ShuffleNet v2,MobileNet v2"))]
    # By hand from the published (MFLOPs, top-1): 0.15 MNv2 (39, 44.9) < SNv2 0.5x (41, 60.3) <
    # 0.6 MNv2 (141, 66.7) < 0.75 MNv2 (145, 67.9) < SNv2 1.0x (146, 69.4) < SNv2 1.5x (299, 72.6) <
    # 1.4 MNv2 (585, 74.7) < SNv2 2x (591, 74.9); 0.4 MNv2 (43, 56.6) and 1.0 MNv2 (300, 72.0) are dominated.
    assert names == ["0.15 MobileNet v2", "ShuffleNet v2 0.5x", "0.6 MobileNet v2", "0.75 MobileNet v2",
                     "ShuffleNet v2 1.0x", "ShuffleNet v2 1.5x", "1.4 MobileNet v2", "ShuffleNet v2 2x"]
    table = frontier_table(pts)
    assert "ShuffleNet v2 2x" in table and "MACs" in table


def test_load_csv_units_and_errors(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("# comment\nmodel,family,top1,macs,params\na,x,0.75,1e6,\nb,y,80,2_000_000,5\n")
    a, b = load_csv(str(f))
    assert (a.top1, a.macs, a.params) == (75.0, 1e6, None)  # a fraction top-1 read as percent
    assert (b.top1, b.macs, b.params) == (80.0, 2e6, 5.0)
    bad = tmp_path / "b.csv"
    bad.write_text("model,top1\na,70\n")
    with pytest.raises(UsageError, match="need columns"):
        load_csv(str(bad))
    bad.write_text("model,family,top1,macs\na,x,70,lots\n")
    with pytest.raises(UsageError, match="not a number"):
        load_csv(str(bad))
    with pytest.raises(UsageError):
        load_csv(str(tmp_path / "none.csv"))
    with pytest.raises(UsageError, match="no model matches"):
        filter_points([a, b], "zzz")


def _boxes(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    from matplotlib.text import Text
    return [Text.get_window_extent(t, r) for t in ax.texts], ax  # the text itself, not its leader line


def test_labels_do_not_overlap_even_when_crowded():
    # 12 points crowded in a corner plus spread ones: every label box must be disjoint from every other.
    pts = [ParetoPoint(f"model-{i}", f"fam{i % 3}", top1=70 + 0.1 * i, macs=1e8 * (1 + 0.02 * i)) for i in range(12)]
    pts += [ParetoPoint(f"far-{i}", "famX", top1=60 + 2 * i, macs=1e9 * (1 + i)) for i in range(5)]
    boxes, ax = _boxes(plot_pareto(pts))
    assert len(boxes) == len(pts)
    for a, b in itertools.combinations(boxes, 2):
        w = min(a.x1, b.x1) - max(a.x0, b.x0)
        h = min(a.y1, b.y1) - max(a.y0, b.y0)
        assert w <= 1 or h <= 1, (a, b)  # at most touching
    assert ax.get_xscale() == "log"
    assert "MACs" in ax.get_xlabel() and "bias not counted" in ax.get_xlabel()


def test_plot_needs_values():
    with pytest.raises(UsageError):
        plot_pareto([ParetoPoint("a", "f", 70.0)], "latency")


def test_crowded_plots_name_only_the_frontier():
    # 60 points, frontier = the 7 points where accuracy first reaches 50..56 (i = 0..6); the rest unnamed.
    pts = [ParetoPoint(f"m{i}", "f", 50 + (i % 7), macs=1e6 * (1 + i)) for i in range(60)]
    ax = plot_pareto(pts).axes[0]
    named = sorted(t.get_text() for t in ax.texts if t.get_text().startswith("m"))
    assert named == [f"m{i}" for i in range(7)]
    assert len(plot_pareto(pts, labels="all").axes[0].texts) == 60
