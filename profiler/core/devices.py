"""Where a pass may run: a device the user names, checked before anything is built or moved, so that a typo
(``"tpu"``) or a device this machine lacks (``"cuda"`` without a GPU) is one :class:`~profiler.errors.UsageError`
naming it and the choices, not torch's RuntimeError from deep inside a pass."""
from __future__ import annotations

import torch

from profiler.errors import UsageError


def _choices(also: tuple = ()) -> str:
    here = [*also, "cpu", "meta"]
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        here.append("cuda" if n == 1 else f"cuda or cuda:0 to cuda:{n - 1}")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        here.append("mps")
    return ", ".join(here)


def check_device(device, *, also: tuple = ()) -> torch.device:
    """``device`` (a string such as ``"cpu"``, ``"meta"``, ``"cuda:1"``, or a :class:`torch.device`) as a
    :class:`torch.device` this machine has; a :class:`UsageError` naming it and the devices here otherwise
    (``also``: the caller's own choices listed first, such as ``"auto"``)."""
    try:
        dev = device if isinstance(device, torch.device) else torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UsageError(f"unknown device {device!r}; choose one of: {_choices(also)}") from None
    if dev.type in ("cpu", "meta"):
        return dev
    backend = getattr(torch, dev.type, None)  # torch.cuda, torch.mps, torch.xpu ...
    available = getattr(backend, "is_available", None)
    if not callable(available) or not available():
        raise UsageError(f"device {str(device)!r}: this machine has no {dev.type} device; choose one of: "
                         f"{_choices(also)}")
    count = getattr(backend, "device_count", None)
    if dev.index is not None and callable(count) and dev.index >= count():
        raise UsageError(f"device {str(device)!r}: this machine has {count()} {dev.type} device(s); choose one of: "
                         f"{_choices(also)}")
    return dev
