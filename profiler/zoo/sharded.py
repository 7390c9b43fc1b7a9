"""One rank of a tensor-parallel model, simulated in this process: ``profile_model("hf:llama", tp=8, rank=0)``.

The model is built as :func:`profiler.zoo.profile_model` builds it (on meta by default), then sharded with the
config's own tensor-parallel plan by transformers itself: the plan the model resolves
(``PreTrainedModel._resolve_parallel_plans``: the config's ``base_model_tp_plan``, the class's ``_tp_plan`` for
its head, and ``embedding_rowwise`` for the input embeddings) applied by
``transformers.distributed.tensor_parallel.apply_tensor_parallelism`` on a 1-d ``tp`` mesh of torch's fake process
group (``backend="fake"``: collectives return at once without moving data, one process stands for every rank).
The parameters become DTensor placeholders (meta shards on a meta build) and the styles' forwards redistribute
activations; :mod:`profiler.core.distributed` then counts this rank's kernels (``Profile.macs``), the logical
model's (``Profile.macs_global``) and the collectives with their bytes.

The forward pass is counted with autograd on: transformers' styles take a local fast path under ``no_grad``
(plain tensors, a plain ``all_reduce``), where this rank's kernels and the collectives are the same but nothing
tells a shard from the whole; with autograd on they go through DTensor, which says both. The profiler's own
forward pass runs under ``no_grad``, so the model's forward is wrapped in ``torch.enable_grad()`` for the pass.

A fake process group is created for ``tp`` ranks when none exists, and destroyed afterwards; an existing one
(torchrun, a test's) is used as it is when its size is ``tp``.
"""
from __future__ import annotations

import contextlib
import functools

from profiler.core.profile import Profile
from profiler.errors import UsageError


def check_tp(tp, rank) -> tuple[int, int]:
    """``tp`` and ``rank`` as integers, or a UsageError naming the fix."""
    for name, v in (("tp", tp), ("rank", rank)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise UsageError(f"{name} must be an integer, got {v!r}")
    if tp < 1:
        raise UsageError(f"tp must be at least 1 (the tensor-parallel ranks, e.g. --tp 8), got {tp}")
    if not 0 <= rank < tp:
        raise UsageError(f"rank must be in 0..{tp - 1} for tp={tp} (--rank R below --tp), got {rank}")
    return tp, rank


@contextlib.contextmanager
def fake_group(tp: int, rank: int):
    """A 1-d ``tp`` device mesh on torch's fake process group of ``tp`` ranks, as rank ``rank``: created (and
    destroyed on exit) when no process group exists, else the existing group's, which must have ``tp`` ranks."""
    import torch.distributed as dist

    if not dist.is_available():
        raise UsageError("tp= needs torch.distributed, which this torch build lacks: profile without --tp")
    from torch.distributed.device_mesh import init_device_mesh

    created = False
    if dist.is_initialized():
        if dist.get_world_size() != tp:
            raise UsageError(f"a process group of {dist.get_world_size()} ranks already exists: tp must equal it "
                             f"(or destroy it first), got tp={tp}")
        if dist.get_rank() != rank:
            raise UsageError(f"this process is rank {dist.get_rank()} of the existing process group: "
                             f"give rank={dist.get_rank()} (or leave rank out)")
    else:
        from torch.testing._internal.distributed.fake_pg import FakeStore

        dist.init_process_group("fake", store=FakeStore(), rank=rank, world_size=tp)
        created = True
    try:
        yield init_device_mesh("cpu", (tp,), mesh_dim_names=("tp",))
    finally:
        if created:
            dist.destroy_process_group()


def _heads_check(model, tp: int, spec: str) -> None:
    config = getattr(model, "config", None)
    if config is None:
        return
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for field in ("num_attention_heads", "num_key_value_heads"):
        n = getattr(text, field, None)
        if isinstance(n, int) and n % tp:
            raise UsageError(f"{spec}: {field}={n} is not divisible by tp={tp}: give a tp that divides it "
                             f"(or --kwargs {field}=N with N a multiple of {tp})")


class _TPMeshes:
    """What ``apply_tensor_parallelism`` asks of a model's mesh manager: the ``tp`` mesh (the only axis here)."""

    def __init__(self, mesh):
        self.mesh = mesh

    def get_mesh(self, dims):
        return self.mesh


def tp_plan(model, tp: int, spec: str) -> dict[str, str]:
    """The model's resolved tensor-parallel plan, one entry per module and parameter (transformers' own)."""
    plan = getattr(model, "tp_plan", None)
    resolve = getattr(model, "_resolve_parallel_plans", None)
    if not plan or resolve is None:
        raise UsageError(f"{spec} has no tensor-parallel plan (a transformers model's, from its config's "
                         "base_model_tp_plan): profile it without --tp, or shard it yourself (torch.distributed.tensor.parallel.parallelize_module) "
                         "and pass the module to profiler.profile")
    if tp == 1:
        return model._expand_parallel_plan(dict(plan))
    from transformers.distributed.configuration_utils import DistributedConfig

    resolved, _, _ = resolve(DistributedConfig(tp_size=tp))
    return resolved


def shard(model, mesh, plan: dict[str, str]):
    """Apply ``plan`` to ``model`` on ``mesh`` with transformers' ``apply_tensor_parallelism``."""
    from transformers.distributed.tensor_parallel import apply_tensor_parallelism

    if getattr(model, "_mesh_manager", None) is None:
        model._mesh_manager = _TPMeshes(mesh)
    return apply_tensor_parallelism(model, mesh, plan)


def _with_grad(forward):
    import torch

    @functools.wraps(forward)
    def run(*args, **kwargs):
        with torch.enable_grad():
            return forward(*args, **kwargs)
    return run


def profile_tp(model, *, tp: int, rank: int = 0, device: str = "auto", task: str | None = None,
               **kwargs) -> Profile:
    """:func:`profiler.zoo.profile_model` of one rank (``rank``) of ``model`` sharded ``tp`` ways with its config's
    tensor-parallel plan; the other keyword arguments are profile_model's. ``Profile.macs``/``params`` are this
    rank's, ``macs_global``/``params_global`` the logical model's, ``communication`` the step's collectives."""
    from profiler.zoo.build import build_model, profile_model

    tp, rank = check_tp(tp, rank)
    device = str(device)
    if device not in ("auto", "meta", "cpu"):
        raise UsageError(f"tp= simulates the ranks in this process on meta or the CPU: use device auto, meta or cpu, "
                         f"not {device}")
    build_kwargs = {k: v for k, v in kwargs.items() if k not in _PROFILE_ARGS}
    run_kwargs = {k: v for k, v in kwargs.items() if k in _PROFILE_ARGS}
    spec = model if isinstance(model, str) else type(model).__name__
    built = build_model(model, device="meta" if device == "auto" else device, task=task, **build_kwargs)
    spec = built.info.spec if built.info.zoo != "module" else spec
    m = built.model
    plan = tp_plan(m, tp, spec)
    _heads_check(m, tp, spec)
    with fake_group(tp, rank) as mesh:
        shard(m, mesh, plan)
        m.forward = _with_grad(m.forward)
        try:
            prof = profile_model(built, device="meta" if device == "auto" else device, **run_kwargs)
        finally:
            del m.forward
    kinds = sorted(set(plan.values()))
    prof.notes.append(f"rank {rank} of tp={tp}: the config's tensor-parallel plan ({', '.join(kinds)}) applied by "
                      "transformers' apply_tensor_parallelism under torch's fake process group (one process, no "
                      "data moved); counted with autograd on (transformers' DTensor path)")
    ratio = bytes_per_mac(prof)
    if ratio is not None:
        prof.notes.append(f"communication per compute: {ratio:.4g} bytes sent by this rank per MAC it runs "
                          f"({sum(c.sent for c in prof.communication):,.0f} bytes over {prof.macs:,} MACs)")
    return prof


def bytes_per_mac(prof) -> float | None:
    """Bytes this rank sends over the pass's collectives per MAC it runs (None without MACs)."""
    return sum(c.sent for c in prof.communication) / prof.macs if prof.macs else None


_PROFILE_ARGS = frozenset({"input", "batch", "convention", "strict", "backward", "loss", "optimizer"})
