"""``profile_model("hf:llama", tp=N)``: a Llama config sharded with its own tensor-parallel plan (transformers'
apply_tensor_parallelism) under torch's fake process group, one rank counted on meta: this rank's projections
1/tp of the logical model's, the logical model equal to the unsharded one, the collectives the plan's styles
produce with their bytes, no process group left behind; the command line's --tp/--rank and its refusals."""
from __future__ import annotations

import contextlib
import io

import pytest
import torch.distributed as dist

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="this torch build has no torch.distributed")

L, H, NH, KV, I, V, T = 2, 64, 4, 2, 128, 256, 16  # layers, hidden, heads, kv heads, MLP width, vocabulary, tokens
HD = H // NH
CFG = dict(num_hidden_layers=L, hidden_size=H, num_attention_heads=NH, num_key_value_heads=KV,
           intermediate_size=I, vocab_size=V)
ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
PROJ_MACS = {"q_proj": T * H * H, "k_proj": T * H * KV * HD, "v_proj": T * H * KV * HD, "o_proj": T * H * H,
             "gate_proj": T * H * I, "up_proj": T * H * I, "down_proj": T * I * H}


def _profile(**kw):
    from profiler.zoo import profile_model

    return profile_model("hf:llama", input=T, **CFG, **kw)


def _proj_paths():
    for i in range(L):
        yield from ((f"model.layers.{i}.self_attn.{n}", n) for n in ATTN)
        yield from ((f"model.layers.{i}.mlp.{n}", n) for n in MLP)


def _comm(prof):
    return [(c.path, c.phase, c.kind, c.group_size, c.calls, c.bytes, c.sent, c.received) for c in prof.communication]


def _forward_comm(tp):
    s = T * H * 4  # T x hidden fp32: the embeddings' and each rowwise layer's partial sums
    ar = 2 * (tp - 1) * s // tp  # a ring all_reduce: each rank sends and receives 2 (n - 1) / n S
    g = T * V * 4  # the gathered logits
    rows = [("model.embed_tokens", "forward", "all_reduce", tp, 1, s, ar, ar)]  # embedding_rowwise: vocab shards
    for i in range(L):
        rows += [(f"model.layers.{i}.self_attn.o_proj", "forward", "all_reduce", tp, 1, s, ar, ar),
                 (f"model.layers.{i}.mlp.down_proj", "forward", "all_reduce", tp, 1, s, ar, ar)]
    rows.append(("lm_head", "forward", "all_gather", tp, 1, g, (tp - 1) * g // tp, (tp - 1) * g // tp))
    return rows


@pytest.mark.parametrize("tp", [2])
def test_forward_one_rank_of_the_config_plan(tp):
    plain = _profile()
    prof = _profile(tp=tp)
    assert not dist.is_initialized()  # the fake group it made is gone
    assert prof.distributed.world_size == tp and prof.distributed.rank == 0
    # the logical model is the unsharded model
    assert prof.macs_global == plain.macs
    assert prof.params_global == plain.params
    assert prof.global_view().by_category["linear"] == plain.by_category["linear"]
    assert prof.global_view().by_category["attention"] == plain.by_category["attention"]
    # this rank: every projection (and the colwise lm_head) 1/tp of the logical one; the attention on its heads
    glob = prof.global_view()
    for path, name in _proj_paths():
        assert glob.layer(path).macs == PROJ_MACS[name] == plain.layer(path).macs
        assert prof.layer(path).macs == PROJ_MACS[name] // tp, path
    assert prof.layer("lm_head").macs == T * H * V // tp
    assert prof.by_category["linear"] == plain.by_category["linear"] // tp
    assert prof.by_category["attention"] == plain.by_category["attention"] // tp
    # parameters: the projections, the embeddings and lm_head sharded; the norms (2 per layer + the final) whole
    sharded = V * H + L * (2 * H * H + 2 * H * KV * HD + 3 * H * I) + V * H
    assert prof.params == sharded // tp + (2 * L + 1) * H
    assert prof.params_global == sharded + (2 * L + 1) * H
    assert _comm(prof) == _forward_comm(tp)
    assert prof.coverage == []
    assert any("bytes sent by this rank per MAC" in n for n in prof.notes)


def test_training_step_adds_each_colwise_input_gradients_all_reduce():
    tp = 2
    plain = _profile(backward=True)
    prof = _profile(tp=tp, backward=True)
    assert not dist.is_initialized()
    assert prof.macs_global == plain.macs
    assert prof.global_view().by_phase == plain.by_phase
    assert prof.by_category["linear"] == plain.by_category["linear"] // tp
    s, ar = T * H * 4, 2 * (tp - 1) * T * H * 4 // tp
    # backward: transformers' DTensor colwise style all-reduces its input's gradient, layer by layer
    # (q, k, v, gate, up and lm_head apart; the embeddings' input (token ids) has none)
    back = [(f"model.layers.{i}.{blk}.{n}", "backward", "all_reduce", tp, 1, s, ar, ar)
            for i in range(L) for blk, names in (("self_attn", ("q_proj", "k_proj", "v_proj")),
                                                 ("mlp", ("gate_proj", "up_proj"))) for n in names]
    back.append(("lm_head", "backward", "all_reduce", tp, 1, s, ar, ar))
    got = _comm(prof)
    assert sorted(r for r in got if r[1] == "forward") == sorted(_forward_comm(tp))
    assert sorted(r for r in got if r[1] == "backward") == sorted(back)


def test_rank_one_counts_the_same_and_an_existing_group_is_kept():
    from torch.testing._internal.distributed.fake_pg import FakeStore

    r0 = _profile(tp=2)
    r1 = _profile(tp=2, rank=1)
    assert r1.distributed.rank == 1 and (r1.macs, r1.macs_global, _comm(r1)) == (r0.macs, r0.macs_global, _comm(r0))
    dist.init_process_group("fake", store=FakeStore(), rank=1, world_size=2)
    try:
        mine = _profile(tp=2, rank=1)
        assert dist.is_initialized() and mine.distributed.rank == 1 and mine.macs == r1.macs
        from profiler.errors import UsageError

        with pytest.raises(UsageError, match="tp must equal it"):
            _profile(tp=1)
    finally:
        dist.destroy_process_group()


def _exit_code(main, argv) -> int:
    """main's return code, or argparse's exit code (its own refusals exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("argv, says", [
    (["--tp", "0"], "--tp: expected a positive integer"),
    (["--tp", "2", "--rank", "2"], "--rank 2 is not a rank of --tp 2"),
    (["--rank", "1"], "add --tp N"),
    (["--tp", "3"], "num_attention_heads=4 is not divisible by tp=3"),
    (["--tp", "4"], "num_key_value_heads=2 is not divisible by tp=4"),
])
def test_cli_refusals_exit_2_naming_the_fix(argv, says, capsys):
    from profiler.cli import main

    kwargs = [f"{k}={v}" for k, v in CFG.items()]
    assert _exit_code(main, ["hf:llama", "--input", str(T), "--kwargs", *kwargs, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]


def test_cli_model_without_a_plan(capsys):
    from profiler.cli import main

    assert _exit_code(main, ["torchvision:resnet18", "--tp", "2"]) == 2
    assert "has no tensor-parallel plan" in capsys.readouterr().err


def test_cli_table_names_this_rank_global_and_communication():
    from profiler.cli import main

    out = io.StringIO()
    kwargs = [f"{k}={v}" for k, v in CFG.items()]
    with contextlib.redirect_stdout(out):
        rc = main(["hf:llama", "--input", str(T), "--tp", "2", "--rank", "1", "--kwargs", *kwargs])
    assert rc == 0
    text = " ".join(out.getvalue().split())
    assert "this rank (rank 1 of 2)" in text and "global (the logical model): 1,507,328 MACs" in text
    assert "all_reduce x5" in text and "all_gather x1" in text and "bytes sent by this rank per MAC" in text
    assert not dist.is_initialized()
