"""The roofline picture: its points (plain data) and the figure drawn from them, on hand-made traffic and
latency numbers whose throughputs, bandwidths and ceilings are worked out by hand below."""
from types import SimpleNamespace

import pytest
from matplotlib.colors import to_rgba

from profiler.analysis.traffic import LayerTraffic, Traffic
from profiler.report.plots import kind_colour
from profiler.report.roofline import plot_roofline, roofline_points

# conv: 2e6 MACs, 1e6 B in 1 ms    -> 2 GMAC/s, 1 GB/s, 2 MACs/B
# fc:   8e6 MACs, 1e6 B in 2 ms    -> 4 GMAC/s, 0.5 GB/s, 8 MACs/B
# act:  no MACs, 4e5 B in 0.25 ms  -> 0 GMAC/s, 1.6 GB/s (the best bandwidth), 0 MACs/B
# root: no MACs, 1e5 B in 0.5 ms
# skip: never timed -> no point;  zero: timed at 0 ms -> no throughput
TRAFFIC = Traffic("toy", [
    LayerTraffic("conv", "Conv2d", "conv", 2_000_000, 600_000, 400_000),
    LayerTraffic("fc", "Linear", "linear", 8_000_000, 700_000, 300_000),
    LayerTraffic("act", "ReLU", "activation", 0, 200_000, 200_000),
    LayerTraffic("", "Toy", "other", 0, 50_000, 50_000),
    LayerTraffic("skip", "Linear", "linear", 1_000, 10, 10),
    LayerTraffic("zero", "Linear", "linear", 1_000, 10, 10),
])


def _lat(path, ms):
    return SimpleNamespace(path=path, self_ms=SimpleNamespace(median_ms=ms))


class Latencies(SimpleNamespace):
    def by_path(self):
        return {layer.path: layer for layer in self.layers}


LAT = Latencies(layers=[_lat("conv", 1.0), _lat("fc", 2.0), _lat("act", 0.25), _lat("", 0.5), _lat("zero", 0.0)],
                device="cpu", dtype="float32", batch=1)


def test_points():
    pts = {p["path"]: p for p in roofline_points(TRAFFIC, LAT)}
    assert list(pts) == ["conv", "fc", "act", "", "zero"]  # traffic order; "skip" was not timed
    conv = pts["conv"]
    assert conv == {"path": "conv", "type": "Conv2d", "kind": "conv", "macs": 2_000_000, "bytes": 1_000_000,
                    "self_ms": 1.0, "intensity": 2.0, "gmacs_per_s": pytest.approx(2.0),
                    "gb_per_s": pytest.approx(1.0)}
    assert pts["fc"]["gmacs_per_s"] == pytest.approx(4.0) and pts["fc"]["gb_per_s"] == pytest.approx(0.5)
    assert pts["fc"]["intensity"] == 8.0
    assert pts["act"]["gmacs_per_s"] == 0 and pts["act"]["gb_per_s"] == pytest.approx(1.6)
    assert pts["act"]["intensity"] == 0
    assert pts["zero"]["gmacs_per_s"] is None and pts["zero"]["gb_per_s"] is None  # no division by 0 ms


def test_figure():
    fig = plot_roofline(TRAFFIC, LAT)
    (ax,) = fig.axes
    assert ax.get_title(loc="left") == "toy: roofline from measured latency (cpu, float32, batch 1)"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    # one scatter per kind with MACs, in the kind's colour, at (intensity, GMAC/s)
    scatters = {c.get_label(): c for c in ax.collections}
    assert set(scatters) == {"conv", "linear"}
    assert scatters["conv"].get_offsets().tolist() == [[2.0, pytest.approx(2.0)]]
    assert scatters["linear"].get_offsets().tolist() == [[8.0, pytest.approx(4.0)]]
    assert tuple(scatters["conv"].get_facecolor()[0]) == pytest.approx(to_rgba(kind_colour("conv"), 0.8))
    # ceilings: best GMAC/s 4.0, best bandwidth 1.6 GB/s (the activation), ridge at 4 / 1.6 = 2.5 MACs/B;
    # drawn from half the lowest intensity (1) to twice the highest (16)
    (line,) = ax.lines
    assert line.get_label() == "measured ceilings: 4.0 GMAC/s, 1.6 GB/s"
    assert list(line.get_xdata()) == pytest.approx([1.0, 2.5, 16.0])
    assert list(line.get_ydata()) == pytest.approx([1.6, 4.0, 4.0])
    # layers without MACs, by the time they take
    (note,) = ax.texts
    assert note.get_text() == "no-MAC layers: 0.75 ms\n(root) (Toy): 0.50 ms\nact (ReLU): 0.25 ms"
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == [
        "conv", "linear", "measured ceilings: 4.0 GMAC/s, 1.6 GB/s"]


def test_figure_title_and_no_mac_layers_only():
    traffic = Traffic("relu-net", [LayerTraffic("act", "ReLU", "activation", 0, 100, 100)])
    fig = plot_roofline(traffic, Latencies(layers=[_lat("act", 0.3)], device="cuda", dtype="float16", batch=8),
                        title="mine")
    (ax,) = fig.axes
    assert ax.get_title(loc="left") == "mine"
    assert not ax.collections and not ax.lines and ax.get_legend() is None  # nothing to draw ceilings from
    assert ax.get_xscale() == "linear"
    assert [t.get_text() for t in ax.texts] == ["no-MAC layers: 0.30 ms\nact (ReLU): 0.30 ms"]


def test_notes_and_legend_keep_off_the_roofs():
    # the no-MAC note and the legend sit outside the axes: neither box meets the axes, so neither can hide
    # the memory roof (the slanted line at the left) or a point
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot_roofline(TRAFFIC, LAT)
    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    (ax,) = fig.axes
    axbox = ax.get_window_extent(r)
    (note,) = ax.texts
    boxes = [note.get_bbox_patch().get_window_extent(r), ax.get_legend().get_window_extent(r)]
    figbox = fig.bbox
    for box in boxes:
        assert min(box.x1, axbox.x1) <= max(box.x0, axbox.x0)  # side by side with the axes, no overlap
        assert figbox.x0 <= box.x0 and box.x1 <= figbox.x1 and figbox.y0 <= box.y0 and box.y1 <= figbox.y1
    assert min(boxes[0].y1, boxes[1].y1) <= max(boxes[0].y0, boxes[1].y0)  # note and legend apart
