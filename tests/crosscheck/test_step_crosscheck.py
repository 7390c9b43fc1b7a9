"""A training step against torch's FlopCounterMode: equal where it has formulas, the rest named."""
import torch
import torch.nn as nn

from profiler.crosscheck.step import crosscheck_step


def test_cnn_step_agrees_to_the_flop():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3, groups=2),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).train()
    r = crosscheck_step(model, torch.randn(2, 3, 8, 8))
    # MACs at batch 2; backward: conv0's weight gradient only (the image needs none), the others both gradients
    conv0, conv3, fc = 2 * 8 * 27 * 64, 2 * 4 * 4 * 9 * 36, 2 * 144 * 5
    assert r["ours"] == 2 * (conv0 + conv3 + fc) + 2 * (conv0 + 2 * conv3 + 2 * fc)
    assert r["ours_by_phase"]["backward"] == 2 * (conv0 + 2 * conv3 + 2 * fc) and r["unit"] == "FLOPs"
    # FlopCounterMode's weight-gradient formula ignores groups: conv 3 (groups=2) counted twice over
    (item,) = r["explained"]
    assert item["layer"] == "3" and "ignores groups" in item["what"] and item["macs"] == (2 - 1) * 2 * conv3
    assert r["theirs"] == r["ours"] + item["macs"] and r["unexplained"] == 0


def test_depthwise_weight_gradient_overcount_scales_with_groups_and_vanishes_when_frozen():
    dw = nn.Conv2d(16, 16, 3, groups=16, bias=False)
    x = torch.randn(1, 16, 10, 10, requires_grad=True)
    r = crosscheck_step(dw, x)
    fwd = 16 * 9 * 64  # MACs
    assert r["ours"] == 2 * fwd * 3  # forward, input gradient, weight gradient
    assert r["theirs"] - r["ours"] == r["explained"][0]["macs"] == 15 * 2 * fwd and r["unexplained"] == 0
    dw.weight.requires_grad_(False)
    frozen = crosscheck_step(dw, x)
    assert frozen["theirs"] == frozen["ours"] == 2 * fwd * 2 and frozen["explained"] == []


def test_cpu_fused_attention_backward_is_named_with_its_flops():
    b, heads, t, d = 2, 4, 10, 64
    layer = nn.TransformerEncoderLayer(d, heads, 128, batch_first=True, dropout=0.0)
    r = crosscheck_step(layer, torch.randn(b, t, d))
    e = d // heads
    one = b * heads * t * t * e  # MACs of one attention-sized product
    items = {i["what"].split(":")[0]: i for i in r["explained"]}
    assert items["forward"]["macs"] == -2 * 2 * one  # QK^T and AV, 2 FLOPs per MAC, counted 0 by FlopCounterMode
    assert items["backward"]["macs"] == -2 * 5 * one  # dQ dK dV dP and the recomputed scores
    assert "_scaled_dot_product_flash_attention_for_cpu_backward" in items["backward"]["what"]
    assert items["backward"]["layer"] == "self_attn" and r["unexplained"] == 0
