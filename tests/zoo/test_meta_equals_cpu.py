"""The meta pass against an independent real one: for a fixed sample of models of timm, torchvision, pytorchcv
and ``hf:``, ``profile_model(device="meta")`` and ``profile_model(device="cpu")`` (the architecture built twice,
the same input) must give the same JSON document (``Profile.to_dict()``): the totals, per category and under
every registered convention, the coverage, and per layer (path) the counts per category, calls, input and
output shapes, parameters and every other field. Only ``device``, ``pass``, ``build`` and ``notes`` say how a
document was made and are left out. The expected values are always those of the CPU pass, which runs the model's
real kernels on real tensors: nothing here is pinned from a meta count.

Inputs are small so that the CPU pass is cheap: 64 pixels for a network that takes any size, the zoo's own
size for one that does not (a learned position table, a window, a fixed final pooling, pytorchcv's CIFAR
networks at 32), 16 tokens for a language model, and ``hf:`` configs shrunk through their fields (2 layers, width
64, a vocabulary of 1000) as ``--kwargs`` shrinks them.

Models whose documents differ are listed with the cause. :data:`KNOWN_BUGS`: a discrepancy of the meta path
itself (an op that takes another path on meta, a copy only the meta pass makes, a value read a shim could
answer): they run as strict xfails, so that the fix turns them red until they move back to the sample.
:data:`EXPECTED_DIFFERENT`: the cost, or the code that runs, depends on the values (detection NMS, routing
counts per expert, keypoints kept, data-dependent control flow) or the model runs only on the CPU: for those
``device="auto"`` must fall back to a real pass (and then equal the CPU pass) or carry a note naming the cause.

About 70-110 s on two cores (single-threaded passes); ``PROFILER_SLOW_TESTS=1`` adds two full-size passes of
several seconds each. ``benchmarks/meta_vs_cpu.py`` runs the same comparison on 300+ models.
"""
import os
import re
import warnings

import pytest
import torch

from profiler.conventions import list_conventions
from profiler.core.engine import ProfilingError
from profiler.errors import UsageError
from profiler.zoo.build import profile_model

warnings.filterwarnings("ignore")
slow = pytest.mark.skipif(not os.environ.get("PROFILER_SLOW_TESTS"),
                          reason="a CPU build and pass of several seconds: set PROFILER_SLOW_TESTS=1")

#: Document keys that say how a document was made, not what it counts.
HOW = ("device", "pass", "build", "notes")


# -- the sample -----------------------------------------------------------------------------------------------
def _at(zoo: str, size, names: str, **kwargs) -> dict:
    return {f"{zoo}:{n}": (size, kwargs) for n in names.split()}


# A shrunk config's special token ids must lie inside its vocabulary of 1000 (phi3, Marian, Whisper ... default
# to ids past it, and their embeddings refuse a padding index out of range).
_DECODER = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=1000)
_ENCODER = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, vocab_size=1000)
_GPT = dict(n_layer=2, n_embd=64, n_head=4, vocab_size=1000)
_BART = dict(encoder_layers=2, decoder_layers=2, d_model=64, encoder_ffn_dim=128, decoder_ffn_dim=128,
             encoder_attention_heads=4, decoder_attention_heads=4, vocab_size=1000, pad_token_id=0,
             decoder_start_token_id=0)
_T5 = dict(num_layers=2, num_decoder_layers=2, d_model=64, d_ff=128, num_heads=4, d_kv=16, vocab_size=1000)
_VIT = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, image_size=64,
            patch_size=16)
_STAGES = dict(depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 128])
_TOWER = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4)
_MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)

HF = {
    # decoders (causal LM head)
    "hf:gpt2": (16, _GPT), "hf:gpt_bigcode": (16, _GPT), "hf:openai-gpt": (16, _GPT),
    "hf:gptj": (16, dict(_GPT, rotary_dim=8)), "hf:codegen": (16, dict(_GPT, rotary_dim=8)),
    "hf:llama": (16, dict(_DECODER, head_dim=16)), "hf:qwen2": (16, _DECODER),
    "hf:qwen3": (16, dict(_DECODER, head_dim=16)), "hf:gemma": (16, dict(_DECODER, head_dim=16)),
    "hf:phi": (16, _DECODER), "hf:phi3": (16, dict(_DECODER, pad_token_id=0)),
    "hf:smollm3": (16, dict(_DECODER, pad_token_id=0)), "hf:olmo2": (16, _DECODER), "hf:cohere": (16, _DECODER),
    "hf:starcoder2": (16, _DECODER), "hf:gpt_neox": (16, _ENCODER),
    "hf:opt": (16, dict(num_hidden_layers=2, hidden_size=64, ffn_dim=128, num_attention_heads=4, vocab_size=1000,
                        word_embed_proj_dim=64)),
    "hf:bloom": (16, dict(n_layer=2, hidden_size=64, n_head=4, vocab_size=1000)),
    "hf:falcon": (16, dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, vocab_size=1000)),
    "hf:mpt": (16, dict(n_layers=2, d_model=64, n_heads=4, vocab_size=1000, expansion_ratio=2)),
    "hf:rwkv": (16, dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, vocab_size=1000,
                         attention_hidden_size=64)),
    # encoders (base model)
    "hf:bert": (16, _ENCODER), "hf:roberta": (16, _ENCODER), "hf:xlm-roberta": (16, _ENCODER),
    "hf:mpnet": (16, _ENCODER), "hf:electra": (16, dict(_ENCODER, embedding_size=32)),
    "hf:albert": (16, dict(_ENCODER, embedding_size=32)),
    "hf:distilbert": (16, dict(n_layers=2, dim=64, hidden_dim=128, n_heads=4, vocab_size=1000)),
    "hf:mobilebert": (16, dict(_ENCODER, embedding_size=32, intra_bottleneck_size=32, true_hidden_size=32)),
    "hf:xlnet": (16, dict(n_layer=2, d_model=64, n_head=4, d_inner=128, vocab_size=1000)),
    # encoder-decoders (seq2seq LM head; Whisper on 2 x 64 frames of 16 mel bins)
    "hf:t5": (16, _T5), "hf:mt5": (16, _T5), "hf:bart": (16, _BART), "hf:mbart": (16, _BART),
    "hf:pegasus": (16, _BART), "hf:marian": (16, dict(_BART, decoder_vocab_size=1000)),
    "hf:prophetnet": (16, dict(num_encoder_layers=2, num_decoder_layers=2, hidden_size=64, encoder_ffn_dim=128,
                               decoder_ffn_dim=128, num_encoder_attention_heads=4, num_decoder_attention_heads=4,
                               vocab_size=1000, pad_token_id=0)),
    "hf:whisper": (16, dict(_BART, max_source_positions=64, num_mel_bins=16, bos_token_id=1, eos_token_id=2,
                            decoder_start_token_id=1)),
    # routed experts without grouped matmuls: nothing of the routing reaches the document
    "hf:nllb-moe": (16, dict(_BART, num_experts=4, expert_capacity=8)),
    # vision (pixel_values at the config's 64 pixels) and two-tower text and image models
    "hf:vit": (None, _VIT), "hf:deit": (None, _VIT), "hf:beit": (None, _VIT),
    "hf:dinov2": (None, dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, image_size=64, patch_size=16)),
    "hf:convnext": (None, dict(_STAGES, image_size=64)),
    "hf:swin": (None, dict(depths=[1, 1], num_heads=[2, 4], embed_dim=32, image_size=64, window_size=4)),
    "hf:mobilenet_v2": (None, dict(depth_multiplier=0.35, image_size=64)),
    "hf:resnet": (None, dict(depths=[1, 1, 1, 1], hidden_sizes=[32, 64, 128, 256], embedding_size=16)),
    "hf:clip": (16, dict(text_config=dict(_TOWER, vocab_size=1000), projection_dim=32,
                         vision_config=dict(_TOWER, image_size=64, patch_size=16))),
    "hf:siglip": (16, dict(text_config=dict(_TOWER, vocab_size=1000),
                           vision_config=dict(_TOWER, image_size=64, patch_size=16))),
}

CASES = {
    # timm: timm's own test networks, then small members of ~60 families
    **_at("timm", 64, "test_byobnet test_convnext test_efficientnet test_efficientnet_gn test_efficientnet_ln "
                      "test_mambaout test_nfnet test_resnet test_vit test_vit2 test_vit4"),
    **_at("timm", None, "test_coatnet test_maxvit test_vit3 test_vit_relpos"),
    **_at("timm", 64, "resnet18 resnet10t resnext26ts resnetv2_18 legacy_seresnet18 resnest14d skresnet18 "
                      "efficientnet_b0 efficientnet_lite0 tinynet_e mobilenetv3_small_050 mobilenetv3_large_100 "
                      "mobilenetv2_050 mobilenetv4_conv_small mobilenetv1_100 mnasnet_050 spnasnet_100 "
                      "hardcorenas_a lcnet_050 convnext_atto convnextv2_atto regnetx_002 regnety_002 regnetz_005 "
                      "mixnet_s ghostnet_050 ghostnetv2_100 repghostnet_050 mobilevit_xxs mobilevitv2_050 "
                      "poolformer_s12 cs3darknet_focus_s dla46x_c densenet121 hrnet_w18_small edgenext_xx_small "
                      "efficientvit_b0 efficientvit_m0 fastvit_t8 fasternet_t0 hgnetv2_b0 pvt_v2_b0 repvit_m0_9 "
                      "rexnet_100 starnet_s050 swiftformer_xs xcit_nano_12_p16_224 inception_next_atto shvit_s1"),
    **_at("timm", None, "vit_tiny_patch16_224 deit_tiny_patch16_224 deit_tiny_distilled_patch16_224 "
                        "swin_tiny_patch4_window7_224 levit_128s coat_lite_tiny efficientformerv2_s0 "
                        "eva02_tiny_patch14_224 pit_ti_224 gmlp_ti16_224 vit_tiny_r_s16_p8_224 convit_tiny"),
    **_at("timm", 64, "sequencer2d_s samvit_base_patch16_224"),
    # torchvision: classification, segmentation, quantized, video on 4 frames of 56 pixels, optical flow, detection
    **_at("torchvision", 64, "resnet18 resnet50 resnext50_32x4d alexnet squeezenet1_0 squeezenet1_1 densenet121 "
                             "googlenet mobilenet_v2 mobilenet_v3_small mobilenet_v3_large mnasnet0_5 mnasnet1_0 "
                             "shufflenet_v2_x0_5 shufflenet_v2_x1_0 efficientnet_b0 efficientnet_b1 efficientnet_v2_s "
                             "regnet_x_400mf regnet_y_400mf regnet_x_800mf regnet_y_800mf convnext_tiny swin_t "
                             "lraspp_mobilenet_v3_large deeplabv3_mobilenet_v3_large fcn_resnet50 "
                             "quantized_mobilenet_v2 quantized_mobilenet_v3_large quantized_resnet18 "
                             "quantized_shufflenet_v2_x0_5 quantized_googlenet"),
    **_at("torchvision", None, "inception_v3 maxvit_t"),
    **_at("torchvision", (3, 4, 56, 56), "r3d_18 mc3_18 r2plus1d_18"),
    **_at("torchvision", 128, "raft_small"),
    **_at("torchvision", None, "vit_b_32", image_size=64),
    **_at("torchvision", 128, "ssdlite320_mobilenet_v3_large fasterrcnn_mobilenet_v3_large_320_fpn"),
    # pytorchcv: CIFAR/SVHN networks at their 32 pixels, ImageNet ones at their size (a fixed final pooling),
    # segmentation and pose networks at 64, a network of fixed inputs (audio windows and a subject id)
    **_at("pytorchcv", None, "resnet20_cifar10 preresnet20_cifar10 densenet40_k12_bc_cifar10 "
                             "resnext20_32x2d_cifar10 seresnet20_svhn pyramidnet110_a48_cifar10 "
                             "shakeshakeresnet20_2x16d_cifar10 shakedropresnet20_cifar10 resdropresnet20_cifar10 "
                             "ror3_56_cifar10 diaresnet20_cifar10 msdnet22_cifar10 "
                             "mobilenet_wd4_cub shufflenet_g1_wd4 shufflenetv2_wd2 menet108_8x1_g3 sqnxt23_w1 "
                             "squeezenet_v1_1 igcv3_wd4 espnetv2_wd2 mnasnet_small ghostnet peleenet "
                             "condensenet74_c8_g8 channelnet proxylessnas_mobile_cub fbnet_cb revnet38 octresnet10_ad2 "
                             "nvpattexp116bazel76 voca8flame xdensenet40_2_k24_bc_cifar10 "
                             "simplepose_mobile_mobilenetv3_small_w1_coco visemenet20"),
    **_at("pytorchcv", 64, "nin_cifar10 resneta10 regnetx002 efficientnet_b0 dicenet_wd5 fpenet_cityscapes "
                           "espcnet_cityscapes cgnet_cityscapes lwopenpose2d_mobilenet_cmupan_coco "
                           "centernet_resnet18_voc"),
    **_at("pytorchcv", (1, 64, 64), "superpointnet"),
    # hf: the sample above; the models below differ (see KNOWN_BUGS and EXPECTED_DIFFERENT)
    **HF,
    "hf:mistral": (16, dict(_DECODER, head_dim=16)),
    "hf:mamba": (16, dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, vocab_size=1000, state_size=8)),
    "hf:longt5": (16, _T5),
    "hf:vit_mae": (None, dict(_VIT, decoder_num_hidden_layers=1, decoder_hidden_size=32, decoder_intermediate_size=64,
                              decoder_num_attention_heads=2)),
    "hf:deberta": (16, _ENCODER), "hf:deberta-v2": (16, _ENCODER),
    "hf:roformer": (16, dict(_ENCODER, embedding_size=64)),
    "hf:mixtral": (16, dict(_DECODER, num_local_experts=4, num_experts_per_tok=2, head_dim=16)),
    "hf:qwen2_moe": (16, dict(_DECODER, **_MOE, shared_expert_intermediate_size=64)),
    "hf:qwen3_moe": (16, dict(_DECODER, **_MOE)),
    "hf:olmoe": (16, dict(_DECODER, num_experts=4, num_experts_per_tok=2)),
    "hf:deepseek_v3": (16, dict(_DECODER, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=16, qk_rope_head_dim=8,
                                qk_nope_head_dim=8, v_head_dim=16, n_group=1, topk_group=1, n_shared_experts=1)),
    "hf:switch_transformers": (16, dict(_T5, num_experts=4, expert_capacity=8, num_sparse_encoder_layers=1,
                                        num_sparse_decoder_layers=1)),
    "hf:longformer": (16, dict(_ENCODER, attention_window=[8, 8])),
    "hf:led": (16, dict(_BART, attention_window=8)),
    # larger CPU builds (60-130 M parameters) and full-size passes
    **_at("torchvision", 64, "vgg11 wide_resnet50_2 resnet34 deeplabv3_resnet50"),
    **_at("torchvision", None, "mvit_v2_s s3d"),
    **_at("timm", None, "beit_base_patch16_224 cait_xxs24_224 swinv2_cr_tiny_224"),
    **_at("pytorchcv", None, "ntsnet_cub"),
}
#: Full-size passes (16 frames of 224 pixels, a 448-pixel image through NTS-Net twice): 3-4 s each on an idle
#: machine, several times that on a loaded one.
SLOW = {"torchvision:mvit_v2_s", "pytorchcv:ntsnet_cub"}

#: Discrepancies of our meta path: the documents could be equal and are not (strict xfails).
KNOWN_BUGS: dict[str, str] = {}

_ROUTING = ("routed experts (grouped matmuls): a real pass adds expert_tokens, the tokens each expert received, "
            "which depend on the router's values; every count and per-layer record is the same")
_BALANCED = ("capacity-limited routing: its experts run on the tokens routed to them (torch.nonzero on the router's "
             "choices), at most expert_capacity each; meta works the choices out as a balanced round robin, which "
             "drops no token, where a real pass of random weights drops some: the experts' counts differ, and auto "
             "stays on meta with the note saying so")
#: The models whose meta document cannot equal a real pass's, and why.
EXPECTED_DIFFERENT = {
    "torchvision:ssdlite320_mobilenet_v3_large": "detection post-processing: score threshold, top-k and NMS keep a "
                                                 "data-dependent number of boxes (meta is refused)",
    "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn": "the box head runs on the proposals the RPN keeps after "
                                                         "NMS: a data-dependent count (meta is refused)",
    "pytorchcv:superpointnet": "keypoints kept by a score threshold (torch.nonzero): a data-dependent count",
    "pytorchcv:simplepose_mobile_mobilenetv3_small_w1_coco": "HeatmapMaxDetBlock reads the heatmaps' values "
                                                             "(.item()) to place keypoints",
    "pytorchcv:ntsnet_cub": "region proposals chosen by NMS on the CPU (numpy): a data-dependent set",
    "pytorchcv:visemenet20": "its forward concatenates torch.zeros made on the CPU with its activations: the model "
                             "runs only with its inputs on the CPU",
    "hf:switch_transformers": _BALANCED,
    "hf:mixtral": _ROUTING, "hf:qwen2_moe": _ROUTING, "hf:qwen3_moe": _ROUTING, "hf:olmoe": _ROUTING,
    "hf:deepseek_v3": _ROUTING,
}
#: Entries whose meta pass runs and differs only by ``expert_tokens``; auto keeps them on meta, without a note.
ROUTED = {name for name, cause in EXPECTED_DIFFERENT.items() if cause is _ROUTING}
#: Entries whose meta pass runs with balanced routing choices (meta_shims.routing_values); auto keeps them on meta.
BALANCED = {name for name, cause in EXPECTED_DIFFERENT.items() if cause is _BALANCED}

SAMPLE = [name for name in CASES if name not in EXPECTED_DIFFERENT]


def _param(name: str):
    marks = [slow] if name in SLOW else []
    if name in KNOWN_BUGS:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name]))
    return pytest.param(name, marks=marks, id=name)


# -- the comparison -------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Intra-op threads competing with other processes on a shared two-core machine made a 64-pixel ResNet-18
    # pass 30 times slower (1 s, not 30 ms); the counts do not depend on them.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def document(prof) -> dict:
    """The JSON document, plus the total under every registered convention (the peer conventions weigh
    some ops by name: an op that takes another path on meta could change those totals alone)."""
    doc = prof.to_dict()
    doc["totals"] = {c.name: prof.total(c) for c in list_conventions()}
    return doc


def profiled(name: str, device: str):
    size, kwargs = CASES[name]
    # profile_model seeds the weights, but a plain tensor input is drawn by the engine from the global generator:
    # the same state for every pass, or a data-dependent model (superpointnet) keeps another number of keypoints.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return profile_model(name, input=size, device=device, **kwargs)


def documents(name: str, device: str) -> dict:
    return document(profiled(name, device))


def _short(v, n: int = 160) -> str:
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


def differences(meta, cpu, where: str = "") -> list[str]:
    """Where two documents differ, one line each (key path, the meta and the CPU values); [] when equal.
    Layers are matched by path; the keys of :data:`HOW` are not compared."""
    if isinstance(meta, dict) and isinstance(cpu, dict):
        out = []
        for key in [*meta, *(k for k in cpu if k not in meta)]:
            if not where and key in HOW:
                continue
            if key not in meta or key not in cpu:
                side = "meta" if key in meta else "cpu"
                out.append(f"{where}{key}: only on {side}: {_short(meta.get(key, cpu.get(key)))}")
            elif not where and key == "layers":
                out += layer_differences(meta[key], cpu[key])
            else:
                out += differences(meta[key], cpu[key], f"{where}{key}.")
        return out
    return [] if meta == cpu else [f"{where[:-1]}: meta {_short(meta)} != cpu {_short(cpu)}"]


def layer_differences(meta: list, cpu: list) -> list[str]:
    m, c = {r["path"]: r for r in meta}, {r["path"]: r for r in cpu}
    out = [f"layer {p!r}: only on {side}" for side, a, b in (("meta", m, c), ("cpu", c, m)) for p in a if p not in b]
    if [p for p in m if p in c] != [p for p in c if p in m]:
        out.append("layers: in another order")
    for path in m.keys() & c.keys():
        out += differences(m[path], c[path], f"layer {path!r} ")
    return sorted(out)


@pytest.mark.parametrize("name", [_param(n) for n in SAMPLE])
def test_meta_document_equals_the_cpu_pass(name):
    cpu = documents(name, "cpu")
    meta = documents(name, "meta")
    assert meta["device"] == "meta" and cpu["device"] == "cpu"
    diffs = differences(meta, cpu)
    assert not diffs, f"{len(diffs)} differences:\n" + "\n".join(diffs[:30])


def _expected_param(name: str):
    marks = [slow] if name in SLOW else []
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_expected_param(n) for n in EXPECTED_DIFFERENT])
def test_where_meta_cannot_match_auto_falls_back_to_the_real_pass(name):
    cpu = documents(name, "cpu")
    try:
        meta = documents(name, "meta")
    except (UsageError, ProfilingError):
        meta = None
    auto = profiled(name, "auto")
    if name in BALANCED:
        # The meta pass runs with balanced choices: every token reaches its experts, a real pass drops some past
        # the capacity. Only the experts' own records differ (and what adds them up: totals, shares, inclusive).
        layers = [d for d in differences(meta, cpu) if d.startswith("layer ")]
        own = [d for d in layers if not re.search(r"' (macs_pct|\w+_inclusive|params_pct):", d)]
        assert own and all(".experts" in d.split("'")[1] for d in own), own[:10]
        assert meta["macs"] >= cpu["macs"]  # an upper bound: no token dropped
        assert auto.device == "meta" and any("capacity limit drops no token" in n for n in auto.notes), auto.notes
        assert not any("every count is exact" in n for n in auto.notes), auto.notes  # not under a capacity limit
        return
    if name in ROUTED:
        # The meta pass runs: its document differs by the routing data alone.
        diffs = differences(meta, cpu)
        assert diffs and all(d.startswith("expert_tokens: only on cpu") for d in diffs), diffs
        assert auto.device == "meta" and not differences(document(auto), meta)
        return
    assert meta is None, f"{name}'s meta pass runs now: compare it (move it to the sample) or say why it differs"
    # The fallback is the real pass: with the same seeded weights and inputs, the very document of device="cpu".
    assert auto.device == "cpu"
    assert any("counted on real tensors on the CPU" in n for n in auto.notes), auto.notes
    assert not differences(document(auto), cpu)


@pytest.mark.parametrize("name", sorted(ROUTED))
def test_auto_says_when_routing_counts_are_missing(name):
    auto = profiled(name, "auto")
    assert any("expert" in n and "meta" in n for n in auto.notes), auto.notes


def test_the_sample_spans_the_zoos():
    """At least 150 models are compared by default, from every zoo, and every listed difference has a cause
    and is a model of the file."""
    default = [n for n in SAMPLE if n not in SLOW and n not in KNOWN_BUGS]
    assert len(default) >= 150, len(default)
    zoos = {z: sum(n.startswith(z + ":") for n in default) for z in ("timm", "torchvision", "pytorchcv", "hf")}
    assert min(zoos.values()) >= 20, zoos
    for listed in (KNOWN_BUGS, EXPECTED_DIFFERENT):
        assert set(listed) <= set(CASES) and all(isinstance(c, str) and c for c in listed.values())
    assert not set(KNOWN_BUGS) & set(EXPECTED_DIFFERENT)
