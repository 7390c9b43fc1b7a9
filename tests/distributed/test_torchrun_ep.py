"""Expert parallelism of a small Mixtral on two real ranks (torchrun, gloo, CPU) and its fake-group simulation:
``profile_model("hf:mixtral", ep=2, rank=r, device="cpu")`` on each torchrun rank (the real gloo group, whose
all_to_all_single moves the per-expert counts and the token rows for real) is the simulation of that rank, and both
are the closed forms of the shapes: this rank's attention and dense layers over all T tokens, its E/ep experts over
the T k / ep (token, expert) rows it receives, and per MoE layer three all_to_alls (the counts, the rows out, the
results back: tokens x top-k x hidden each way) and one all-gather of the token slices. The training step too: every
linear's input and weight gradients (2x its forward), the CPU flash attention's backward with its recomputed scores
(5 products of the forward's 2), and per MoE layer the two exchanges of rows reversed and the all-gathers of the
slices' gradients (the hidden states' and the routing weights', the backward of transformers' Replicate -> Shard(0)).

Routing is made deterministic and balanced in both runs (``_ep_case.fixed_routing``: token i's k-th expert is
``(i k_total + k) mod E``; the router still computes its logits, softmax and top-k, only the indices it returns are
replaced). Random weights route unevenly, and the simulation, which cannot know what the other ranks route, takes
every rank to receive what it sends; with this routing that is true on the real ranks too, so every figure can be
compared rank for rank, the experts' received rows (``Layer.expert_tokens``, read from the real grouped products)
included."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch.distributed as dist

from _ep_case import E, H, I, K, KW, L, T, balanced_indices, rank_results

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EP = 2
V, KV = KW["vocab_size"], KW["num_key_value_heads"] * H // KW["num_attention_heads"]  # k / v width: 2 heads x 16

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torchrun's ranks talk over gloo, which this torch build lacks")


def closed_forms(ep: int) -> dict:
    heads, head_dim = KW["num_attention_heads"], H // KW["num_attention_heads"]
    rows = T // ep * K  # the (token, expert) rows of its token slice; balanced routing: it receives as many
    dense = T * (H * H + 2 * H * KV + H * H) + T * H * E  # q, k, v, o projections and the router, per layer
    attention = 2 * heads * T * T * head_dim  # q k^T and the weights times v, per layer
    experts = 3 * H * I  # gate, up and down per (token, expert) row
    head = T * H * V
    params_layer = H * H + 2 * H * KV + H * H + E * H + 2 * H  # attention, router, two norms
    counts = E * 8  # the per-expert counts (int64) exchanged first: ep rows of E / ep
    a2a = counts + 2 * rows * H * 4  # counts, rows out (fp32), results back
    return {
        "macs_global": L * (dense + attention + T * K * experts) + head,
        "macs": L * (dense + attention + rows * experts) + head,
        "linear": L * (dense + rows * experts) + head, "attention": L * attention,
        "params_global": L * (params_layer + E * experts) + 2 * V * H + H,
        "params": L * (params_layer + E // ep * experts) + 2 * V * H + H,
        "a2a": a2a, "a2a_sent": a2a * (ep - 1) // ep, "ag": T * H * 4, "ag_sent": T * H * 4 * (ep - 1) // ep,
        "expert_rows": [T * K // E] * (E // ep),
        # backward: both gradients of every linear; the attention's dQ, dK, dV, dP and the recomputed scores
        "backward": 2 * (L * (dense + rows * experts) + head) + L * attention * 5 // 2,
        "backward_global": 2 * (L * (dense + T * K * experts) + head) + L * attention * 5 // 2,
        "a2a_back": 2 * rows * H * 4, "ag_back": (T * H + T * K) * 4,
    }


def test_routing_is_balanced():
    """What makes the simulation's assumption true: each rank sends each rank's j-th expert as many rows as it
    receives for its own j-th expert from that rank, and every expert gets T k / E rows."""
    idx = balanced_indices()
    assert idx.shape == (T, K)
    per, local = T // EP, E // EP
    sends = [[[int(((idx[r * per:(r + 1) * per] // local == s) & (idx[r * per:(r + 1) * per] % local == j)).sum())
               for j in range(local)] for s in range(EP)] for r in range(EP)]
    for r in range(EP):
        for s in range(EP):
            assert sends[r][s] == sends[s][r] == [T * K // E // EP] * local
    assert sorted(idx.flatten().bincount().tolist()) == [T * K // E] * E


def test_two_gloo_ranks_match_the_simulation(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([ROOT, HERE])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(EP),
           os.path.join(HERE, "_ep_case.py"), str(tmp_path)]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    want = closed_forms(EP)
    assert (want["macs"], want["macs_global"]) == (3178496, 4751360)  # the formulas at these shapes, by hand
    for rank in range(EP):
        with open(tmp_path / f"rank{rank}.json") as f:
            real = json.load(f)
        simulated = json.loads(json.dumps(rank_results(EP, rank)))
        assert not dist.is_initialized()  # the simulation's fake group is gone
        assert real == simulated, rank
        fwd = real["forward"]
        assert (fwd["rank"], fwd["world_size"], fwd["device"]) == (rank, EP, "cpu")
        assert fwd["coverage"] == []
        assert (fwd["macs"], fwd["macs_global"]) == (want["macs"], want["macs_global"])
        assert (fwd["by_category"]["linear"], fwd["by_category"]["attention"]) == (want["linear"], want["attention"])
        assert (fwd["params"], fwd["params_global"]) == (want["params"], want["params_global"])
        assert fwd["expert_tokens"] == {f"model.layers.{layer}.mlp.experts": want["expert_rows"] for layer in range(L)}
        expected = []
        for layer in range(L):
            path = f"model.layers.{layer}.mlp.experts"
            expected += [[path, "forward", "all_gather", EP, 1, want["ag"], want["ag_sent"], want["ag_sent"]],
                         [path, "forward", "all_to_all", EP, 3, want["a2a"], want["a2a_sent"], want["a2a_sent"]]]
        assert sorted(fwd["comm"]) == sorted(expected)
        assert fwd["comm_ops"] == ["_c10d_functional.all_gather_into_tensor", "_c10d_functional.all_to_all_single",
                                   "c10d.alltoall_base_"]

        step = real["step"]
        assert (step["rank"], step["world_size"], step["coverage"]) == (rank, EP, [])
        assert step["by_phase"]["forward"] == want["macs"] and step["by_phase"]["backward"] == want["backward"]
        assert step["macs"] == want["macs"] + want["backward"]
        assert step["macs_global"] == want["macs_global"] + want["backward_global"]
        assert (step["params"], step["params_global"]) == (want["params"], want["params_global"])
        assert step["expert_tokens"] == fwd["expert_tokens"]
        back = []
        for layer in range(L):
            path = f"model.layers.{layer}.mlp.experts"
            for kind, size in (("all_gather", want["ag_back"]), ("all_to_all", want["a2a_back"])):
                moved = size * (EP - 1) // EP
                back.append([path, "backward", kind, EP, 2, size, moved, moved])
        assert sorted(step["comm"]) == sorted(expected + back)
