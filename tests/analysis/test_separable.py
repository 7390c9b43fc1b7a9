"""Depthwise -> pointwise pairs: counted ratio vs 1/N + 1/k^2, expected values from the MobileNet paper's body table."""
from fractions import Fraction

import pytest
import torch
import torch.nn as nn

import profiler
from profiler.analysis.separable import find_pairs, pairs_json, separable_pairs, summary

# MobileNet v1 body (paper, Table 1): (depthwise channels M, pointwise outputs N, depthwise stride, input side).
# The last depthwise is printed "s2" in the table but must be stride 1 (7x7 in, 7x7 out); zoos use 1.
MOBILENET_V1_BODY = [(32, 64, 1, 112), (64, 128, 2, 112), (128, 128, 1, 56), (128, 256, 2, 56),
                     (256, 256, 1, 28), (256, 512, 2, 28)] + [(512, 512, 1, 14)] * 5 + \
                    [(512, 1024, 2, 14), (1024, 1024, 1, 7)]


def _mobilenet_v1():
    """MobileNet v1 as in the paper, written here (so the test does not depend on a zoo's build)."""
    def conv_bn(cin, cout, k, s, groups=1):
        return [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    layers = conv_bn(3, 32, 3, 2)
    for m, n, s, _ in MOBILENET_V1_BODY:
        layers += conv_bn(m, m, 3, s, groups=m) + conv_bn(m, n, 1, 1)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000))


@pytest.fixture(scope="module")
def mobilenet_pairs():
    prof = profiler.profile(_mobilenet_v1(), input_size=(1, 3, 224, 224), device="meta")
    return separable_pairs(prof)


def test_mobilenet_v1_pairs_match_the_paper(mobilenet_pairs):
    assert len(mobilenet_pairs) == 13
    for p, (m, n, s, side) in zip(mobilenet_pairs, MOBILENET_V1_BODY):
        out = side // s
        assert (p.in_channels, p.out_channels, p.stride, p.kernel) == (m, n, (s, s), (3, 3))
        assert p.input_hw == (side, side) and p.output_hw == (out, out)
        # Paper eq. 4/5: depthwise D_K^2 M D_F^2, pointwise M N D_F^2, standard D_K^2 M N D_F^2 (D_F = output side).
        assert p.dw_macs == 9 * m * out * out
        assert p.pw_macs == m * n * out * out
        assert p.standard_macs == 9 * m * n * out * out
        assert p.counted_ratio == Fraction(1, n) + Fraction(1, 9)
        assert p.agree and p.counted_ratio == p.analytic_ratio == p.explained_ratio


def test_stride_one_pairs_have_no_notes_and_stride_two_pairs_explain(mobilenet_pairs):
    for p in mobilenet_pairs:
        if p.stride == (1, 1):
            assert p.notes == []
        else:
            assert len(p.notes) == 1 and "ratio is unchanged" in p.notes[0]


def test_json_and_summary(mobilenet_pairs):
    # (the table of these pairs is tested in tests/report/test_sections.py)
    doc = pairs_json(mobilenet_pairs)
    assert doc["pairs"][-1]["ratio_exact"] == "1033/9216"  # 1/1024 + 1/9
    assert (doc["summary"]["pairs"], doc["summary"]["agree"]) == (13, 13)
    assert summary(mobilenet_pairs) == doc["summary"]
    assert [d["ratio"] for d in doc["pairs"]] == [float(Fraction(1, n) + Fraction(1, 9)) for _, n, _, _ in
                                                  MOBILENET_V1_BODY]
    sep = sum(9 * m * (side // s) ** 2 + m * n * (side // s) ** 2 for m, n, s, side in MOBILENET_V1_BODY)
    std = sum(9 * m * n * (side // s) ** 2 for m, n, s, side in MOBILENET_V1_BODY)
    assert doc["summary"]["ratio_exact"] == str(Fraction(sep, std))


def _pairs_of(model, size=(1, 8, 16, 16)):
    return separable_pairs(profiler.profile(model, input_size=size, device="meta"))


def test_channel_multiplier_differs_by_c():
    # Depthwise 8 -> 16 (multiplier 2) then 1x1 16 -> 32: c/N + c/k^2 = 2/32 + 2/9, not 1/32 + 1/9.
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=8), nn.Conv2d(16, 32, 1))
    (p,) = _pairs_of(model)
    assert p.multiplier == 2
    assert p.counted_ratio == Fraction(2, 32) + Fraction(2, 9) == p.explained_ratio
    assert p.analytic_ratio == Fraction(1, 32) + Fraction(1, 9)
    assert not p.agree and "channel multiplier 2" in p.notes[0]


def test_strided_pointwise_differs():
    # A stride-2 1x1 after a stride-1 depthwise: the pointwise runs on 1/4 of the positions, so its term
    # (pointwise / standard = M N / (k^2 M N) = 1/k^2) shrinks 4x: 1/N + (1/4)/k^2.
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 24, 1, stride=2))
    (p,) = _pairs_of(model)
    dw, pw, std = 9 * 8 * 16 * 16, 8 * 24 * 8 * 8, 9 * 8 * 24 * 16 * 16
    assert (p.dw_macs, p.pw_macs, p.standard_macs) == (dw, pw, std)
    assert p.counted_ratio == Fraction(dw + pw, std) == Fraction(1, 24) + Fraction(1, 4) / 9 == p.explained_ratio
    assert not p.agree and "pointwise output 8x8 != depthwise output 16x16" in p.notes[0]


def test_unpadded_depthwise_still_agrees():
    # padding 0: 16x16 -> 14x14; all costs at 14x14, ratio unchanged.
    model = nn.Sequential(nn.Conv2d(8, 8, 3, groups=8), nn.Conv2d(8, 24, 1))
    (p,) = _pairs_of(model)
    assert p.output_hw == (14, 14) and p.agree and p.counted_ratio == Fraction(1, 24) + Fraction(1, 9)
    assert "padding" in p.notes[0]


class _SE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(c, 4, 1), nn.Conv2d(4, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.expand(torch.relu(self.reduce(x.mean((2, 3), keepdim=True)))))


class _Mixed(nn.Module):
    """MixNet-style split depthwise (3x3 on half the channels, 5x5 on the other half)."""

    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c // 2, c // 2, 3, padding=1, groups=c // 2)
        self.b = nn.Conv2d(c // 2, c // 2, 5, padding=2, groups=c // 2)

    def forward(self, x):
        x1, x2 = x.chunk(2, 1)
        return torch.cat([self.a(x1), self.b(x2)], 1)


def test_squeeze_excitation_is_stepped_over_and_split_depthwise_is_not_a_pair():
    model = nn.Sequential(nn.Conv2d(8, 8, 5, padding=2, groups=8), _SE(8), nn.Conv2d(8, 16, 1),
                          _Mixed(16), nn.Conv2d(16, 16, 1),
                          nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.Conv2d(16, 32, 1, groups=2))
    prof = profiler.profile(model, input_size=(1, 8, 16, 16), device="meta")
    assert [(d.path, p.path) for d, p in find_pairs(prof)] == [("0", "2")]  # grouped 1x1 (6) is not dense
    (p,) = separable_pairs(prof)
    assert p.kernel == (5, 5) and p.counted_ratio == Fraction(1, 16) + Fraction(1, 25)


def test_no_pairs():
    model = nn.Sequential(nn.Conv2d(8, 8, 3), nn.ReLU())
    assert _pairs_of(model) == []
    assert summary([]) == {"pairs": 0, "agree": 0, "separable_macs": 0, "standard_macs": 0, "ratio": None,
                           "ratio_exact": None}


def test_batch_and_real_tensors_give_the_same_ratio():
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.Conv2d(8, 12, 1)).eval()
    (p,) = separable_pairs(profiler.profile(model, input_size=(3, 8, 10, 10)))
    assert p.batch == 3 and p.standard_macs == 9 * 8 * 12 * 100 * 3
    assert p.counted_ratio == Fraction(1, 12) + Fraction(1, 9)
