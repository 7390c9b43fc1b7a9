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
import importlib
import warnings

import torch.nn as nn

from profiler.core.profile import Profile
from profiler.errors import UsageError


_WORDS = {"tp": "tensor-parallel", "ep": "expert-parallel", "dp_shard": "fully-sharded data-parallel"}


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
    if isinstance(model, nn.Module):
        model = _copy(model, kind)  # the simulation shards the model in place: the user's is left as it was
    built = build_model(model, device=dev, task=task, **build_kwargs)
    spec = built.info.spec if built.info.zoo != "module" else model if isinstance(model, str) else \
        type(model).__name__
    return built, spec, dev, run_kwargs


def _copy(model, kind: str):
    """A deep copy of a module handed to a simulation, when it fits in the memory there (free on meta)."""
    import copy

    from profiler.zoo import memory

    need = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers())
               if t.device.type != "meta")
    free = memory.available("cpu")
    if need and free is not None and need > free:
        raise UsageError(f"{kind}= shards a copy of the module given, {need / 2**30:.1f} GiB, more than the "
                         f"{free / 2**30:.1f} GiB free: build it on meta (with torch.device('meta')) or name it "
                         "(profile_model('hf:...'))")
    return copy.deepcopy(model)


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
def fake_group(world: int, rank: int, shape: tuple[int, ...] | None = None, names: tuple[str, ...] = ("tp",),
               kind: str = "tp"):
    """A device mesh of ``shape`` (default ``(world,)``, dimensions ``names``) on torch's fake process group of
    ``world`` ranks, as rank ``rank``: created (and destroyed on exit) when no process group exists, else the
    existing group's, which must have ``world`` ranks (``kind`` names the option that sets it)."""
    import torch.distributed as dist

    if not dist.is_available():
        raise UsageError(f"{kind}= needs torch.distributed, which this torch build lacks: profile without --{kind}")
    from torch.distributed.device_mesh import init_device_mesh

    created = False
    if dist.is_initialized():
        if dist.get_world_size() != world:
            raise UsageError(f"a process group of {dist.get_world_size()} ranks already exists: {kind} must equal "
                             f"it (or destroy it first), got {kind}={world}")
        if dist.get_rank() != rank:
            raise UsageError(f"this process is rank {dist.get_rank()} of the existing process group: "
                             f"give rank={dist.get_rank()} (or leave rank out)")
    else:
        from torch.testing._internal.distributed.fake_pg import FakeStore

        _forget_meshes()
        dist.init_process_group("fake", store=FakeStore(), rank=rank, world_size=world)
        created = True
    try:
        yield init_device_mesh("cpu", shape or (world,), mesh_dim_names=names)
    finally:
        if created:
            dist.destroy_process_group()
            _forget_meshes()


def _forget_meshes() -> None:
    """Empty DTensor's caches of sharding decisions and redistribution plans. Their keys compare meshes by shape,
    names and ranks, so a cached answer from a destroyed group's mesh would be handed to the next group's equal
    mesh, with the old subgroups' names in it ("Could not resolve the process group registered under the name
    3" when a simulation of another rank follows)."""
    for clear in ("torch.distributed.tensor.debug:_clear_sharding_prop_cache",
                  "torch.distributed.tensor._redistribute:clear_redistribute_planner_cache",
                  "torch.distributed.tensor._redistribute:_gen_transform_infos"):
        mod, _, name = clear.partition(":")
        try:
            fn = getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):  # another torch: the caches it has are named otherwise or absent
            continue
        (fn.cache_clear if hasattr(fn, "cache_clear") else fn)()


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


def profile_tp(model, *, tp: int = 1, rank: int = 0, dp_shard: int = 1, device: str = "auto",
               task: str | None = None, param_dtype: str | None = None, **kwargs) -> Profile:
    """:func:`profiler.zoo.profile_model` of one rank (``rank``) of ``model`` sharded ``tp`` ways with its config's
    tensor-parallel plan, and ``dp_shard`` ways with FSDP2 (:func:`profile_fsdp`) when that is above 1; the other
    keyword arguments are profile_model's. ``Profile.macs``/``params`` are this rank's,
    ``macs_global``/``params_global`` the logical model's, ``communication`` the step's collectives."""
    if dp_shard != 1:
        return profile_fsdp(model, tp=tp, dp_shard=dp_shard, rank=rank, device=device, task=task,
                            param_dtype=param_dtype, **kwargs)
    if param_dtype is not None:
        raise UsageError("param_dtype is FSDP's mixed precision: give dp_shard= too (e.g. dp_shard=8)")
    tp, rank = check_ranks("tp", tp, rank)
    built, spec, dev, run_kwargs = _build("tp", model, device, task, kwargs)
    m = built.model
    plan = tp_plan(m, tp, spec)
    _heads_check(m, tp, spec)
    with fake_group(tp, rank) as mesh:
        shard(m, mesh, plan)
        prof = _rank_pass(built, dev, run_kwargs)
    prof.notes.append(f"rank {rank} of tp={tp}: {_plan_words(plan)}; counted with autograd on (transformers' "
                      "DTensor path)")
    _ratio_note(prof)
    return prof


def _plan_words(plan: dict[str, str]) -> str:
    return (f"the config's tensor-parallel plan ({', '.join(sorted(set(plan.values())))}) applied by transformers' "
            "apply_tensor_parallelism under torch's fake process group (one process, no data moved)")


# -- fully-sharded data parallelism (FSDP2), with or without tensor parallelism --------------------------------
def fsdp_units(model, spec: str) -> list:
    """The modules FSDP2 shards one by one: the model's decoder (or encoder) layers, the classes transformers
    names in ``_no_split_modules`` (what its own FSDP wrapping policy takes); the root is sharded last."""
    names = set(getattr(model, "_no_split_modules", None) or ())
    units = [mod for mod in model.modules() if type(mod).__name__ in names and mod is not model]
    if not units:
        raise UsageError(f"{spec} names no layer class to shard one by one (a transformers model's "
                         "_no_split_modules): dp_shard= wraps each decoder layer with FSDP2; give a transformers "
                         "model (hf:...), or apply fully_shard yourself and pass the module to profiler.profile")
    return units


PARAM_DTYPES = ("bfloat16", "float16", "float32")


def profile_fsdp(model, *, tp: int = 1, dp_shard: int, rank: int = 0, device: str = "auto",
                 task: str | None = None, param_dtype: str | None = None, **kwargs) -> Profile:
    """One rank of ``tp`` x ``dp_shard`` ranks: the config's tensor-parallel plan on the ``tp`` dimension (when above
    1), then FSDP2 (``fully_shard``) over ``dp_shard`` ranks on each decoder layer (:func:`fsdp_units`) and on the
    root, as torchtitan and transformers' FSDP policy wrap them. Rank ``r`` is ``(r // tp, r % tp)`` on the
    ``(dp_shard, tp)`` mesh of torch's fake process group. Each data-parallel rank runs its own batch: ``macs`` is
    this rank's, ``macs_global`` the logical model's on this rank's batch (the step's whole compute is
    ``dp_shard`` times that).

    ``device`` auto or meta: the model is built on meta, sharded, and its parameters made fake tensors on the CPU
    (:class:`profiler.core.distributed.fake_simulation`): FSDP's all-gather and reduce-scatter buffers are made
    and its collectives issued as on a real rank, nothing is allocated or computed, and the pass counts shapes
    (``Profile.device == "fake"``). ``cpu``: built and run on real CPU tensors (small models).

    ``param_dtype`` (``"bfloat16"``, ``"float16"``): FSDP's mixed precision (``MixedPrecisionPolicy``): parameters
    all-gathered and computed in that dtype, gradients reduce-scattered in float32, torchtitan's defaults; None:
    the model's own dtype throughout."""
    for name, v in (("tp", tp), ("dp_shard", dp_shard)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise UsageError(f"{name} must be a positive integer (e.g. --{name.replace('_', '-')} 8), got {v!r}")
    world = tp * dp_shard
    if not isinstance(rank, int) or isinstance(rank, bool) or not 0 <= rank < world:
        raise UsageError(f"rank must be in 0..{world - 1} for tp={tp} x dp_shard={dp_shard} (--rank R), got {rank!r}")
    if param_dtype is not None and param_dtype not in PARAM_DTYPES:
        raise UsageError(f"param_dtype must be one of {', '.join(PARAM_DTYPES)} (FSDP's all-gather and compute "
                         f"dtype), got {param_dtype!r}")
    built, spec, dev, run_kwargs = _build("dp_shard", model, device, task, kwargs)
    m = built.model
    if dev == "meta" and _num_experts(m) is not None:
        raise UsageError(f"{spec} routes tokens to experts by their values, and dp_shard= counts on fake tensors, "
                         "which hold none: give device='cpu' (--device cpu: a real pass of the layout, a small "
                         "config) or simulate the experts with ep=")
    plan = tp_plan(m, tp, spec) if tp > 1 else None
    if plan is not None:
        _heads_check(m, tp, spec)
    units = fsdp_units(m, spec)
    kind = type(units[0]).__name__  # before fully_shard renames the classes (FSDPLlamaDecoderLayer)
    import torch
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy() if param_dtype is None else \
        MixedPrecisionPolicy(param_dtype=getattr(torch, param_dtype), reduce_dtype=torch.float32)

    from profiler.core.distributed import fake_simulation

    with fake_group(world, rank, (dp_shard, tp), ("dp_shard", "tp"), kind="dp_shard") as mesh, \
            warnings.catch_warnings():
        # FSDP warns of a root returning a view (the logits' slice): nothing a count depends on
        warnings.filterwarnings("ignore", message="FSDP2-wrapped module")
        if plan is not None:
            shard(m, mesh["tp"], plan)
        for unit in units:
            fully_shard(unit, mesh=mesh["dp_shard"], mp_policy=policy)
        fully_shard(m, mesh=mesh["dp_shard"], mp_policy=policy)
        if dev == "meta":
            with fake_simulation():
                m.to_empty(device="cpu")
                # FSDP's lazy initialisation re-pads a shorter last shard unless it finds the padded storage is
                # the parameter's already, which it tells by data_ptr(): 0 on fake tensors, so it would copy
                # (an op a real rank does not run in its step). Done here, before the pass, it is not counted.
                m._get_fsdp_state()._lazy_init()
                prof = _rank_pass(built, "cpu", run_kwargs)
            prof.device = "fake"
            if prof.source is not None:
                prof.source.device = device
        else:
            prof = _rank_pass(built, dev, run_kwargs)
    dp_rank, tp_rank = divmod(rank, tp)
    prof.notes.append(
        f"rank {rank} of tp={tp} x dp_shard={dp_shard} (tensor-parallel rank {tp_rank}, data-parallel rank "
        f"{dp_rank}): " + (f"{_plan_words(plan)}, then " if plan else "") +
        f"FSDP2 (fully_shard, reshard after forward" + (f", parameters gathered and computed in {param_dtype}, "
                                                         "gradients reduced in float32" if param_dtype else "") +
        f") on each of the {len(units)} {kind} and on the root over "
        f"{dp_shard} ranks; each data-parallel rank runs its own batch (the step's whole compute is {dp_shard} "
        "times macs_global)" + ("; counted on fake tensors on the CPU (FakeTensorMode: the CPU's kernel choices, "
                                "nothing allocated or computed)" if dev == "meta" else ""))
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
    (a custom op with a shape function), since torch's meta ``_grouped_mm`` refuses float32 on DTensor models.
    A real process group (torchrun's) answers the counts itself: they are left as it sends them."""
    import torch.distributed as dist
    import transformers.distributed.expert_parallel as xp
    import transformers.integrations.moe as moe

    from profiler.core.engine import unobserved

    real, can = xp.all_to_all_single, moe._can_use_grouped_mm

    def counts(output, input, *args, **kwargs):
        work = real(output, input, *args, **kwargs)
        # as a real group writes the received counts: in the collective, not an op of the model the pass sees
        with unobserved():
            output.copy_(input)
        return work

    if dist.get_backend() == "fake":
        xp.all_to_all_single = counts
    if meta:
        moe._can_use_grouped_mm = lambda *args: False
    try:
        yield
    finally:
        xp.all_to_all_single, moe._can_use_grouped_mm = real, can


def profile_ep(model, *, ep: int, rank: int = 0, tp: int | None = None, device: str = "auto",
               task: str | None = None, **kwargs) -> Profile:
    """:func:`profiler.zoo.profile_model` of one rank (``rank``) of ``ep`` expert-parallel ranks sharing one batch:
    the config's expert-parallel plan (``grouped_gemm`` expert weights, ``ep_dispatch_experts``) applied by
    transformers' ``apply_expert_parallelism`` with its ``all_to_all`` implementation under torch's fake process
    group. Each rank takes 1/ep of the tokens, sends each (token, expert) row to its expert's rank (all_to_all),
    runs its own ``experts/ep`` experts on the rows it receives, sends the results back (all_to_all) and
    all-gathers the token slices. Routing is balanced (the meta pass's assumption). ``Profile.macs`` is this
    rank's; ``macs_global`` the logical model's, from a pass of the same model unsharded (:func:`_logical`).

    ``tp`` (equal to ``ep``): the config's tensor-parallel plan on the same ranks too (attention colwise/rowwise,
    embeddings and head), transformers' layout for ``DistributedConfig(tp_size=n, ep_size=n)``, where the experts'
    ranks are the tensor-parallel group."""
    ep, rank = check_ranks("ep", ep, rank)
    if tp is not None and tp != ep:
        raise UsageError(f"tp={tp} and ep={ep}: transformers places the experts' ranks in the tensor-parallel group, "
                         f"so tp must equal ep (e.g. tp={ep} ep={ep}), or give one of them")
    built, spec, dev, run_kwargs = _build("ep", model, device, task, kwargs)
    m = built.model
    dense = None
    if tp is not None:  # resolved first: resolving the EP plan alone (tp_plan={}) leaves the model's plan empty
        if _num_experts(m) is not None:  # a model without experts is told so by ep_plan, below
            _heads_check(m, tp, spec)
        from transformers.distributed.configuration_utils import DistributedConfig

        try:
            dense, _, _ = m._resolve_parallel_plans(DistributedConfig(ep_size=ep, tp_size=tp))
        except (ValueError, AttributeError):
            dense = None  # no plan: named below by ep_plan, or as having no tensor-parallel plan
        if not dense:
            raise UsageError(f"{spec} has no tensor-parallel plan to apply beside its experts: give ep= alone")
    plan = ep_plan(m, ep, spec)
    if dense:
        dense = {k: v for k, v in dense.items() if k not in plan}
    from transformers.distributed.expert_parallel import apply_expert_parallelism

    import torch.distributed as dist

    with fake_group(ep, rank, kind="ep") as mesh, _ep_simulation(dev == "meta"):
        simulated = dist.get_backend() == "fake"
        if dense:
            shard(m, mesh, dense)
        apply_expert_parallelism(m, mesh, mesh, plan, ep_implementation="all_to_all")
        prof = _rank_pass(built, dev, run_kwargs)
    whole = _logical(model, prof, dev, task, kwargs)
    if dense:
        prof.notes.append(f"tp={tp} on the same ranks: {_plan_words(dense)}, the experts left to the "
                          "expert-parallel plan")
    prof.notes.append(f"rank {rank} of ep={ep} sharing one batch: the config's expert-parallel plan applied by "
                      "transformers' apply_expert_parallelism (all_to_all dispatch and combine, the token slices "
                      "all-gathered) " + ("under torch's fake process group; every rank assumed to receive what it "
                                          "sends (balanced routing)" if simulated else
                                          "on this process group, each rank's rows as its routing sent them") +
                      "; macs/params are this rank's, " +
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
