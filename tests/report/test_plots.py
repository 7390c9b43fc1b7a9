"""Per-layer pictures: what is drawn is the Profile's numbers (bar heights = own MACs/params per layer), one bar
per layer in execution order, kinds coloured; files are written in the asked format."""
import matplotlib.colors as mcolors
import pytest
import torch.nn as nn

import profiler
from profiler.errors import UsageError
from profiler.report.plots import KIND_COLOURS, plot_layers, save_figure, si


class Net(nn.Module):
    """Two stages; forward order differs from definition order (head defined first) to test ordering."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 10)
        self.stage1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 16, 1))

    def forward(self, x):
        return self.head(self.stage2(self.stage1(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def prof():
    return profiler.profile(Net(), input_size=(1, 3, 8, 8), device="meta")


def _bars(ax):
    return [p for p in ax.patches if p.get_height() > 0 or p.get_width() > 0]


def test_per_layer_bars_are_the_counts_in_execution_order(prof):
    fig = plot_layers(prof)
    ax_c, ax_p = fig.axes[0], fig.axes[1]
    # Hand-computed MACs: conv 3x3 3->8 on 8x8 = 9*3*8*64; depthwise 9*8*64; pointwise 8*16*64; linear 16*10.
    expected_macs = [9 * 3 * 8 * 64, 0, 9 * 8 * 64, 8 * 16 * 64, 16 * 10]  # batchnorm: params, no MACs
    expected_params = [3 * 8 * 9 + 8, 16, 8 * 9 + 8, 8 * 16 + 16, 16 * 10 + 10]
    assert [round(b.get_height()) for b in ax_c.patches[:5]] == expected_macs
    assert [round(b.get_height()) for b in ax_p.patches[:5]] == expected_params
    kinds = ["conv", "norm", "conv_depthwise", "conv_pointwise", "linear"]
    assert [mcolors.to_hex(b.get_facecolor()) for b in ax_c.patches[:5]] == [KIND_COLOURS[k] for k in kinds]
    assert "convention 'macs'" in ax_c.get_ylabel()
    assert "Net" in fig._suptitle.get_text() and "MACs" in fig._suptitle.get_text()


def test_per_stage_bars_stack_to_inclusive_totals(prof):
    fig = plot_layers(prof, depth=1)
    ax_c = fig.axes[0]
    labels = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert labels == ["stage1", "stage2", "head"]  # execution order, not definition order
    totals = {}
    for b in ax_c.patches:
        x = round(b.get_x() + b.get_width() / 2)
        totals[x] = totals.get(x, 0) + b.get_height()
    assert [round(totals[i]) for i in range(3)] == [9 * 3 * 8 * 64, 9 * 8 * 64 + 8 * 16 * 64, 160]
    assert sum(totals.values()) == prof.macs


def test_by_kind_panel_percentages(prof):
    fig = plot_layers(prof)
    ax_k = fig.axes[2]
    labels = [t.get_text() for t in ax_k.get_yticklabels()]
    assert set(labels) == {"conv", "norm", "conv_depthwise", "conv_pointwise", "linear"}
    texts = " ".join(t.get_text() for t in ax_k.texts)
    conv_share = 100 * 9 * 3 * 8 * 64 / prof.macs
    assert f"{conv_share:.1f}%" in texts


@pytest.mark.parametrize("ext", [".png", ".svg"])
def test_save(prof, tmp_path, ext):
    out = save_figure(plot_layers(prof), str(tmp_path / f"p{ext}"))
    data = open(out, "rb").read()
    assert data.startswith(b"\x89PNG") if ext == ".png" else b"<svg" in data[:2000]


def test_bad_output_and_depth(prof, tmp_path):
    with pytest.raises(UsageError):
        save_figure(plot_layers(prof), str(tmp_path / "p.txt"))
    with pytest.raises(UsageError):
        save_figure(plot_layers(prof), str(tmp_path / "missing" / "p.png"))
    with pytest.raises(UsageError):
        plot_layers(prof, depth=-1)


def test_two_hundred_layers_stay_readable():
    # 200 convs: one bar each, the 10 stages named along the top, no exception.
    model = nn.Sequential(*[nn.Sequential(*[nn.Conv2d(4, 4, 1) for _ in range(20)]) for _ in range(10)])
    p = profiler.profile(model, input_size=(1, 4, 4, 4), device="meta")
    fig = plot_layers(p)
    assert sum(len(c) for c in fig.axes[0].containers) == 200  # bars (the shaded stage bands are patches too)
    stage_labels = [t.get_text() for t in fig.axes[0].texts]
    assert stage_labels == [str(i) for i in range(10)]


def test_si():
    assert si(1_234_567) == "1.23M" and si(999) == "999" and si(2.5e9) == "2.5G"


def test_profiling_cost_bars_are_the_ratios_with_baseline_and_targets(tmp_path):
    from profiler.report.plots import plot_profiling_cost

    wall = {"a": {"plain forward": 1.0, "ours": 2.5, "peer": 0.5},
            "b": {"plain forward": 1.0, "ours": 1.05}}  # peer failed on b
    fig = plot_profiling_cost(wall, cpu={"a": {"ours": 2.0, "peer": 0.4}, "b": {"ours": 1.1}},
                              targets={"a": 1.2, "b": 1.1}, target_method="ours")
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # wall and CPU panels
    labels = [c.get_label() for c in ax.containers]
    assert labels == ["ours", "peer"]  # the baseline is the line, not a bar
    tops = {lab: [round(p.get_y() + p.get_height(), 6) for p in c] for lab, c in zip(labels, ax.containers)}
    assert tops == {"ours": [2.5, 1.05], "peer": [0.5]}
    assert all(p.get_y() == 1.0 for c in ax.containers for p in c)  # bars grow from the 1.0x line
    assert [ln.get_ydata()[0] for ln in ax.get_lines()] == [1.0]  # the plain-forward line
    segs = [s for coll in ax.collections for s in coll.get_segments()]  # the targets, one per model group
    assert sorted(round(s[0][1], 6) for s in segs) == [1.1, 1.2]
    texts = [t.get_text() for t in ax.texts]
    assert "n/a" in texts and "target 1.2x" in texts and "2.50" in texts
    assert ax.get_yscale() == "log" and "target for ours" in ax.get_legend_handles_labels()[1]
    assert "plain forward (1.0x)" in [t.get_text() for t in fig.legends[0].get_texts()]
    out = save_figure(fig, str(tmp_path / "bench.png"))
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(UsageError):
        plot_profiling_cost({})


def test_cost_vs_resolution_lines(tmp_path):
    from profiler.report.plots import plot_cost_vs_resolution

    rows = [(224, {"plain forward": 0.01, "profiler (real pass)": 0.02, "profiler (meta pass)": 0.005}),
            (512, {"plain forward": 0.05, "profiler (real pass)": 0.06, "profiler (meta pass)": 0.006})]
    ax = plot_cost_vs_resolution(rows, "m").axes[0]
    assert [list(ln.get_ydata()) for ln in ax.get_lines()] == [[10.0, 50.0], [20.0, 60.0], [5.0, 6.0]]
    save_figure(ax.figure, str(tmp_path / "res.png"))


def test_stage_names_are_readable():
    # 8 pt at least (17 px at the saved 150 dpi), wide stages named across, narrow ones upright, none on another
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from profiler.report.plots import BAND_FONT

    model = nn.Sequential(nn.Conv2d(4, 4, 1), *[nn.Sequential(*[nn.Conv2d(4, 4, 1) for _ in range(30)])
                                                for _ in range(4)], nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1))
    p = profiler.profile(model, input_size=(1, 4, 4, 4), device="meta")
    fig = plot_layers(p)
    texts = fig.axes[0].texts
    assert BAND_FONT >= 8 and texts and all(t.get_fontsize() >= 8 for t in texts)
    assert [t.get_text() for t in texts if t.get_rotation() == 0] == ["1", "2", "3", "4"]
    assert [t.get_text() for t in texts if t.get_rotation() == 90] == ["0", "5 + 6"]  # neighbours share one
    FigureCanvasAgg(fig).draw()
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in texts]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert min(a.x1, b.x1) <= max(a.x0, b.x0) or min(a.y1, b.y1) <= max(a.y0, b.y0)
