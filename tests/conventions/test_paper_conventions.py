"""The `crossnet` convention against closed forms of the CrossNet architecture and the study's own figures.

Closed forms are written from the architecture description (seed tables, section A), not from our output.
Published figures: soeaver/CrossNet-PyTorch README (summary table of the revision quoted in the seed
tables, and the section "relu, conv24, 1280tail, type3=1122"); the study truncates to whole millions.
"""
import math

import pytest

import profiler
from profiler.conventions import get_convention, list_conventions
from profiler.models import create_model
from profiler.models.crossnet import parse_crossnet_name


def crossnet_closed_form(name, hw=224):
    """(conv MACs without bias, ReLU output elements, residual-add elements) of a CrossNet name."""
    c = parse_crossnet_name(name)
    k, head, g, e = c["kernel"], c["head"], c["groups"], c["expansion"]
    conv = relu = adds = 0
    s = hw // 2  # stem conv 3x3/2
    conv += s * s * head * 3 * 9
    relu += s * s * head
    conv += s * s * head * head  # 1x1
    relu += s * s * head
    s //= 2  # depthwise kxk/2
    conv += s * s * head * k * k
    relu += s * s * head
    cin = head
    for i, n in enumerate(c["pods"]):
        w = c["base"] * 2 ** i
        o = int(w * e)
        for p in range(n):
            stride = 2 if (i > 0 and p == 0) else 1
            s_in, s = s, s // stride
            # first transformation
            conv += s_in * s_in * cin * w + s * s * w * k * k + s * s * (w // g) * o
            relu += s_in * s_in * w + s * s * w
            if stride == 1 and cin == o:
                adds += s * s * o
            # two cross transformations, the j-th projects (j+1)*w channels
            for j in (1, 2):
                conv += s * s * o * w + s * s * w * k * k + s * s * ((j + 1) * w // g) * o
                relu += 2 * s * s * w
                adds += s * s * o
            cin = o
    conv += s * s * cin * c["tail"]
    relu += s * s * c["tail"]
    return conv, relu, adds


# (model name as built here, published MFLOPs). The 1280-tail rows are the section's default tail.
PUBLISHED = [
    ("crossnet58k5_b70e04g2", 309),  # summary table and "crossnet58k5_b70e04g2-1024tail"
    ("crossnet49k5_b80e04g2-1024tail", 335),
    ("crossnet58k5_b70e04g2-1280tail", 311),
    ("crossnet58k3_b70e04g2-1280tail", 286),
    ("crossnet58k5_b70e04-1280tail", 422),
]


def test_registered_and_listed():
    conv = get_convention("crossnet")
    assert conv.name in {c.name for c in list_conventions()}
    assert set(conv.categories()) == {"conv", "activation", "elementwise"}
    assert "309" in conv.description


@pytest.mark.parametrize("name,mflops", PUBLISHED, ids=[r[0] for r in PUBLISHED])
def test_reproduces_study_table(name, mflops):
    conv, relu, adds = crossnet_closed_form(name)
    p = profiler.profile(create_model(name), input_size=(1, 3, 224, 224), convention="crossnet", strict=True,
                         device="meta")  # shapes only: fast, and counts do not depend on values
    assert p.total() == conv + relu + adds  # the engine under this convention = the closed form, exactly
    assert math.floor(p.total() / 1e6) == mflops  # the study truncates


def test_headline_alternatives_do_not_fit():
    # Why the residual adds are in: conv + ReLU truncates to 308, and conv + FC + ReLU gives 336 for 49k5_b80.
    conv, relu, adds = crossnet_closed_form("crossnet58k5_b70e04g2")
    assert math.floor((conv + relu) / 1e6) == 308
    assert math.floor((conv + relu + adds) / 1e6) == 309
    conv, relu, adds = crossnet_closed_form("crossnet49k5_b80e04g2-1024tail")
    assert math.floor((conv + 1024 * 1000 + relu) / 1e6) == 336


def test_other_categories_not_counted():
    # FC, bias, BatchNorm and pooling weigh 0: a linear layer alone costs nothing under `crossnet`.
    import torch.nn as nn
    p = profiler.profile(nn.Sequential(nn.Linear(8, 4), nn.ReLU()), input_size=(2, 8), convention="crossnet")
    assert p.total() == 2 * 4  # the ReLU's 8 output elements only
    assert p.total("macs") == 2 * 8 * 4
