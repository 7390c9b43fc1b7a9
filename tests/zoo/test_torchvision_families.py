"""torchvision's non-classification families, counted at their default inputs against the figures torchvision
publishes in its weights metadata (``meta["_ops"]``: GFLOPS counted 1 per multiply-accumulate by its own
dispatch-mode counter, rounded to 3 decimals; ``meta["num_params"]``). The metadata ships with torchvision
(nothing is downloaded) and is read here at test time.

Data-independent passes (segmentation, video, optical flow, quantized, the one-stage detectors' networks)
must match exactly. Two-stage detectors run their box head on the proposals the RPN keeps, and Mask/Keypoint
R-CNN their mask/keypoint heads on the detections kept: those numbers depend on the weights and the image,
so the published figure is reproduced from ours by closed-form per-box head costs and the box counts
torchvision's pass had (pinned below, each explained). Full-size CPU passes of the ResNet-50 detectors take
10-20 s each on two cores: they run only with PROFILER_SLOW_TESTS=1.
"""
import os
import warnings

import pytest
import torch
import torchvision
from torchvision.models import get_model_weights

from profiler.errors import UsageError
from profiler.zoo import profile_model
from profiler.zoo.names import OPTICAL_FLOW_SIZE, torchvision_family, torchvision_notes

warnings.filterwarnings("ignore")
slow = pytest.mark.skipif(not os.environ.get("PROFILER_SLOW_TESTS"),
                          reason="a full-size CPU detection pass (10-20 s): set PROFILER_SLOW_TESTS=1")


def published(name):
    meta = get_model_weights(name).DEFAULT.meta
    return meta["_ops"], meta["num_params"]


def family(*families):
    return [n for n in torchvision.models.list_models() if torchvision_family(n) in families]


def assert_ops(macs, ops):
    """Our MACs in G against a figure published to 3 decimals."""
    assert abs(macs / 1e9 - ops) <= 0.0005 + 1e-9, (macs / 1e9, ops)


def test_published_ops_count_one_per_mac():
    """The convention first, on a classification model: _ops is our MACs, not 2 x MACs."""
    ops, params = published("resnet50")
    p = profile_model("torchvision:resnet50", device="meta")
    assert_ops(p.macs, ops) and p.params == params


# -- data-independent families: exact, on meta, at the default input ---------------------------------------
#: Inception v3 is built without its auxiliary classifier (it does not run in eval mode; as inception_v3 in
#: test_zoo_published), which its published num_params include: InceptionAux(768, 1000) = 1x1 conv 768->128
#: and BN, 5x5 conv 128->768 and BN, fc 768->1000.
AUX_LOGITS = {"quantized_inception_v3": 768 * 128 + 2 * 128 + 25 * 128 * 768 + 2 * 768 + 768 * 1000 + 1000}


@pytest.mark.parametrize("name", family("segmentation", "video", "optical_flow", "quantization"))
def test_data_independent_families_match_the_published_figures(name):
    ops, params = published(name)
    p = profile_model(f"torchvision:{name}", device="meta")
    assert_ops(p.macs, ops)
    # FCN/DeepLabV3 are built with their auxiliary head (aux_loss=True), as their weights are
    assert p.params == params - AUX_LOGITS.get(name, 0)
    assert p.device == "meta" and not [n for n in p.notes if "data-dependent" in n]


def test_default_inputs_follow_the_metadata():
    shape = lambda n: profile_model(f"torchvision:{n}", device="meta").source.input_size  # noqa: E731
    # segmentation: the transforms' resize_size (520); video: 16 frames of the crop; RAFT: a pair
    assert get_model_weights("fcn_resnet50").DEFAULT.transforms.keywords["resize_size"] == 520
    assert shape("fcn_resnet50") == (3, 520, 520)
    assert shape("r3d_18") == (3, 16, 112, 112) and shape("mvit_v2_s") == (3, 16, 224, 224)
    p = profile_model("torchvision:raft_small", device="meta")
    assert p.source.input_size == OPTICAL_FLOW_SIZE and p.inputs == [[1, *OPTICAL_FLOW_SIZE]] * 2
    assert p.source.input_kind == "image-pair"


def test_vit_h_14_takes_the_size_its_architecture_is_built_for():
    """Its default weights are SWAG's at 518 pixels; built without weights it is a 224-pixel ViT-H/14 (its
    image_size), which refuses 518. Its parameters differ from the published ones by the position embedding
    only: (518/14)^2 = 37^2 patches against 16^2, 1280 wide."""
    ops, params = published("vit_h_14")
    p = profile_model("torchvision:vit_h_14", device="meta")
    assert p.source.input_size == (3, 224, 224)
    assert p.params == params - (37 ** 2 - 16 ** 2) * 1280


def test_raft_takes_any_pair_divisible_by_8():
    p = profile_model("torchvision:raft_small", input=[(3, 256, 256), (3, 256, 256)], device="meta")
    assert p.inputs == [[1, 3, 256, 256]] * 2
    with pytest.raises(UsageError, match="divisible by 8"):
        profile_model("torchvision:raft_small", input=(3, 250, 256), device="meta")


# -- detection ---------------------------------------------------------------------------------------------
# Per-box MACs of the two-stage heads (closed forms from torchvision's architecture constants):
# TwoMLPHead 256*7*7 -> 1024 -> 1024 and FastRCNNPredictor 1024 -> 91 scores + 91*4 deltas
BOX_HEAD = 256 * 7 * 7 * 1024 + 1024 * 1024 + 1024 * (91 + 91 * 4)
# MaskRCNNHeads: four 3x3 256->256 convs at 14x14; predictor: a 2x2 stride-2 transposed conv 256->256 from
# 14x14 (per input pixel) and a 1x1 conv 256->91 at 28x28
MASK_HEAD = 4 * 14 * 14 * 9 * 256 * 256 + 14 * 14 * 256 * 256 * 4 + 28 * 28 * 256 * 91


def boxes(p, path):
    """How many boxes ran through the head at ``path`` (its input's first dimension): data, not a count."""
    return p.layer(path).input_shapes[0][0]


@pytest.fixture(scope="module")
def mobilenet_320():
    return profile_model("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn")


def test_a_two_stage_detector_counts_its_boxes_and_says_so(mobilenet_320):
    """The RPN keeps at most 150 proposals here (rpn_post_nms_top_n_test=150, score threshold 0.05); the
    published 0.719 GFLOPS are the network with no proposal through the box head: torchvision's trained RPN
    scored none of its random image's anchors above 0.05 (ours: 0.719 plus 150 x BOX_HEAD, 2.873)."""
    p = mobilenet_320
    ops, params = published("fasterrcnn_mobilenet_v3_large_320_fpn")
    n = boxes(p, "roi_heads.box_head")
    assert 0 <= n <= 150
    assert_ops(p.macs - n * BOX_HEAD, ops)
    assert p.device == "cpu" and p.source.input_size == (3, 320, 320)  # its transform's min_size
    note = next(x for x in p.notes if x.startswith("data-dependent"))
    assert "roi_heads.box_head" in note and f"{n} proposals" in note and "at most 150" in note


def test_frozen_batchnorm_explains_the_published_parameter_count(mobilenet_320):
    """Built without weights the backbone gets BatchNorm2d (weight and bias: parameters); the published
    weights use FrozenBatchNorm2d (buffers). The note gives the difference."""
    ops, params = published("fasterrcnn_mobilenet_v3_large_320_fpn")
    p = mobilenet_320
    note = next(x for x in p.notes if "FrozenBatchNorm2d" in x)
    assert f"{p.params - params:,} lower" in note
    # the ResNet-50 detectors: 2 x the BN channels of ResNet-50 = 2 x (64 + 1408 + 3584 + 10240 + 11264)
    model = torchvision.models.get_model("fasterrcnn_resnet50_fpn", weights=None, weights_backbone=None)
    assert any("53,120 lower" in n for n in torchvision_notes("fasterrcnn_resnet50_fpn", model))
    assert 2 * (64 + 1408 + 3584 + 10240 + 11264) == 53_120
    assert not torchvision_notes("fasterrcnn_resnet50_fpn_v2", model)  # v2 trains its BatchNorm: no difference


def test_meta_refuses_a_data_dependent_model():
    with pytest.raises(UsageError, match=r"roi_heads.box_head, roi_heads.mask_head .*depends on the data"):
        profile_model("torchvision:maskrcnn_resnet50_fpn", device="meta")
    with pytest.raises(UsageError, match="post-processing"):
        profile_model("torchvision:ssdlite320_mobilenet_v3_large", device="meta")


def test_a_one_stage_detector_is_exact():
    """SSDlite's heads are dense: only the post-processing (no MACs) depends on the data."""
    ops, params = published("ssdlite320_mobilenet_v3_large")
    p = profile_model("torchvision:ssdlite320_mobilenet_v3_large")
    assert_ops(p.macs, ops) and p.params == params
    assert p.source.input_kind == "images" and p.source.input_size == (3, 320, 320)
    assert any("SSD's post-processing" in n for n in p.notes)


@slow
@pytest.mark.parametrize("name", ["retinanet_resnet50_fpn", "retinanet_resnet50_fpn_v2", "fcos_resnet50_fpn",
                                  "ssd300_vgg16"])
def test_one_stage_detectors_are_exact(name):
    ops, params = published(name)
    p = profile_model(f"torchvision:{name}")
    assert_ops(p.macs, ops)
    frozen = sum(m.weight.numel() + m.bias.numel() for m in torchvision.models.get_model(
        name, weights=None, weights_backbone=None).modules() if isinstance(m, torch.nn.BatchNorm2d)) \
        if name in ("retinanet_resnet50_fpn", "fcos_resnet50_fpn") else 0
    assert p.params == params + frozen


# (name, boxes through the box head, detections through the mask head) in torchvision's published pass:
# Faster R-CNN's 134.38 is its network with the RPN's full 1000 proposals; Mask R-CNN v1 publishes the same
# 134.38, so its mask head saw no detection (none scored above 0.05 on the random image).
PUBLISHED_BOXES = {"fasterrcnn_resnet50_fpn": (1000, None), "maskrcnn_resnet50_fpn": (1000, 0)}


@slow
@pytest.mark.parametrize("name", sorted(PUBLISHED_BOXES))
def test_two_stage_detectors_reproduce_the_published_figure_from_their_box_counts(name):
    ops, params = published(name)
    p = profile_model(f"torchvision:{name}")
    box_pub, mask_pub = PUBLISHED_BOXES[name]
    macs = p.macs + (box_pub - boxes(p, "roi_heads.box_head")) * BOX_HEAD
    if mask_pub is not None:
        macs += (mask_pub - boxes(p, "roi_heads.mask_head")) * MASK_HEAD
    assert_ops(macs, ops)
    assert p.params == params + 53_120  # BatchNorm2d for FrozenBatchNorm2d (see above)


def test_the_aux_head_is_in_by_default_named_in_a_note_and_can_be_left_out():
    from profiler.zoo import profile_model

    full = profile_model("torchvision:fcn_resnet50", device="meta")
    main = profile_model("torchvision:fcn_resnet50", device="meta", aux_loss=False)
    assert any("aux_loss=False" in n for n in full.notes) and not any("aux" in n for n in main.notes)
    # the aux FCNHead on layer3's 1024 channels at 520 / 8 = 65x65: a 3x3 conv to 256, then 1x1 to 21 classes
    assert full.macs - main.macs == 65 * 65 * (1024 * 256 * 9 + 256 * 21)


def test_vit_h_14_at_its_weights_size_reproduces_the_published_figure():
    import torchvision

    from profiler.zoo import profile_model

    meta = torchvision.models.get_model_weights("vit_h_14").DEFAULT.meta  # the 518-pixel SWAG weights
    prof = profile_model("torchvision:vit_h_14", input=518, image_size=518, device="meta")
    assert round(prof.macs / 1e9, 3) == meta["_ops"] and prof.params == meta["num_params"]
