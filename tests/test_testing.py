"""profiler.testing.assert_complexity: passes on hand-computed costs, fails with a message naming the figure."""
import pytest
import torch
import torch.nn as nn

from profiler.testing import assert_complexity


def net():
    # conv 3->4, 3x3, pad 1, no bias, on 6x6: 4*27*36 = 3,888 MACs, 108 params; linear 144->2: 288 MACs, 290 params
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(144, 2))


def test_passes_and_returns_the_profile():
    p = assert_complexity(net(), (1, 3, 6, 6), macs=4176, params=398, rel=0)
    assert p.macs == 4176
    assert_complexity(net(), torch.randn(2, 3, 6, 6), macs=8352, rel=0)  # batch 2 doubles the MACs
    assert_complexity(net(), (1, 3, 6, 6), macs=2 * 4176, convention="flops", rel=0)
    assert_complexity(net(), (1, 3, 6, 6), macs=4200, rel=0.01)  # 0.57% off, 1% allowed
    assert_complexity(net(), (1, 3, 6, 6), params=398, rel=0, device="meta")


def test_failure_message_names_figure_counted_expected_delta_tolerance():
    with pytest.raises(AssertionError) as info:
        assert_complexity(net(), (1, 3, 6, 6), macs=5000, params=398, rel=0.01)
    msg = str(info.value)
    assert "MACs [macs]: counted 4,176 MACs, expected 5,000 MACs (-16.48%, allowed +-1.00%)" in msg
    assert "params" not in msg.split(":", 1)[1]  # params were right, not listed
    with pytest.raises(AssertionError, match=r"params: counted 398 params, expected 400 params \(-0.50%"):
        assert_complexity(net(), (1, 3, 6, 6), params=400, rel=0)


def test_model_is_not_changed():
    m = net()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    m.train()
    assert_complexity(m, (1, 3, 6, 6), macs=4176, rel=0)
    assert m.training and all(torch.equal(before[k], v) for k, v in m.state_dict().items())


@pytest.mark.parametrize("kw", [{}, {"macs": 1, "rel": 1.5}, {"macs": -1}])
def test_bad_arguments(kw):
    with pytest.raises(ValueError):
        assert_complexity(net(), (1, 3, 6, 6), **kw)
