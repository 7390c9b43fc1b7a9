"""The block-family comparison as plain data: one :class:`BlockRow` per (dataset, block type).

For every network ``blocks_{dataset}_{block}`` (profiler/models/blocks.py) a row holds

- ``params``: unique parameters;
- ``macs``: multiply-accumulates of conv + linear, no bias (the ``macs`` convention), batch 1, the
  dataset's own input size;
- ``state_dict_bytes``: the size of ``torch.save(model.state_dict())`` written to memory (the file a
  user would ship; the study reported the same thing in KB). torch.save names the zip records after the
  file's stem ("archive" for a buffer), so a file saved under another name differs by a few bytes per tensor;
- ``cpu``: :class:`~profiler.analysis.latency.LatencyStats` of batch-1 forward passes on the CPU, in eval mode under
  ``no_grad`` after warm-up passes; ``cuda``: the same on the GPU when one is present, else ``None``.

The study's own timing (hei4/pytorch-efficient-architecture, scripts/measure_time.py) ran each model 1000
times in training mode, with autograd on, without warm-up and, on the GPU, without synchronizing (so its GPU
times are mostly kernel-launch times), and reported mean +/- std; its numbers include BatchNorm statistics
updates, graph recording and first-call allocations.
Nothing here formats or prints: the CLI (``profile-model blocks``) renders rows.
"""
from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch

from profiler.errors import UsageError
from profiler.analysis.latency import LatencyStats, measure_latency, summarize
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
    rounds: int = 0  # round-robin rounds the timed runs were spread over (0: not timed)

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
        d["rounds"] = self.rounds
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
                   runs: int = 50, warmup: int = 10, rounds: int = 5, cuda: bool | None = None,
                   threads: int | None = None, progress: bool | None = None, seed: int = 0) -> list[BlockRow]:
    """Profile and time every (dataset, block) network; rows in dataset order, then block order.

    runs: timed batch-1 passes per model and device (0 skips timing). They are taken in ``rounds``
    round-robin rounds over all models (runs split as evenly as possible), so that a burst of load from
    other processes lands on every model alike instead of on whichever model was being timed.
    warmup: untimed passes before a model's first round; one more untimed pass precedes each later round
    (the model's weights left the caches while the others ran).
    cuda: time on the GPU too (``None``: when one is available). threads: CPU intra-op threads for the
    timings (``None``: torch's setting). progress: on stderr (``None``: for more than 3 models), a tqdm bar with the
    remaining time on a terminal, else a line every ~10 s (:func:`profiler.progress.progress`, ``log=True``).
    """
    from profiler.zoo import profile_model

    names = parse_datasets(datasets if datasets is None or isinstance(datasets, str) else list(datasets))
    blocks = list(blocks)
    bad = [b for b in blocks if b not in BLOCK_TYPES]
    if bad:
        raise UsageError(f"unknown block type {', '.join(bad)}; choose from {', '.join(BLOCK_TYPES)}")
    for label, v, lo in (("runs", runs, 0), ("warmup", warmup, 0), ("rounds", rounds, 1)):
        if not isinstance(v, int) or v < lo:
            raise UsageError(f"{label} must be an integer >= {lo}, got {v!r}")
    if cuda is None:
        cuda = torch.cuda.is_available()
    elif cuda and not torch.cuda.is_available():
        raise UsageError("CUDA timing requested but CUDA is not available on this machine")
    jobs = [(d, b) for d in names for b in blocks]
    from profiler.progress import progress as progress_bar

    if progress is None:
        progress = len(jobs) > 3
    # on stderr: a bar with the remaining time on a terminal, else a line every ~10 s (CI logs, pipes)
    bars = dict(log=True) if progress else dict(disable=True)

    # 1. build, count and size every model
    gen = torch.Generator().manual_seed(seed)
    rows, work = [], []
    for d, b in progress_bar(jobs, desc="blocks: counting", unit="model", **bars):
        # counts depend on shapes only: a meta build and pass give the same numbers without computing anything
        prof = profile_model(f"builtin:{block_model_name(d, b)}", convention=CONVENTION, strict=True, device="meta")
        size = (1, *prof.source.input_size)
        torch.manual_seed(seed)  # same weights every time (the cost figures do not depend on them)
        model = blocks_model(d, b).eval()
        rows.append(BlockRow(dataset=d, block=b, model=block_model_name(d, b), input=list(size),
                             params=prof.params, macs=prof.total(), state_dict_bytes=state_dict_bytes(model),
                             cpu=None))
        work.append((model, torch.randn(size, generator=gen)))
    if not runs:
        return rows

    # 2. time them, round-robin
    devices = ["cpu"] + (["cuda"] if cuda else [])
    placed = {}  # (job index, device) -> (model, input) already on that device
    for i, (model, x) in enumerate(work):
        placed[i, "cpu"] = (model, x)
        if cuda:  # one GPU copy per model (the user's CPU model is never moved)
            placed[i, "cuda"] = (copy.deepcopy(model).to("cuda"), x.to("cuda"))
    chunks = [runs // rounds + (1 if r < runs % rounds else 0) for r in range(rounds)]
    chunks = [c for c in chunks if c]
    samples: dict[tuple[int, str], list[float]] = {k: [] for k in placed}
    stats: dict[tuple[int, str], LatencyStats] = {}
    bar = progress_bar(total=len(chunks) * len(placed), desc="blocks: timing",
                       unit="measurement", **bars)
    for r, n in enumerate(chunks):
        for i in range(len(work)):
            for dev in devices:
                model, x = placed[i, dev]
                st = measure_latency(model, x, runs=n, warmup=warmup if r == 0 else 1, device=dev,
                                     threads=threads if dev == "cpu" else None)
                samples[i, dev].extend(st.samples_ms)
                stats[i, dev] = st
                bar.update()
    bar.close()
    for i, row in enumerate(rows):
        for dev in devices:
            last = stats[i, dev]
            full = summarize(samples[i, dev], warmup=warmup, device=last.device, dtype=last.dtype,
                             batch=last.batch, threads=last.threads)
            setattr(row, dev, full)
        row.rounds = len(chunks)
    return rows
