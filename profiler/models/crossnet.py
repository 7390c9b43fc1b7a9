"""CrossNet: a parametric family of mobile networks built from "pods" of cross-connected bottlenecks.

Names follow the grammar of the CrossNet study (soeaver/CrossNet-PyTorch, README tables)::

    crossnet{depth}k{kernel}_b{base}e{expansion}[g{groups}][_{head}head][-{tail}tail]

e.g. ``crossnet58k5_b70e04g2`` (the model reported as "CrossNet (ours)": 304 MFLOPs, 3.28M params).

- ``depth``: 9 convs per pod plus 4 (3 stem convs + the tail 1x1), so ``pods = (depth - 4) / 9``.
  49 -> pods per stage (1, 1, 1, 2) and 58 -> (1, 1, 2, 2), as in the study ("49=1112, 58=1122").
  Other depths of the form 9*P + 4 (40, 67, 76, ...) spread the extra pods from the last stage backwards
  (40 -> 1111, 67 -> 1222, 76 -> 2222, 85 -> 2223, ...): an extrapolation of 1112 -> 1122, not a published rule.
- ``kernel``: depthwise kernel size (3, 5, 7, ...), also used by the stem's depthwise conv.
- ``base``: inner width of stage 1; stage i has inner width ``w = base * 2**i``.
- ``expansion``: written without the dot, ``e04`` = 0.4, ``e05`` = 0.5, ``e075`` = 0.75, ``e1`` = 1.0
  (a leading 0 means "0.", otherwise the digits are an integer). Stage output width ``o = int(w * e)``,
  computed in floating point exactly like the study's code (``int(basic_width * expansion)``).
- ``groups``: groups of the projection 1x1 convs (default 1 when omitted, e.g. ``crossnet58k5_b70e04``).
- ``head``: stem width (default 24, the study's "head24"/"24head"); ``tail``: width of the last 1x1 (default 1024).

Architecture (from the seed tables, section A, and the study's detection backbone code):

- stem: conv 3x3/2 (3 -> head) BN ReLU; conv 1x1 (head -> head) BN ReLU; depthwise kxk/2 BN ReLU.
- 4 stages, strides 1, 2, 2, 2 (applied by the first pod of each stage).
- pod = three transformations passing a pair (x1, x2); the pod outputs x1.
  * first ("linear bottleneck"): 1x1 (in -> w) BN ReLU; dw kxk (stride s) BN ReLU = f;
    grouped 1x1 (w -> o, groups g) BN; identity added iff s == 1 and in == o. Passes (out, f).
  * j-th cross transformation, j = 1, 2: 1x1 (o -> w) BN ReLU; dw kxk BN ReLU = f;
    c = cat(f, x2) with (j + 1) * w channels; grouped 1x1 (c -> o, groups g) BN; + x1. Passes (out, c).
- tail: 1x1 (o_last -> tail) BN ReLU; global average pool; FC tail -> num_classes (with bias).

Choices where the description leaves room (each checked against the published 3.28M / 304M):

- All convs are bias-free (BN follows each); only the FC has a bias.
- The concatenation order is (f, x2) and x2 of the j-th cross transformation is the *concatenation* passed
  by the previous one (so the projection input grows w, 2w, 3w), as in the study's code.
- The published FLOPs of the "FINAL" table (304 for b70) are conv + FC multiply-accumulates without bias;
  the 309 of the summary table is that plus the ReLU element count, see the seed tables.
- The stem is 24 wide for every base width ("head24" in the FINAL table), although the study's detection
  backbone uses 32 for b80 and 48 for b90/b100: with 24 the b80 and b100 rows reproduce (3.91M/383, 5.38M/570).
- Published precision: the study *truncates*. crossnet58k5_b70e04g2 has 3,285,158 parameters (published
  3.28, but round() gives 3.29) and 304,356,640 conv MACs + 1,024,000 FC MACs (published 304 = floor of the
  conv-only count). All nine checkable rows of ``crossnet_table.yaml`` match under floor(), three do not under
  round(); the FC bias is real (without it b80 would drop to 3.90).
- Names whose widths are not divisible by ``groups`` cannot be built (grouped conv constraint): the
  factory raises ``ValueError`` naming the offending width.
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
