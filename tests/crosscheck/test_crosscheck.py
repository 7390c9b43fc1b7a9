"""profiler.crosscheck: the peers' totals are what the peers return when run directly here, every
difference is named with its layer, and nothing is left unexplained on small models with known quirks."""
import warnings

import pytest
import torch
import torch.nn as nn

import profiler
from profiler.crosscheck.core import available_tools

from _peers import EXPECTED, check_contract, fvcore_total, independent, ptflops_total, small_cnn, thop_total, \
    torch_total, torchsummary_total

warnings.simplefilter("ignore")
X = torch.randn(1, 3, 16, 16)
INSTALLED = set(available_tools())


def need(*tools):
    return pytest.mark.skipif(not set(tools) <= INSTALLED, reason=f"needs {', '.join(tools)}")


@pytest.fixture(scope="module")
def cnn_result():
    return profiler.crosscheck(small_cnn(), X)


def test_every_installed_peer_ran(cnn_result):
    assert set(cnn_result) == INSTALLED, cnn_result.skipped
    check_contract(cnn_result)


@pytest.mark.parametrize("tool", ["ptflops", "ptflops_aten", "fvcore", "torch", "thop", "torchinfo", "torchsummary"])
def test_theirs_is_what_the_peer_returns(cnn_result, tool):
    if tool not in INSTALLED:
        pytest.skip(f"{tool} not installed")
    assert cnn_result[tool]["theirs"] == independent(tool, small_cnn(), X)


def test_ours_in_their_convention_is_the_hand_count(cnn_result):
    for tool, e in cnn_result.items():
        if tool in EXPECTED:
            assert e["ours"] == EXPECTED[tool], tool
    assert cnn_result["torchsummary"]["ours"] == 224 + 16 + 1152 + 32 + 170  # unique parameters


def test_small_cnn_fully_explained(cnn_result):
    assert all(e["unexplained"] == 0 for e in cnn_result.values()), \
        {t: (e["unexplained"], e.get("layers_unexplained")) for t, e in cnn_result.items()}


@need("ptflops")
def test_ptflops_double_counts_named(cnn_result):
    # nn.ReLU, nn.MaxPool2d and nn.AdaptiveAvgPool2d are hooked *and* call a patched F.*: counted twice
    # (ReLU6 calls F.hardtanh, which ptflops does not patch).
    items = {(i["layer"], i["macs"]) for i in cnn_result["ptflops"]["explained"] if "twice" in i["what"]}
    assert items == {("2", 2048), ("3", 2048), ("7", 1024)}


@need("ptflops")
def test_ptflops_batch_divides_hook_counts_only():
    # At batch 2 ptflops divides what its module hooks count by 2 but adds the patched F.relu / F.max_pool2d /
    # F.adaptive_avg_pool2d counts of both samples: each hooked layer's item is minus half its hook count.
    x = torch.randn(2, 3, 16, 16)
    r = profiler.crosscheck(small_cnn(), x, tools=["ptflops"])
    check_contract(r)
    e = r["ptflops"]
    assert e["ours"] == 2 * EXPECTED["ptflops"]
    assert e["theirs"] == ptflops_total(small_cnn(), x, "pytorch") == EXPECTED["ptflops"] + 2 * (2048 + 2048 + 1024)
    assert e["unexplained"] == 0 and e["layers_unexplained"] == []
    per_sample = {i["layer"]: i["macs"] for i in e["explained"] if "batch size (2)" in i["what"]}
    assert per_sample == {"0": -(55_296 + 2048), "1": -2 * 2048, "2": -2048, "3": -2048, "4": -73_728,
                          "5": -2 * 1024, "6": -1024, "7": -1024, "9": -170}


@need("torchinfo")
def test_torchinfo_counts_bn_parameters(cnn_result):
    # torchinfo: a non-conv leaf costs batch x parameters: BN(8) = 16, BN(16) = 32.
    items = {(i["layer"], i["macs"]) for i in cnn_result["torchinfo"]["explained"]}
    assert items == {("1", 16), ("5", 32)}


# -- attention ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vit():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    return timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=64, depth=1, num_heads=4, num_classes=10).eval()


@pytest.fixture(scope="module")
def vit_result(vit):
    return profiler.crosscheck(vit, torch.randn(1, 3, 32, 32))


def test_vit_attention_gap_named(vit, vit_result):
    check_contract(vit_result)
    # 16 patches + class token = 17 tokens, 4 heads of 16: QK^T + AV = 2 x 4 x 17 x 17 x 16 MACs.
    attn = 2 * 4 * 17 * 17 * 16
    for tool, unit in (("fvcore", 1), ("torch", 2), ("ptflops_aten", 1), ("thop", 1), ("torchinfo", 1)):
        if tool not in INSTALLED:
            continue
        gap = [i for i in vit_result[tool]["explained"] if "attention" in i["what"]]
        assert [(i["layer"], i["macs"]) for i in gap] == [("blocks.0.attn", -unit * attn)], tool
    assert all(e["unexplained"] == 0 for e in vit_result.values()), \
        {t: e.get("layers_unexplained") for t, e in vit_result.items() if e["unexplained"]}


@need("fvcore", "torch")
def test_vit_theirs_independent(vit, vit_result):
    x = torch.randn(1, 3, 32, 32)
    assert vit_result["fvcore"]["theirs"] == fvcore_total(vit, x)
    assert vit_result["torch"]["theirs"] == torch_total(vit, x)
    if "ptflops" in INSTALLED:
        assert vit_result["ptflops"]["theirs"] == ptflops_total(vit, x, "pytorch")


@need("ptflops")
def test_ptflops_hides_timm_attention_children(vit_result):
    # ptflops' timm-Attention hook replaces its children: qkv (17 x 64 x 192 + 17 x 192 bias) and proj
    # (17 x 64 x 64 + 17 x 64) are lost; the hook adds the q scaling, 17 x 64.
    items = {i["layer"]: i["macs"] for i in vit_result["ptflops"]["explained"]}
    assert items["blocks.0.attn.qkv"] == -(17 * 64 * 192 + 17 * 192)
    assert items["blocks.0.attn.proj"] == -(17 * 64 * 64 + 17 * 64)
    assert items["blocks.0.attn"] == 17 * 64


# -- miscounts and shared modules --------------------------------------------------------------------------
@need("thop", "torchinfo")
def test_transposed_conv_output_side():
    m = nn.Sequential(nn.ConvTranspose2d(4, 2, 3, stride=2, bias=False))
    x = torch.randn(1, 4, 5, 5)
    r = profiler.crosscheck(m, x, tools=["thop", "torchinfo", "fvcore"])
    check_contract(r)
    # Ours: 25 input positions x 4 x 2 x 9 = 1800 MACs. From the output side: 2 x 11 x 11 outputs x 4 x 9.
    assert r["fvcore"]["ours"] == r["fvcore"]["theirs"] == 1800
    assert r["thop"]["theirs"] == thop_total(m, x)[0] == 8712
    assert [(i["layer"], i["macs"]) for i in r["thop"]["explained"]] == [("0", 8712 - 1800)]
    # torchinfo: weight elements (72) x output positions (121).
    assert r["torchinfo"]["theirs"] == 72 * 121
    assert [(i["layer"], i["macs"]) for i in r["torchinfo"]["explained"]] == [("0", 72 * 121 - 1800)]
    assert r["thop"]["unexplained"] == r["torchinfo"]["unexplained"] == 0


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(torch.relu(self.fc(x)))


@need("torchsummary")
def test_shared_module_params_counted_per_call():
    m = Twice().eval()
    x = torch.randn(1, 8)
    r = profiler.crosscheck(m, x, tools=["torchsummary", "fvcore"])
    check_contract(r)
    assert r["torchsummary"]["ours"] == 72
    assert r["torchsummary"]["theirs"] == torchsummary_total(m, x) == 144
    assert [(i["layer"], i["macs"]) for i in r["torchsummary"]["explained"]] == [("fc", 72)]
    assert r["fvcore"]["theirs"] == r["fvcore"]["ours"] == 128  # both calls, 64 MACs each


def test_model_left_untouched():
    m = small_cnn().train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    attrs = {n: set(vars(mod)) for n, mod in m.named_modules()}
    profiler.crosscheck(m, X)
    assert m.training and all(mod.training for mod in m.modules())
    after = m.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert attrs == {n: set(vars(mod)) for n, mod in m.named_modules()}
    assert all(not mod._forward_hooks and not mod._forward_pre_hooks for mod in m.modules())
    # ptflops patches torch.nn.functional during its pass: it must be restored.
    assert torch.nn.functional.relu.__module__ == "torch.nn.functional"


def test_bad_tool_is_usage_error():
    from profiler.errors import UsageError
    with pytest.raises(UsageError, match="unknown crosscheck tool"):
        profiler.crosscheck(small_cnn(), X, tools=["nope"])
