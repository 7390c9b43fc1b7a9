"""FSDP2 (``fully_shard`` per layer and on the root) of two Linear(6, 6) on 8 tokens, as in test_fsdp2_step.py
(6 rows do not divide over 4 ranks: padded to 8, the last rank's shards empty), and what a rank's profile of its
training step says. Imported by the tests; run as a script under torchrun (gloo, CPU) it profiles its rank and
writes ``rank<r>.json`` into the folder given. The same ``rank_results`` runs under the fake process group in the
test, so the real ranks and their simulation produce the same JSON-ready data."""
from __future__ import annotations

import os
import sys

from test_fsdp2_step import H, T, fsdp_model, inputs, plain  # noqa: F401 - the same model as the fake-group tests


def comm_records(prof) -> list:
    return [[c.path, c.phase, c.kind, c.group_size, c.calls, c.bytes, c.sent, c.received] for c in prof.communication]


def summary(prof) -> dict:
    """The figures a rank's profile gives, as JSON-ready data (compared rank for rank)."""
    return {"rank": prof.distributed.rank, "world_size": prof.distributed.world_size,
            "macs": prof.macs, "macs_global": prof.macs_global, "params": prof.params,
            "params_global": prof.params_global, "total_all": prof.total("all"),
            "by_category": prof.by_category, "by_phase": prof.by_phase,
            "comm": comm_records(prof), "comm_ops": sorted({op for c in prof.communication for op in c.ops}),
            "coverage": [u.op for u in prof.coverage], "device": prof.device}


def _state(model) -> dict:
    """What the user's model is: its parameters (the very DTensors, their local shards), their gradients, its
    hooks, FSDP's sharded data, its training flag (as comparable identities / values)."""
    groups = [m._get_fsdp_state()._fsdp_param_group for m in model]
    return {
        "params": {n: (id(p), tuple(p.placements), p.requires_grad, id(p._local_tensor))
                   for n, p in model.named_parameters()},
        "grads": {n: p.grad is None for n, p in model.named_parameters()},
        "hooks": {n: (sorted(m._forward_hooks), sorted(m._forward_pre_hooks), sorted(m._backward_hooks))
                  for n, m in model.named_modules()},
        "sharded": [(id(fp.sharded_param), id(fp._sharded_param_data)) for g in groups for fp in g.fsdp_params],
        "unsharded_freed": [not hasattr(fp, "_unsharded_param") or fp._unsharded_param.untyped_storage().size() == 0
                            for g in groups for fp in g.fsdp_params],
        "training": model.training,
    }


def rank_results(mesh) -> dict:
    """This rank's training step (reshard after forward, and not), its forward, whether the model is left as it
    was, and the user's own step afterwards (the shapes of this rank's gradient shards)."""
    import profiler

    model = fsdp_model(mesh)
    before = _state(model)
    out = {"step": summary(profiler.profile(model, inputs(), device="cpu", backward=True)),
           "forward": summary(profiler.profile(model, inputs(), device="cpu"))}
    out["left_as_it_was"] = _state(model) == before
    out["grads_none"] = all(p.grad is None for p in model.parameters())
    out["step_no_reshard"] = summary(profiler.profile(fsdp_model(mesh, reshard_after_forward=False), inputs(),
                                                      device="cpu", backward=True))
    model(inputs()).sum().backward()  # the user's own step still runs on this rank's shards
    out["user_grad_shapes"] = {n: list(p.grad.to_local().shape) for n, p in model.named_parameters()}
    return out


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    from _torchrun import rank_main

    rank_main(rank_results, sys.argv[1])
