"""Communication: the bytes one rank sends and receives in a collective, and which ops are collectives.

Not a counting rule: a collective moves bytes, it computes nothing the conventions weigh, so it is kept apart
from the FLOP categories (``Profile.communication``, see :mod:`profiler.core.distributed`) and
``macs``/``flops``/``all`` never change with it.

The convention: ``S`` is the collective's size in bytes as NCCL's tests name it (nccl-tests, doc/PERFORMANCE.md:
the bus bandwidth of a collective is its algorithm bandwidth S / t times a factor that makes it comparable to
a point-to-point link; that factor is the bytes each rank puts on its link, over S):

==============  ==========================================  =========================================
collective      S                                           bytes each rank sends (= receives)
==============  ==========================================  =========================================
all_reduce      the tensor (input = output)                 2 (n - 1) / n * S  (ring: a reduce-scatter
                                                            then an all-gather, n - 1 steps of S / n each)
all_gather      the OUTPUT (n x one rank's input)           (n - 1) / n * S
reduce_scatter  the INPUT (n x one rank's output)           (n - 1) / n * S
all_to_all      one rank's input                            (n - 1) / n * S (the n - 1 chunks for the
                                                            others; uneven splits: what they say)
broadcast       the tensor                                  ring / pipeline from the root (NCCL's broadcast):
                                                            every rank but the chain's last (root - 1 mod n)
                                                            sends S, every rank but the root receives S
reduce          the tensor                                  the same chain towards the root: every rank but
                                                            the root sends S, every rank but the chain's
                                                            first (root + 1 mod n) receives S
gather          the root's output (n x one input)           each non-root sends S / n; the root receives
                                                            (n - 1) / n * S
scatter         the root's input (n x one output)           the root sends (n - 1) / n * S; each non-root
                                                            receives S / n
send / recv     the tensor                                  S sent / S received
barrier         0                                           0
==============  ==========================================  =========================================

The bus-bandwidth factors of PERFORMANCE.md are these per-rank bytes over S: 2 (n - 1) / n for all_reduce,
(n - 1) / n for all_gather, reduce_scatter and all_to_all, 1 for broadcast and reduce. A group of one rank
moves nothing. Bytes are exact integers where n divides the product, else a float (the average over the
ring's steps: S / n is not a whole number of bytes).
"""
from __future__ import annotations

from fractions import Fraction

import torch

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "reduce", "gather", "scatter",
         "send", "recv", "barrier")


def _num(x: Fraction):
    return int(x) if x.denominator == 1 else float(x)


def traffic(kind: str, nbytes: int, n: int, rank: int = 0, root: int = 0) -> tuple:
    """(bytes sent, bytes received) by the rank ``rank`` of a group of ``n`` in one ``kind`` collective of size
    ``nbytes`` (``S`` of the module docstring: the OUTPUT of an all_gather, the INPUT of a reduce_scatter);
    ``root``: the group rank of a broadcast's, reduce's, gather's or scatter's root."""
    if kind not in KINDS:
        raise ValueError(f"unknown collective {kind!r}; one of {', '.join(KINDS)}")
    if n < 1 or nbytes < 0:
        raise ValueError(f"a group of {n} rank(s) and {nbytes} bytes")
    s = Fraction(nbytes)
    if kind == "send":
        return nbytes, 0
    if kind == "recv":
        return 0, nbytes
    if n == 1 or kind == "barrier":
        return 0, 0
    if kind == "all_reduce":
        both = 2 * (n - 1) * s / n
        return _num(both), _num(both)
    if kind in ("all_gather", "reduce_scatter", "all_to_all"):
        both = (n - 1) * s / n
        return _num(both), _num(both)
    last, first = (root - 1) % n, (root + 1) % n
    if kind == "broadcast":
        return (0 if rank == last else nbytes), (0 if rank == root else nbytes)
    if kind == "reduce":
        return (0 if rank == root else nbytes), (0 if rank == first else nbytes)
    if kind == "gather":
        return (0, _num((n - 1) * s / n)) if rank == root else (_num(s / n), 0)
    # scatter
    return (_num((n - 1) * s / n), 0) if rank == root else (0, _num(s / n))


def all_to_all_split(row_bytes_in: int, in_splits, row_bytes_out: int, out_splits, rank: int) -> tuple:
    """(sent, received) of an all_to_all with explicit splits (rows per peer): everything but the rank's own
    chunk leaves, everything but its own chunk arrives."""
    return (row_bytes_in * (sum(in_splits) - in_splits[rank]), row_bytes_out * (sum(out_splits) - out_splits[rank]))


# -- the ops ------------------------------------------------------------------------------------------
def _nbytes(t) -> int:
    if isinstance(t, torch.Tensor):
        return t.numel() * t.element_size()
    if isinstance(t, (list, tuple)):
        return sum(_nbytes(x) for x in t)
    return 0


class Collective:
    """How to read one collective op: its kind, its size S, its group argument and, where it has one, the
    root (a group rank) or the splits of an all_to_all: (index of the output splits, index of the input splits)
    among the op's arguments; (1, 2) is the functional form (input, output_split_sizes, input_split_sizes, group:
    the output is the op's result), any other the c10d form (output, input, group, output_split_sizes,
    input_split_sizes)."""
    __slots__ = ("kind", "size", "group", "root", "splits")

    def __init__(self, kind, size, group, root=None, splits=None):
        self.kind, self.size, self.group, self.root, self.splits = kind, size, group, root, splits


def _a(i):
    return lambda args, kwargs, n: _nbytes(args[i])


def _times_n(i):
    return lambda args, kwargs, n: _nbytes(args[i]) * n


def _arg(i):
    return lambda args: args[i] if len(args) > i else None


_FUNCTIONAL = {
    # (Tensor input, str reduce_op, group_name)
    "all_reduce": Collective("all_reduce", _a(0), _arg(2)),
    "all_reduce_": Collective("all_reduce", _a(0), _arg(2)),
    "all_reduce_coalesced": Collective("all_reduce", _a(0), _arg(2)),
    "all_reduce_coalesced_": Collective("all_reduce", _a(0), _arg(2)),
    # (Tensor input, int group_size, group_name): S = the output, n inputs
    "all_gather_into_tensor": Collective("all_gather", _times_n(0), _arg(2)),
    "all_gather_into_tensor_out": Collective("all_gather", _times_n(0), _arg(2)),
    "all_gather_into_tensor_coalesced": Collective("all_gather", _times_n(0), _arg(2)),
    # (Tensor input, str reduce_op, int group_size, group_name): S = the input
    "reduce_scatter_tensor": Collective("reduce_scatter", _a(0), _arg(3)),
    "reduce_scatter_tensor_out": Collective("reduce_scatter", _a(0), _arg(3)),
    "reduce_scatter_tensor_coalesced": Collective("reduce_scatter", _a(0), _arg(3)),
    # (Tensor input, output_split_sizes, input_split_sizes, group_name)
    "all_to_all_single": Collective("all_to_all", _a(0), _arg(3), splits=(1, 2)),
    # (Tensor input, int src, group_name)
    "broadcast": Collective("broadcast", _a(0), _arg(2), root=1),
    "broadcast_": Collective("broadcast", _a(0), _arg(2), root=1),
    # (Tensor, int peer, int tag, str group_name)
    "isend": Collective("send", _a(0), _arg(3)),
    "irecv": Collective("recv", _a(0), _arg(3)),
}

_C10D = {
    # (Tensor[] tensors, ProcessGroup, ReduceOp, ...)
    "allreduce_": Collective("all_reduce", _a(0), _arg(1)),
    "allreduce_coalesced_": Collective("all_reduce", _a(0), _arg(1)),
    # (output, input, ProcessGroup ...): S = the output(s)
    "_allgather_base_": Collective("all_gather", _a(0), _arg(2)),
    "allgather_": Collective("all_gather", _a(0), _arg(2)),
    "allgather_coalesced_": Collective("all_gather", _a(0), _arg(2)),
    "allgather_into_tensor_coalesced_": Collective("all_gather", _a(0), _arg(2)),
    # (output, input, ProcessGroup, ReduceOp ...): S = the input(s)
    "_reduce_scatter_base_": Collective("reduce_scatter", _a(1), _arg(2)),
    "reduce_scatter_": Collective("reduce_scatter", _a(1), _arg(2)),
    "reduce_scatter_tensor_coalesced_": Collective("reduce_scatter", _a(1), _arg(2)),
    # (outputs, inputs, ProcessGroup ...)
    "alltoall_": Collective("all_to_all", _a(1), _arg(2)),
    "alltoall_base_": Collective("all_to_all", _a(1), _arg(2), splits=(3, 4)),
    # (Tensor[] tensors, ProcessGroup, int root_rank, ...)
    "broadcast_": Collective("broadcast", _a(0), _arg(1), root=2),
    "reduce_": Collective("reduce", _a(0), _arg(1), root=3),  # (tensors, pg, ReduceOp, root_rank ...)
    "gather_": Collective("gather", _times_n(1), _arg(2), root=3),  # (outputs[][], inputs[], pg, root ...)
    "gather_into_tensor_": Collective("gather", _times_n(1), _arg(2), root=3),
    "scatter_": Collective("scatter", _times_n(0), _arg(2), root=3),  # (outputs[], inputs[][], pg, root ...)
    "send": Collective("send", _a(0), _arg(1)),
    "recv_": Collective("recv", _a(0), _arg(1)),
    "recv_any_source_": Collective("recv", _a(0), _arg(1)),
    "barrier": Collective("barrier", lambda args, kwargs, n: 0, _arg(1)),
    "monitored_barrier_": Collective("barrier", lambda args, kwargs, n: 0, _arg(1)),
}

#: ``namespace.name`` of an op (as the engine names it) -> how to read it as a collective; True for the
#: collectives' plumbing, which moves and computes nothing (waiting for a result, wrapping it for autograd).
#: By name, not by op object: ``_wrap_tensor_autograd`` exists only once torch.distributed's functional
#: collectives are imported, which importing the profiler does not force.
COLLECTIVES: dict[str, Collective | bool] = {
    "_c10d_functional.wait_tensor": True,
    "_c10d_functional._wrap_tensor_autograd": True,
    **{f"_c10d_functional.{k}": v for k, v in _FUNCTIONAL.items()},
    # the autograd-aware forms (a dispatch mode normally meets the plain functional op they call)
    **{f"_c10d_functional_autograd.{k}": _FUNCTIONAL[k]
       for k in ("all_gather_into_tensor", "reduce_scatter_tensor", "all_to_all_single")},
    **{f"c10d.{k}": v for k, v in _C10D.items()},
    # DTensor's shard-to-shard redistribute: (Tensor input, int gather_dim, int shard_dim, group_name)
    "_dtensor.shard_dim_alltoall": Collective("all_to_all", _a(0), _arg(3)),
}

