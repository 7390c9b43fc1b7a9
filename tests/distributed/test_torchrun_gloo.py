"""The tensor-parallel MLP on real ranks (torchrun, gloo, CPU; 2 and 4 ranks) and its fake-group simulation: each
rank's profile (forward and training step, on the CPU and on meta: this rank's and the global counts, the collectives
and their bytes) is the simulation of that rank, and both are the closed forms of the shapes in n = the world size:
this rank's 1/n of both products (the colwise layer's 4h outputs, the rowwise layer's 4h inputs), its shards of the
weights and the colwise bias plus the whole rowwise bias, and one ring all_reduce of the rowwise partial sums (T x h
fp32 = S bytes, each rank sending and receiving 2 (n - 1) / n S); in the training step also the colwise layer's
input gradient, all-reduced the same way in the backward. torchrun runs once per world size (a module-scoped
fixture), and every test reads that run."""
from __future__ import annotations


import pytest
import torch.distributed as dist

from _torchrun import launch
from _tp_case import H, T, closed_forms, rank_results
from test_tp_local_global import fake_group


pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torchrun's ranks talk over gloo, which this torch build lacks")

WORLDS = (2, 4)
DEVICES = ("cpu", "meta")


@pytest.fixture(scope="module", params=WORLDS, ids=lambda world: f"{world}ranks")
def ranks(request, tmp_path_factory) -> tuple[int, list]:
    """(world, [(real, simulated)] per rank): the JSON each torchrun rank wrote, and the fake-group run of that rank
    (torchrun run once per world size for the module's tests)."""
    world, folder = request.param, tmp_path_factory.mktemp(f"tp{request.param}")

    def simulate(rank):
        with fake_group(world, rank) as mesh:
            return rank_results(mesh)

    return world, launch("_tp_case.py", world, folder, simulate)


def test_gloo_ranks_match_the_simulation(ranks):
    """Rank for rank the same figures, every one of them, forward and step, CPU and meta; and each rank is the rank
    torchrun made it, of a group of the world size."""
    world, pairs = ranks
    assert len(pairs) == world
    for rank, (real, simulated) in enumerate(pairs):
        assert real == simulated, rank
        assert sorted(real) == sorted(f"{key}-{device}" for key in ("forward", "step") for device in DEVICES)
        for prof in real.values():
            assert (prof["rank"], prof["world_size"]) == (rank, world)


def test_forward_is_the_closed_forms(ranks):
    """The MLP's forward on each rank (real and simulated, CPU and meta): 1/n of the 2 T h 4h MACs, 1/n of the
    weights and of the colwise bias plus the whole rowwise bias, the colwise bias and the ReLU over this rank's T x
    4h/n outputs, the rowwise bias over all T x h (every rank adds it: DTensor divides it by n first), and one ring
    all_reduce of the T x h fp32 partial sums."""
    world, pairs = ranks
    assert (4 * H) % world == 0  # the 4h dimension shards evenly, so every formula below is exact
    want = closed_forms(world)
    macs_global, s = 2 * T * H * 4 * H, T * H * 4
    macs, sent = macs_global // world, 2 * (world - 1) * s // world
    params = (4 * H * H + 4 * H) // world + 4 * H * H // world + H
    params_global = 4 * H * H + 4 * H + 4 * H * H + H
    # the formulas at these shapes (h = 16, T = 8), by hand, and _tp_case's closed forms agree
    assert (macs, macs_global, params, params_global, s, sent) == {2: (8192, 16384, 1072, 2128, 512, 512),
                                                                   4: (4096, 16384, 544, 2128, 512, 768)}[world]
    assert (want["macs"], want["macs_global"], want["params"], want["params_global"], want["all_reduce_bytes"],
            want["all_reduce_sent"]) == (macs, macs_global, params, params_global, s, sent)
    for rank, pair in enumerate(pairs):
        for results in pair:
            for device in DEVICES:
                fwd = results[f"forward-{device}"]
                assert fwd["coverage"] == [], (rank, device)
                assert (fwd["macs"], fwd["macs_global"], fwd["params"], fwd["params_global"]) == \
                    (macs, macs_global, params, params_global), (rank, device)
                assert fwd["by_phase"] == {"forward": macs, "loss": 0, "backward": 0, "optimizer": 0}
                cat, glob = fwd["by_category"], fwd["by_category_global"]
                assert cat["linear"] == macs and glob["linear"] == macs_global
                assert cat["bias"] == T * 4 * H // world + T * H and glob["bias"] == T * 4 * H + T * H
                assert cat["activation"] == T * 4 * H // world and glob["activation"] == T * 4 * H
                assert fwd["comm"] == [["2", "forward", "all_reduce", world, 1, s, sent, sent]], (rank, device)


def test_step_is_the_closed_forms(ranks):
    """The training step of the MLP behind a plain Linear(h, h) (not sharded: every rank computes it whole): forward
    the MLP's 1/n plus T h h; backward both gradients of both sharded layers (2x their forward) plus the plain
    Linear's weight gradient (its input needs none), T h h; the plain Linear's h h parameters on every rank; and
    two ring all_reduces of T x h fp32, the rowwise output's in the forward and the colwise input gradient's in the
    backward."""
    world, pairs = ranks
    want = closed_forms(world)
    macs, macs_global, s = 2 * T * H * 4 * H // world, 2 * T * H * 4 * H, T * H * 4
    sent = 2 * (world - 1) * s // world
    front = T * H * H
    for rank, pair in enumerate(pairs):
        for results in pair:
            for device in DEVICES:
                step = results[f"step-{device}"]
                assert step["coverage"] == [], (rank, device)
                assert step["by_phase"] == {"forward": macs + front, "loss": 0, "backward": 2 * macs + front,
                                            "optimizer": 0}, (rank, device)
                assert step["macs"] == 3 * macs + 2 * front == step["by_category"]["linear"]
                assert step["macs_global"] == 3 * macs_global + 2 * front == step["by_category_global"]["linear"]
                assert step["macs"] == 3 * want["macs"] + 2 * T * H * H
                assert (step["params"], step["params_global"]) == (want["params"] + H * H,
                                                                   want["params_global"] + H * H)
                assert step["comm"] == [["1.0", "backward", "all_reduce", world, 1, s, sent, sent],
                                        ["1.2", "forward", "all_reduce", world, 1, s, sent, sent]], (rank, device)
