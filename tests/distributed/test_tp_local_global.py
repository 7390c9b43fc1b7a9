"""A tensor-parallel MLP under torch's fake process group (one process simulating one rank of tp): this rank's
compute and parameters (the shards'), the logical model's (the DTensor-level ops, equal to the unsharded model),
the all_reduces of the rowwise layer (forward) and of the colwise layer's input gradient (backward) with their
bytes, the same on meta as on the CPU, the collectives as torch's CommDebugMode counts them, and the model left
as it was."""
from __future__ import annotations

import contextlib

import pytest
import torch
import torch.distributed as dist
import torch.nn as nn

import profiler
from _tp_case import H, T, closed_forms, comm_records, inputs, plain_mlp, summary, tp_mlp

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="this torch build has no torch.distributed")


@contextlib.contextmanager
def fake_group(world: int, rank: int = 0):
    """A fake process group of ``world`` ranks in this process, as rank ``rank``, and its 1-d CPU mesh: collectives
    return at once without moving data (torch.testing's FakeProcessGroup)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=rank, world_size=world)
    try:
        yield init_device_mesh("cpu", (world,))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("tp", [2, 4, 8])
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_forward_local_is_global_over_tp(tp, device):
    want = closed_forms(tp)
    with fake_group(tp) as mesh:
        prof = profiler.profile(tp_mlp(mesh), inputs(False), device=device)
    assert prof.device == device
    assert prof.macs_global == want["macs_global"] == 2 * T * H * 4 * H
    assert prof.macs == want["macs"] == want["macs_global"] // tp
    assert prof.params == want["params"]
    assert prof.params_global == want["params_global"]
    assert prof.coverage == []
    # one all_reduce, of the rowwise layer's partial sums (T x h fp32), each rank sending 2 (tp - 1) / tp of them
    assert comm_records(prof) == [("2", "forward", "all_reduce", tp, 1, want["all_reduce_bytes"],
                                   want["all_reduce_sent"], want["all_reduce_sent"])]
    # the logical model's counts are the unsharded model's, every category
    plain = profiler.profile(plain_mlp(), inputs(False), device=device)
    assert prof.global_view().by_category == plain.by_category
    assert prof.total_global("all") == plain.total("all")
    assert prof.is_sharded and prof.global_view().params == plain.params


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_training_step_adds_the_input_gradients_all_reduce(tp):
    want = closed_forms(tp)
    with fake_group(tp) as mesh:
        model = tp_mlp(mesh)
        cpu = profiler.profile(model, inputs(True), device="cpu", backward=True)
        meta = profiler.profile(model, inputs(True), device="meta", backward=True)
    # forward T h 4h twice; backward: the weight gradients and the input gradients of both products
    assert cpu.macs_global == 3 * want["macs_global"]
    assert cpu.macs == cpu.macs_global // tp
    s, sent = want["all_reduce_bytes"], want["all_reduce_sent"]
    assert comm_records(cpu) == [("0", "backward", "all_reduce", tp, 1, s, sent, sent),
                                 ("2", "forward", "all_reduce", tp, 1, s, sent, sent)]
    plain = profiler.profile(plain_mlp(), inputs(True), device="cpu", backward=True)
    assert cpu.global_view().by_category == plain.by_category
    assert cpu.global_view().by_phase == plain.by_phase
    assert summary(meta) == summary(cpu)


@pytest.mark.parametrize("bias", [True, False])
def test_meta_equals_cpu_rank_for_rank(bias):
    for rank in (0, 3):
        with fake_group(4, rank) as mesh:
            model = tp_mlp(mesh, bias=bias)
            cpu = profiler.profile(model, inputs(False), device="cpu")
            meta = profiler.profile(model, inputs(False), device="meta")
        assert summary(cpu) == summary(meta)
        assert cpu.distributed.rank == rank and cpu.distributed.world_size == 4
        assert cpu.params == closed_forms(4, bias=bias)["params"]


def test_comm_debug_mode_counts_the_same_collectives():
    """torch's CommDebugMode on the same step: the same collectives per module and phase (it shows no bytes, and
    counts a module's collectives in every ancestor too: compared at the leaves)."""
    from torch.distributed.tensor.debug import CommDebugMode

    with fake_group(4) as mesh:
        model = tp_mlp(mesh)
        prof = profiler.profile(model, inputs(True), device="cpu", backward=True)
        mode = CommDebugMode()
        with mode:
            model(inputs(True)).sum().backward()
        for p in model.parameters():
            p.grad = None
    theirs = {}
    for module, phases in mode.comm_module_counts.items():
        if module.startswith("Sequential."):
            for phase, counts in phases.items():
                for op, n in counts.items():
                    if n:
                        theirs[(module.split(".", 1)[1], phase, str(op).split(".")[-1])] = n
    ours = {(c.path, c.phase, c.kind): c.calls for c in prof.communication}
    assert ours == theirs == {("0", "backward", "all_reduce"): 1, ("2", "forward", "all_reduce"): 1}
    assert mode.get_total_counts() == sum(c.calls for c in prof.communication)


def test_the_model_is_left_as_it_was():
    from torch.distributed.tensor import DTensor

    with fake_group(2) as mesh:
        model = tp_mlp(mesh)
        hooks = {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks)) for name, m in model.named_modules()}
        params = {name: (p, p.placements, p.requires_grad) for name, p in model.named_parameters()}
        model.train()
        profiler.profile(model, inputs(True), device="meta", backward=True)
        profiler.profile(model, inputs(False), device="cpu")

        class Boom(nn.Module):
            def forward(self, x):
                raise RuntimeError("boom")

        model.append(Boom())
        with pytest.raises(profiler.ProfilingError, match="boom"):
            profiler.profile(model, inputs(False), device="meta")
        del model[3]
        assert {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks))
                for name, m in model.named_modules()} == hooks
        for name, p in model.named_parameters():
            assert params[name][0] is p and isinstance(p, DTensor) and p.device.type == "cpu"
            assert (p.placements, p.requires_grad) == params[name][1:] and p.grad is None
        assert model.training


def test_a_plain_model_has_no_distributed_record():
    prof = profiler.profile(plain_mlp(), inputs(False), device="cpu")
    assert prof.distributed is None and prof.communication == []
    assert prof.macs_global == prof.macs and prof.params_global == prof.params and not prof.is_sharded
    assert "distributed" not in prof.to_dict()


def test_document_and_summary_name_this_rank_and_global():
    with fake_group(4, rank=1) as mesh:
        prof = profiler.profile(tp_mlp(mesh), inputs(False), device="meta")
    doc = prof.to_dict()
    want = closed_forms(4)
    assert doc["macs"] == want["macs"] and doc["params"] == want["params"]
    d = doc["distributed"]
    assert (d["rank"], d["world_size"], d["macs_global"], d["params_global"]) == \
        (1, 4, want["macs_global"], want["params_global"])
    assert d["communication"][0]["kind"] == "all_reduce" and d["communication"][0]["sent"] == want["all_reduce_sent"]
    text = " ".join(prof.table(width=120).split())  # the footer's lines wrapped to 120 columns, joined
    assert "this rank (rank 1 of 4)" in text and "global (the logical model)" in text and "all_reduce x1" in text
    assert "this rank" in repr(prof) and "global" in repr(prof)
