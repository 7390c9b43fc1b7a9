"""How single values are written: counts, scaled counts, shapes, kernel/stride/groups."""
from __future__ import annotations

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def count(n: float | int | None) -> str:
    """An exact count with thousands separators (``4,134,606``); fractional costs are rounded."""
    if n is None:
        return "-"
    return f"{int(round(n)):,}"


def scaled(n: float | int, unit: str = "", digits: int = 2) -> str:
    """A count with a decimal prefix: ``scaled(239_173_360, "MACs") == "239.17 M MACs"`` (steps of 10^3)."""
    for factor, prefix in _PREFIXES:
        if abs(n) >= factor:
            text = f"{n / factor:.{digits}f} {prefix}"
            break
    else:
        text = f"{int(round(n))}"
    return f"{text} {unit}" if unit else text


def shape(s) -> str:
    """``[1, 3, 224, 224]`` -> ``1x3x224x224``; a scalar tensor is ``()``."""
    if s is None:
        return ""
    s = list(s)
    return "x".join(str(int(d)) for d in s) if s else "()"


def shapes(ss) -> str:
    """Several tensors' shapes, comma separated (a module with two inputs: ``1x64x56x56, 1x64x56x56``)."""
    return ", ".join(shape(s) for s in (ss or []))


def _dims(v) -> str:
    """A kernel size, every dimension written (``3x3``: the rank is informative)."""
    if isinstance(v, (list, tuple)):
        return "x".join(str(x) for x in v)
    return str(v)


def _uniform(v) -> str:
    """A stride/dilation: one number when every dimension agrees (``2`` for (2, 2)), else ``1x2``."""
    if isinstance(v, (list, tuple)):
        return str(v[0]) if len(set(v)) == 1 else "x".join(str(x) for x in v)
    return str(v)


def _is_one(v) -> bool:
    return all(x == 1 for x in v) if isinstance(v, (list, tuple)) else v == 1


def kernel_stride_groups(config: dict) -> str:
    """``3x3 s2 g32`` from a layer's config: kernel, stride, groups (when > 1), dilation (when > 1)."""
    if not config or "kernel_size" not in config:
        return ""
    parts = [_dims(config["kernel_size"])]
    if config.get("stride") is not None:
        parts.append("s" + _uniform(config["stride"]))
    if config.get("groups", 1) not in (None, 1):
        parts.append(f"g{config['groups']}")
    if config.get("dilation") is not None and not _is_one(config["dilation"]):
        parts.append("d" + _uniform(config["dilation"]))
    return " ".join(parts)


def percent(p: float | None, decimals: int = 2, suffix: str = "") -> str:
    """A percentage already computed (``profiler.core.rows.percent``): ``percent(12.345) == "12.35"``,
    ``percent(0.5, 4, suffix="%") == "0.5000%"``; ``None`` (a share of a zero total) is ``-``, without suffix."""
    return "-" if p is None else f"{p:.{decimals}f}{suffix}"
