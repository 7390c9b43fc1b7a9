"""Expert parallelism of a small Mixtral (``profile_model("hf:mixtral", ep=N, rank=R, device="cpu")``) with a
deterministic, balanced routing, and what a rank's profile of it says. Imported by the tests; run as a script under
torchrun (gloo, CPU) it profiles its rank on the real process group (``profile_ep`` uses an existing group of
``ep`` ranks as it is) and writes ``rank<r>.json`` into the folder given.

Routing: random weights route unevenly, and the simulation answers the per-expert counts exchange with the counts
this rank sends (what balanced routing gives every rank). So the router's choice is fixed here, the same in the
real run and the simulation: token i's k-th expert is ``(i k_total + k) mod E``, whatever the logits (the router's
own product, softmax and top-k still run and are counted; only the indices it returns are replaced, by a tensor
made before the pass). With T / ep a multiple of E / k, every rank then sends each other rank's experts as many
rows as it receives from them, each expert gets T k / E rows, and the real exchange is the simulated one."""
from __future__ import annotations

import contextlib
import os
import sys

import torch

L, H, I, E, K, T = 2, 64, 128, 8, 2, 32
KW = dict(num_hidden_layers=L, hidden_size=H, num_attention_heads=4, num_key_value_heads=2, intermediate_size=I,
          num_local_experts=E, num_experts_per_tok=K, vocab_size=256)


def balanced_indices(tokens: int = T, k: int = K, e: int = E) -> torch.Tensor:
    return (torch.arange(tokens)[:, None] * k + torch.arange(k)[None, :]) % e


@contextlib.contextmanager
def fixed_routing():
    """Mixtral's router returning :func:`balanced_indices` (and its own scores)."""
    from transformers.models.mixtral.modeling_mixtral import MixtralTopKRouter

    indices = balanced_indices()
    real = MixtralTopKRouter.forward

    def forward(self, hidden_states):
        logits, scores, _ = real(self, hidden_states)
        assert logits.shape[0] == indices.shape[0], "the router sees all T tokens"
        return logits, scores, indices

    MixtralTopKRouter.forward = forward
    try:
        yield
    finally:
        MixtralTopKRouter.forward = real


def comm_records(prof) -> list:
    return [[c.path, c.phase, c.kind, c.group_size, c.calls, c.bytes, c.sent, c.received] for c in prof.communication]


def summary(prof) -> dict:
    return {"rank": prof.distributed.rank, "world_size": prof.distributed.world_size,
            "macs": prof.macs, "macs_global": prof.macs_global, "params": prof.params,
            "params_global": prof.params_global, "by_category": prof.by_category, "by_phase": prof.by_phase,
            "comm": comm_records(prof), "comm_ops": sorted({op for c in prof.communication for op in c.ops}),
            "coverage": [u.op for u in prof.coverage], "device": prof.device,
            "expert_tokens": {layer.path: layer.expert_tokens for layer in prof.layers if layer.expert_tokens}}


def rank_results(ep: int, rank: int) -> dict:
    """This rank's forward and training step, with the process group there is (torchrun's) or a fake one made
    for it."""
    from profiler.zoo import profile_model

    with fixed_routing():
        return {"forward": summary(profile_model("hf:mixtral", ep=ep, rank=rank, device="cpu", input=T, **KW)),
                "step": summary(profile_model("hf:mixtral", ep=ep, rank=rank, device="cpu", input=T, backward=True,
                                              **KW))}


def unsharded() -> dict:
    from profiler.zoo import profile_model

    with fixed_routing():
        return summary(profile_model("hf:mixtral", device="cpu", input=T, **KW))


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    from _torchrun import rank_main

    rank_main(rank_results, sys.argv[1], mesh=False)
