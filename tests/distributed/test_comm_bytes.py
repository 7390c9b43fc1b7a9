"""Communication bytes: the per-rank conventions of profiler.counters.comm (closed forms, and properties any
ring / pipeline schedule has), and the collectives a pass records, in their c10d and functional forms, under a
fake process group: per module and phase, with bytes, never as compute."""
from __future__ import annotations

import contextlib
from fractions import Fraction

import pytest
import torch
import torch.distributed as dist
import torch.nn as nn
from hypothesis import given, strategies as st

import profiler
from profiler.counters.comm import COLLECTIVES, KINDS, traffic

GROUP_KINDS = [k for k in KINDS if k not in ("send", "recv")]


# -- the conventions -------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 4, 8])
def test_closed_forms(n):
    s = 1024 * n  # divisible by n: exact integers
    assert traffic("all_reduce", s, n) == (2 * (n - 1) * s // n,) * 2
    assert traffic("all_gather", s, n) == ((n - 1) * s // n,) * 2  # s: the OUTPUT
    assert traffic("reduce_scatter", s, n) == ((n - 1) * s // n,) * 2  # s: the INPUT
    assert traffic("all_to_all", s, n) == ((n - 1) * s // n,) * 2
    assert traffic("broadcast", s, n, rank=0, root=0) == (s, 0)  # the root sends, receives nothing
    assert traffic("broadcast", s, n, rank=n - 1, root=0) == (0, s)  # the chain's last receives only
    assert traffic("send", s, n) == (s, 0) and traffic("recv", s, n) == (0, s)
    assert traffic("barrier", s, n) == (0, 0)


def test_uneven_bytes_are_the_exact_average():
    assert traffic("all_reduce", 10, 4) == (15, 15)
    assert traffic("all_reduce", 10, 3) == (pytest.approx(40 / 3),) * 2
    with pytest.raises(ValueError, match="unknown collective"):
        traffic("allreduce", 10, 2)


@given(kind=st.sampled_from(GROUP_KINDS), s=st.integers(0, 10**9), n=st.integers(1, 64), root=st.integers(0, 63))
def test_every_byte_sent_is_received(kind, s, n, root):
    root %= n
    per_rank = [traffic(kind, s, n, rank=r, root=root) for r in range(n)]
    sent = sum(Fraction(x[0]).limit_denominator(n) for x in per_rank)
    received = sum(Fraction(x[1]).limit_denominator(n) for x in per_rank)
    assert sent == received
    if n == 1:
        assert sent == 0


@given(s=st.integers(0, 10**9), n=st.integers(1, 64))
def test_all_reduce_is_a_reduce_scatter_then_an_all_gather(s, n):
    ar = traffic("all_reduce", s, n)[0]
    rs, ag = traffic("reduce_scatter", s, n)[0], traffic("all_gather", s, n)[0]
    assert ar == pytest.approx(rs + ag)
    assert 0 <= ar < 2 * s or s == 0  # never the whole tensor twice: the ring's (n - 1) / n


@given(kind=st.sampled_from(KINDS), a=st.integers(0, 10**6), b=st.integers(0, 10**6), n=st.integers(1, 16))
def test_linear_in_the_size(kind, a, b, n):
    ta, tb, tab = traffic(kind, a, n), traffic(kind, b, n), traffic(kind, a + b, n)
    assert tab[0] == pytest.approx(ta[0] + tb[0]) and tab[1] == pytest.approx(ta[1] + tb[1])


# -- a pass ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def fake_group(world: int, rank: int):
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=rank, world_size=world)
    try:
        yield
    finally:
        dist.destroy_process_group()


class Comms(nn.Module):
    """A Linear, then one collective of each kind in its c10d or functional form (fake group: no data moves)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.tail = nn.Identity()

    def forward(self, x):
        import torch.distributed._functional_collectives as funcol

        world = dist.group.WORLD
        y = self.lin(x)  # 8 x 8 fp32: 256 bytes
        dist.all_reduce(y)  # c10d.allreduce_
        g = funcol.all_gather_tensor(y, 0, world)  # _c10d_functional.all_gather_into_tensor (+ wait_tensor ...)
        r = funcol.reduce_scatter_tensor(g, "sum", 0, world)
        b = y.clone()
        dist.broadcast(b, src=0)
        a = funcol.all_to_all_single(y, None, None, world)
        dist.all_gather_into_tensor(torch.empty(32, 8, device=y.device), y)  # c10d._allgather_base_
        dist.send(y, 2)
        dist.recv(torch.empty_like(y), 0)
        return self.tail(r + a + b)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_each_collective_is_recorded_with_its_bytes(device):
    with fake_group(4, rank=1):
        prof = profiler.profile(Comms(), torch.randn(8, 8), device=device)
    assert prof.coverage == []  # wait_tensor and _wrap_tensor_autograd are free, the collectives not compute
    assert prof.macs == 8 * 8 * 8 and not prof.is_sharded and prof.macs_global == prof.macs
    got = {c.kind: (c.path, c.phase, c.group_size, c.calls, c.bytes, c.sent, c.received) for c in prof.communication}
    s = 256
    assert got == {
        "all_reduce": ("", "forward", 4, 1, s, 2 * 3 * s // 4, 2 * 3 * s // 4),
        "all_gather": ("", "forward", 4, 2, 2 * 4 * s, 2 * 3 * s, 2 * 3 * s),  # S: the output, 4 x 256, twice
        "reduce_scatter": ("", "forward", 4, 1, 4 * s, 3 * s, 3 * s),  # S: the input
        "all_to_all": ("", "forward", 4, 1, s, 3 * s // 4, 3 * s // 4),
        "broadcast": ("", "forward", 4, 1, s, s, s),  # rank 1: neither the root nor the chain's last (3)
        "send": ("", "forward", 4, 1, s, s, 0),
        "recv": ("", "forward", 4, 1, s, 0, s),
    }
    ops = {op for c in prof.communication for op in c.ops}
    assert {"c10d.allreduce_", "c10d._allgather_base_", "_c10d_functional.all_gather_into_tensor",
            "_c10d_functional.reduce_scatter_tensor", "c10d.broadcast_", "c10d.send", "c10d.recv_"} <= ops
    # communication is no category: every convention's total is the Linear's alone
    plain = profiler.profile(nn.Linear(8, 8), torch.randn(8, 8), device=device)
    for conv in ("macs", "flops", "all"):
        assert prof.layer("lin").cost(conv) == plain.total(conv)
    assert not [op for layer in prof.layers for op in layer.ops if "c10d" in op]
    doc = prof.to_dict()
    assert doc["macs"] == plain.macs and len(doc["distributed"]["communication"]) == 7


def test_collectives_are_charged_to_their_module_and_phase():
    class Reducer(nn.Module):
        def forward(self, x):
            import torch.distributed._functional_collectives as funcol

            return funcol.all_reduce(x, "sum", dist.group.WORLD)

    model = nn.Sequential(nn.Linear(4, 4), Reducer())
    with fake_group(2, rank=0):
        prof = profiler.profile(model, torch.randn(2, 4), device="cpu")
    assert [(c.path, c.phase, c.kind, c.bytes) for c in prof.communication] == [("1", "forward", "all_reduce", 32)]


def test_the_table_of_ops_names_every_form():
    kinds = {c.kind for c in COLLECTIVES.values() if c is not True}
    assert kinds == set(KINDS)
    for name in ("_c10d_functional.all_reduce", "_c10d_functional.all_gather_into_tensor",
                 "_c10d_functional.reduce_scatter_tensor", "_c10d_functional.all_to_all_single",
                 "_c10d_functional.broadcast", "c10d.allreduce_", "c10d._allgather_base_", "c10d.allgather_",
                 "c10d._reduce_scatter_base_", "c10d.reduce_scatter_", "c10d.alltoall_base_", "c10d.broadcast_",
                 "c10d.send", "c10d.recv_"):
        assert COLLECTIVES[name] is not True, name
    assert COLLECTIVES["_c10d_functional.wait_tensor"] is True
