"""Mixtures of experts: active parameters (what one token's forward uses) of small transformers configs against
closed forms written here from the config fields, and the tokens each expert received on a real CPU pass.

Models are built on meta (nothing allocated); the detection runs on the engine's own module tree, as in a pass.
"""
import warnings

import pytest
import torch
import torch.nn as nn

import profiler
from profiler.core import moe
from profiler.core.engine import _ModuleTree, _route_experts
from profiler.core.profile import Profile
from profiler.report.page import footer_items

transformers = pytest.importorskip("transformers")
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

TINY = dict(num_hidden_layers=4, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, vocab_size=128)


def _build(model_type: str, cls=AutoModelForCausalLM, **fields):
    cfg = AutoConfig.for_model(model_type, **fields)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return cfg, cls.from_config(cfg)


def _profile(model: nn.Module) -> Profile:
    """A Profile of ``model``'s module tree and routed experts, without a pass (the parameters are all it reads)."""
    tree = _ModuleTree(model)
    notes = _route_experts(model, tree)
    return Profile(model=type(model).__name__, inputs=[], convention="macs", layers=list(tree.layers.values()),
                   coverage=[], params_trainable=tree.trainable, params_frozen=tree.frozen, buffers=tree.buffers,
                   notes=notes)


def _check(model, inactive: int) -> Profile:
    p = _profile(model)
    assert p.params == sum(t.numel() for t in model.parameters())
    assert p.is_moe and not p.notes
    assert p.params_active == p.params - inactive
    return p


def test_mixtral():
    c, m = _build("mixtral", **TINY, intermediate_size=96, num_local_experts=4, num_experts_per_tok=2)
    d, ff, E, k = c.hidden_size, c.intermediate_size, c.num_local_experts, c.num_experts_per_tok
    p = _check(m, c.num_hidden_layers * (E - k) * 3 * d * ff)  # w1, w3, w2 of the E - k experts not routed to
    routed = [x for x in p.layers if x.routed]
    assert [x.path for x in routed] == [f"model.layers.{i}.mlp.experts" for i in range(c.num_hidden_layers)]
    assert all(x.routed == (E * 3 * d * ff, k, E) and x.params_active == k * 3 * d * ff for x in routed)


@pytest.mark.parametrize("step,dense", [(1, [1]), (2, []), (2, [3])])
def test_qwen3_moe_sparse_step_and_mlp_only_layers(step, dense):
    c, m = _build("qwen3_moe", **TINY, head_dim=16, intermediate_size=80, moe_intermediate_size=24, num_experts=8,
                  num_experts_per_tok=3, decoder_sparse_step=step, mlp_only_layers=dense)
    # transformers' rule: layer i has experts unless listed in mlp_only_layers, and only every step-th layer
    moe_layers = [i for i in range(c.num_hidden_layers) if i not in dense and (i + 1) % step == 0]
    E, k = c.num_experts, c.num_experts_per_tok
    p = _check(m, len(moe_layers) * (E - k) * 3 * c.hidden_size * c.moe_intermediate_size)
    assert [x.path for x in p.layers if x.routed] == [f"model.layers.{i}.mlp.experts" for i in moe_layers]


def test_qwen2_moe_shared_expert_always_active():
    c, m = _build("qwen2_moe", **TINY, intermediate_size=80, moe_intermediate_size=24,
                  shared_expert_intermediate_size=40, num_experts=6, num_experts_per_tok=2)
    E, k = c.num_experts, c.num_experts_per_tok
    p = _check(m, c.num_hidden_layers * (E - k) * 3 * c.hidden_size * c.moe_intermediate_size)
    assert not any(x.routed for x in p.layers if "shared_expert" in x.path)


def test_deepseek_v3_dense_first_layers_and_shared_experts():
    c, m = _build("deepseek_v3", **TINY, intermediate_size=80, moe_intermediate_size=16, n_routed_experts=8,
                  n_shared_experts=2, num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=1,
                  q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=16)
    E, k = c.n_routed_experts, c.num_experts_per_tok
    moe_layers = c.num_hidden_layers - c.first_k_dense_replace
    p = _check(m, moe_layers * (E - k) * 3 * c.hidden_size * c.moe_intermediate_size)
    assert not any(x.routed for x in p.layers if "shared_experts" in x.path or ".0." in x.path)


def test_gpt_oss_experts_with_biases():
    c, m = _build("gpt_oss", **TINY, head_dim=16, intermediate_size=32, num_local_experts=8, num_experts_per_tok=2,
                  layer_types=["full_attention"] * 4)
    d, ff, E, k = c.hidden_size, c.intermediate_size, c.num_local_experts, c.num_experts_per_tok
    expert = d * 2 * ff + 2 * ff + ff * d + d  # gate_up weight and bias, down weight and bias
    _check(m, c.num_hidden_layers * (E - k) * expert)


def test_olmoe():
    c, m = _build("olmoe", **TINY, intermediate_size=32, num_experts=8, num_experts_per_tok=4)
    E, k = c.num_experts, c.num_experts_per_tok
    _check(m, c.num_hidden_layers * (E - k) * 3 * c.hidden_size * c.intermediate_size)


def test_switch_transformers_experts_as_a_module_dict():
    from transformers import AutoModelForSeq2SeqLM

    c, m = _build("switch_transformers", AutoModelForSeq2SeqLM, d_model=32, d_ff=48, d_kv=8, num_heads=4,
                  num_layers=2, num_decoder_layers=2, num_sparse_encoder_layers=2, num_sparse_decoder_layers=1,
                  num_experts=4, vocab_size=64)
    # transformers' rule: step = layers // sparse layers; layer i has experts when i % step == 1 or step == 1
    sparse = 0
    for layers, n_sparse in ((c.num_layers, 2), (c.num_decoder_layers, 1)):
        step = layers // n_sparse
        sparse += sum(i % step == 1 or step == 1 for i in range(layers))
    E, k = c.num_experts, 1  # Switch routes every token to one expert (its Top1Router)
    p = _check(m, sparse * (E - k) * 2 * c.d_model * c.d_ff)  # wi, wo of each expert, no bias
    assert {x.routed[1:] for x in p.layers if x.routed} == {(k, E)}
    assert all(x.type == "Linear" for x in p.layers if x.routed)  # each expert's own layers, not the dict


def test_dense_model_has_every_parameter_active():
    _, m = _build("llama", **TINY, intermediate_size=96)
    p = _profile(m)
    assert not p.is_moe and not p.notes and p.params_active == p.params > 0
    assert "active" not in dict(footer_items(p))["total"]


class _Experts(nn.Module):
    """Experts stacked per expert, as transformers 5 keeps them, with nothing saying how many a token uses."""

    def __init__(self, n=None):
        super().__init__()
        if n is not None:
            self.num_experts = n
        self.gate_up_proj = nn.Parameter(torch.empty(4, 16, 8, device="meta"))


class _Block(nn.Module):
    def __init__(self, n=None):
        super().__init__()
        self.experts = _Experts(n)


@pytest.mark.parametrize("n,said", [(4, "no readable top-k"), (None, "no number of experts fitting its parameters")])
def test_experts_without_e_or_k_get_a_note_and_count_as_active(n, said):
    p = _profile(_Block(n))
    assert p.params_active == p.params == 4 * 16 * 8 and not p.is_moe
    assert len(p.notes) == 1 and "'experts'" in p.notes[0] and said in p.notes[0]


def test_candidates_are_found_by_attribute_or_name():
    assert moe.is_candidate("mlp.experts", nn.Module()) and moe.is_candidate("x", _Experts(4))
    assert not moe.is_candidate("mlp.shared_expert", nn.Linear(2, 2)) and not moe.is_candidate("x", _Experts())
    _, m = _build("qwen2_moe", **TINY, intermediate_size=80, moe_intermediate_size=24,
                  shared_expert_intermediate_size=40, num_experts=6, num_experts_per_tok=2)
    # the engine's tree walk hands these to routed_experts
    assert _ModuleTree(m).experts == [(p, x) for p, x in m.named_modules() if moe.is_candidate(p, x)] != []


# -- a real pass: the tokens each expert received ---------------------------------------------------------------
SMALL = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2,
             vocab_size=256, num_local_experts=4, num_experts_per_tok=2)
TOKENS = 16


@pytest.fixture(scope="module")
def mixtral_cpu():
    torch.manual_seed(0)
    return profiler.profile_model("hf:mixtral", input=TOKENS, device="cpu", **SMALL)


@pytest.fixture(scope="module")
def mixtral_meta():
    return profiler.profile_model("hf:mixtral", input=TOKENS, device="meta", **SMALL)


def test_expert_tokens_of_a_real_pass_sum_to_tokens_times_top_k(mixtral_cpu):
    E, k, L = SMALL["num_local_experts"], SMALL["num_experts_per_tok"], SMALL["num_hidden_layers"]
    got = {x.path: x.expert_tokens for x in mixtral_cpu.layers if x.expert_tokens}
    assert list(got) == [f"model.layers.{i}.mlp.experts" for i in range(L)]
    assert all(len(t) == E and sum(t) == TOKENS * k and min(t) >= 0 for t in got.values())
    doc = mixtral_cpu.to_dict()
    assert doc["expert_tokens"] == got
    line = dict(footer_items(mixtral_cpu))["experts"]
    assert f"in {L} layer(s)" in line and f"of {L * E} experts got none" in line


def test_meta_has_no_expert_tokens_and_the_same_active_params(mixtral_meta, mixtral_cpu):
    assert not any(x.expert_tokens for x in mixtral_meta.layers) and "expert_tokens" not in mixtral_meta.to_dict()
    assert "experts" not in dict(footer_items(mixtral_meta))
    d, ff, E, k, L = (SMALL[f] for f in ("hidden_size", "intermediate_size", "num_local_experts",
                                         "num_experts_per_tok", "num_hidden_layers"))
    inactive = L * (E - k) * 3 * d * ff
    assert mixtral_meta.params_active == mixtral_cpu.params_active == mixtral_meta.params - inactive


@pytest.mark.parametrize("depth", [None, 2, 4])
def test_json_params_active_per_record_adds_up(mixtral_meta, depth):
    doc = mixtral_meta.to_dict(depth=depth)
    assert doc["params_active"] == mixtral_meta.params_active < doc["params"]
    assert all("params_active" in r for r in doc["layers"])
    assert sum(r["params_active"] for r in doc["layers"]) == doc["params_active"]
    d, ff, k = SMALL["hidden_size"], SMALL["intermediate_size"], SMALL["num_experts_per_tok"]
    if depth is None:  # the experts module itself: k of its experts
        rec = {r["path"]: r for r in doc["layers"]}["model.layers.0.mlp.experts"]
        assert rec["params_active"] == k * 3 * d * ff


def test_json_params_active_with_an_other_modules_row(mixtral_meta):
    doc = mixtral_meta.to_dict(depth=4, top=3)
    assert doc["layers"][-1]["other"]
    assert sum(r["params_active"] for r in doc["layers"]) == doc["params_active"]


def test_totals_line_states_active_params_for_moe(mixtral_meta):
    total = dict(footer_items(mixtral_meta))["total"]
    assert f"{mixtral_meta.params_active:,} = " in total and "active params (what one token uses" in total


@pytest.mark.parametrize("impl", ["eager", "batched_mm"])
def test_experts_implementations_without_offsets_give_no_token_counts(impl, mixtral_meta):
    p = profiler.profile_model("hf:mixtral", input=TOKENS, device="cpu", experts_implementation=impl, **SMALL)
    assert not any(x.expert_tokens for x in p.layers) and "experts" not in dict(footer_items(p))
    assert p.params_active == mixtral_meta.params_active < p.params
