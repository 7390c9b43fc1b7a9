"""Memory rules: data movement costs 0 MACs; the count is the number of elements moved."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from _opcount import counts, MAC_CATEGORIES


def no_macs(c):
    assert not any(c[k] for k in MAC_CATEGORIES), c


def test_embedding_is_zero_macs():
    emb = nn.Embedding(100, 16)
    idx = torch.randint(0, 100, (4, 7))
    c = counts(emb, idx)
    no_macs(c)
    assert c["memory"] == 4 * 7 * 16


def test_embedding_bag_is_zero_macs():
    c = counts(nn.EmbeddingBag(10, 4, mode="sum"), torch.tensor([1, 2, 3, 4]), torch.tensor([0, 2]))
    no_macs(c)


def test_shuffles_and_concatenation():
    x = torch.randn(1, 8, 4, 4)
    c = counts(lambda t: torch.cat([t, t], 1), x)
    no_macs(c)
    assert c["memory"] == 2 * x.numel()
    assert counts(nn.PixelShuffle(2), x)["memory"] == x.numel()
    assert counts(nn.ChannelShuffle(2), x)["memory"] == x.numel()
    c = counts(lambda t: F.pad(t, (1, 1, 1, 1)), x)
    no_macs(c)
    assert c["memory"] == 8 * 6 * 6


def test_views_are_free():
    x = torch.randn(2, 3, 4)
    c = counts(lambda t: t.view(6, 4).t().reshape(4, 6).unsqueeze(0).permute(0, 2, 1), x)
    assert sum(c.values()) == 0


def test_max_unpool_and_embedding_max_norm():
    x = torch.randn(1, 2, 4, 4)
    c = counts(lambda t: F.max_unpool2d(*F.max_pool2d(t, 2, return_indices=True), 2), x)
    no_macs(c)
    assert c["memory"] == x.numel()  # the scatter back to 4x4
    emb = nn.Embedding(10, 4, max_norm=1.0)
    c = counts(emb, torch.tensor([1, 2, 3]))
    no_macs(c)
    assert c["norm"] == 12  # the looked-up rows are renormalised


def test_masked_scatter_moves_every_output_element():
    # Higgs-Audio puts audio embeddings into the token embeddings' masked rows: the result is a (4, 6) tensor
    # written whole (the unmasked elements copied from the input, the masked ones taken from the source)
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[1] = True
    c = counts(lambda t: t.masked_scatter(mask, torch.ones(6)), torch.randn(4, 6))
    no_macs(c)
    assert c["memory"] == 4 * 6
