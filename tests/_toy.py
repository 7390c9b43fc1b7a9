"""A small nested model whose costs are known in closed form (used by the report tests).

Toy on a 1x3x16x16 input: stem conv 3->8, 3x3, stride 2, padding 1, bias -> 8x8x8; two Blocks, each a
depthwise 3x3 + pointwise 1x1 (no bias) and, in the Block's own forward, an einsum mixing channels with a
Parameter the Block registers itself (so a container owns cost and parameters); global average pool; fc 8->10.
"""
import torch
import torch.nn as nn

C, H = 8, 8  # channels and side after the stem
STEM_MACS = C * 3 * 9 * H * H  # 13,824
DW_MACS = C * 9 * H * H  # 4,608
PW_MACS = C * C * H * H  # 4,096
MIX_MACS = C * C * H * H  # 4,096: out[n,d,h,w] = sum_c y[n,c,h,w] * scale[d,c]
FC_MACS = C * 10
BLOCK_MACS = DW_MACS + PW_MACS + MIX_MACS
TOTAL_MACS = STEM_MACS + 2 * BLOCK_MACS + FC_MACS  # 39,504

STEM_PARAMS = C * 3 * 9 + C
BLOCK_PARAMS = C * 9 + C * C + C * C  # dw, pw, scale
FC_PARAMS = C * 10 + 10
TOTAL_PARAMS = STEM_PARAMS + 2 * BLOCK_PARAMS + FC_PARAMS  # 714
INPUT = (1, 3, 16, 16)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.scale = nn.Parameter(torch.ones(c, c))

    def forward(self, x):
        y = self.pw(self.dw(x))
        return torch.einsum("nchw,dc->ndhw", y, self.scale)


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, C, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(Block(C), Block(C))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(C, 10)

    def forward(self, x):
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


def toy_profile(convention="macs", device="meta"):
    import profiler

    return profiler.profile(Toy(), input_size=INPUT, convention=convention, device=device, name="toy")
