"""The tensor-parallel MLP of the distributed tests: Linear(h, 4h) colwise + ReLU + Linear(4h, h) rowwise on T
tokens, its closed forms, and what a rank's profile of it says. Imported by the tests; run as a script under
torchrun (gloo, CPU) it profiles its rank and writes ``rank<r>.json`` into the folder given."""
from __future__ import annotations

import os
import sys

import torch
import torch.nn as nn

H, T = 16, 8  # hidden size and tokens


def plain_mlp(h: int = H, bias: bool = True) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(h, 4 * h, bias=bias), nn.ReLU(), nn.Linear(4 * h, h, bias=bias))


def tp_mlp(mesh, h: int = H, bias: bool = True) -> nn.Module:
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    return parallelize_module(plain_mlp(h, bias), mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})


def closed_forms(tp: int, h: int = H, t: int = T, bias: bool = True) -> dict:
    """What the profile must say, from the shapes alone (fp32)."""
    macs_global = 2 * t * h * 4 * h  # two products of T x h x 4h, bias not counted
    # colwise shards its weight and its bias over the 4h outputs; rowwise shards its weight over the 4h inputs and
    # keeps its bias whole (replicated: added once, after the reduction)
    params_global = 4 * h * h + (4 * h if bias else 0) + 4 * h * h + (h if bias else 0)
    params = (4 * h * h + (4 * h if bias else 0)) // tp + 4 * h * h // tp + (h if bias else 0)
    s = t * h * 4  # the rowwise output (T x h fp32) each rank holds a partial sum of
    return {"macs_global": macs_global, "macs": macs_global // tp, "params_global": params_global,
            "params": params, "all_reduce_bytes": s, "all_reduce_sent": 2 * (tp - 1) * s // tp}


def comm_records(prof) -> list:
    return [(c.path, c.phase, c.kind, c.group_size, c.calls, c.bytes, c.sent, c.received) for c in prof.communication]


def summary(prof) -> dict:
    """The figures a rank's profile gives, as JSON-ready data (compared rank for rank)."""
    glob = prof.global_view()
    return {"macs": prof.macs, "macs_global": prof.macs_global, "params": prof.params,
            "params_global": prof.params_global, "total_all": prof.total("all"), "total_all_global": glob.total("all"),
            "by_category": prof.by_category, "by_category_global": glob.by_category,
            "by_phase": prof.by_phase, "comm": [list(r) for r in comm_records(prof)],
            "coverage": [u.op for u in prof.coverage], "rank": prof.distributed.rank,
            "world_size": prof.distributed.world_size}


def inputs(requires_grad: bool) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(T, H, generator=gen).requires_grad_(requires_grad)


def fronted_mlp(mesh) -> nn.Module:
    """A plain Linear(h, h) before the tensor-parallel MLP: in a training step the colwise layer's input gradient
    (all-reduced) flows into that Linear's backward. (With the input itself requiring grad instead, autograd
    accumulates the all-reduced gradient into ``x.grad``, and on real gloo ranks it may copy it first, when the
    collective's work still holds a reference at that moment: a copy_ of T x h elements some runs have.)"""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(H, H, bias=False), tp_mlp(mesh))


def rank_results(mesh) -> dict:
    """Forward (the MLP) and training step (the MLP behind a plain Linear), on the CPU and on meta, of this rank."""
    import profiler

    model, fronted = tp_mlp(mesh), fronted_mlp(mesh)
    out = {}
    for device in ("cpu", "meta"):
        out[f"forward-{device}"] = summary(profiler.profile(model, inputs(False), device=device))
        out[f"step-{device}"] = summary(profiler.profile(fronted, inputs(False), device=device, backward=True))
    return out


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    from _torchrun import rank_main

    rank_main(rank_results, sys.argv[1])
