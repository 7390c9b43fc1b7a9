"""The block-family study: nine block types on MNIST, CIFAR-10 and STL-10 (seed tables, section D).

Built as in the study's code (hei4/pytorch-efficient-architecture, scripts/net.py, the version with all nine
blocks; channel lists from scripts/util.py). Registered names: ``blocks_{dataset}_{block}``, e.g.
``blocks_cifar10_shuffle``, each with its dataset's input size. :data:`BLOCK_TYPES` and :data:`DATASETS`
list the grid (for ``profile-model blocks``); :func:`blocks_model` builds any cell.

Network: stem (conv 7x7/2 no bias, BN, ReLU) -> one stage per consecutive pair of the channel list after the
stem -> global average pool -> FC (with bias) to the classes.

| dataset | input    | channels                   | stages |
|---------|----------|----------------------------|--------|
| mnist   | 1x28x28  | 1 -> 64 -> 128 | 10        | 1      |
| cifar10 | 3x32x32  | 3 -> 64 -> 128 -> 256 | 10 | 2      |
| stl10   | 3x96x96  | 3 -> 64 -> ... -> 512 | 10 | 3      |

A stage is 4 blocks; the first goes in -> out and halves the resolution, the other three keep out -> out
(except ``dense``, where the stage is a single dense block of 8 layers, see below). Every conv is bias-free
unless stated. "conv-BN-ReLU" below means exactly that order.

- plain: 3x3 (stride s) conv-BN-ReLU, 3x3 conv-BN-ReLU; no shortcut.
- residual: 3x3 (s) conv-BN-ReLU, 3x3 conv-BN; shortcut identity, or 1x1/s conv-BN when downsampling;
  ReLU after the add.
- bottleneck: mid = out // 4; 1x1 (s) conv-BN-ReLU, 3x3 conv-BN-ReLU, 1x1 conv-BN; shortcut as residual.
- resnext: as bottleneck with the 3x3 grouped in 32 groups.
- xception: [1x1 conv (with bias, no BN), depthwise 3x3 BN ReLU], [1x1 conv (bias), depthwise 3x3 BN];
  when downsampling: max-pool 2x2 on that branch and 1x1/2 conv-BN shortcut; ReLU after the add.
- dense: one block per stage, 8 layers (= 2 x 4 blocks), each [1x1 conv-BN-ReLU, 3x3 conv-BN-ReLU]
  producing k = (out - in) / 8 channels concatenated to its input; then 1x1 (out -> out) conv-BN-ReLU and
  max-pool 2x2.
- mobile_v1: [3x3 "depthwise" conv in -> out with groups = in (channel multiplier out/in: 2 in the first
  block of a stage, 1 elsewhere), BN, ReLU, 1x1 conv-BN-ReLU], [depthwise 3x3 BN ReLU, 1x1 conv-BN-ReLU].
- mobile_v2: two inverted residuals, expansion 6, ReLU6: [1x1 in -> 6 in, BN, ReLU6, dw 3x3 (s), BN, ReLU6,
  1x1 -> out, BN] (+ x when s = 1), ReLU6; [same with 6 out, stride 1] + x, ReLU6. (The study applies ReLU6
  after each sum, unlike the MobileNet v2 paper's linear bottleneck.)
- shuffle: two ShuffleNet-v1 units, groups 4, mid = out // 4: [grouped 1x1 (in -> mid) BN ReLU, channel
  shuffle, dw 3x3 (s) BN ReLU, grouped 1x1 (mid -> out, or out - in when s = 2) BN]; s = 1: + x, s = 2:
  cat(branch, avg-pool 3x3/2 (x)); ReLU; then the same with stride 1 and + x, ReLU.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from profiler.models._shuffle import channel_shuffle
from profiler.models.registry import register_model

__all__ = ["BLOCK_TYPES", "DATASETS", "BlockDataset", "BlockNet", "blocks_model", "block_model_name"]


@dataclass(frozen=True)
class BlockDataset:
    name: str
    input_size: tuple[int, int, int]
    channels: tuple[int, ...]  # stem input, stem output, stage outputs ...
    num_classes: int

    @property
    def num_stages(self) -> int:
        return len(self.channels) - 2


DATASETS: dict[str, BlockDataset] = {
    "mnist": BlockDataset("mnist", (1, 28, 28), (1, 64, 128), 10),
    "cifar10": BlockDataset("cifar10", (3, 32, 32), (3, 64, 128, 256), 10),
    "stl10": BlockDataset("stl10", (3, 96, 96), (3, 64, 128, 256, 512), 10),
}


def _cbr(cin, cout, k, stride=1, groups=1, act: type[nn.Module] | None = nn.ReLU, bias=False):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=bias), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class PlainBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.layer1 = _cbr(cin, cout, 3, stride)
        self.layer2 = _cbr(cout, cout, 3)

    def forward(self, x):
        return self.layer2(self.layer1(x))


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.layer1 = _cbr(cin, cout, 3, stride)
        self.layer2 = _cbr(cout, cout, 3, act=None)
        self.shortcut = _cbr(cin, cout, 1, stride, act=None) if stride != 1 else nn.Identity()

    def forward(self, x):
        return F.relu(self.layer2(self.layer1(x)) + self.shortcut(x))


class BottleneckBlock(nn.Module):
    groups = 1

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        mid = cout // 4
        self.layer1 = _cbr(cin, mid, 1, stride)
        self.layer2 = _cbr(mid, mid, 3, groups=self.groups)
        self.layer3 = _cbr(mid, cout, 1, act=None)
        self.shortcut = _cbr(cin, cout, 1, stride, act=None) if stride != 1 else nn.Identity()

    def forward(self, x):
        return F.relu(self.layer3(self.layer2(self.layer1(x))) + self.shortcut(x))


class ResNeXtBlock(BottleneckBlock):
    groups = 32


class XceptionBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.layer1 = nn.Sequential(
            nn.Conv2d(cin, cout, 1, bias=True),
            nn.Conv2d(cout, cout, 3, 1, 1, groups=cout, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(cout, cout, 1, bias=True),
            nn.Conv2d(cout, cout, 3, 1, 1, groups=cout, bias=False), nn.BatchNorm2d(cout),
        )
        self.pool = nn.MaxPool2d(stride) if stride != 1 else nn.Identity()
        self.shortcut = _cbr(cin, cout, 1, stride, act=None) if stride != 1 else nn.Identity()

    def forward(self, x):
        return F.relu(self.pool(self.layer2(self.layer1(x))) + self.shortcut(x))


class DenseStage(nn.Module):
    """A whole stage: ``num_layers`` densely connected layers, transition 1x1, max-pool."""

    def __init__(self, cin, cout, stride=2, num_layers=8):
        super().__init__()
        if (cout - cin) % num_layers:
            raise ValueError(f"dense stage {cin} -> {cout}: growth not divisible by {num_layers}")
        k = (cout - cin) // num_layers
        self.layers = nn.ModuleList(
            nn.Sequential(_cbr(cin + i * k, k, 1), _cbr(k, k, 3)) for i in range(num_layers)
        )
        self.transition = nn.Sequential(_cbr(cout, cout, 1), nn.MaxPool2d(stride))

    def forward(self, x):
        for layer in self.layers:
            x = torch.cat([x, layer(x)], 1)
        return self.transition(x)


class MobileV1Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.layer1 = nn.Sequential(_cbr(cin, cout, 3, stride, groups=cin), _cbr(cout, cout, 1))
        self.layer2 = nn.Sequential(_cbr(cout, cout, 3, groups=cout), _cbr(cout, cout, 1))

    def forward(self, x):
        return self.layer2(self.layer1(x))


class MobileV2Block(nn.Module):
    def __init__(self, cin, cout, stride=1, expansion=6):
        super().__init__()
        self.stride = stride
        e1, e2 = cin * expansion, cout * expansion
        self.layer1 = nn.Sequential(
            _cbr(cin, e1, 1, act=nn.ReLU6), _cbr(e1, e1, 3, stride, groups=e1, act=nn.ReLU6),
            _cbr(e1, cout, 1, act=None),
        )
        self.layer2 = nn.Sequential(
            _cbr(cout, e2, 1, act=nn.ReLU6), _cbr(e2, e2, 3, groups=e2, act=nn.ReLU6),
            _cbr(e2, cout, 1, act=None),
        )

    def forward(self, x):
        h = self.layer1(x)
        if self.stride == 1:
            h = h + x
        x = F.relu6(h)
        return F.relu6(self.layer2(x) + x)


class ShuffleBlock(nn.Module):
    def __init__(self, cin, cout, stride=1, groups=4):
        super().__init__()
        self.groups = groups
        self.stride = stride
        mid = cout // 4
        out1 = cout if stride == 1 else cout - cin
        self.layer1 = _cbr(cin, mid, 1, groups=groups)
        self.layer2 = nn.Sequential(_cbr(mid, mid, 3, stride, groups=mid), _cbr(mid, out1, 1, groups=groups, act=None))
        self.layer3 = _cbr(cout, mid, 1, groups=groups)
        self.layer4 = nn.Sequential(_cbr(mid, mid, 3, groups=mid), _cbr(mid, cout, 1, groups=groups, act=None))
        self.pool = nn.AvgPool2d(3, 2, 1) if stride != 1 else None

    def forward(self, x):
        h = self.layer2(channel_shuffle(self.layer1(x), self.groups))
        h = h + x if self.stride == 1 else torch.cat([h, self.pool(x)], 1)
        x = F.relu(h)
        h = self.layer4(channel_shuffle(self.layer3(x), self.groups))
        return F.relu(h + x)


_BLOCKS = {
    "plain": PlainBlock,
    "residual": ResidualBlock,
    "bottleneck": BottleneckBlock,
    "resnext": ResNeXtBlock,
    "xception": XceptionBlock,
    "dense": DenseStage,
    "mobile_v1": MobileV1Block,
    "mobile_v2": MobileV2Block,
    "shuffle": ShuffleBlock,
}
BLOCK_TYPES: tuple[str, ...] = tuple(_BLOCKS)


class BlockNet(nn.Module):
    def __init__(self, block: str, channels=(3, 64, 128, 256), num_classes: int = 10, blocks_per_stage: int = 4):
        super().__init__()
        if block not in _BLOCKS:
            raise ValueError(f"unknown block type {block!r}; choose from {', '.join(BLOCK_TYPES)}")
        cls = _BLOCKS[block]
        self.stem = _cbr(channels[0], channels[1], 7, 2)
        stages = []
        for cin, cout in zip(channels[1:-1], channels[2:]):
            if block == "dense":
                stages.append(nn.Sequential(cls(cin, cout, 2, num_layers=2 * blocks_per_stage)))
            else:
                stages.append(
                    nn.Sequential(cls(cin, cout, 2), *(cls(cout, cout, 1) for _ in range(blocks_per_stage - 1)))
                )
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def block_model_name(dataset: str, block: str) -> str:
    return f"blocks_{dataset}_{block}"


def blocks_model(dataset: str, block: str, **kwargs) -> BlockNet:
    """The study's network for ``dataset`` (mnist, cifar10, stl10) built from ``block`` (see BLOCK_TYPES)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    d = DATASETS[dataset]
    kwargs.setdefault("num_classes", d.num_classes)
    return BlockNet(block, d.channels, **kwargs)


def _register(dataset: str, block: str):
    name = block_model_name(dataset, block)

    @register_model(name, input_size=DATASETS[dataset].input_size, family="blocks")
    def factory(**kwargs):
        return blocks_model(dataset, block, **kwargs)

    factory.__name__ = name
    return factory


for _d in DATASETS:
    for _b in BLOCK_TYPES:
        _register(_d, _b)
