"""CrossNet: a parametric family of mobile networks built from "pods" of cross-connected bottlenecks
(soeaver/CrossNet-PyTorch), registered in the ``builtin`` zoo by name::

    crossnet{depth}k{kernel}_b{base}e{expansion}[g{groups}][_{head}head][-{tail}tail]

e.g. ``crossnet58k5_b70e04g2`` ("CrossNet (ours)": 304 MFLOPs, 3.28M params). The name grammar, the
architecture, the choices the study leaves open and the evidence for each are in docs/crossnet.md; the
published rows are in ``crossnet_table.yaml``.
"""
from __future__ import annotations

import re
from typing import Sequence

import torch
import torch.nn as nn

from profiler.models.registry import register_pattern

__all__ = ["CrossNet", "crossnet", "parse_crossnet_name", "CROSSNET_NAME_RE", "pods_per_stage"]


def _conv_bn(cin, cout, k=1, stride=1, groups=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class LinearBottleneck(nn.Module):
    """First transformation of a pod: returns (out, f)."""

    def __init__(self, cin, cout, inner, stride=1, kernel=5, groups=1):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        self.conv1 = _conv_bn(cin, inner, 1)
        self.conv2 = _conv_bn(inner, inner, kernel, stride, groups=inner)
        self.conv3 = _conv_bn(inner, cout, 1, groups=groups, relu=False)

    def forward(self, x):
        f = self.conv2(self.conv1(x))
        out = self.conv3(f)
        if self.use_res:
            out = out + x
        return out, f


class CrossBottleneck(nn.Module):
    """j-th cross transformation (j >= 1): returns (out, cat(f, x2))."""

    def __init__(self, cout, inner, xid, kernel=5, groups=1):
        super().__init__()
        self.conv1 = _conv_bn(cout, inner, 1)
        self.conv2 = _conv_bn(inner, inner, kernel, 1, groups=inner)
        self.conv3 = _conv_bn(inner * (xid + 1), cout, 1, groups=groups, relu=False)

    def forward(self, x1, x2):
        f = self.conv2(self.conv1(x1))
        c = torch.cat((f, x2), 1)
        return self.conv3(c) + x1, c


class Pod(nn.Module):
    def __init__(self, cin, cout, inner, stride=1, kernel=5, groups=1, pod_depth=3):
        super().__init__()
        self.init = LinearBottleneck(cin, cout, inner, stride, kernel, groups)
        self.cross = nn.ModuleList(CrossBottleneck(cout, inner, j, kernel, groups) for j in range(1, pod_depth))

    def forward(self, x):
        x1, x2 = self.init(x)
        for t in self.cross:
            x1, x2 = t(x1, x2)
        return x1


class CrossNet(nn.Module):
    def __init__(
        self,
        pods: Sequence[int] = (1, 1, 2, 2),
        base: int = 70,
        expansion: float = 0.4,
        groups: int = 1,
        kernel: int = 5,
        head: int = 24,
        tail: int = 1024,
        num_classes: int = 1000,
        in_chans: int = 3,
    ):
        super().__init__()
        _check_widths(pods, base, expansion, groups, head, kernel)
        self.stem = nn.Sequential(
            _conv_bn(in_chans, head, 3, 2),
            _conv_bn(head, head, 1),
            _conv_bn(head, head, kernel, 2, groups=head),
        )
        stages = []
        cin = head
        for i, n in enumerate(pods):
            inner = base * 2**i
            cout = int(inner * expansion)
            blocks = []
            for p in range(n):
                blocks.append(Pod(cin, cout, inner, (1 if i == 0 else 2) if p == 0 else 1, kernel, groups))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.tail = _conv_bn(cin, tail, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(tail, num_classes)

    def forward(self, x):
        x = self.tail(self.stages(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def _check_widths(pods, base, expansion, groups, head, kernel):
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"CrossNet kernel must be odd and positive, got {kernel}")
    if min(pods) < 1:
        raise ValueError(f"CrossNet needs at least one pod per stage, got {tuple(pods)}")
    if base < 1 or head < 1 or groups < 1:
        raise ValueError("CrossNet base, head and groups must be positive")
    for i in range(len(pods)):
        inner = base * 2**i
        cout = int(inner * expansion)
        if cout < 1:
            raise ValueError(f"CrossNet stage {i + 1}: output width int({inner}*{expansion}) is 0")
        for c in (inner, cout):
            if c % groups:
                raise ValueError(
                    f"CrossNet stage {i + 1}: width {c} is not divisible by groups={groups} "
                    f"(base={base}, expansion={expansion})"
                )


# ---------------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------------

_MAX_PODS = 16
# depth = 9 * pods + 4, at least one pod per stage (pods >= 4).
_DEPTHS = tuple(9 * p + 4 for p in range(4, _MAX_PODS + 1))
_DEPTH_ALT = "|".join(str(d) for d in sorted(_DEPTHS, reverse=True))

CROSSNET_NAME_RE = (
    rf"crossnet(?P<depth>{_DEPTH_ALT})k(?P<kernel>[1-9]\d*)"
    r"_b(?P<base>[1-9]\d*)e(?P<exp>0\d*[1-9]\d*|[1-9]\d*)(?:g(?P<groups>[1-9]\d*))?"
    r"(?:_(?P<head>[1-9]\d*)head)?(?:-(?P<tail>[1-9]\d*)tail)?"
)

_KNOWN_PODS = {49: (1, 1, 1, 2), 58: (1, 1, 2, 2)}


def pods_per_stage(depth: int) -> tuple[int, ...]:
    """Pods per stage for a CrossNet depth (49 -> 1112 and 58 -> 1122 as published; others extrapolated)."""
    if depth in _KNOWN_PODS:
        return _KNOWN_PODS[depth]
    if (depth - 4) % 9 or depth < 40:
        raise ValueError(f"CrossNet depth must be 9*pods + 4 with pods >= 4, got {depth}")
    n = (depth - 4) // 9
    pods = [1, 1, 1, 1]
    i = 3
    for _ in range(n - 4):
        pods[i] += 1
        i = i - 1 if i > 0 else 3
    return tuple(pods)


def _parse_expansion(s: str) -> float:
    # e04 -> 0.4, e075 -> 0.75, e05 -> 0.5, e1 -> 1.0, e2 -> 2.0
    return float("0." + s[1:]) if s.startswith("0") else float(s)


def parse_crossnet_name(name_or_match) -> dict:
    """Configuration (keyword arguments of :class:`CrossNet`) of a CrossNet name."""
    m = name_or_match
    if isinstance(m, str):
        m = re.fullmatch(CROSSNET_NAME_RE, m)
        if m is None:
            raise ValueError(f"not a CrossNet name: {name_or_match!r}")
    return dict(
        pods=pods_per_stage(int(m["depth"])),
        kernel=int(m["kernel"]),
        base=int(m["base"]),
        expansion=_parse_expansion(m["exp"]),
        groups=int(m["groups"] or 1),
        head=int(m["head"] or 24),
        tail=int(m["tail"] or 1024),
    )


@register_pattern(
    CROSSNET_NAME_RE,
    input_size=(3, 224, 224),
    family="crossnet",
    examples=(
        "crossnet58k5_b30e04g2",
        "crossnet58k5_b40e04g2",
        "crossnet58k5_b50e04g2",
        "crossnet58k5_b60e04g2",
        "crossnet58k5_b70e04g2",
        "crossnet58k5_b80e04g2",
        "crossnet58k5_b100e04g2",
        "crossnet58k3_b80e04g2",
        "crossnet49k3_b80e04g2",
        "crossnet49k5_b80e04g2",
        "crossnet58k5_b70e04",
    ),
)
def crossnet(match, **kwargs) -> CrossNet:
    cfg = parse_crossnet_name(match)
    cfg.update(kwargs)
    return CrossNet(**cfg)
