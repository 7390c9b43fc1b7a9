"""Expert parallelism, one rank simulated: ``profile_model("hf:mixtral", ep=N)`` applies the config's own
expert-parallel plan with transformers' all_to_all dispatch under torch's fake process group (ranks sharing one
batch, balanced routing on meta). Closed forms from the shapes of a small Mixtral."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

from profiler.zoo import profile_model

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="this torch build has no torch.distributed")

L, H, I, E, K, T = 2, 64, 128, 8, 2, 32
KW = dict(num_hidden_layers=L, hidden_size=H, num_attention_heads=4, num_key_value_heads=2, intermediate_size=I,
          num_local_experts=E, num_experts_per_tok=K, vocab_size=256)


@pytest.fixture(scope="module")
def unsharded():
    return profile_model("hf:mixtral", device="meta", input=T, **KW)


@pytest.mark.parametrize("ep,rank", [(2, 0), (4, 3)])
def test_rank_experts_and_all_to_all(unsharded, ep, rank):
    p = profile_model("hf:mixtral", ep=ep, rank=rank, input=T, **KW)
    experts_global = L * T * K * 3 * H * I  # every (token, expert) row through gate, up and down
    # the rank's E/ep experts get their share of the T*k rows under balanced routing: T*k/ep rows per layer
    assert p.macs == unsharded.macs - experts_global + L * (T * K // ep) * 3 * H * I
    assert p.coverage == []
    # the logical model's figures are the unsharded model's; a rank's MFU is of its own compute
    assert (p.macs_global, p.params_global) == (unsharded.macs, unsharded.params)
    from profiler.analysis.mfu import mfu
    assert mfu(p, 1.0, 1e12) == 2 * p.macs / 1e12 < 2 * p.macs_global / 1e12
    comm = {(c.path, c.kind): c for c in p.communication}
    assert {c.phase for c in p.communication} == {"forward"}
    for layer in range(L):
        a2a = comm[(f"model.layers.{layer}.mlp.experts", "all_to_all")]
        rows = T // ep * K  # the (token, expert) rows of this rank's token slice, sent out and back
        counts = ep * (E // ep) * 8  # the per-expert counts (int64) exchanged first
        assert a2a.calls == 3
        assert a2a.bytes == counts + 2 * rows * H * 4
        # each way, all but the 1/ep of the rows bound for (coming from) its own experts
        assert a2a.sent == a2a.received == (counts + 2 * rows * H * 4) * (ep - 1) // ep
        ag = comm[(f"model.layers.{layer}.mlp.experts", "all_gather")]
        assert (ag.calls, ag.bytes, ag.sent) == (1, T * H * 4, T * H * 4 * (ep - 1) // ep)
    assert len(comm) == 2 * L
    assert not dist.is_initialized()


def test_usage_errors():
    from profiler.errors import UsageError

    with pytest.raises(UsageError, match="not divisible by ep=3"):
        profile_model("hf:mixtral", ep=3, input=T, **KW)
    with pytest.raises(UsageError, match="at least 1"):
        profile_model("hf:mixtral", ep=0, input=T, **KW)


@pytest.mark.parametrize("args,msg", [(["hf:mixtral", "--ep", "0"], "--ep must be at least 1"),
                                      (["hf:mixtral", "--ep", "3"], "not divisible by ep=3"),
                                      (["hf:llama", "--ep", "2"], "has no experts")])
def test_cli_exit_2(args, msg):
    kw = [] if args[0] == "hf:llama" else ["--kwargs"] + [f"{k}={v}" for k, v in KW.items()]
    if args[0] == "hf:llama":
        kw = ["--kwargs", "num_hidden_layers=1", "hidden_size=64", "num_attention_heads=4", "intermediate_size=128",
              "vocab_size=256"]
    r = subprocess.run([str(Path(sys.executable).parent / "profile-model"), *args, "--input", "16", *kw],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0], r.stderr


@pytest.mark.parametrize("ep,rank", [(2, 1)])
def test_training_step_of_a_rank(ep, rank):
    """The step: the rank's experts run forward and backward (weight and input gradients: 3x the forward) on their
    T*k/ep rows; what every rank runs whole (attention, router, head) is the unsharded step's; the backward sends
    the rows' gradients back through the two all_to_alls, each T/ep*k rows of hidden fp32."""
    whole = profile_model("hf:mixtral", device="meta", input=T, backward=True, **KW)
    p = profile_model("hf:mixtral", ep=ep, rank=rank, input=T, backward=True, **KW)
    experts = 3 * H * I  # gate, up and down per (token, expert) row
    assert p.macs == whole.macs - 3 * L * T * K * experts + 3 * L * (T * K // ep) * experts
    assert (p.macs_global, p.params_global) == (whole.macs, whole.params)
    assert p.coverage == []
    rows = T // ep * K
    for layer in range(L):
        back = [c for c in p.communication if c.path == f"model.layers.{layer}.mlp.experts"
                and c.phase == "backward" and c.kind == "all_to_all"]
        assert [(c.calls, c.bytes, c.sent) for c in back] == [(2, 2 * rows * H * 4, 2 * rows * H * 4 * (ep - 1) // ep)]
    assert not dist.is_initialized()


def test_tensor_and_expert_parallel_on_the_same_ranks():
    """tp=ep=2: the attention, embeddings and head split by the TP plan, the experts by the EP plan, the router
    (Linear(H, E), whole on every rank) repeated: each rank's MACs are the logical model's less the router's, over
    tp, plus the router's; the ranks together compute the logical model plus tp - 1 extra routers."""
    tp = 2
    whole = profile_model("hf:mixtral", device="meta", input=T, **KW)
    ranks = [profile_model("hf:mixtral", tp=tp, ep=tp, rank=r, input=T, **KW) for r in range(tp)]
    router = L * T * H * E
    for p in ranks:
        assert p.macs == (whole.macs - router) // tp + router
        assert (p.macs_global, p.params_global) == (whole.macs, whole.params)
        replicated = L * H * E + (2 * L + 1) * H  # routers, two norms per layer and the final norm
        assert p.params == (whole.params - replicated) // tp + replicated
        assert p.coverage == []
        kinds = {(c.path.rsplit(".", 1)[-1], c.kind) for c in p.communication if c.phase == "forward"}
        assert {("o_proj", "all_reduce"), ("experts", "all_to_all"), ("lm_head", "all_gather")} <= kinds
    assert sum(p.macs for p in ranks) == whole.macs + (tp - 1) * router
    assert not dist.is_initialized()


def test_tp_must_equal_ep():
    from profiler.errors import UsageError

    with pytest.raises(UsageError, match="tp must equal ep"):
        profile_model("hf:mixtral", tp=4, ep=2, input=T, **KW)
