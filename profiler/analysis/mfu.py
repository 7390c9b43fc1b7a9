"""Model FLOPs utilisation (MFU) of a measured training step: the FLOPs the step's model arithmetic needs,
per second of the measured step, as a share of the hardware's peak (PaLM, appendix B)."""
from __future__ import annotations


def step_flops(profile) -> int:
    """FLOPs of a profile's whole step: 2 x its multiply-accumulates (conv + linear + attention + recurrent,
    every phase; element ops not counted, as PaLM's and nanoGPT's MFU leave them out)."""
    return 2 * profile.macs


def mfu(profile, seconds: float, peak_flops: float) -> float:
    """The fraction (0..1) of ``peak_flops`` (FLOP/s, e.g. 989e12 for an H100's dense bf16) that one step of
    ``profile`` achieves when it takes ``seconds``: ``2 x MACs / seconds / peak_flops``.

    ``profile`` is normally a training step (``profile(..., backward=True)``); a forward-only profile gives
    the utilisation of that forward pass.
    """
    if not seconds or seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    if not peak_flops or peak_flops <= 0:
        raise ValueError(f"peak_flops must be > 0, got {peak_flops!r}")
    return step_flops(profile) / seconds / peak_flops
