"""Block-family study networks: every cell of the grid builds and runs; parameter and MAC counts of a few
block types against hand-written closed forms (written from the architecture description, not our output)."""
import pytest
import torch
import torch.nn as nn

from _model_counting import count_macs, count_params
from profiler.models import create_model, default_input_size, list_models
from profiler.models.blocks import BLOCK_TYPES, DATASETS, block_model_name, blocks_model

ALL = [block_model_name(d, b) for d in DATASETS for b in BLOCK_TYPES]


def test_grid_is_registered():
    assert set(BLOCK_TYPES) == {
        "plain", "residual", "bottleneck", "resnext", "xception", "dense", "mobile_v1", "mobile_v2", "shuffle"
    }
    assert set(DATASETS) == {"mnist", "cifar10", "stl10"}
    assert set(list_models("blocks_*")) == set(ALL)
    assert default_input_size("blocks_mnist_plain") == (1, 28, 28)
    assert default_input_size("blocks_cifar10_plain") == (3, 32, 32)
    assert default_input_size("blocks_stl10_plain") == (3, 96, 96)
    assert [DATASETS[d].num_stages for d in ("mnist", "cifar10", "stl10")] == [1, 2, 3]


@pytest.mark.parametrize("name", ALL)
def test_forward(name):
    m = create_model(name).eval()
    size = default_input_size(name)
    feats = []
    h = m.stages.register_forward_hook(lambda mod, i, o: feats.append(o.shape))
    with torch.no_grad():
        y = m(torch.zeros(1, *size))
    h.remove()
    assert y.shape == (1, 10)
    d = DATASETS[name.split("_")[1]]
    # stem halves, then every stage halves the resolution
    assert feats[0] == (1, d.channels[-1], size[1] // 2 ** (d.num_stages + 1), size[2] // 2 ** (d.num_stages + 1))


def _bn(c):
    return 2 * c


def plain_params(ch, classes=10):
    p = ch[0] * ch[1] * 49 + _bn(ch[1])
    for cin, cout in zip(ch[1:-1], ch[2:]):
        p += cin * cout * 9 + _bn(cout) + 7 * (cout * cout * 9 + _bn(cout))
    return p + ch[-1] * classes + classes


def residual_params(ch, classes=10):
    p = plain_params(ch, classes)
    for cin, cout in zip(ch[1:-1], ch[2:]):
        p += cin * cout + _bn(cout)  # projection shortcut of the first block
    return p


def dense_params(ch, classes=10):
    p = ch[0] * ch[1] * 49 + _bn(ch[1])
    for cin, cout in zip(ch[1:-1], ch[2:]):
        k = (cout - cin) // 8
        for i in range(8):
            p += (cin + i * k) * k + _bn(k) + k * k * 9 + _bn(k)
        p += cout * cout + _bn(cout)
    return p + ch[-1] * classes + classes


def plain_macs(ch, hw, classes=10):
    s = hw // 2
    macs = ch[1] * s * s * ch[0] * 49
    for cin, cout in zip(ch[1:-1], ch[2:]):
        s //= 2
        macs += s * s * (cin * cout * 9 + 7 * cout * cout * 9)
    return macs + ch[-1] * classes


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_closed_forms(dataset):
    d = DATASETS[dataset]
    assert count_params(blocks_model(dataset, "plain")) == plain_params(d.channels)
    assert count_params(blocks_model(dataset, "residual")) == residual_params(d.channels)
    assert count_params(blocks_model(dataset, "dense")) == dense_params(d.channels)
    assert count_macs(blocks_model(dataset, "plain"), d.input_size) == plain_macs(d.channels, d.input_size[1])


def test_mnist_plain_by_hand():
    # stem 1*64*49 + BN; 8 convs 3x3 (64->128 then 7 x 128->128) + BN; FC 128*10 + 10
    assert count_params(create_model("blocks_mnist_plain")) == 3264 + 221696 + 886272 + 1290
    assert count_macs(create_model("blocks_mnist_plain"), (1, 28, 28)) == 614656 + 3612672 + 50577408 + 1280


def test_block_details():
    m = blocks_model("cifar10", "resnext")
    assert m.stages[0][1].layer2[0].groups == 32 and m.stages[0][1].layer2[0].in_channels == 32
    m = blocks_model("cifar10", "mobile_v2")
    assert m.stages[0][0].layer1[0][0].out_channels == 6 * 64
    assert any(isinstance(x, nn.ReLU6) for x in m.modules())
    m = blocks_model("cifar10", "shuffle")
    first = m.stages[0][0]
    assert first.layer1[0].groups == 4 and isinstance(first.pool, nn.AvgPool2d)
    assert first.layer2[1][0].out_channels == 128 - 64
    m = blocks_model("cifar10", "xception")
    assert isinstance(m.stages[0][0].pool, nn.MaxPool2d)
    m = blocks_model("cifar10", "dense")
    assert len(m.stages[0][0].layers) == 8 and m.stages[0][0].layers[0][0][0].out_channels == (128 - 64) // 8
    m = blocks_model("stl10", "bottleneck")
    assert m.stages[2][1].layer1[0].out_channels == 512 // 4
