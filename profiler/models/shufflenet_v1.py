"""ShuffleNet v1 (Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile
Devices", CVPR 2018), built as in the paper's Table 1 and the official code (megvii-model/ShuffleNet-Series,
ShuffleNetV1/network.py and blocks.py).

Names: ``shufflenet_v1_g{g}_x{s}`` with g in 1, 2, 3, 4, 8 and s in 0_5, 1_0, 1_5, 2_0.

- stem: conv 3x3/2 (3 -> stem) BN ReLU, max-pool 3x3/2.
- stages 2..4 with 4, 8, 4 units; the first unit of each stage has stride 2.
- unit: grouped 1x1 (in -> mid) BN ReLU, channel shuffle, depthwise 3x3 (stride) BN,
  grouped 1x1 (mid -> out') BN; stride 1: ReLU(x + out'); stride 2: cat(avgpool3x3/2(x), ReLU(out')) with
  out' = out - in so that the concatenation has ``out`` channels.
- mid (bottleneck) = out // 4, for every unit (also the stride-2 ones), as in the official code.
- the first 1x1 of stage 2 is not grouped (too few input channels).
- global average pool, FC without bias (official code).

Widths. Stage output channels at 1x for g = 1, 2, 3, 4, 8: 144, 200, 240, 272, 384 (then x2, x4); ``s x``
multiplies them by s exactly (the official tables for g = 3, 8: 120/240/480, 360/720/1440, 480/960/1920,
192/384/768, 576/1152/2304, 768/1536/3072). The stem is *not* simply scaled in the official code: 12 (g=3)
or 16 (g=8) at 0.5x, 24 at 1x and 1.5x, 48 at 2x. We take that table (12, 24, 24, 48) and round it up to a
multiple of g, which reproduces the official 16 for g=8 at 0.5x.
Combinations neither the paper nor the official code define (g = 2, 4 at 0.5x and 1.5x) have a stage-2
bottleneck out // 4 that is not divisible by g (25, 75, 34, 102): there mid is rounded *down* to a multiple
of g (24, 74, 32, 100); every other configuration is untouched.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from profiler.models._shuffle import channel_shuffle
from profiler.models.registry import register_model

__all__ = ["ShuffleNetV1", "STAGE_CHANNELS_1X", "shufflenet_v1_config"]

STAGE_CHANNELS_1X = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
_STEM = {0.5: 12, 1.0: 24, 1.5: 24, 2.0: 48}
WIDTHS = {"0_5": 0.5, "1_0": 1.0, "1_5": 1.5, "2_0": 2.0}


class ShuffleV1Unit(nn.Module):
    def __init__(self, cin, cout, mid, groups, stride, first_group=False):
        super().__init__()
        self.stride = stride
        self.groups = groups
        out = cout - cin if stride == 2 else cout
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False, groups=1 if first_group else groups)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.proj = nn.AvgPool2d(3, 2, 1) if stride == 2 else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        if self.groups > 1:
            y = channel_shuffle(y, self.groups)
        y = self.bn3(self.conv3(self.bn2(self.conv2(y))))
        if self.stride == 1:
            return F.relu(x + y)
        return torch.cat((self.proj(x), F.relu(y)), 1)


def shufflenet_v1_config(groups: int, width: float):
    """(stem channels, [stage output channels], [stage bottleneck channels])."""
    if groups not in STAGE_CHANNELS_1X:
        raise ValueError(f"ShuffleNet v1 groups must be one of {sorted(STAGE_CHANNELS_1X)}, got {groups}")
    if width not in _STEM:
        raise ValueError(f"ShuffleNet v1 width must be one of {sorted(_STEM)}, got {width}")
    stem = -(-_STEM[width] // groups) * groups
    outs = [int(STAGE_CHANNELS_1X[groups] * width * 2**i) for i in range(3)]
    mids = [(c // 4) // groups * groups for c in outs]
    return stem, outs, mids


class ShuffleNetV1(nn.Module):
    def __init__(self, groups: int = 3, width: float = 1.0, num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        stem, outs, mids = shufflenet_v1_config(groups, width)
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        cin = stem
        stages = []
        for si, (repeats, cout, mid) in enumerate(zip((4, 8, 4), outs, mids)):
            units = []
            for i in range(repeats):
                units.append(ShuffleV1Unit(cin, cout, mid, groups, 2 if i == 0 else 1, first_group=si == 0 and i == 0))
                cin = cout
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes, bias=False)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def _make(g, wkey):
    name = f"shufflenet_v1_g{g}_x{wkey}"

    @register_model(name, input_size=(3, 224, 224), family="shufflenet_v1")
    def factory(**kwargs):
        return ShuffleNetV1(groups=g, width=WIDTHS[wkey], **kwargs)

    factory.__name__ = name
    factory.__doc__ = f"ShuffleNet v1 {WIDTHS[wkey]}x, g={g}."
    return factory


for _g in STAGE_CHANNELS_1X:
    for _w in WIDTHS:
        _make(_g, _w)
