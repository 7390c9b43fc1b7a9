"""``profile_model("hf:llama", tp=N, dp_shard=M)``: one rank of a TP x FSDP2 layout simulated in this process. The
config's tensor-parallel plan on the ``tp`` mesh dimension, then ``fully_shard`` on each decoder layer and the root
over ``dp_shard`` ranks, counted on fake tensors (nothing allocated). Checked against closed forms written here:
this rank's parameters (FSDP pads dim 0 of each TP-local tensor to a multiple of dp_shard, the last ranks hold
shorter or empty shards) and FSDP's collectives (per decoder layer an all-gather of its padded parameters in the
forward and again in the backward, a reduce-scatter of its gradients; the root all-gathers once, it keeps its
parameters unsharded through the backward); against the same layout run on real CPU tensors (the fake pass's
document equals it, layer by layer); and the refusals, which name the fix."""
from __future__ import annotations

import contextlib
import io
import math

import pytest
import torch.distributed as dist
from test_simulated_tp import _exit_code

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="this torch build has no torch.distributed")

L, H, NH, KV, I, V, T = 2, 64, 4, 2, 128, 256, 16  # layers, hidden, heads, kv heads, MLP width, vocabulary, tokens
HD = H // NH
CFG = dict(num_hidden_layers=L, hidden_size=H, num_attention_heads=NH, num_key_value_heads=KV,
           intermediate_size=I, vocab_size=V)


def _profile(**kw):
    from profiler.zoo import profile_model

    return profile_model("hf:llama", input=T, **CFG, **kw)


def _layer_shapes(tp: int) -> list[tuple[int, int]]:
    """A decoder layer's parameters as this TP rank holds them (rows, columns): colwise layers split their output
    rows, rowwise layers their input columns, the norms are replicated; Llama has no biases by default."""
    return [(NH * HD // tp, H), (KV * HD // tp, H), (KV * HD // tp, H), (H, NH * HD // tp),  # q k v o
            (I // tp, H), (I // tp, H), (H, I // tp),  # gate up down
            (H, 1), (H, 1)]  # input and post-attention RMSNorm weights


def _root_shapes(tp: int) -> list[tuple[int, int]]:
    """The root's own parameters: embedding (vocabulary rows split, embedding_rowwise), final norm, lm_head
    (colwise: vocabulary rows split); no tied embeddings in LlamaConfig's default."""
    return [(V // tp, H), (H, 1), (V // tp, H)]


def _padded(shapes, dp: int) -> int:
    return sum(math.ceil(r / dp) * dp * c for r, c in shapes)


def _mine(shapes, dp: int, dp_rank: int) -> int:
    """Elements of this data-parallel rank's shards: chunks of ceil(rows / dp) rows, the last ones short."""
    out = 0
    for r, c in shapes:
        chunk = math.ceil(r / dp)
        out += max(0, min(chunk, r - dp_rank * chunk)) * c
    return out


def _fsdp_comm(tp: int, dp: int) -> list[tuple]:
    """(path, phase, kind, group size, calls, bytes, sent, received) of FSDP's collectives, fp32."""
    rows = []
    for path, shapes, again in [(f"model.layers.{i}", _layer_shapes(tp), True) for i in range(L)] + \
                               [("", _root_shapes(tp), False)]:
        s = 4 * _padded(shapes, dp)  # an all-gather's output and a reduce-scatter's input
        moved = (dp - 1) * s // dp  # ring: each rank sends and receives (n - 1) / n of S
        rows.append((path, "forward", "all_gather", dp, 1, s, moved, moved))
        if again:  # resharded after the forward: gathered again for the backward
            rows.append((path, "backward", "all_gather", dp, 1, s, moved, moved))
        rows.append((path, "backward", "reduce_scatter", dp, 1, s, moved, moved))
    return sorted(rows)


def _comm(prof, group: int) -> list[tuple]:
    return sorted((c.path, c.phase, c.kind, c.group_size, c.calls, c.bytes, c.sent, c.received)
                  for c in prof.communication if c.group_size == group and c.kind in ("all_gather", "reduce_scatter")
                  and not c.path.startswith("lm_head"))


@pytest.mark.parametrize("tp, dp, rank", [(2, 3, 5), (1, 4, 3), (2, 2, 1)])
def test_params_and_fsdp_collectives_closed_forms(tp, dp, rank):
    prof = _profile(tp=tp, dp_shard=dp, rank=rank, backward=True)
    assert not dist.is_initialized()  # the fake group it made is gone
    dp_rank = rank // tp
    assert (prof.distributed.rank, prof.distributed.world_size) == (rank, tp * dp)
    assert prof.device == "fake" and prof.pass_kind == "shapes"
    want = L * _mine(_layer_shapes(tp), dp, dp_rank) + _mine(_root_shapes(tp), dp, dp_rank)
    assert prof.params == want
    logical = L * (sum(r * c for r, c in _layer_shapes(1))) + sum(r * c for r, c in _root_shapes(1))
    assert prof.params_global == logical
    assert _comm(prof, dp) == _fsdp_comm(tp, dp)
    assert not prof.coverage  # FSDP's copy-in/out ops and the fake mode's metadata ops all have rules


def test_compute_is_the_tensor_parallel_ranks_and_sums_to_the_logical_model():
    """FSDP gathers whole (TP-local) layers before running them, so a rank computes what its TP rank computes
    without FSDP; the TP ranks' MACs add up to the logical model's (every product is split, none repeated)."""
    tp, dp = 2, 2
    ranks = [_profile(tp=tp, dp_shard=dp, rank=r, backward=True) for r in range(tp)]  # data-parallel rank 0
    plain = _profile(backward=True)
    assert sum(p.macs for p in ranks) == plain.macs == ranks[0].macs_global == ranks[1].macs_global
    only_tp = _profile(tp=tp, rank=1, backward=True)
    assert ranks[1].macs == only_tp.macs
    fsdp_only = _profile(dp_shard=4, rank=2, backward=True)
    assert fsdp_only.macs == fsdp_only.macs_global == plain.macs
    assert not [c for c in fsdp_only.communication if c.kind == "all_reduce"]  # no TP: no partial sums


@pytest.mark.parametrize("tp, dp, rank", [(2, 3, 5), (2, 2, 0)])
def test_fake_pass_equals_the_real_cpu_pass_layer_by_layer(tp, dp, rank):
    fake = _profile(tp=tp, dp_shard=dp, rank=rank, backward=True)
    real = _profile(tp=tp, dp_shard=dp, rank=rank, backward=True, device="cpu")
    assert (fake.device, real.device) == ("fake", "cpu")
    assert [(la.path, la.phase_ops(), la.params) for la in fake.layers] == \
        [(lb.path, lb.phase_ops(), lb.params) for lb in real.layers]
    assert [vars(c) for c in fake.communication] == [vars(c) for c in real.communication]
    assert fake.macs_global == real.macs_global


def test_a_module_given_is_left_as_it_was():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from profiler.zoo import profile_model

    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**CFG))
    before = {n: (type(p), tuple(p.shape)) for n, p in model.named_parameters()}
    # the copy is sharded and counted (a transformers module is fed token ids as its hf: name is), then refused
    # (a float shape for a token model): the user's module must be as it was either way
    from profiler.errors import UsageError

    prof = profile_model(model, dp_shard=2, input=(T,), backward=True)
    named = _profile(dp_shard=2, backward=True)
    assert prof.device == named.device == "fake" and prof.params == named.params
    assert prof.by_category == named.by_category
    with pytest.raises(UsageError):
        profile_model(model, dp_shard=2, input=(3, 224, 224), backward=True)
    assert not dist.is_initialized()
    assert type(model) is LlamaForCausalLM and type(model.model.layers[0]).__name__ == "LlamaDecoderLayer"
    assert {n: (type(p), tuple(p.shape)) for n, p in model.named_parameters()} == before


def test_refusals_name_the_fix():
    from profiler.errors import UsageError
    from profiler.zoo import profile_model

    with pytest.raises(UsageError, match="dp_shard must be a positive integer"):
        _profile(dp_shard=0)
    with pytest.raises(UsageError, match=r"rank must be in 0\.\.3 for tp=2 x dp_shard=2"):
        _profile(tp=2, dp_shard=2, rank=4)
    with pytest.raises(UsageError, match="no layer class to shard"):
        profile_model("torchvision:resnet18", dp_shard=2)
    moe = dict(num_hidden_layers=1, hidden_size=64, intermediate_size=128, num_attention_heads=4,
               num_key_value_heads=2, num_local_experts=4, vocab_size=256)
    with pytest.raises(UsageError, match="routes tokens to experts by their values"):
        profile_model("hf:mixtral", dp_shard=2, input=T, **moe)
    with pytest.raises(UsageError, match="ep= and dp_shard= together are not simulated"):
        profile_model("hf:mixtral", ep=2, dp_shard=2)
    assert not dist.is_initialized()


@pytest.mark.parametrize("argv, says", [
    (["--dp-shard", "2", "--tp", "2", "--rank", "4"], "--rank 4 is not a rank of --tp x --dp-shard (4 ranks)"),
    (["--dp-shard", "2", "--ep", "2"], "--ep and --dp-shard together are not simulated"),
    (["--dp-shard", "2", "--generate", "4"], "--dp-shard counts one forward pass or training step"),
    (["--tp", "2", "--param-dtype", "bfloat16"], "--param-dtype is FSDP's mixed precision: add --dp-shard M"),
])
def test_cli_refusals_exit_2_in_one_line(argv, says, capsys):
    from profiler.cli import main

    kwargs = [f"{k}={v}" for k, v in CFG.items()]
    assert _exit_code(main, ["hf:llama", "--input", str(T), "--kwargs", *kwargs, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]


def test_cli_names_the_layout_and_the_pass():
    from profiler.cli import main

    out = io.StringIO()
    kwargs = [f"{k}={v}" for k, v in CFG.items()]
    with contextlib.redirect_stdout(out):
        rc = main(["hf:llama", "--input", str(T), "--tp", "2", "--dp-shard", "2", "--rank", "3", "--train",
                   "--kwargs", *kwargs])
    assert rc == 0
    text = " ".join(out.getvalue().split())
    assert "rank 3 of tp=2 x dp_shard=2 (tensor-parallel rank 1, data-parallel rank 1)" in text
    assert "fake tensors on the CPU" in text and "reduce_scatter x3" in text
    assert not dist.is_initialized()


def test_comm_debug_mode_counts_the_same_collectives():
    """torch's CommDebugMode on the same layout's step (built here as profile_fsdp builds it, run on fake tensors)
    counts the same collectives per op as the profile; it has no bytes and no owning module."""
    import torch
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.debug import CommDebugMode

    from profiler.core.distributed import fake_simulation
    from profiler.zoo.build import build_model
    from profiler.zoo import sharded

    tp, dp = 2, 2
    prof = _profile(tp=tp, dp_shard=dp, rank=1, backward=True)
    ours: dict = {}
    for c in prof.communication:
        for op in c.ops:
            ours[op.split(".")[-1]] = ours.get(op.split(".")[-1], 0) + c.calls
    m = build_model("hf:llama", device="meta", **CFG).model
    with sharded.fake_group(tp * dp, 1, (dp, tp), ("dp_shard", "tp")) as mesh:
        sharded.shard(m, mesh["tp"], sharded.tp_plan(m, tp, "hf:llama"))
        for unit in sharded.fsdp_units(m, "hf:llama"):
            fully_shard(unit, mesh=mesh["dp_shard"])
        fully_shard(m, mesh=mesh["dp_shard"])
        with fake_simulation():
            m.to_empty(device="cpu")
            mode = CommDebugMode()
            with mode:
                m(torch.zeros(1, T, dtype=torch.long)).logits.sum().backward()
    theirs = {str(op).split(".")[-1]: n for op, n in mode.get_comm_counts().items() if n}
    assert ours == theirs, (ours, theirs)
    # per layer: forward and backward all-gathers, one reduce-scatter; the root one of each; the TP plan's
    # reductions and the gathered logits besides
    assert theirs["_reduce_scatter_base_"] == L + 1


def test_bfloat16_parameters_halve_the_all_gathers():
    """param_dtype="bfloat16" (FSDP's MixedPrecisionPolicy, gradients reduced in float32): every all-gather moves
    2-byte parameters, every reduce-scatter 4-byte gradients; the fake pass still equals the real one, and the
    cast of the shards to bfloat16 (one _foreach_copy_ per unshard) is a counted memory move."""
    tp, dp, rank = 2, 2, 1
    fake = _profile(tp=tp, dp_shard=dp, rank=rank, backward=True, param_dtype="bfloat16")
    real = _profile(tp=tp, dp_shard=dp, rank=rank, backward=True, param_dtype="bfloat16", device="cpu")
    assert fake.coverage == [] and [vars(c) for c in fake.communication] == [vars(c) for c in real.communication]
    assert fake.by_category == real.by_category
    fp32 = {(path, phase, kind): s for path, phase, kind, _, _, s, _, _ in _fsdp_comm(tp, dp)}
    got = {(c.path, c.phase, c.kind): c.bytes for c in fake.communication
           if c.group_size == dp and c.kind in ("all_gather", "reduce_scatter") and not c.path.startswith("lm_head")}
    assert got == {k: s // 2 if k[2] == "all_gather" else s for k, s in fp32.items()}
    casts = {(layer.path, phase): (st.calls, st.counts) for layer in fake.layers
             for phase, ops in layer.phase_ops().items() for name, st in ops.items() if name == "aten._foreach_copy_"}
    # each unshard casts this rank's padded shards: 1/dp of the padded unit
    want = {("", "forward"): (1, {"memory": _padded(_root_shapes(tp), dp) // dp})}
    for i in range(L):
        for phase in ("forward", "backward"):
            want[(f"model.layers.{i}", phase)] = (1, {"memory": _padded(_layer_shapes(tp), dp) // dp})
    assert casts == want
    from profiler.errors import UsageError

    with pytest.raises(UsageError, match="param_dtype is FSDP's mixed precision"):
        _profile(tp=2, param_dtype="bfloat16")
    with pytest.raises(UsageError, match="param_dtype must be one of"):
        _profile(dp_shard=2, param_dtype="int8")
