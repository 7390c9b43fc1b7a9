"""Depthwise -> pointwise pairs in a profiled network, and their cost against a standard convolution.

For every depthwise conv followed (in execution order) by the 1x1 conv that consumes its output, we put the
*counted* MACs of the pair (depthwise + pointwise, as the engine counted them) over the MACs of the standard
convolution it factorises (dense ``k x k``, ``M -> N`` channels, the depthwise's stride/padding/dilation, hence
the depthwise's output size), and print that beside the analytic ratio ``1/N + 1/k^2``
(:func:`profiler.analysis.analytic.separable_ratio`).

Why they agree, and when they cannot:

- every cost is (MACs per output position) x (output positions). The depthwise, the pointwise and the
  standard conv all produce the same ``Ho x Wo`` map, so the map size cancels; stride and padding only
  choose ``Ho x Wo`` and therefore never change the ratio (they scale both costs alike, as the resolution
  multiplier rho does). They do change the *costs*: the paper's ``D_F`` is the output side; at a stride-2
  depthwise, a formula fed the input side (112 instead of 56) overestimates both costs 4x, not the ratio.
- the ratio differs when the pointwise runs on a different map than the depthwise: a strided or padded 1x1
  conv scales the pointwise term (the ``1/k^2``: pointwise over standard is ``M N / (k^2 M N)``) by
  ``(Hp*Wp)/(Ho*Wo)``, giving ``1/N + (Hp*Wp)/(Ho*Wo)/k^2``;
- and with a channel multiplier ``c`` (depthwise ``M -> c*M``): the pair costs ``c`` times more per term,
  ``c/N + c/k^2``, since the analytic formula assumes one filter per input channel.

The general expression ``c/N + c*(Hp*Wp)/(Ho*Wo)/k^2`` is computed as well and always equals the counted
ratio (a consistency check of the counts). Ratios are exact :class:`~fractions.Fraction` values. The table is
:func:`profiler.report.sections.separable_table`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from profiler.analysis.analytic import separable_ratio

__all__ = ["SeparablePair", "find_pairs", "separable_pairs", "pairs_json", "summary"]


@dataclass
class SeparablePair:
    """One depthwise -> pointwise pair; MACs are per forward call, bias not counted."""
    depthwise: str  # module path
    pointwise: str
    kernel: tuple[int, ...]  # depthwise kernel (kh, kw)
    stride: tuple[int, ...]  # depthwise stride
    padding: object  # depthwise padding (list or "same"/"valid")
    in_channels: int  # M
    multiplier: int  # depthwise channel multiplier c (depthwise out = c*M)
    out_channels: int  # N (pointwise output channels)
    input_hw: tuple[int, ...]  # spatial size entering the depthwise
    output_hw: tuple[int, ...]  # depthwise output = the standard conv's output
    pointwise_hw: tuple[int, ...]  # pointwise output
    pointwise_stride: tuple[int, ...]
    batch: int
    dw_macs: int  # counted
    pw_macs: int  # counted
    standard_macs: int  # dense k x k, M -> N conv with the depthwise's output size
    counted_ratio: Fraction
    analytic_ratio: Fraction  # 1/N + 1/k^2
    explained_ratio: Fraction  # c/N + c*(Hp*Wp)/(Ho*Wo)/k^2
    notes: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return self.counted_ratio == self.analytic_ratio

    @property
    def ratio(self) -> float:
        return float(self.counted_ratio)


def _spatial(shape) -> tuple[int, ...]:
    return tuple(int(d) for d in shape[2:])


def _prod(xs) -> int:
    return math.prod(int(x) for x in xs)


def _ordered_convs(prof) -> list:
    convs = [layer for layer in prof.layers if layer.kind.startswith("conv") and layer.calls > 0
             and layer.input_shapes and layer.output_shapes and layer.config]
    if any(layer.first_call < 0 for layer in convs):  # a profile from before Layer.first_call existed
        raise ValueError("this profile has no execution order (Layer.first_call); profile the model again")
    return sorted(convs, key=lambda layer: layer.first_call)


def find_pairs(prof) -> list[tuple]:
    """(depthwise layer, pointwise layer) pairs in execution order.

    The consumer of a depthwise conv is taken to be the first conv run after it whose input has the
    depthwise's output spatial size (convs on other sizes, e.g. squeeze-excitation 1x1s on the pooled map,
    are stepped over). It is a pair when that conv is a dense 1x1 (kind ``conv_pointwise``) reading exactly the
    depthwise's channels; anything else (another depthwise of a mixed/split conv, a grouped 1x1, a concat
    that widened the input) is not a separable pair and is left out.
    """
    convs = _ordered_convs(prof)
    pairs = []
    for i, dw in enumerate(convs):
        if dw.kind != "conv_depthwise":
            continue
        out = dw.output_shapes[0]
        for cand in convs[i + 1:]:
            inp = cand.input_shapes[0]
            if _spatial(inp) != _spatial(out):
                continue
            if (cand.kind == "conv_pointwise" and inp[1] == out[1]
                    and cand.config.get("in_channels") == dw.config.get("out_channels")):
                pairs.append((dw, cand))
            break
    return pairs


def _describe(hw) -> str:
    return "x".join(str(d) for d in hw)


def _pair(dw, pw) -> SeparablePair:
    cfg = dw.config
    m = int(cfg["in_channels"])
    c_out = int(cfg["out_channels"])
    c = c_out // m
    n = int(pw.config["out_channels"])
    kernel = tuple(int(k) for k in cfg["kernel_size"])
    out = dw.output_shapes[0]
    pw_out = pw.output_shapes[0]
    batch = int(out[0])
    ho_wo = _spatial(out)
    hp_wp = _spatial(pw_out)
    positions = batch * _prod(ho_wo)
    # MACs the conv counter charges a dense conv: kernel area x Cin x Cout per output position (bias apart).
    standard = _prod(kernel) * m * n * positions
    dw_macs = dw.macs // max(dw.calls, 1)
    pw_macs = pw.macs // max(pw.calls, 1)
    counted = Fraction(dw_macs + pw_macs, standard)
    analytic = separable_ratio(n, kernel)
    # Depthwise over standard is 1/N, pointwise over standard is 1/k^2 (times its share of positions).
    explained = Fraction(c, n) + Fraction(c * _prod(hp_wp), _prod(kernel) * _prod(ho_wo))

    notes = []
    if c != 1:
        notes.append(f"channel multiplier {c} (depthwise {m}->{c_out}): both terms x{c}, ratio = {c}/N + {c}/k^2")
    if hp_wp != ho_wo:
        notes.append(f"pointwise output {_describe(hp_wp)} != depthwise output {_describe(ho_wo)} (pointwise "
                     f"stride {list(pw.config.get('stride', []))}, padding {pw.config.get('padding')}): the 1x1 "
                     f"term 1/k^2 scales by {_prod(hp_wp)}/{_prod(ho_wo)}")
    stride = tuple(int(s) for s in cfg["stride"])
    in_hw = _spatial(dw.input_shapes[0])
    if counted == analytic and in_hw != ho_wo:
        why = f"stride {_describe(stride)}" if any(s != 1 for s in stride) else f"padding {cfg['padding']}"
        notes.append(f"{why}: {_describe(in_hw)} -> {_describe(ho_wo)}; depthwise, pointwise and standard conv "
                     f"are all costed at the {_describe(ho_wo)} output, so the {why.split()[0]} scales every cost "
                     f"alike (as rho does) and the ratio is unchanged")
    if counted != explained:  # would mean the counts are not what a conv costs: say so loudly
        notes.append(f"COUNTS INCONSISTENT: counted {counted} != expected {explained}")
    return SeparablePair(
        depthwise=dw.path, pointwise=pw.path, kernel=kernel, stride=stride, padding=cfg.get("padding"),
        in_channels=m, multiplier=c, out_channels=n, input_hw=in_hw, output_hw=ho_wo, pointwise_hw=hp_wp,
        pointwise_stride=tuple(int(s) for s in pw.config.get("stride", [1] * len(kernel))), batch=batch,
        dw_macs=dw_macs, pw_macs=pw_macs, standard_macs=standard, counted_ratio=counted,
        analytic_ratio=analytic, explained_ratio=explained, notes=notes)


def separable_pairs(prof) -> list[SeparablePair]:
    """Every depthwise -> pointwise pair of ``prof`` (a :class:`profiler.Profile`) with its ratios."""
    return [_pair(dw, pw) for dw, pw in find_pairs(prof)]


def summary(pairs: list[SeparablePair]) -> dict:
    """Totals over the pairs: counted MACs of all pairs vs the standard convs they replace."""
    sep = sum(p.dw_macs + p.pw_macs for p in pairs)
    std = sum(p.standard_macs for p in pairs)
    return {
        "pairs": len(pairs),
        "agree": sum(p.agree for p in pairs),
        "separable_macs": sep,
        "standard_macs": std,
        "ratio": float(Fraction(sep, std)) if std else None,
        "ratio_exact": str(Fraction(sep, std)) if std else None,
    }


def pairs_json(pairs: list[SeparablePair]) -> dict:
    """Plain data for JSON: one dict per pair (``ratio`` = counted ratio as a float) and the summary."""
    out = []
    for p in pairs:
        out.append({
            "depthwise": p.depthwise, "pointwise": p.pointwise, "kernel": list(p.kernel), "stride": list(p.stride),
            "padding": p.padding, "in_channels": p.in_channels, "multiplier": p.multiplier,
            "out_channels": p.out_channels, "input_hw": list(p.input_hw), "output_hw": list(p.output_hw),
            "pointwise_hw": list(p.pointwise_hw), "batch": p.batch,
            "dw_macs": p.dw_macs, "pw_macs": p.pw_macs, "standard_macs": p.standard_macs,
            "ratio": float(p.counted_ratio), "ratio_exact": str(p.counted_ratio),
            "analytic_ratio": float(p.analytic_ratio), "analytic_exact": str(p.analytic_ratio),
            "agree": p.agree, "notes": list(p.notes),
        })
    return {"unit": "MACs (multiply-accumulates, conv, bias not counted)",
            "analytic": "1/N + 1/k^2 (MobileNet; N = pointwise output channels, k = depthwise kernel)",
            "pairs": out, "summary": summary(pairs)}
