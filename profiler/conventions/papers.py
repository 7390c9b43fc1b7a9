"""Conventions that reproduce how a particular paper or study counted its "FLOPs".

Registered when :mod:`profiler.conventions` is imported. Each convention's description says which published
rows it reproduces; ``crossnet`` (the CrossNet study's summary-table FLOPs: conv MACs + one op per ReLU
and residual-add element) is derived in docs/crossnet.md. Keep each registration self-contained.
"""
from __future__ import annotations

from profiler.conventions.registry import Convention, register_convention

CROSSNET = register_convention(Convention(
    "crossnet", "ops",
    "CrossNet study's FLOPs of its summary table (309M for crossnet58k5_b70e04g2): conv MACs (no bias, "
    "no FC) + one op per activation (ReLU) output element + one per residual-add element; published "
    "figures truncate to whole millions",
    {"conv": 1, "activation": 1, "elementwise": 1}))


# -- conventions of the published-figures registry (profiler/published/registry.yaml) ----------------------
CONV_MACS = register_convention(Convention(
    "conv_macs", "MACs",
    "multiply-accumulates of convolutions only (no FC/linear, no bias): the ShuffleNet paper's Table 1 "
    "complexities (g = 1, 2, 3, 4, 8 at 1x: 143, 140, 137, 133, 137 MFLOPs) exclude the classifier",
    {"conv": 1}))

# Evidence (seed tables, section C; torchvision/timm builds at 224, DarkNet-53 at 256, in G):
#   AlexNet conv 0.65557 + FC 0.05862 -> 2*conv + FC = 1.3698 (published 1.370; 2 x all MACs = 1.428)
#   VGG11/13/16/19 -> 15.094 / 22.493 / 30.817 / 39.141 (published 15.09 / 22.48 / 30.81 / 39.13)
#   DarkNet-53 -> 18.569 (published 18.58)
# i.e. a multiply-add is 2 ops in convolutions but 1 in fully connected layers (a counter that charges
# only the multiplies of an FC layer). Plain 2 x MACs misses AlexNet by +4.3%, whose FC layers are 8% of it.
FLOPS_CONV2_FC1 = register_convention(Convention(
    "flops_conv2_fc1", "FLOPs",
    "2 ops per multiply-accumulate of convolutions + 1 per multiply-accumulate of linear layers, bias and "
    "element ops not counted: reproduces the classic-network table (AlexNet 1.370 G, VGG 11-19, DarkNet-53) "
    "that 'counts a multiply-add as about 2'",
    {"conv": 2, "linear": 1, "attention": 2, "recurrent": 2}))
