"""The ptflops-style tree: inclusive totals per module, shares of the model's totals, indentation by depth.
Expected lines are written from the Toy's closed forms (tests/_toy.py), not from our output."""
import pytest
from _toy import (BLOCK_MACS, BLOCK_PARAMS, FC_MACS, FC_PARAMS, STEM_MACS, STEM_PARAMS, TOTAL_MACS, TOTAL_PARAMS,
                  toy_profile)

from profiler.core.profile import Layer, Profile
from profiler.report.tree import tree

MACS_LEGEND = ("(inclusive totals per module; MACs under convention 'macs': multiply-accumulates of conv + linear "
               "+ attention + recurrent, bias not counted (the papers' FLOPs/Mult-Adds; torchvision's GFLOPS))")


@pytest.fixture(scope="module")
def prof():
    return toy_profile()


def test_closed_forms():  # the numbers the lines below are written from
    assert (TOTAL_MACS, TOTAL_PARAMS, STEM_MACS, STEM_PARAMS) == (39_504, 714, 13_824, 224)
    assert (BLOCK_MACS, BLOCK_PARAMS, FC_MACS, FC_PARAMS) == (12_800, 200, 80, 90)


def test_depth_one(prof):
    # 224/714 = 31.3725 %, 13,824/39,504 = 34.9939 %; blocks 400/714 = 56.0224 %, 25,600/39,504 = 64.8036 %;
    # fc 90/714 = 12.6050 %, 80/39,504 = 0.2025 %
    assert tree(prof, depth=1, width=None) == "\n".join([
        "(root) (Toy): 714 params (100.000%), 39.50 K MACs (100.000% MACs), out 1x10",
        "  stem (Conv2d): 224 params (31.373%), 13.82 K MACs (34.994% MACs), 3x3 s2, out 1x8x8x8",
        "  blocks (Sequential): 400 params (56.022%), 25.60 K MACs (64.804% MACs), out 1x8x8x8",
        "  pool (AdaptiveAvgPool2d): 0 params (0.000%), 0 MACs (0.000% MACs), out 1x8x1x1",
        "  fc (Linear): 90 params (12.605%), 80 MACs (0.203% MACs), out 1x10",
        MACS_LEGEND,
    ])


def test_full_depth_is_inclusive(prof):
    lines = tree(prof, width=None).splitlines()
    assert len(lines) == 11 + 1  # root, stem, blocks, 2 x (block, dw, pw), pool, fc; the legend
    # a Block's line holds its children's MACs and the einsum it runs itself: 4,608 + 4,096 + 4,096 = 12,800
    # (32.402 %); its parameters: dw 72 + pw 64 + its own scale 64 = 200 (28.011 %)
    assert lines[3] == "    blocks.0 (Block): 200 params (28.011%), 12.80 K MACs (32.402% MACs), out 1x8x8x8"
    # depthwise 3x3 on 8 channels at 8x8: 8*9*64 = 4,608 MACs (11.665 %), 72 params (10.084 %)
    assert lines[4] == ("      blocks.0.dw (Conv2d): 72 params (10.084%), 4.61 K MACs (11.665% MACs), 3x3 s1 g8, "
                        "out 1x8x8x8")
    assert lines[5] == ("      blocks.0.pw (Conv2d): 64 params (8.964%), 4.10 K MACs (10.369% MACs), 1x1 s1, "
                        "out 1x8x8x8")
    assert lines[6].startswith("    blocks.1 (Block): 200 params")
    assert lines[-1] == MACS_LEGEND


def test_depth_zero_is_the_root(prof):
    assert tree(prof, depth=0).splitlines()[0] == \
        "(root) (Toy): 714 params (100.000%), 39.50 K MACs (100.000% MACs), out 1x10"
    assert len(tree(prof, depth=0, width=None).splitlines()) == 2


def test_flops_convention():
    lines = tree(toy_profile("flops"), depth=1, width=None).splitlines()
    # 2 x 39,504 = 79,008 FLOPs; the shares do not change
    assert lines[0] == "(root) (Toy): 714 params (100.000%), 79.01 K FLOPs (100.000% FLOPs), out 1x10"
    assert lines[1] == "  stem (Conv2d): 224 params (31.373%), 27.65 K FLOPs (34.994% FLOPs), 3x3 s2, out 1x8x8x8"
    assert lines[-1].startswith("(inclusive totals per module; FLOPs under convention 'flops': 2 x macs")


def test_lines_wrap_to_the_width(prof):
    # by default a line wraps at 120 columns, continued 4 columns deeper than its module; no word is lost
    lines = tree(prof, depth=1).splitlines()
    assert lines[:5] == tree(prof, depth=1, width=None).splitlines()[:5]  # the module lines fit as they are
    assert len(MACS_LEGEND) > 120 and max(len(line) for line in lines) <= 120
    assert lines[5:] and all(line.startswith("    ") for line in lines[6:])
    assert " ".join(lines[5:]).split() == MACS_LEGEND.split()
    narrow = tree(prof, width=40).splitlines()
    assert max(len(line) for line in narrow) <= 40
    first = narrow.index("    blocks.0 (Block): 200 params")  # depth 2: continued at 4 + 4 columns
    assert narrow[first + 1].startswith("        (28.011%)")


def test_zero_totals_print_a_dash():
    layer = Layer(path="", type="Net", kind="other", depth=0, calls=1)
    p = Profile(model="net", inputs=[[1, 4]], convention="macs", layers=[layer], coverage=[],
                params_trainable=0, params_frozen=0, buffers=0)
    assert tree(p).splitlines()[0] == "(root) (Net): 0 params (-), 0 MACs (- MACs)"
