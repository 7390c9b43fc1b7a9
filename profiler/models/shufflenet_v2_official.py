"""ShuffleNet v2 as in the paper's official code (megvii-model/ShuffleNet-Series, ShuffleNetV2/).

Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", ECCV 2018.
Names: ``shufflenet_v2_official_x0_5``, ``_x1_0``, ``_x1_5``, ``_x2_0``.

Differs from torchvision's ``shufflenet_v2_x*`` in the first (stride-2) unit of each stage: the official
code keeps the full input width ``in`` on the projection branch (dw 3x3/2 BN, 1x1 in -> in BN ReLU) and gives
the main branch (1x1 in -> mid BN ReLU, dw 3x3/2 BN, 1x1 mid -> out - in BN ReLU) the rest, with
mid = out // 2. torchvision splits both branches to out // 2, which is why it gets 145M MACs at 1x instead
of the published 146M. Stride-1 units take the even channels as the shortcut and feed the odd ones to the
main branch (in/2 -> mid -> out/2), which is the official "channel shuffle then split" in one step.

stem: conv 3x3/2 (3 -> 24) BN ReLU, max-pool 3x3/2; stages of 4, 8, 4 units with 48/96/192 (0.5x),
116/232/464 (1x), 176/352/704 (1.5x), 244/488/976 (2x) channels; 1x1 conv to 1024 (2048 at 2x) BN ReLU;
global average pool; (dropout 0.2 at 2x); FC without bias.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from profiler.models.registry import register_model

__all__ = ["ShuffleNetV2Official", "STAGE_CHANNELS"]

STAGE_CHANNELS = {
    "0_5": (24, 48, 96, 192, 1024),
    "1_0": (24, 116, 232, 464, 1024),
    "1_5": (24, 176, 352, 704, 1024),
    "2_0": (24, 244, 488, 976, 2048),
}


class ShuffleV2Unit(nn.Module):
    def __init__(self, cin, cout, mid, stride):
        super().__init__()
        self.stride = stride
        out = cout - cin
        self.branch_main = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
            nn.Conv2d(mid, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
        )
        if stride == 2:
            self.branch_proj = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, cin, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
            )
        else:
            self.branch_proj = None

    def forward(self, x):
        if self.stride == 1:
            n, c, h, w = x.shape
            # official channel_shuffle: even channels -> shortcut, odd channels -> main branch
            x = x.reshape(n, c // 2, 2, h, w)
            x_proj, x = x[:, :, 0], x[:, :, 1]
            return torch.cat((x_proj, self.branch_main(x)), 1)
        return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)


class ShuffleNetV2Official(nn.Module):
    def __init__(self, width: str = "1_0", num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        if width not in STAGE_CHANNELS:
            raise ValueError(f"ShuffleNet v2 width must be one of {sorted(STAGE_CHANNELS)}, got {width!r}")
        chans = STAGE_CHANNELS[width]
        stem = chans[0]
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        cin = stem
        stages = []
        for repeats, cout in zip((4, 8, 4), chans[1:4]):
            units = [ShuffleV2Unit(cin, cout, cout // 2, 2)]
            units += [ShuffleV2Unit(cout // 2, cout, cout // 2, 1) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.conv_last = nn.Sequential(
            nn.Conv2d(cin, chans[4], 1, bias=False), nn.BatchNorm2d(chans[4]), nn.ReLU(inplace=True)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2) if width == "2_0" else nn.Identity()
        self.fc = nn.Linear(chans[4], num_classes, bias=False)

    def forward(self, x):
        x = self.conv_last(self.stages(self.stem(x)))
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))


def _make(wkey):
    name = f"shufflenet_v2_official_x{wkey}"

    @register_model(name, input_size=(3, 224, 224), family="shufflenet_v2")
    def factory(**kwargs):
        return ShuffleNetV2Official(width=wkey, **kwargs)

    factory.__name__ = name
    return factory


for _w in STAGE_CHANNELS:
    _make(_w)
