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


# -- one point per model ---------------------------------------------------------------------------------
def test_two_sources_for_one_model_make_one_point_and_the_kept_source_is_named():
    from profiler.report.pareto import merge_duplicates

    # the same architecture quoted by the paper (rank 0) and a zoo's metadata (rank 2), at other inputs and under
    # other names (official build vs torchvision's); plus a same-named row typed by hand with a typed cost
    paper = ParetoPoint("effnet_b2", "eff", 80.1, macs=1.0e9, extra={"zoo": "timm:efficientnet_b2", "id": "paper/b2",
                                                                     "source_rank": 0, "macs_source": "counted (x)"})
    zoo = ParetoPoint("effnet_b2", "eff", 80.6, macs=1.09e9, extra={"zoo": "torchvision:efficientnet_b2",
                                                                    "id": "tv/b2", "source_rank": 2,
                                                                    "macs_source": "counted (y)"})
    typed = ParetoPoint("EffNet B2", "eff", 81.0, macs=0.9e9, source="a blog")
    off = ParetoPoint("shuffle_1x", "sn", 69.4, macs=1.46e8, extra={"zoo": "builtin:shufflenet_v2_official_x1_0",
                                                                    "input": (3, 224, 224), "id": "B/sn"})
    tv = ParetoPoint("shufflenet_v2_x1_0", "sn", 69.36, macs=1.45e8,
                     extra={"zoo": "torchvision:shufflenet_v2_x1_0", "input": (3, 224, 224), "id": "tv/sn",
                            "source_rank": 2})
    other = ParetoPoint("mobilenet", "mn", 70.0, macs=5.7e8)
    merged = merge_duplicates([zoo, typed, off, paper, other, tv])
    assert [p.name for p in merged] == ["effnet_b2", "shuffle_1x", "mobilenet"]
    b2, sn, _ = merged
    # counted beats typed; then the paper (rank 0) beats the zoo (rank 2), whatever the order
    assert b2.extra["id"] == "paper/b2" and (b2.top1, b2.macs) == (80.1, 1.0e9)
    assert sorted(b2.extra["merged"]) == ["a blog", "tv/b2"]
    assert sn.extra["id"] == "B/sn" and sn.extra["merged"] == ["tv/sn"]  # rank 1 (unset) before rank 2
    assert merge_duplicates(merged) == merged  # idempotent
    # the frontier table names the kept source, once per model
    table = frontier_table([zoo, typed, off, paper, other, tv])
    assert table.count("effnet_b2") == 1 and "paper/b2 (+2 merged)" in table and "B/sn (+1 merged)" in table
    # one marker per model in the picture, the kept sources said under it
    fig = plot_pareto([zoo, typed, off, paper, other, tv])
    ax = fig.axes[0]
    offsets = [tuple(o) for c in ax.collections[:-1] for o in c.get_offsets()]
    assert sorted(offsets) == sorted([(1.46e8, 69.4), (1.0e9, 80.1), (5.7e8, 70.0)])
    assert sorted(t.get_text() for t in ax.texts) == ["effnet_b2", "mobilenet", "shuffle_1x"]
    notes = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    assert "effnet_b2 = paper/b2 (over" in notes and "one point per model" in notes


def test_different_models_are_not_merged():
    from profiler.report.pareto import merge_duplicates

    # one architecture at three resolutions under three names, and width multipliers: all distinct
    pts = [ParetoPoint(f"mobilenet_v1_{r}", "mn", 60.0 + i, macs=1e8 * (i + 1),
                       extra={"zoo": "timm:mobilenetv1_100", "input": (3, r, r)}) for i, r in enumerate((128, 160, 192))]
    pts += [ParetoPoint(f"mnv2_{w}", "mn2", 65.0 + w, macs=3e8 * w,
                        extra={"zoo": "torchvision:mobilenet_v2", "input": (3, 224, 224), "kwargs": {"width_mult": w}})
            for w in (0.5, 1.0)]
    assert merge_duplicates(pts) == pts


# -- nothing collides --------------------------------------------------------------------------------------
def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig.canvas.get_renderer()


def _overlaps(a, b, slack=0.0):
    return min(a.x1, b.x1) - max(a.x0, b.x0) > slack and min(a.y1, b.y1) - max(a.y0, b.y0) > slack


@pytest.mark.parametrize("lo,hi", [(2.3e8, 7.8e8), (5.6e7, 1.8e9), (3.1e8, 3.9e8), (3e7, 2e10), (1e6, 1e12)])
def test_log_tick_labels_never_collide(lo, hi):
    # spans from under a decade (where every mantissa was labelled: "600M700M800M900M1G") to six decades
    n = 8
    pts = [ParetoPoint(f"m{i}", "f", 60 + i, macs=lo * (hi / lo) ** (i / (n - 1))) for i in range(n)]
    fig = plot_pareto(pts)
    renderer = _drawn(fig)
    ax = fig.axes[0]
    lo_v, hi_v = ax.get_xlim()
    labels = [t.label1 for t in ax.xaxis.get_major_ticks() + ax.xaxis.get_minor_ticks()
              if t.label1.get_visible() and t.label1.get_text() and lo_v <= t.get_loc() <= hi_v]
    assert len(labels) >= 2  # still readable as a scale
    boxes = [t.get_window_extent(renderer) for t in labels]
    for a, b in itertools.combinations(boxes, 2):
        assert not _overlaps(a, b), (lo, hi, [t.get_text() for t in labels])


def test_labels_miss_each_other_and_every_point():
    # a crowded cluster and unnamed (non-frontier) points: no label box may cover a label or a marker centre
    pts = [ParetoPoint(f"model-{i}", f"fam{i % 3}", top1=70 + 0.1 * i, macs=1e8 * (1 + 0.02 * i)) for i in range(12)]
    pts += [ParetoPoint(f"far-{i}", "famX", top1=60 + 2 * i, macs=1e9 * (1 + i)) for i in range(5)]
    fig = plot_pareto(pts)
    renderer = _drawn(fig)
    ax = fig.axes[0]
    from matplotlib.text import Text

    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]
    for a, b in itertools.combinations(boxes, 2):
        assert not _overlaps(a, b, slack=1), (a, b)
    centres = ax.transData.transform([(p.macs, p.top1) for p in pts])
    for box in boxes:
        for x, y in centres:
            assert not box.contains(x, y)
    # and the legend is beside the axes, not on the data
    legend = fig.legends[0].get_window_extent(renderer)
    assert not _overlaps(legend, ax.get_window_extent(renderer))
