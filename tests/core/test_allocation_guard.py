"""profiler.zoo.memory's guard for constructions that cannot be estimated first (they failed on meta): CPU
allocations summed as they are made, the one past the budget refused before it is made; and the resident-memory
cap a caller (the sweep's workers) sets in PROFILER_MEMORY_LIMIT_GIB, which available() honours."""
import resource

import pytest
import torch
import torch.nn as nn

from profiler.zoo import memory

MiB = 1 << 20


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_a_construction_within_the_budget_is_left_alone():
    with memory.allocation_guard(what="m", why="w", hints=["h"], free=64 * MiB):
        model = nn.Sequential(nn.Linear(256, 256), nn.Embedding(1000, 64))
    assert sum(p.numel() for p in model.parameters()) == 256 * 257 + 64000


def test_the_allocation_past_the_budget_is_refused_before_it_is_made():
    before = _rss()
    with pytest.raises(memory.TooBigError, match=r"hf:big: its construction failed on meta; .* stopped before "
                                                 r"allocating; try a smaller config"):
        with memory.allocation_guard(what="hf:big", why="its construction failed on meta",
                                     hints=["a smaller config"], free=64 * MiB):
            nn.Linear(256, 256)  # 0.25 MiB: fine
            nn.Embedding(1 << 20, 1024)  # 4 GiB of float32: refused at torch.empty, nothing touched
    assert _rss() - before < 256 * MiB


def test_tensors_made_by_other_ops_count_too():
    with pytest.raises(memory.TooBigError):
        with memory.allocation_guard(what="m", why="w", hints=["h"], free=8 * MiB):
            x = torch.ones(1 << 20, dtype=torch.uint8)  # 1 MiB
            [x.to(torch.float32) for _ in range(3)]  # 4 MiB each: the second passes 8


def test_nothing_is_refused_when_nothing_can_be_read(monkeypatch):
    monkeypatch.setattr(memory, "available", lambda device="cpu": None)
    with memory.allocation_guard(what="m", why="w", hints=["h"]):
        torch.empty(1 << 20)


def test_available_honours_the_callers_cap(monkeypatch):
    import sys

    page = resource.getpagesize()
    files = {"/proc/meminfo": "MemAvailable: 16777216 kB\n", "/proc/self/statm": f"1000 {(256 * MiB) // page} 10\n"}
    monkeypatch.setattr(memory, "_read", files.get)
    monkeypatch.setitem(sys.modules, "psutil", None)
    assert memory.available() == 16 << 30  # no cap: the machine's
    monkeypatch.setenv(memory.LIMIT_ENV, "1")
    assert memory.available() == (1 << 30) - 256 * MiB  # 1 GiB resident at most, 256 MiB already
    monkeypatch.setenv(memory.LIMIT_ENV, "0.1")
    assert memory.available() == 0
    monkeypatch.setenv(memory.LIMIT_ENV, "not a number")
    assert memory.available() == 16 << 30
