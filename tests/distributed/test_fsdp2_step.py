"""FSDP2 (``fully_shard``) under the fake process group: a training step of two Linear(h, h) layers, each sharded
and the root too. Per rank the compute is the whole model's (FSDP all-gathers whole layers before running them),
the parameters are this rank's shards (dim 0 padded to a multiple of the world size, the last ranks' shards
shorter or empty), and each wrapped module all-gathers its padded parameters in the forward and again in the
backward (unless reshard_after_forward=False) and reduce-scatters its padded gradients in the backward. FSDP's
copy-in / copy-out ops are memory moves, nothing is uncovered, the model is left as it was; on meta (and auto)
the pass runs on fake CPU tensors (FSDP drives its buffers through its device's streams, which meta lacks) and
gives the real pass's document."""
from __future__ import annotations

import contextlib
import math

import pytest
import torch
import torch.distributed as dist
import torch.nn as nn

import profiler

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="this torch build has no torch.distributed")

H, T = 6, 8  # 6 rows do not divide over 4 ranks: padded to 8, rank 3's shards empty


@contextlib.contextmanager
def fake_mesh(world: int, rank: int = 0):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=rank, world_size=world)
    try:
        yield init_device_mesh("cpu", (world,))
    finally:
        dist.destroy_process_group()


def plain() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(H, H), nn.Linear(H, H))


def fsdp_model(mesh, reshard_after_forward: bool = True) -> nn.Module:
    from torch.distributed.fsdp import fully_shard

    model = plain()
    for layer in model:
        fully_shard(layer, mesh=mesh, reshard_after_forward=reshard_after_forward)
    return fully_shard(model, mesh=mesh, reshard_after_forward=reshard_after_forward)


def inputs() -> torch.Tensor:
    return torch.randn(T, H, generator=torch.Generator().manual_seed(1))


def closed_forms(n: int, rank: int) -> dict:
    rows = math.ceil(H / n)  # FSDP pads dim 0 to n * rows; rank r holds rows [r * rows, (r + 1) * rows) of H
    local_rows = max(0, min(rows, H - rank * rows))
    padded = n * rows * (H + 1)  # one layer's weight and bias, padded, in elements
    s = 4 * padded  # fp32: an all-gather's output, a reduce-scatter's input
    return {
        # forward T h h per layer; backward: both weight gradients, and the input gradient of the second layer
        # only (the first layer's input needs none)
        "macs": 2 * T * H * H + 2 * T * H * H + T * H * H,
        "params": 2 * local_rows * (H + 1), "params_global": 2 * H * (H + 1),
        "s": s, "sent": (n - 1) * s // n,
        # per unshard: this rank's padded shards into the buffer, the whole buffer out to the parameters; per
        # reduce-scatter: the gradients into the padded input
        "memory_per_unshard": rows * (H + 1) + padded, "memory_per_reduce": H * (H + 1),
    }


def comm_records(prof) -> list:
    return [(c.path, c.phase, c.kind, c.group_size, c.calls, c.bytes, c.sent, c.received) for c in prof.communication]


@pytest.mark.parametrize("world", [2, 4])
def test_training_step_per_rank(world):
    for rank in (0, world - 1):
        want = closed_forms(world, rank)
        with fake_mesh(world, rank) as mesh:
            prof = profiler.profile(fsdp_model(mesh), inputs(), device="cpu", backward=True)
        assert prof.coverage == []
        assert prof.macs == prof.macs_global == want["macs"]
        assert prof.params == want["params"] and prof.params_global == want["params_global"]
        s, sent = want["s"], want["sent"]
        expected = []
        for path in ("0", "1"):
            expected += [(path, "forward", "all_gather", world, 1, s, sent, sent),
                         (path, "backward", "all_gather", world, 1, s, sent, sent),
                         (path, "backward", "reduce_scatter", world, 1, s, sent, sent)]
        assert sorted(comm_records(prof)) == sorted(expected)
        assert {op for c in prof.communication for op in c.ops} == {"c10d._allgather_base_",
                                                                   "c10d._reduce_scatter_base_"}
        # the compute is the plain model's step; FSDP adds its memory moves, 2 unshards and 1 reduce per layer
        ref = profiler.profile(plain(), inputs(), device="cpu", backward=True)
        ours, theirs = dict(prof.by_category), dict(ref.by_category)
        extra = ours.pop("memory") - theirs.pop("memory")
        assert ours == theirs
        assert extra == 2 * (2 * want["memory_per_unshard"] + want["memory_per_reduce"])


def test_reshard_after_forward_false_gathers_once():
    want = closed_forms(2, 0)
    with fake_mesh(2) as mesh:
        prof = profiler.profile(fsdp_model(mesh, reshard_after_forward=False), inputs(), device="cpu", backward=True)
    s, sent = want["s"], want["sent"]
    assert sorted(comm_records(prof)) == sorted(
        [(p, "forward", "all_gather", 2, 1, s, sent, sent) for p in ("0", "1")] +
        [(p, "backward", "reduce_scatter", 2, 1, s, sent, sent) for p in ("0", "1")])
    assert prof.coverage == [] and prof.macs == want["macs"]


def test_comm_debug_mode_counts_the_same_collectives():
    """torch's CommDebugMode on the same step counts the same all-gathers and reduce-scatters; it has no bytes,
    and charges each to the module running when it is issued (the backward prefetch of layer 0's all-gather to
    layer 1), where the profile charges each to the module whose parameters it moves."""
    from torch.distributed.tensor.debug import CommDebugMode

    with fake_mesh(4) as mesh:
        model = fsdp_model(mesh)
        prof = profiler.profile(model, inputs(), device="cpu", backward=True)
        mode = CommDebugMode()
        with mode:
            model(inputs()).sum().backward()
    theirs = {str(op).split(".")[-1]: n for op, n in mode.get_comm_counts().items() if n}
    ours: dict = {}
    for c in prof.communication:
        for op in c.ops:
            name = op.split(".")[-1]
            ours[name] = ours.get(name, 0) + c.calls
    assert ours == theirs == {"_allgather_base_": 4, "_reduce_scatter_base_": 2}
    per_module = {(m.split(".", 1)[1], phase, str(op).split(".")[-1]): n
                  for m, phases in mode.comm_module_counts.items() if m.startswith("FSDPSequential.")
                  for phase, counts in phases.items() for op, n in counts.items() if n}
    assert per_module == {("0", "forward", "_allgather_base_"): 1, ("0", "backward", "_reduce_scatter_base_"): 1,
                          ("1", "forward", "_allgather_base_"): 1, ("1", "backward", "_allgather_base_"): 2,
                          ("1", "backward", "_reduce_scatter_base_"): 1}
    assert {(c.path, c.phase, c.kind): c.calls for c in prof.communication if c.path == "0"} == {
        ("0", "forward", "all_gather"): 1, ("0", "backward", "all_gather"): 1, ("0", "backward", "reduce_scatter"): 1}
    assert mode.get_total_counts() == sum(c.calls for c in prof.communication)


@pytest.mark.parametrize("world, rank", [(4, 3), (2, 0)])
def test_meta_and_auto_count_on_fake_tensors_as_the_cpu_pass(world, rank):
    """FSDP cannot run on meta (no streams, no buffers there): meta and auto count shapes on fake CPU tensors
    instead, the same document as the real pass, and the user's shards stay real and trainable."""
    from torch._subclasses.fake_tensor import FakeTensor
    from torch.distributed.tensor import DTensor

    with fake_mesh(world, rank) as mesh:
        model = fsdp_model(mesh)
        for backward in (True, False):
            real = profiler.profile(model, inputs(), device="cpu", backward=backward)
            for device in ("meta", "auto"):
                prof = profiler.profile(model, inputs(), device=device, backward=backward)
                assert (prof.device, prof.pass_kind) == ("fake", "shapes")
                assert prof.by_category == real.by_category and prof.coverage == []
                assert sorted(comm_records(prof)) == sorted(comm_records(real))
                assert (prof.macs, prof.params) == (real.macs, real.params)
                want = closed_forms(world, rank)
                assert prof.macs == (want["macs"] if backward else 2 * T * H * H)
                assert prof.params == want["params"]
        for p in model.parameters():
            assert isinstance(p, DTensor) and not isinstance(p._local_tensor, FakeTensor) and p.grad is None
        model(inputs()).sum().backward()
        assert all(isinstance(p.grad, DTensor) and not isinstance(p.grad._local_tensor, FakeTensor)
                   for p in model.parameters())


def test_the_model_is_left_as_it_was():
    from torch.distributed.tensor import DTensor

    with fake_mesh(4, rank=1) as mesh:
        model = fsdp_model(mesh)
        model.train()
        hooks = {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks)) for name, m in model.named_modules()}
        params = {name: (p, p.placements, p.requires_grad, p._local_tensor) for name, p in model.named_parameters()}
        groups = [m._get_fsdp_state()._fsdp_param_group for m in model]
        fsdp_params = [(fp, fp.sharded_param, fp._sharded_param_data) for g in groups for fp in g.fsdp_params]
        root_state = model._get_fsdp_state()
        for _ in range(2):
            profiler.profile(model, inputs(), device="cpu", backward=True)
            profiler.profile(model, inputs(), device="cpu")
            assert {name: (dict(m._forward_hooks), dict(m._forward_pre_hooks))
                    for name, m in model.named_modules()} == hooks
            for name, p in model.named_parameters():
                assert isinstance(p, DTensor) and p.grad is None
                assert params[name] == (p, p.placements, p.requires_grad, p._local_tensor)
            for fp, sharded, data in fsdp_params:
                assert fp.sharded_param is sharded and fp._sharded_param_data is data
                assert not hasattr(fp, "_unsharded_param") or fp._unsharded_param.untyped_storage().size() == 0
            assert root_state._is_root is None  # FSDP's lazy initialisation left for the user's first forward
            assert model.training
        # and the user's own step still trains the user's shards
        model(inputs()).sum().backward()
        for name, p in model.named_parameters():
            assert p is params[name][0] and isinstance(p.grad, DTensor)
