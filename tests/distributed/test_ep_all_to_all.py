"""Expert parallelism's token exchange under the fake process group: an all_to_all with uneven splits (tokens x
top-k rows of ``hidden`` elements each way) inside a module, in its functional, autograd and c10d forms; bytes
sent = the rows this rank sends to the other ranks x hidden x element size, received likewise, on the CPU and
on meta, the backward's exchange with the splits the other way round."""
from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.nn as nn

import profiler

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="this torch build has no torch.distributed")

HIDDEN, WORLD, RANK = 8, 4, 1
IN_SPLITS = [3, 0, 5, 2]  # rows this rank sends to ranks 0..3 (2 tokens x top-k 5 = 10 rows)
OUT_SPLITS = [1, 2, 3, 4]  # rows it receives from ranks 0..3


class Dispatch(nn.Module):
    def __init__(self, form: str):
        super().__init__()
        self.form = form

    def forward(self, x):
        import torch.distributed._functional_collectives as funcol

        if self.form == "functional":
            return funcol.all_to_all_single(x, OUT_SPLITS, IN_SPLITS, dist.group.WORLD)
        if self.form == "autograd":
            return funcol.all_to_all_single_autograd(x, OUT_SPLITS, IN_SPLITS, dist.group.WORLD)
        out = x.new_empty(sum(OUT_SPLITS), x.shape[1])
        dist.all_to_all_single(out, x, OUT_SPLITS, IN_SPLITS)
        return out


class MoEBlock(nn.Module):
    def __init__(self, form: str):
        super().__init__()
        self.router = nn.Linear(HIDDEN, HIDDEN)
        self.dispatch = Dispatch(form)

    def forward(self, x):
        return self.dispatch(self.router(x)) * 2


@pytest.fixture
def fake_world():
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=RANK, world_size=WORLD)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _want(in_splits, out_splits):
    row = HIDDEN * 4  # fp32
    return (row * sum(in_splits), row * (sum(in_splits) - in_splits[RANK]), row * (sum(out_splits) - out_splits[RANK]))


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("form", ["functional", "autograd", "c10d"])
def test_uneven_splits_bytes(fake_world, form, device):
    x = torch.randn(sum(IN_SPLITS), HIDDEN)
    prof = profiler.profile(MoEBlock(form), x, device=device)
    s, sent, received = _want(IN_SPLITS, OUT_SPLITS)
    assert (s, sent, received) == (320, 320, 256)  # nothing to itself (split 0); 2 of its own 10 rows come back
    assert [(c.path, c.phase, c.kind, c.group_size, c.calls, c.bytes, c.sent, c.received)
            for c in prof.communication] == [("dispatch", "forward", "all_to_all", WORLD, 1, s, sent, received)]
    assert prof.coverage == []
    assert prof.macs == sum(IN_SPLITS) * HIDDEN * HIDDEN  # the router only: the exchange computes nothing


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_backward_exchanges_the_gradients_the_other_way(fake_world, device):
    x = torch.randn(sum(IN_SPLITS), HIDDEN)
    prof = profiler.profile(MoEBlock("autograd"), x, device=device, backward=True)
    fwd, bwd = _want(IN_SPLITS, OUT_SPLITS), _want(OUT_SPLITS, IN_SPLITS)
    got = {c.phase: (c.path, c.kind, c.calls, c.bytes, c.sent, c.received) for c in prof.communication}
    assert got == {"forward": ("dispatch", "all_to_all", 1) + fwd, "backward": ("dispatch", "all_to_all", 1) + bwd}
    assert bwd[1:] == (256, 320)
    assert prof.coverage == []
