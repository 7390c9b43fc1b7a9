"""The counting engine must agree with the analytic hook counter (``_model_counting``) on our architectures."""
import pytest

import profiler
from _model_counting import count_macs, count_params
from profiler.models import create_model, default_input_size

NAMES = [
    "crossnet58k5_b70e04g2",
    "shufflenet_v1_g3_x1_0",
    "shufflenet_v1_g8_x0_5",
    "shufflenet_v2_official_x1_0",
    "blocks_mnist_shuffle",
    "blocks_cifar10_dense",
    "blocks_cifar10_xception",
    "blocks_mnist_mobile_v2",
]


@pytest.mark.parametrize("name", NAMES)
def test_engine_matches_hooks(name):
    m = create_model(name).eval()
    size = default_input_size(name)
    p = profiler.profile(m, input_size=(1, *size), strict=True)
    assert p.macs == count_macs(m, size)
    assert p.params == count_params(m)
