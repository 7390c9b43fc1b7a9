"""Distributed passes: DTensor models counted as this rank runs them and as the logical model is, and the
collectives of the step as communication.

A dispatch mode meets a DTensor's op at the DTensor level (global shapes); the local ops DTensor's own
dispatch then runs on the shards would run with the mode off the stack. So the observer, when an op's
arguments hold a DTensor, charges that op as the logical model's (``Layer.global_ops``) and runs it with
itself pushed back on the stack: its second call for the same op answers ``NotImplemented``, which hands the op
to DTensor's dispatch with the observer still there, and every local op that dispatch runs on the shards is
charged as this rank's (``Layer.ops``). Ops on plain tensors count for both (every rank runs them, the logical
model once). The sharding propagation's fake-tensor ops (its shape inference, cached after a signature's first
call) are skipped. Collectives (:data:`profiler.counters.comm.COLLECTIVES`), met inside a DTensor op or
anywhere, are recorded once per module, phase and kind with their bytes, never as compute.

A model without DTensors pays one check of the dispatcher's ``types`` (empty for plain tensors) per op.
"""
from __future__ import annotations

import sys
import weakref
from typing import Any

import torch

from profiler.counters.comm import all_to_all_split, traffic
from profiler.core.profile import CommStat, Distributed, OpStat

PLAIN = object()  # dispatch(): not a DTensor op, the observer goes on as for any op
_FAKE_KEY = torch._C._TorchDispatchModeKey.FAKE


def dtensor_type():
    """The DTensor class, or None where ``torch.distributed.tensor`` was never imported (then no DTensor
    exists, and nothing is imported here for it)."""
    mod = sys.modules.get("torch.distributed.tensor._api")
    return getattr(mod, "DTensor", None) if mod is not None else None


def _local_numel(t) -> int:
    return t._local_tensor.numel()


# -- the module tree: shards' elements --------------------------------------------------------------
def shard_params(tree) -> bool:
    """Count DTensor parameters and buffers of ``tree`` (a :class:`profiler.core.engine._ModuleTree`) by their
    local shards (this rank's elements), keeping the logical model's counts apart (``Layer.params_global``,
    ``tree.params_global``); whether the model holds any DTensor."""
    dt = dtensor_type()
    if dt is None:
        return False
    seen: set[int] = set()
    found = False
    g_trainable, g_frozen = tree.trainable, tree.frozen
    for mod in tree.order:
        layer = tree.modules[id(mod)][1]
        for p in mod._parameters.values():
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            if not isinstance(p, dt):
                continue
            found = True
            extra = p.numel() - _local_numel(p)
            if layer.params_global is None:
                layer.params_global = layer.params
            layer.params -= extra
            if p.requires_grad:
                layer.params_trainable -= extra
                tree.trainable -= extra
            else:
                tree.frozen -= extra
        for b in mod._buffers.values():
            if b is None or id(b) in seen:
                continue
            seen.add(id(b))
            if isinstance(b, dt):
                found = True
                extra = b.numel() - _local_numel(b)
                layer.buffers -= extra
                tree.buffers -= extra
    tree.params_global = (g_trainable, g_frozen)
    return found


# -- the pass --------------------------------------------------------------------------------------------
def begin(state, tree, undo) -> None:
    """Make ``state`` keep the global counts apart from this rank's from the start of the pass (a model with
    DTensor parameters), and hold each module that has forward hooks of its own (a parallel style's output
    redistribution) on the module stack while they run, so their collectives are its own."""
    _split(state, None)
    for mod in tree.order:
        if mod._forward_hooks:
            entry = tree.modules[id(mod)]
            h_in = mod.register_forward_hook(_Reenter(state, entry), prepend=True)
            undo.callback(h_in.remove)
            h_out = mod.register_forward_hook(_Leave(state, entry))
            undo.callback(h_out.remove)


class _Reenter:
    """First of a module's own forward hooks: the module back on the stack (the profiler's global hook, which
    runs before them, took it off)."""
    __slots__ = ("state", "entry")

    def __init__(self, state, entry):
        self.state, self.entry = state, entry

    def __call__(self, module, args, output):
        self.state.stack.append((self.entry, args, None))


class _Leave:
    """Last of a module's own forward hooks: off the stack again."""
    __slots__ = ("state", "entry")

    def __init__(self, state, entry):
        self.state, self.entry = state, entry

    def __call__(self, module, args, output):
        stack = self.state.stack
        if stack and stack[-1][0] is self.entry:
            stack.pop()


def _split(state, mode) -> None:
    if state.split:
        return
    state.split = True
    state.shards = {}  # id(plain tensor) -> (weakref, global / local elements): local shards, see _mark_shards
    state.fast = False  # leaf fast paths charge from the module's shapes: off once DTensors are in play
    for entry in state.modules.values():
        layer = entry[1]
        layer.global_ops = {phase: {name: OpStat(st.calls, dict(st.counts), st.bytes_read, st.bytes_written)
                                    for name, st in ops.items()} for phase, ops in layer.phase_ops().items()
                            if ops}
    record = state.record_local = state.record  # the bound method of the class: this rank's record
    state.record = lambda func, args, kwargs, out: _record_split(state, record, func, args, kwargs, out)
    if mode is not None:
        mode.record = state.record


def _fake_active() -> bool:
    """Whether an op inside a DTensor op is the sharding propagation's shape inference (no kernel of the model):
    any op under a fake-tensor mode, except in a fake-tensor simulation (:func:`fake_simulation`), where every
    op is fake and only the propagation's own inference is told apart."""
    if _SIMULATION[0] is not None:
        return _SIMULATION[1] > 0
    return torch._C._get_dispatch_mode(_FAKE_KEY) is not None


# [the simulation's FakeTensorMode or None, depth of the sharding propagation's shape inference]
_SIMULATION: list = [None, 0]


class fake_simulation:
    """A pass on fake tensors (:class:`torch._subclasses.fake_tensor.FakeTensorMode`): tensors that keep their
    device (the CPU's kernel choices) and allocate nothing. DTensor's sharding propagation runs its shape
    inference under the fake mode it finds, this one, so its entries are counted here to keep them out of the
    rank's kernels. Entered around building the fake parameters and the pass; not reentrant."""

    def __enter__(self):
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.distributed.tensor._sharding_prop import ShardingPropagator

        if _SIMULATION[0] is not None:
            raise RuntimeError("a fake-tensor simulation is already running in this process")
        self.cls, self.real = ShardingPropagator, ShardingPropagator._propagate_tensor_meta_non_cached
        real = self.real

        def inferring(prop, op_schema):
            _SIMULATION[1] += 1
            try:
                return real(prop, op_schema)
            finally:
                _SIMULATION[1] -= 1

        self.cls._propagate_tensor_meta_non_cached = inferring
        self.mode = FakeTensorMode(allow_non_fake_inputs=True)
        _SIMULATION[:] = [self.mode, 0]
        self.mode.__enter__()
        return self.mode

    def __exit__(self, *exc):
        try:
            return self.mode.__exit__(*exc)
        finally:
            _SIMULATION[:] = [None, 0]
            self.cls._propagate_tensor_meta_non_cached = self.real


def _record_split(state, record, func, args, kwargs, out) -> None:
    """A plain-tensor op of a split pass: inside a DTensor op it is this rank's local kernel; outside, every rank
    and the logical model run it."""
    if state.inner:
        if not _fake_active():  # the sharding propagation's shape inference is no kernel of the model
            record(func, args, kwargs, out)
        return
    scale = _shard_scale(state, args) if state.shards else 1
    if scale != 1:
        _mark_shards(state, out, scale)
    record_global(state, record, func, args, kwargs, out, scale)
    record(func, args, kwargs, out)


# A plain op on a DTensor's local shard (an activation a parallel style handed on with ``to_local()``: the ReLU
# between a colwise and a rowwise Linear) runs on every rank, each on its shard: the logical model's op is all
# of them, this rank's count times global / local elements of the DTensor the shard came from. Shards are
# known from the outputs of DTensor ops and passed on to the outputs of plain ops that read one.
def _mark_shards(state, out, scale) -> None:
    if isinstance(out, torch.Tensor):
        state.shards[id(out)] = (weakref.ref(out), scale)
    elif isinstance(out, (list, tuple)):
        for o in out:
            _mark_shards(state, o, scale)


def _shard_scale(state, args) -> float:
    scale = 1
    for a in args:
        if isinstance(a, torch.Tensor):
            hit = state.shards.get(id(a))
            if hit is not None and hit[0]() is a and hit[1] > scale:
                scale = hit[1]
        elif isinstance(a, (list, tuple)):
            s = _shard_scale(state, a)
            scale = s if s > scale else scale
    return scale


def _mark_dtensor_shards(state, out, dt) -> None:
    """Remember the local shards of a DTensor op's outputs (those smaller than their global tensor)."""
    if isinstance(out, dt):
        local = out._local_tensor
        n = local.numel()
        if n and n < out.numel():
            state.shards[id(local)] = (weakref.ref(local), out.numel() / n)
    elif isinstance(out, (list, tuple)):
        for o in out:
            _mark_dtensor_shards(state, o, dt)


def scaled(scale, counts, read, written):
    """Counts and bytes of one rank's op on its shard, times ``scale``: the logical model's (all ranks')."""
    return ({c: int(round(n * scale)) for c, n in counts.items()}, int(round(read * scale)),
            int(round(written * scale)))


def record_global(state, record, func, args, kwargs, out, scale=1) -> None:
    """Charge an op to the logical model's counts only, with the attention bookkeeping of that stream."""
    state.to_global = True
    state.global_scale = scale
    capture, state.capture = state.capture, None
    local_attn = (state.last_product, state.pending_av)
    state.last_product, state.pending_av = state.global_attn
    try:
        record(func, args, kwargs, out)
    finally:
        state.global_attn = (state.last_product, state.pending_av)
        state.last_product, state.pending_av = local_attn
        state.capture = capture
        state.to_global = False
        state.global_scale = 1


def dispatch(mode, func, types, args, kwargs) -> Any:
    """The observer's handling of an op whose arguments hold a tensor subclass: :data:`PLAIN` for any subclass
    but DTensor (the op is then observed as usual); a DTensor op's output, its local ops charged as this rank's
    and the op itself as the logical model's."""
    dt = dtensor_type()
    if dt is None or not any(issubclass(t, dt) for t in types):
        return PLAIN
    state = mode.state
    if state.inner:
        if _fake_active():
            return PLAIN
        # a DTensor op inside another (a decomposition): DTensor runs it, its local ops come back here
        return NotImplemented
    _split(state, mode)
    mode.fast_meta = None  # torch's meta kernels for the shards; the fast ones return plain tensors
    state.inner += 1
    torch._C._push_on_torch_dispatch_stack(mode)
    try:
        out = func(*args, **kwargs)
    finally:
        torch._C._pop_torch_dispatch_stack(None)
        state.inner -= 1
    record_global(state, state.record_local, func, args, kwargs, out)
    _mark_dtensor_shards(state, out, dt)
    return out


# -- collectives -------------------------------------------------------------------------------------
def _group(g, cache: dict):
    """(size, rank) of a collective's process group: a group name (functional collectives), a ProcessGroup
    script object (the c10d ops) or a ProcessGroup."""
    key = g if isinstance(g, (str, int)) else id(g)
    hit = cache.get(key)
    if hit is not None:
        return hit
    import torch.distributed as dist

    pg = g
    if isinstance(g, str):
        from torch.distributed.distributed_c10d import _resolve_process_group

        pg = _resolve_process_group(g)
    elif isinstance(g, torch.ScriptObject):
        pg = dist.ProcessGroup.unbox(g)
    elif g is None:
        pg = dist.group.WORLD
    hit = cache[key] = (pg.size(), pg.rank())
    return hit


def collective(state, c, name: str, args, kwargs, out) -> None:
    """Record one collective op ``name`` (read as ``c``, a :class:`profiler.counters.comm.Collective`) for the
    module and phase running it: calls, size S and the bytes this rank sends and receives."""
    if state.comm is None:
        state.comm = {}
        state.groups = {}
    n, rank = _group(c.group(args), state.groups)
    size = c.size(args, kwargs, n)
    root = args[c.root] if c.root is not None and len(args) > c.root else 0
    sent, received = traffic(c.kind, size, n, rank, root if isinstance(root, int) else 0)
    if c.splits is not None and len(args) > max(c.splits):
        out_splits, in_splits = args[c.splits[0]], args[c.splits[1]]
        if out_splits and in_splits and len(out_splits) == n == len(in_splits):
            functional = c.splits == (1, 2)  # (input, output splits, input splits, group) -> output
            t_in = args[0] if functional else args[1]
            t_out = out if functional else args[0]
            sent, received = all_to_all_split(_row_bytes(t_in), in_splits, _row_bytes(t_out), out_splits, rank)
    phase = state.phase
    if phase == "forward":
        entry = state.stack[-1][0] if state.stack else state.root
    else:
        entry, phase = state._step_entry(phase, args)
    if state.owner is not None:
        entry = state.owner
    key = (entry[0], phase, c.kind, n)
    st = state.comm.get(key)
    if st is None:
        st = state.comm[key] = CommStat(entry[0], phase, c.kind, n)
    st.calls += 1
    st.bytes += size
    st.sent += sent
    st.received += received
    if name not in st.ops:
        st.ops.append(name)


def _row_bytes(t) -> int:
    if not isinstance(t, torch.Tensor) or t.dim() == 0 or t.shape[0] == 0:
        return 0
    return t.numel() // t.shape[0] * t.element_size()


def result(state, tree) -> Distributed | None:
    """What the pass adds to the profile (None for a pass that met no DTensor and no collective)."""
    if not state.split and not state.comm:
        return None
    import torch.distributed as dist

    ready = dist.is_available() and dist.is_initialized()
    trainable, frozen = getattr(tree, "params_global", None) or (tree.trainable, tree.frozen)
    order = {path: i for i, path in enumerate(tree.layers)}
    phases = {"forward": 0, "loss": 1, "backward": 2, "recompute": 3, "optimizer": 4}
    comm = sorted((state.comm or {}).values(), key=lambda s: (order.get(s.path, 0), phases.get(s.phase, 9), s.kind))
    return Distributed(rank=dist.get_rank() if ready else 0, world_size=dist.get_world_size() if ready else 1,
                       params_global_trainable=trainable, params_global_frozen=frozen, communication=comm,
                       dtensor=bool(state.split))


# -- FSDP2 (torch.distributed.fsdp.fully_shard) ------------------------------------------------------------------
# FSDP2 keeps its own references to a module's sharded parameters (``FSDPParam.sharded_param`` and the padded
# 1-d ``_sharded_param_data`` its all-gather reads) and sets the unsharded (or sharded) parameters on the modules
# itself around each forward and backward. For a pass on copies (a training step, another device), each FSDPParam
# is pointed at the copy swapped in for its parameter, with a padded shard of that copy: the all-gathers read the
# copies (meta copies on a meta pass), the reduce-scatters write the copies' gradients, and the user's parameters,
# their ``.grad`` and FSDP's state (the lazy initialisation a first forward does, the unsharded parameters, the
# gradient buffers) come back as they were: every FSDP object's attributes are put back after the pass.
# Each parameter group's unshard (all-gather, copy-in, copy-out) and post-backward (reduce-scatter of its gradients)
# is charged to the module the group belongs to (``state.owner``), also when another module runs it: the backward
# prefetch of the next group's all-gather, the root's final callback that reduces the gradients of a module whose
# input needs no gradient.
_OWNED = ("unshard", "wait_for_unshard", "post_backward", "finalize_backward")


class FSDPOnMeta(RuntimeError):
    """An FSDP2 model asked to run on meta copies."""


# Why not on meta (torch 2.x): FSDP makes its all-gather and reduce-scatter buffers on the device it was given
# (the mesh's), and waits on its streams and events through ``torch.<device type>`` (``_get_device_handle``),
# which meta has none of; its lazy initialisation also refuses sharded parameters on meta
# (``_validate_no_meta_params``). A model on the CPU asked for meta is counted on fake CPU tensors instead
# (engine._profile); this refusal is left for FSDP parameters on meta themselves, or on another device.
FSDP_ON_META = ("FSDP2 (fully_shard) modules cannot run on meta copies: FSDP allocates its all-gather and "
                "reduce-scatter buffers on its mesh's device and drives them through that device's streams and "
                "events, which meta has none of; give the parameters a device (model.to_empty(device='cpu'), "
                "then device='meta' counts shapes on fake CPU tensors) or profile on the parameters' device")


def has_fsdp(tree) -> bool:
    """Whether the module tree holds an FSDP2 (``fully_shard``) module."""
    cls = _fsdp_module_type()
    return cls is not None and any(isinstance(mod, cls) for mod in tree.order)


def _fsdp_module_type():
    mod = sys.modules.get("torch.distributed.fsdp._fully_shard._fully_shard")
    return getattr(mod, "FSDPModule", None) if mod is not None else None


def _snapshot(obj) -> tuple:
    """An object's attributes, containers copied one level (FSDP appends to its lists in place)."""
    return obj, {k: (type(v)(v) if type(v) in (list, dict, set) else v) for k, v in obj.__dict__.items()}


def _restore(saved) -> None:
    for obj, attrs in saved:
        obj.__dict__.clear()
        obj.__dict__.update(attrs)


class _Owned:
    """A parameter group's method, run with the group's module as the owner of its ops and collectives."""
    __slots__ = ("state", "entry", "fn")

    def __init__(self, state, entry, fn):
        self.state, self.entry, self.fn = state, entry, fn

    def __call__(self, *args, **kwargs):
        state = self.state
        prev, state.owner = state.owner, self.entry
        try:
            return self.fn(*args, **kwargs)
        finally:
            state.owner = prev


def fsdp(state, tree, undo) -> bool:
    """Prepare the FSDP2 modules of ``tree`` for the pass (after the copies are swapped in): whether any."""
    cls = _fsdp_module_type()
    if cls is None:
        return False
    wrapped = [mod for mod in tree.order if isinstance(mod, cls)]
    if wrapped and state.meta:
        raise FSDPOnMeta(FSDP_ON_META)
    saved: list = []
    undo.callback(_restore, saved)
    seen: set[int] = set()
    for mod in wrapped:
        fstate = mod._get_fsdp_state()
        if id(fstate) in seen:
            continue
        seen.add(id(fstate))
        groups = list(fstate._fsdp_param_groups)
        for obj in (fstate, fstate._state_ctx, fstate._comm_ctx, *groups,
                    *(p for g in groups for p in g.fsdp_params)):
            if id(obj) not in seen or obj is fstate:
                seen.add(id(obj))
                saved.append(_snapshot(obj))
        entry = tree.modules[id(mod)]
        for group in groups:
            for name in _OWNED:
                setattr(group, name, _Owned(state, entry, getattr(group, name)))
            for fp in group.fsdp_params:
                _point_at_copy(fp)
    return bool(seen)


@torch.no_grad()
def _point_at_copy(fp) -> None:
    """Make an FSDPParam shard the parameter its module now holds (the pass's copy), padded as FSDP pads."""
    info = fp._module_info
    new = info.module._parameters.get(info.param_name)
    if new is None or new is fp.sharded_param or not hasattr(new, "_local_tensor"):
        return
    local = new._local_tensor
    dim = fp.fsdp_placement.dim
    padded = local.new_zeros(fp.padded_sharded_param_size)
    length = local.size(dim) if local.numel() > 0 else 0
    if length and local.device.type != "meta":
        padded.narrow(dim, 0, length).copy_(local)
    fp._sharded_param_data = padded.view(-1)
    new._local_tensor = padded.narrow(dim, 0, length)
    fp.sharded_param = new
