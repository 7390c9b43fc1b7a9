"""CrossNet builds versus the figures published by the CrossNet study (profiler/models/crossnet_table.yaml)."""
import math
import os

import pytest
import torch
import yaml

from _model_counting import count_macs, count_params
from profiler.models import create_model, default_input_size, is_builtin, list_models
from profiler.models.crossnet import parse_crossnet_name, pods_per_stage

TABLE = os.path.join(os.path.dirname(__file__), "..", "..", "profiler", "models", "crossnet_table.yaml")
ROWS = [r for r in yaml.safe_load(open(TABLE))["models"] if r["check"]]


def conv_macs(model, size):
    # The study's FLOPs: convolution MACs only (FC excluded).
    return count_macs(model, size) - model.fc.in_features * model.fc.out_features


def test_headline_model():
    m = create_model("crossnet58k5_b70e04g2")
    assert default_input_size("crossnet58k5_b70e04g2") == (3, 224, 224)
    p = count_params(m)
    # Published 3.28M; the study truncates (3,285,158 -> 3.28), see crossnet_table.yaml.
    assert math.floor(p / 1e4) / 100 == 3.28
    assert abs(p / 1e6 - 3.28) < 0.01
    macs = count_macs(m, (3, 224, 224))
    assert math.floor(conv_macs(m, (3, 224, 224)) / 1e6) == 304
    assert abs(macs / 1e6 - 304) / 304 < 0.01  # conv + FC is still ~304M (305.4M)


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_published_table(row):
    m = create_model(row["name"])
    assert math.floor(count_params(m) / 1e4) / 100 == pytest.approx(row["params_m"])
    assert math.floor(conv_macs(m, (3, 224, 224)) / 1e6) == row["mflops"]


def test_name_grammar():
    cfg = parse_crossnet_name("crossnet58k5_b70e04g2")
    assert cfg == dict(pods=(1, 1, 2, 2), kernel=5, base=70, expansion=0.4, groups=2, head=24, tail=1024)
    assert parse_crossnet_name("crossnet49k3_b80e075g4_32head-1280tail") == dict(
        pods=(1, 1, 1, 2), kernel=3, base=80, expansion=0.75, groups=4, head=32, tail=1280
    )
    assert parse_crossnet_name("crossnet58k5_b64e1")["expansion"] == 1.0
    assert parse_crossnet_name("crossnet58k5_b64e05")["expansion"] == 0.5
    assert parse_crossnet_name("crossnet58k5_b64e05")["groups"] == 1
    assert pods_per_stage(40) == (1, 1, 1, 1) and pods_per_stage(67) == (1, 2, 2, 2)
    for bad in ("crossnet57k5_b70e04g2", "crossnet58k5_b70", "crossnet58k4x_b70e04"):
        assert not is_builtin(bad)


def test_widths_and_tail():
    m = create_model("crossnet58k5_b70e04g2")
    outs = [s[-1].init.conv3[0].out_channels for s in m.stages]
    assert outs == [28, 56, 112, 224]
    assert [s[0].init.conv1[0].out_channels for s in m.stages] == [70, 140, 280, 560]
    assert m.tail[0].out_channels == 1024 and m.fc.in_features == 1024
    assert m.stem[0][0].out_channels == 24
    # the third transformation projects cat(f, f2, f1): 3w channels, grouped by 2
    c3 = m.stages[0][0].cross[1].conv3[0]
    assert (c3.in_channels, c3.groups) == (210, 2)
    assert create_model("crossnet58k5_b70e04g2-1280tail").tail[0].out_channels == 1280
    assert create_model("crossnet58k5_b70e04g2_32head").stem[0][0].out_channels == 32


def test_indivisible_groups_raise():
    with pytest.raises(ValueError, match="divisible"):
        create_model("crossnet58k5_b70e04g3")


@pytest.mark.parametrize("name", sorted(n for n in list_models("crossnet*")))
def test_examples_forward(name):
    m = create_model(name).eval()
    with torch.no_grad():
        y = m(torch.zeros(1, *default_input_size(name)))
    assert y.shape == (1, 1000)


@pytest.mark.parametrize(
    "name",
    ["crossnet40k3_b32e05g4", "crossnet67k7_b48e1g8_32head-1280tail", "crossnet76k5_b64e075g4",
     "crossnet85k3_b100e04g10", "crossnet49k5_b80e04g2-1024tail"],
)
def test_grammar_names_build(name):
    m = create_model(name).eval()
    with torch.no_grad():
        assert m(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)
    assert sum(len(s) for s in m.stages) == (int(name[8:10]) - 4) // 9
