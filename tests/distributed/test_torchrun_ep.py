"""Expert parallelism of a small Mixtral on real ranks (torchrun, gloo, CPU; 2 and 4 ranks) and its fake-group
simulation: ``profile_model("hf:mixtral", ep=n, rank=r, device="cpu")`` on each torchrun rank (the real gloo group,
whose all_to_all_single moves the per-expert counts and the token rows for real) is the simulation of that rank, and
both are the closed forms of the shapes in n = ep: this rank's attention and dense layers over all T tokens, its
E/n experts over the T k / n (token, expert) rows it receives, and per MoE layer three all_to_alls (the counts, the
rows out, the results back: tokens x top-k x hidden each way; each rank sending all but the 1/n bound for its own
experts) and one all-gather of the token slices ((n - 1) / n of them sent). The training step too: every linear's
input and weight gradients (2x its forward), the CPU flash attention's backward with its recomputed scores (5
products of the forward's 2), and per MoE layer the two exchanges of rows reversed and the all-gathers of the
slices' gradients (the hidden states' and the routing weights', the backward of transformers' Replicate ->
Shard(0)). torchrun runs once per world size (a module-scoped fixture), and every test reads that run.

Routing is made deterministic and balanced in both runs (``_ep_case.fixed_routing``: token i's k-th expert is
``(i k_total + k) mod E``; the router still computes its logits, softmax and top-k, only the indices it returns are
replaced). Random weights route unevenly, and the simulation, which cannot know what the other ranks route, takes
every rank to receive what it sends; with this routing that is true on the real ranks too, at 2 ranks and at 4
(``test_routing_is_balanced``, and on the real ranks the rows their experts computed), so every figure can be
compared rank for rank, the experts' received rows (``Layer.expert_tokens``, read from the real grouped products)
included."""
from __future__ import annotations


import pytest
import torch.distributed as dist

from _torchrun import launch
from _ep_case import E, H, I, K, KW, L, T, balanced_indices, rank_results

WORLDS = (2, 4)
V, KV = KW["vocab_size"], KW["num_key_value_heads"] * H // KW["num_attention_heads"]  # k / v width: 2 heads x 16

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torchrun's ranks talk over gloo, which this torch build lacks")


def closed_forms(ep: int) -> dict:
    heads, head_dim = KW["num_attention_heads"], H // KW["num_attention_heads"]
    assert T % ep == 0 and E % ep == 0  # whole token slices and whole experts per rank: the forms below are exact
    rows = T // ep * K  # the (token, expert) rows of its token slice; balanced routing: it receives as many
    dense = T * (H * H + 2 * H * KV + H * H) + T * H * E  # q, k, v, o projections and the router, per layer
    attention = 2 * heads * T * T * head_dim  # q k^T and the weights times v, per layer
    experts = 3 * H * I  # gate, up and down per (token, expert) row
    head = T * H * V
    params_layer = H * H + 2 * H * KV + H * H + E * H + 2 * H  # attention, router, two norms
    counts = E * 8  # the per-expert counts (int64) exchanged first: ep chunks of E / ep, one per rank
    rows_bytes = rows * H * 4  # the rows out (fp32); the results back are as many
    # each rank keeps the 1/ep bound for its own experts (balanced routing: rows / ep to every rank) and sends the rest
    a2a, a2a_sent = counts + 2 * rows_bytes, (ep - 1) * counts // ep + 2 * ((ep - 1) * rows_bytes // ep)
    return {
        "rows": rows,
        "macs_global": L * (dense + attention + T * K * experts) + head,
        "macs": L * (dense + attention + rows * experts) + head,
        "linear": L * (dense + rows * experts) + head, "attention": L * attention,
        "params_global": L * (params_layer + E * experts) + 2 * V * H + H,
        "params": L * (params_layer + E // ep * experts) + 2 * V * H + H,
        "a2a": a2a, "a2a_sent": a2a_sent, "ag": T * H * 4, "ag_sent": T * H * 4 * (ep - 1) // ep,
        "expert_rows": [T * K // E] * (E // ep),
        # backward: both gradients of every linear; the attention's dQ, dK, dV, dP and the recomputed scores
        "backward": 2 * (L * (dense + rows * experts) + head) + L * attention * 5 // 2,
        "backward_global": 2 * (L * (dense + T * K * experts) + head) + L * attention * 5 // 2,
        "a2a_back": 2 * rows_bytes, "ag_back": (T * H + T * K) * 4,
    }


@pytest.mark.parametrize("ep", WORLDS)
def test_routing_is_balanced(ep):
    """What makes the simulation's assumption true: each rank sends each rank's j-th expert as many rows as it
    receives for its own j-th expert from that rank, every expert gets T k / E rows, and so every rank receives
    exactly the T k / ep rows it sends (true when T / ep is a multiple of E / k: each rank's token slice then
    cycles through all E experts a whole number of times)."""
    idx = balanced_indices()
    assert idx.shape == (T, K)
    assert (T // ep) % (E // K) == 0 and T % ep == 0 and E % ep == 0
    per, local = T // ep, E // ep
    sends = [[[int(((idx[r * per:(r + 1) * per] // local == s) & (idx[r * per:(r + 1) * per] % local == j)).sum())
               for j in range(local)] for s in range(ep)] for r in range(ep)]
    for r in range(ep):
        for s in range(ep):
            assert sends[r][s] == sends[s][r] == [T * K // E // ep] * local
        sent, received = sum(map(sum, sends[r])), sum(sum(sends[s][r]) for s in range(ep))
        assert sent == received == T * K // ep == closed_forms(ep)["rows"]
    assert sorted(idx.flatten().bincount().tolist()) == [T * K // E] * E


@pytest.fixture(scope="module", params=WORLDS, ids=lambda world: f"{world}ranks")
def ranks(request, tmp_path_factory) -> tuple[int, list]:
    """(ep, [(real, simulated)] per rank): the JSON each torchrun rank wrote, and the fake-group run of that rank
    (torchrun run once per world size for the module's tests)."""
    ep, folder = request.param, tmp_path_factory.mktemp(f"ep{request.param}")

    def simulate(rank):
        data = rank_results(ep, rank)
        assert not dist.is_initialized()  # the simulation's fake group is gone
        return data

    return ep, launch("_ep_case.py", ep, folder, simulate)


def test_gloo_ranks_match_the_simulation(ranks):
    """Rank for rank the same figures, forward and step, the experts' received rows included; each rank is the
    rank torchrun made it, of a group of ep ranks, on the CPU."""
    ep, pairs = ranks
    assert len(pairs) == ep
    for rank, (real, simulated) in enumerate(pairs):
        assert real == simulated, rank
        assert sorted(real) == ["forward", "step"]
        for prof in real.values():
            assert (prof["rank"], prof["world_size"], prof["device"], prof["coverage"]) == (rank, ep, "cpu", [])


def test_forward_is_the_closed_forms(ranks):
    """Each rank's forward (real and simulated): its compute, parameters, the rows its experts received (on the
    real ranks read from the grouped products that ran on the rows gloo delivered: as many as the rank sent), and
    per MoE layer the all-gather and the three all_to_alls."""
    ep, pairs = ranks
    want = closed_forms(ep)
    # the formulas at these shapes, by hand
    assert (want["macs"], want["macs_global"]) == {2: (3178496, 4751360), 4: (2392064, 4751360)}[ep]
    assert (want["a2a"], want["a2a_sent"], want["ag"], want["ag_sent"]) == {2: (16448, 8224, 8192, 4096),
                                                                            4: (8256, 6192, 8192, 6144)}[ep]
    experts = [f"model.layers.{layer}.mlp.experts" for layer in range(L)]
    expected = []
    for path in experts:
        expected += [[path, "forward", "all_gather", ep, 1, want["ag"], want["ag_sent"], want["ag_sent"]],
                     [path, "forward", "all_to_all", ep, 3, want["a2a"], want["a2a_sent"], want["a2a_sent"]]]
    for rank, pair in enumerate(pairs):
        for fwd in (results["forward"] for results in pair):
            assert (fwd["macs"], fwd["macs_global"]) == (want["macs"], want["macs_global"]), rank
            assert fwd["by_phase"]["forward"] == want["macs"] and fwd["by_phase"]["backward"] == 0
            assert (fwd["by_category"]["linear"], fwd["by_category"]["attention"]) == (want["linear"],
                                                                                       want["attention"])
            assert (fwd["params"], fwd["params_global"]) == (want["params"], want["params_global"])
            assert fwd["expert_tokens"] == {path: want["expert_rows"] for path in experts}, rank
            # what this rank's experts received is what it sent: the T k / ep rows of its token slice
            assert all(sum(received) == want["rows"] == T * K // ep for received in fwd["expert_tokens"].values())
            assert sorted(fwd["comm"]) == sorted(expected), rank
            assert fwd["comm_ops"] == ["_c10d_functional.all_gather_into_tensor",
                                       "_c10d_functional.all_to_all_single", "c10d.alltoall_base_"]


def test_step_is_the_closed_forms(ranks):
    """Each rank's training step (real and simulated): the forward as above, the backward's closed form (this
    rank's and the logical model's), and per MoE layer the forward's collectives plus, backward, two exchanges of
    rows reversed and two all-gathers of gradients, each sending (ep - 1) / ep of its bytes."""
    ep, pairs = ranks
    want = closed_forms(ep)
    experts = [f"model.layers.{layer}.mlp.experts" for layer in range(L)]
    expected = []
    for path in experts:
        expected += [[path, "forward", "all_gather", ep, 1, want["ag"], want["ag_sent"], want["ag_sent"]],
                     [path, "forward", "all_to_all", ep, 3, want["a2a"], want["a2a_sent"], want["a2a_sent"]]]
        for kind, size in (("all_gather", want["ag_back"]), ("all_to_all", want["a2a_back"])):
            moved = size * (ep - 1) // ep
            expected.append([path, "backward", kind, ep, 2, size, moved, moved])
    for rank, pair in enumerate(pairs):
        for step in (results["step"] for results in pair):
            assert step["by_phase"]["forward"] == want["macs"] and step["by_phase"]["backward"] == want["backward"]
            assert step["macs"] == want["macs"] + want["backward"], rank
            assert step["macs_global"] == want["macs_global"] + want["backward_global"], rank
            assert (step["params"], step["params_global"]) == (want["params"], want["params_global"])
            assert step["expert_tokens"] == {path: want["expert_rows"] for path in experts}, rank
            assert sorted(step["comm"]) == sorted(expected), rank
