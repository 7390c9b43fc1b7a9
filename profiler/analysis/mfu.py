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
    return flops_mfu(step_flops(profile), seconds, peak_flops)


def flops_mfu(flops: float, seconds: float, peak_flops: float) -> float:
    """The fraction (0..1) of ``peak_flops`` (FLOP/s) that ``flops`` FLOPs done in ``seconds`` achieve: the MFU a
    formula's step count gives (:mod:`profiler.formulas`)."""
    if not seconds or seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    if not peak_flops or peak_flops <= 0:
        raise ValueError(f"peak_flops must be > 0, got {peak_flops!r}")
    return flops / seconds / peak_flops


#: Dense peaks (no 2:4 sparsity) of known accelerators, in 10^12 FLOP/s per chip, by dtype, with their source.
#: Where a vendor lists only the sparse figure (marked "sparse / 2") the dense peak is half of it.
ACCELERATORS = {
    "h100-sxm": ({"bf16": 989.4, "fp16": 989.4},
                 "NVIDIA H100 Tensor Core GPU Architecture whitepaper (H100 SXM5: 989.4 dense / 1978.9 sparse BF16 "
                 "and FP16 TFLOPS), https://resources.nvidia.com/en-us-tensor-core/gtc22-whitepaper-hopper"),
    "h100-pcie": ({"bf16": 756.4, "fp16": 756.4},
                  "NVIDIA H100 Tensor Core GPU Architecture whitepaper (H100 PCIe: 756.4 dense / 1512.8 sparse), "
                  "https://resources.nvidia.com/en-us-tensor-core/gtc22-whitepaper-hopper"),
    "h200": ({"bf16": 989.4, "fp16": 989.4},
             "NVIDIA H200 datasheet, https://www.nvidia.com/en-us/data-center/h200/ (BF16/FP16 Tensor Core 1,979 "
             "TFLOPS with sparsity: sparse / 2; the H100 SXM5's GH100 at the same clocks)"),
    "a100": ({"bf16": 312.0, "fp16": 312.0},
             "NVIDIA A100 datasheet, https://www.nvidia.com/en-us/data-center/a100/ (BF16 Tensor Core 312 | 624 "
             "with sparsity)"),
    "b200": ({"bf16": 2250.0, "fp16": 2250.0},
             "NVIDIA HGX B200 specifications, https://www.nvidia.com/en-us/data-center/hgx/ (FP16/BF16 Tensor Core "
             "4.5 PFLOPS per GPU with sparsity: sparse / 2, at the HGX's 1,000 W)"),
    "mi300x": ({"bf16": 1307.4, "fp16": 1307.4},
               "AMD Instinct MI300X datasheet, https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html "
               "(BF16 1307.4 TFLOPS, 2614.9 with sparsity)"),
    "tpu-v5e": ({"bf16": 197.0},
                "Google Cloud TPU v5e documentation, https://cloud.google.com/tpu/docs/v5e (197 TFLOPs BF16 per chip)"),
    "tpu-v5p": ({"bf16": 459.0},
                "Google Cloud TPU v5p documentation, https://cloud.google.com/tpu/docs/v5p (459 TFLOPs BF16 per chip)"),
    "l4": ({"bf16": 121.0, "fp16": 121.0},
           "NVIDIA L4 datasheet, https://www.nvidia.com/en-us/data-center/l4/ (BF16/FP16 Tensor Core 242 TFLOPS "
           "with sparsity: sparse / 2)"),
}


def peak_tflops(accelerator: str, dtype: str = "bf16") -> float:
    """The dense peak of ``accelerator`` (a key of :data:`ACCELERATORS`) in ``dtype``, in 10^12 FLOP/s."""
    key = accelerator.lower()
    if key not in ACCELERATORS:
        raise ValueError(f"unknown accelerator {accelerator!r}; known: {', '.join(ACCELERATORS)}")
    peaks = ACCELERATORS[key][0]
    if dtype not in peaks:
        raise ValueError(f"{accelerator}: no {dtype} peak in the table (it has {', '.join(peaks)})")
    return peaks[dtype]
