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


_WORDS = {"tp": "tensor-parallel", "ep": "expert-parallel"}


def check_ranks(kind: str, n, rank) -> tuple[int, int]:
    """``n`` (the ``kind`` ranks: tp or ep) and ``rank`` as integers, or a UsageError naming the fix."""
    for name, v in ((kind, n), ("rank", rank)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise UsageError(f"{name} must be an integer, got {v!r}")
    if n < 1:
        raise UsageError(f"{kind} must be at least 1 (the {_WORDS[kind]} ranks, e.g. --{kind} 8), got {n}")
    if not 0 <= rank < n:
        raise UsageError(f"rank must be in 0..{n - 1} for {kind}={n} (--rank R below --{kind}), got {rank}")
    return n, rank


def _build(kind: str, model, device, task, kwargs: dict):
    """(built model, its spec, the device of the pass, profile_model's own arguments) of a simulated rank: built
    on meta (``device`` auto) or the CPU, the only devices the ranks are simulated on."""
    from profiler.zoo.build import build_model

    device = str(device)
    if device not in ("auto", "meta", "cpu"):
        raise UsageError(f"{kind}= simulates the ranks in this process on meta or the CPU: use device auto, meta or "
                         f"cpu, not {device}")
    dev = "meta" if device == "auto" else device
    build_kwargs = {k: v for k, v in kwargs.items() if k not in _PROFILE_ARGS}
    run_kwargs = {k: v for k, v in kwargs.items() if k in _PROFILE_ARGS}
    built = build_model(model, device=dev, task=task, **build_kwargs)
    spec = built.info.spec if built.info.zoo != "module" else model if isinstance(model, str) else \
        type(model).__name__
    return built, spec, dev, run_kwargs


def _rank_pass(built, device: str, run_kwargs: dict) -> Profile:
    """profile_model of the sharded model, its forward run with autograd on (transformers' DTensor path)."""
    from profiler.zoo.build import profile_model

    m = built.model
    m.forward = _with_grad(m.forward)
    try:
        return profile_model(built, device=device, **run_kwargs)
    finally:
        del m.forward


def _ratio_note(prof: Profile) -> None:
    ratio = bytes_per_mac(prof)
    if ratio is not None:
        prof.notes.append(f"communication per compute: {ratio:.4g} bytes sent by this rank per MAC it runs "
                          f"({sum(c.sent for c in prof.communication):,.0f} bytes over {prof.macs:,} MACs)")


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
    tp, rank = check_ranks("tp", tp, rank)
    built, spec, dev, run_kwargs = _build("tp", model, device, task, kwargs)
    m = built.model
    plan = tp_plan(m, tp, spec)
    _heads_check(m, tp, spec)
    with fake_group(tp, rank) as mesh:
        shard(m, mesh, plan)
        prof = _rank_pass(built, dev, run_kwargs)
    kinds = sorted(set(plan.values()))
    prof.notes.append(f"rank {rank} of tp={tp}: the config's tensor-parallel plan ({', '.join(kinds)}) applied by "
                      "transformers' apply_tensor_parallelism under torch's fake process group (one process, no "
                      "data moved); counted with autograd on (transformers' DTensor path)")
    _ratio_note(prof)
    return prof


def bytes_per_mac(prof) -> float | None:
    """Bytes this rank sends over the pass's collectives per MAC it runs (None without MACs)."""
    return sum(c.sent for c in prof.communication) / prof.macs if prof.macs else None


_PROFILE_ARGS = frozenset({"input", "batch", "convention", "strict", "backward", "loss", "optimizer"})


# -- expert parallelism -----------------------------------------------------------------------------------
def _num_experts(model) -> int | None:
    config = getattr(model, "config", None)
    if config is None:
        return None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for field in ("num_local_experts", "num_experts", "n_routed_experts"):
        n = getattr(text, field, None)
        if isinstance(n, int) and n > 0:
            return n
    return None


def ep_plan(model, ep: int, spec: str) -> dict[str, str]:
    """The model's resolved expert-parallel plan (its config's ``base_model_ep_plan``) for ``ep`` ranks sharing one
    batch: transformers' ``DistributedConfig(ep_size=ep, tp_size=ep, tp_plan={})``, the EP plan alone."""
    n = _num_experts(model)
    resolve = getattr(model, "_resolve_parallel_plans", None)
    if n is None or resolve is None or not getattr(model, "ep_plan", None):
        raise UsageError(f"{spec} has no experts (no expert-parallel plan, a transformers MoE config's "
                         "base_model_ep_plan): profile it without --ep")
    if n % ep:
        raise UsageError(f"{spec}: {n} experts are not divisible by ep={ep}: give an ep that divides {n}")
    from transformers.distributed.configuration_utils import DistributedConfig

    _, plan, _ = resolve(DistributedConfig(ep_size=ep, tp_size=ep, tp_plan={}))
    return plan


@contextlib.contextmanager
def _ep_simulation(meta: bool):
    """What the simulation needs of transformers' ``AllToAllEP``: the per-expert counts each rank receives (an
    all_to_all the fake process group answers with nothing) taken as the counts this rank sends, which is what
    balanced routing gives every rank; on meta, the experts' products through transformers' grouped_mm fallback
    (a custom op with a shape function), since torch's meta ``_grouped_mm`` refuses float32 on DTensor models."""
    import transformers.distributed.expert_parallel as xp
    import transformers.integrations.moe as moe

    real, can = xp.all_to_all_single, moe._can_use_grouped_mm

    def counts(output, input, *args, **kwargs):
        work = real(output, input, *args, **kwargs)
        output.copy_(input)
        return work

    xp.all_to_all_single = counts
    if meta:
        moe._can_use_grouped_mm = lambda *args: False
    try:
        yield
    finally:
        xp.all_to_all_single, moe._can_use_grouped_mm = real, can


def profile_ep(model, *, ep: int, rank: int = 0, device: str = "auto", task: str | None = None,
               **kwargs) -> Profile:
    """:func:`profiler.zoo.profile_model` of one rank (``rank``) of ``ep`` expert-parallel ranks sharing one batch:
    the config's expert-parallel plan (``grouped_gemm`` expert weights, ``ep_dispatch_experts``) applied by
    transformers' ``apply_expert_parallelism`` with its ``all_to_all`` implementation under torch's fake process
    group. Each rank takes 1/ep of the tokens, sends each (token, expert) row to its expert's rank (all_to_all),
    runs its own ``experts/ep`` experts on the rows it receives, sends the results back (all_to_all) and
    all-gathers the token slices. Routing is balanced (the meta pass's assumption). ``Profile.macs`` is this
    rank's; ``macs_global`` the logical model's, from a pass of the same model unsharded (:func:`_logical`)."""
    ep, rank = check_ranks("ep", ep, rank)
    built, spec, dev, run_kwargs = _build("ep", model, device, task, kwargs)
    m = built.model
    plan = ep_plan(m, ep, spec)
    from transformers.distributed.expert_parallel import apply_expert_parallelism

    with fake_group(ep, rank) as mesh, _ep_simulation(dev == "meta"):
        apply_expert_parallelism(m, mesh, mesh, plan, ep_implementation="all_to_all")
        prof = _rank_pass(built, dev, run_kwargs)
    whole = _logical(model, prof, dev, task, kwargs)
    prof.notes.append(f"rank {rank} of ep={ep} sharing one batch: the config's expert-parallel plan applied by "
                      "transformers' apply_expert_parallelism (all_to_all dispatch and combine, the token slices "
                      "all-gathered) under torch's fake process group; every rank assumed to receive what it sends "
                      "(balanced routing); macs/params are this rank's, " +
                      ("macs_global the logical model's (the same model unsharded, counted apart: the experts run "
                       "on plain local tensors, which the pass cannot see as a share of a whole)" if whole else
                       "macs_global is not the logical model's (the experts run on plain local tensors)"))
    _ratio_note(prof)
    return prof


def _logical(model, prof: Profile, device: str, task, kwargs: dict) -> bool:
    """Give ``prof`` (one EP rank) the logical model's figures: every layer's global ops and parameters from a
    pass of the same model unsharded. Expert parallelism runs the experts on plain local tensors and slices the
    batch before any DTensor op, so the rank's own pass cannot tell them. Only for a model named by the zoo (a
    module given is sharded already) and when both passes have the same layers; else False (nothing changed)."""
    from profiler.zoo.build import profile_model

    if not isinstance(model, str) or prof.distributed is None:
        return False
    whole = profile_model(model, device=device, task=task, **kwargs)
    paths = {layer.path: layer for layer in whole.layers}
    if [layer.path for layer in prof.layers] != list(paths):
        return False
    for layer in prof.layers:
        w = paths[layer.path]
        layer.global_ops, layer.params_global = w.phase_ops(), w.params
    prof.distributed.params_global_trainable = whole.params_trainable
    prof.distributed.params_global_frozen = whole.params_frozen
    return True
