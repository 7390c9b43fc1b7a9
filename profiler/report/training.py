"""What a training step's measured time means: the model FLOPs utilisation, as a JSON record and a text line."""
from __future__ import annotations

from profiler.analysis.mfu import mfu, step_flops
from profiler.report import format as F
from profiler.report.textfit import TEXT_WIDTH, wrap_line


def mfu_record(profile, seconds: float, peak_tflops: float) -> dict:
    """The MFU of one step of ``profile`` measured at ``seconds`` on hardware of ``peak_tflops`` (10^12 FLOP/s)."""
    return {"mfu": mfu(profile, seconds, peak_tflops * 1e12), "step_flops": step_flops(profile),
            "step_seconds": seconds, "peak_tflops": peak_tflops,
            "convention": "FLOPs = 2 x MACs of the whole step (conv + linear + attention + recurrent, every "
                          "phase; element ops not counted)"}


def _meaning(profile, record: dict) -> str:
    """What the FLOPs are: under the page's convention ``macs`` (its header describes it) a short form, else the
    record's whole description."""
    if profile.convention == "macs":
        return "FLOPs = 2 x the step's MACs [macs], every phase"
    return record["convention"]


def mfu_section(profile, seconds: float, peak_tflops: float, width: int | None = TEXT_WIDTH) -> tuple[str, str]:
    """The MFU line, wrapped to ``width`` columns (None: one line)."""
    r = mfu_record(profile, seconds, peak_tflops)
    achieved = r["step_flops"] / seconds
    text = (f"MFU {100 * r['mfu']:.2f} % = {F.count(r['step_flops'])} FLOPs per step / {seconds:g} s = "
            f"{F.scaled(achieved, 'FLOP/s')} of a {peak_tflops:g} TFLOP/s peak ({_meaning(profile, r)})")
    return "Model FLOPs utilisation", wrap_line(text, width)
