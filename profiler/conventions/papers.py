"""Conventions that reproduce how a particular paper or study counted its "FLOPs".

Registered when :mod:`profiler.conventions` is imported. Each convention documents the evidence that fixes its rules: the published rows it
reproduces, and at which published precision. Other modules may append conventions here; keep each
registration self-contained.

crossnet
--------
The CrossNet study (soeaver/CrossNet-PyTorch, README) published two different kinds of "FLops (M)":

* the "!FINAL!" table and the "head24, 1024tail, 49=1112, 58=1122" section count convolution
  multiply-accumulates only (no FC, no bias), truncated to whole millions: crossnet58k5_b70e04g2 has
  304,356,640 conv MACs -> 304. That is our ``macs`` convention minus the FC layer
  (see profiler/models/crossnet_table.yaml and tests/models/test_crossnet.py).
* the summary table ("CrossNet (ours) 309", the README version quoted in the seed tables) and the
  section "relu, conv24, 1280tail, type3=1122" count more. This convention reproduces those.

Which counts, and why (all numbers at 224x224, batch 1, from the builds in profiler/models/crossnet.py):

================================  =========  =========  ========  ========  ========
row (published MFLOPs)            conv       ReLU       adds      FC        pooling
================================  =========  =========  ========  ========  ========
58k5_b70e04g2-1024tail (309)      304.3566   4.2673     0.4281    1.0240    0.0502
49k5_b80e04g2-1024tail (335)      330.6348   4.3967     0.4140    1.0240    0.0502
58k5_b70e04g2, 1280 tail (311)    307.1665   4.2799     0.4281    1.2800    0.0627
58k3_b70e04g2, 1280 tail (286)    282.2541   4.2799     0.4281    1.2800    0.0627
58k5_b70e04, 1280 tail (422)      417.8046   4.2799     0.4281    1.2800    0.0627
================================  =========  =========  ========  ========  ========

(in millions; "adds" = the residual additions, conv = multiply-accumulates without bias.)

* The study truncates everywhere it can be checked (the FINAL table: 174.65 -> 174, 234.74 -> 234,
  383.51 -> 383; parameters 3,285,158 -> 3.28), so the published figure is ``floor(total / 1e6)``.
* conv + ReLU = 308.62 for the headline model: 309 only if *rounded*, 308 when truncated like the rest
  of the study. conv + FC + ReLU = 309.65 truncates to 309 but gives 336 (not 335) for 49k5_b80.
* conv + ReLU + residual additions truncates to the published value on all five rows of the two tables
  (309.05 -> 309, 335.45 -> 335, 311.87 -> 311, 286.96 -> 286, 422.51 -> 422). Counting pooling as well
  breaks 286 (287.02); counting the FC breaks 335, 311, 286 and 422; counting BatchNorm adds ~4.9M and
  breaks every row. This is what a Caffe-graph counter does after BN is folded into the convolutions:
  Convolution MACs, plus one op per output element of ReLU and Eltwise layers.

So ``crossnet`` = conv MACs (no bias) + one op per activation output element + one op per element of an
element-wise op (residual adds); linear/FC, bias, norm, pooling and memory moves are not counted. The
study's networks only use ReLU, so "activation" is exactly the ReLU element count there; other models get
every activation counted once per element, which is the natural extension.

Caveats: the three 1280-tail rows come from a section whose configuration ("type3") is only partly
described; their parameter counts are within 0.03% of our 1280-tail builds but not all equal (3.60 vs
3,599,014), so those rows are evidence, not proof. The newest README revision
(commit 0f2fd06c744e73ac656c138c1b6838536e5fe811) prints 307 and 79 ms in the summary table instead of
309 and 84 ms; 307 is not reproduced by any combination above (conv + FC = 305.38, + adds = 305.81, + ReLU
= 309.65) and is left unexplained.
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
