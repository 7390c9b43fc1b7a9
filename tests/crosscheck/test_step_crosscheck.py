"""A training step against torch's FlopCounterMode: equal where it has formulas, the rest named."""
import torch
import torch.nn as nn

from profiler.crosscheck.step import crosscheck_step


def test_cnn_step_agrees_to_the_flop():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3, groups=4),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).train()
    r = crosscheck_step(model, torch.randn(2, 3, 8, 8))
    # forward 2 x MACs; backward: conv0 weight grad only (the image needs none), the others both gradients
    conv0, conv3, fc = 2 * 8 * 27 * 64, 2 * 4 * 2 * 9 * 36, 2 * 144 * 5
    assert r["theirs"] == r["ours"] == 2 * (conv0 + conv3 + fc) + 2 * (conv0 + 2 * conv3 + 2 * fc)
    assert r["explained"] == [] and r["unexplained"] == 0 and r["unit"] == "FLOPs"
    assert r["ours_by_phase"]["backward"] == 2 * (conv0 + 2 * conv3 + 2 * fc)


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
