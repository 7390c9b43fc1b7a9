"""The block-family comparison as plain data: one :class:`BlockRow` per (dataset, block type).

For every network ``blocks_{dataset}_{block}`` (profiler/models/blocks.py) a row holds

- ``params``: unique parameters;
- ``macs``: multiply-accumulates of conv + linear, no bias (the ``macs`` convention), batch 1, the
  dataset's own input size;
- ``state_dict_bytes``: the size of ``torch.save(model.state_dict())`` written to memory (the file a
  user would ship; the study reported the same thing in KB). torch.save names the zip records after the
  file's stem ("archive" for a buffer), so a file saved under another name differs by a few bytes per tensor;
- ``cpu``: :class:`~profiler.latency.LatencyStats` of batch-1 forward passes on the CPU, in eval mode under
  ``no_grad`` after warm-up passes; ``cuda``: the same on the GPU when one is present, else ``None``.

The study's own timing (hei4/pytorch-efficient-architecture, scripts/measure_time.py) ran each model 1000
times in training mode, with autograd on, without warm-up and, on the GPU, without synchronizing (so its GPU
times are mostly kernel-launch times), and reported mean +/- std; its numbers include BatchNorm statistics
updates, graph recording and first-call allocations.
Nothing here formats or prints: the CLI (``profile-model blocks``) renders rows.
"""
from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch

from profiler.errors import UsageError
from profiler.latency import LatencyStats, measure_latency
from profiler.models.blocks import BLOCK_TYPES, DATASETS, block_model_name, blocks_model

__all__ = ["BlockRow", "compare_blocks", "parse_datasets", "state_dict_bytes", "CONVENTION", "STUDY_TIMING_NOTE"]

CONVENTION = "macs"
STUDY_TIMING_NOTE = ("The study's own timing (scripts/measure_time.py of hei4/pytorch-efficient-architecture) "
                     "ran the models in training mode with autograd on, without warm-up and, on the GPU, "
                     "without torch.cuda.synchronize (launch time, not execution time), and reported mean +/- "
                     "std. The latencies here are batch-1 forward passes in eval mode under no_grad after "
                     "warm-up passes, synchronized on CUDA, summarized by median and interquartile range; "
                     "they are not comparable with the study's figures.")


@dataclass
class BlockRow:
    dataset: str
    block: str
    model: str  # the builtin model name, e.g. blocks_cifar10_shuffle
    input: list[int]  # the batch-1 input shape, e.g. [1, 3, 32, 32]
    params: int  # unique parameters
    macs: int  # multiply-accumulates under CONVENTION
    state_dict_bytes: int  # bytes of torch.save(state_dict) in memory
    cpu: LatencyStats | None  # None when latency was not measured (runs=0)
    cuda: LatencyStats | None = None
    convention: str = CONVENTION

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready dict; latency fields in milliseconds, ``None`` where not measured."""
        d: dict[str, Any] = {
            "dataset": self.dataset, "block": self.block, "model": self.model, "input": list(self.input),
            "params": self.params, "macs": self.macs, "convention": self.convention, "unit": "MACs",
            "state_dict_bytes": self.state_dict_bytes,
        }
        for dev, stats in (("cpu", self.cpu), ("cuda", self.cuda)):
            for k in ("median_ms", "q1_ms", "q3_ms", "iqr_ms", "min_ms", "max_ms"):
                d[f"{dev}_{k}"] = getattr(stats, k) if stats is not None else None
        ref = self.cpu or self.cuda
        d["runs"] = ref.runs if ref else 0
        d["warmup"] = ref.warmup if ref else 0
        d["cpu_threads"] = self.cpu.threads if self.cpu else None
        d["cuda_device"] = self.cuda.device if self.cuda else None
        return d


def parse_datasets(spec: str | Sequence[str] | None) -> list[str]:
    """``"all"``/``None`` -> every dataset; ``"mnist,cifar10"`` or a list -> those, validated, in order."""
    if spec is None:
        return list(DATASETS)
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    if items == ["all"]:
        return list(DATASETS)
    bad = [s for s in items if s not in DATASETS]
    if bad or not items:
        raise UsageError(f"unknown dataset {', '.join(map(repr, bad)) or '(empty)'}; choose from "
                         f"{', '.join(DATASETS)} or all (comma-separated for several)")
    return list(dict.fromkeys(items))


def state_dict_bytes(model: torch.nn.Module) -> int:
    """Size in bytes of ``torch.save(model.state_dict())``, written to an in-memory buffer."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


def compare_blocks(datasets: str | Iterable[str] | None = None, blocks: Iterable[str] = BLOCK_TYPES, *,
                   runs: int = 50, warmup: int = 10, cuda: bool | None = None, threads: int | None = None,
                   progress: bool | None = None, seed: int = 0) -> list[BlockRow]:
    """Profile and time every (dataset, block) network; rows in dataset order, then block order.

    runs/warmup: timed and untimed batch-1 passes per model and device (runs=0 skips timing).
    cuda: time on the GPU too (``None``: when one is available). threads: CPU intra-op threads for the
    timings (``None``: torch's setting). progress: tqdm bar on stderr (``None``: when more than 3 models).
    """
    from profiler import profile

    names = parse_datasets(datasets if datasets is None or isinstance(datasets, str) else list(datasets))
    blocks = list(blocks)
    bad = [b for b in blocks if b not in BLOCK_TYPES]
    if bad:
        raise UsageError(f"unknown block type {', '.join(bad)}; choose from {', '.join(BLOCK_TYPES)}")
    if not isinstance(runs, int) or runs < 0:
        raise UsageError(f"runs must be a non-negative integer, got {runs!r}")
    if cuda is None:
        cuda = torch.cuda.is_available()
    elif cuda and not torch.cuda.is_available():
        raise UsageError("CUDA timing requested but CUDA is not available on this machine")
    jobs = [(d, b) for d in names for b in blocks]
    if progress is None:
        progress = len(jobs) > 3
    from tqdm import tqdm

    rows = []
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(jobs, desc="blocks", unit="model", file=sys.stderr, disable=not progress, leave=False)
    for d, b in bar:
        bar.set_postfix_str(f"{d}/{b}", refresh=False)
        torch.manual_seed(seed)  # same weights every time (the cost figures do not depend on them)
        model = blocks_model(d, b).eval()
        size = (1, *DATASETS[d].input_size)
        prof = profile(model, input_size=size, convention=CONVENTION, strict=True, name=block_model_name(d, b))
        x = torch.randn(size, generator=gen)
        cpu = measure_latency(model, x, runs=runs, warmup=warmup, device="cpu", threads=threads) if runs else None
        gpu = measure_latency(model, x, runs=runs, warmup=warmup, device="cuda") if (runs and cuda) else None
        rows.append(BlockRow(dataset=d, block=b, model=block_model_name(d, b), input=list(size),
                             params=prof.params, macs=prof.macs, state_dict_bytes=state_dict_bytes(model),
                             cpu=cpu, cuda=gpu))
    bar.close()
    return rows
