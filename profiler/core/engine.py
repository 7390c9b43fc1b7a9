"""The engine: observe one forward pass (or a training step) and build a :class:`~profiler.core.profile.Profile`.

Two observers work together:
- process-wide module forward hooks (registered for the pass only, so nothing is added to the user's
  modules) keep the stack of running modules, giving the layer tree and call counts;
- a ``TorchDispatchMode`` sees every aten op below autograd (functional calls, ``@``, einsum, fused
  attention kernels included) and charges its cost to the innermost running module.
On a forward-only pass with real kernels, torch's own leaf modules (``Conv2d``, eval ``BatchNorm2d``, ``Linear``,
activations, pools ...: :mod:`profiler.core.leaf_paths`) run with the observer stepped aside, and their aten
calls are written from the module and its shapes: observing an op costs more than many small ops do. A path
is used only for a (class, signature) whose first call in the process gave, observed, the very records the path
writes; anything else is observed. On a shapes-only pass, timm composites whose forward is known (BatchNormAct2d,
MixedConv2d, SqueezeExcite and the efficientnet blocks made of them: :mod:`profiler.core.block_paths`) likewise
write again what their first call of a (configuration, input signature) in the process was observed to do.
In a training step an autograd node-creation hook also tags each node with the module running when it is
made, and a backward op is charged to the module of the node autograd is running
(``torch._C._current_autograd_node``).

The user's model is never changed: training flag, requires_grad, hooks and attributes are left alone,
buffers mutated by the pass (BatchNorm statistics in train mode ...) are restored bit for bit, and a pass on
another device (``device="meta"`` for shapes only, or a GPU) swaps device copies of the parameters and
buffers into the modules for the call only, so the model itself never moves.
"""
from __future__ import annotations

import contextlib
import gc
import operator
import threading
import time
from operator import is_ as _is
from typing import Any

import torch
import torch.nn as nn
from torch.nn.modules import module as _module_mod
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from profiler import counters
from profiler.core import block_paths, distributed, leaf_paths, meta_kernels as _meta_kernels, meta_shims, moe
from profiler.counters.registry import NestedShape, numel
from profiler.conventions import get_convention
from profiler.core.kinds import conv_kind, is_attention_module, layer_config, layer_kind
from profiler.core.profile import Layer, OpStat, Profile, UncoveredOp
from profiler.core.devices import check_device
from profiler.core.step import check_can_step, train_step
from profiler.errors import short_error
from profiler.counters.backward import RECOMPUTING
from profiler.counters.comm import COLLECTIVES


class ProfilingError(RuntimeError):
    """The model's forward pass failed; the message names the module that failed and its input shapes."""


class UncoveredOpsError(RuntimeError):
    """``strict=True`` and the pass ran ops without a counting rule."""


class ConcurrentProfileError(RuntimeError):
    """A module is already being profiled (in another thread, or by an enclosing call): a pass swaps copies
    into the modules and observes every call of them, so two passes over one module would count each other."""


# -- helpers ------------------------------------------------------------------------------------------
def shapes_of(obj) -> list[list[int]]:
    """Shapes of every tensor in a nested structure, in traversal order."""
    if type(obj) is tuple and len(obj) == 1:  # a module's one positional argument: most calls
        obj = obj[0]
    if type(obj) is _Tensor and not obj.is_nested:
        return [list(obj.shape)]
    out: list[list[int]] = []
    _collect_shapes(obj, out)
    return out


def _collect_shapes(o, out: list) -> None:
    # A module-level function, not a closure: a recursive closure is a reference cycle, garbage that only
    # the cyclic collector frees, and this runs twice per module call.
    if isinstance(o, torch.Tensor):
        out.append(_padded_shape(o) if o.is_nested else list(o.shape))
    elif isinstance(o, (list, tuple)):
        for x in o:
            _collect_shapes(x, out)
    elif isinstance(o, dict):
        for x in o.values():
            _collect_shapes(x, out)


def _padded_shape(t: torch.Tensor) -> list[int]:
    """A nested tensor's shape as [components, *largest size per dim] (it has no regular ``shape``)."""
    sizes = t._nested_tensor_size().tolist()
    return [len(sizes)] + [max(col) for col in zip(*sizes)] if sizes else [0]


def _to_shapes(obj, acc: list):
    """Replace tensors by ``torch.Size`` in op arguments; acc[0] collects the bytes of the tensors seen.

    A nested tensor becomes a :class:`~profiler.counters.registry.NestedShape` (its components' sizes):
    element-op rules count its real elements, and rules that need a regular shape fail loudly (the op
    is then reported as uncovered) rather than guess. Runs for every argument of every op of the pass.
    """
    if isinstance(obj, _Tensor):
        if obj.is_nested:
            shape = NestedShape(obj._nested_tensor_size().tolist())
            acc[0] += numel(shape) * obj.element_size()
            return shape
        acc[0] += obj.numel() * obj.element_size()  # not .nbytes: a sparse tensor has none
        return obj.shape
    if isinstance(obj, (list, tuple)):
        for x in obj:
            if isinstance(x, _CONVERTED):
                return type(obj)([_to_shapes(y, acc) for y in obj])
        # the common case: sizes, strides, padding ... (no tensor): the same object, nothing built
    return obj


_Tensor = torch.Tensor
_Parameter = nn.Parameter
_CONVERTED = (torch.Tensor, list, tuple)


def _op_name(func) -> str:
    """``namespace.name`` of an op: ``aten.convolution``, ``my_lib.my_op`` (custom ops keep their library)."""
    packet = getattr(func, "_overloadpacket", None)
    if packet is None:
        return str(func)
    qualified = getattr(packet, "_qualified_op_name", None)
    return qualified.replace("::", ".") if qualified else f"aten.{packet.__name__}"


def model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _float_dtype(model: nn.Module) -> torch.dtype:
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


# Context relabelling: the op's own rule cannot tell what its layer is for.
_BATCHED_PRODUCTS = {"aten.bmm", "aten.baddbmm", "aten.matmul"}
_ELEMENT_CATEGORIES = {"elementwise", "activation", "pooling"}
_BIAS_ADDS = {"aten.add", "aten.add_"}
# scaled_dot_product_attention's math backend (GQA, masks or head sizes the fused kernels refuse) and
# flex attention reach the dispatcher as plain products around this softmax, which nothing else uses:
# it marks the product before it (QK^T) and the one after it (AV) as attention whichever module runs them.
_SOFTMAX_OF_ATTENTION = "aten._safe_softmax"
# Grouped matmuls of mixture-of-experts layers (torch's, and transformers' fallback for unaligned CPU
# weights): their ``offs`` argument holds the cumulative tokens per expert (see _State._expert_tokens).
_GROUPED_MM = frozenset({"aten._grouped_mm", "transformers.grouped_mm_fallback"})
_MAC_SET = frozenset(counters.MAC_CATEGORIES)


def _host_to_meta(args, out) -> bool:
    # ``t.to(weight.device)`` of a tensor the forward made on the CPU: on the model's CPU it returns ``t`` and
    # dispatches nothing; on meta it is a real copy.
    # A meta tensor's values read to the host (``.tolist()``, answered by meta_shims.routing_values): on the CPU
    # the tensor is there already, and nothing is dispatched either.
    a = args[0] if args else None
    if type(a) is not _Tensor or type(out) is not _Tensor or out.dtype != a.dtype:
        return False
    return a.device.type != "meta" or out.device.type != "meta"


def _scalar_fill(args, out) -> bool:
    # ``x[idx] = 0.5``: the CPU runs fill_ (free); meta wraps the number in a tensor and copies it, broadcast.
    src = args[1] if len(args) > 1 else None
    return type(src) is _Tensor and all(st == 0 for st in src.stride())


#: Ops of a meta pass that the same forward on the CPU does not dispatch (or dispatches as a free op), and the
#: test telling those calls apart: skipped, so the meta document equals the CPU pass's.
_NOOPS_ON_THE_HOST = {"aten._to_copy": _host_to_meta, "aten.copy_": _scalar_fill}
_NODE_TAG = "profiler.module"  # key of an autograd node's metadata naming the module that made it
# A leaf call's flag on the module stack: its fast path runs (the observer is off), or its records are checked.
_RUN, _CHECK = "run", "check"
# leaf_paths.key(...) -> whether the fast path gave the very records the observer saw for that signature.
# Knowledge of how this torch dispatches stock modules, not of any model: it is kept for the process.
_LEAF_TRUST: dict[tuple, bool] = {}
# Events of a composite's trace (_State.trace, _Block): a module call's start and return, a record, and
# something that makes the call not replayable (an uncovered op, a collective).
_PRE, _POST, _CHARGE, _UNREPLAYABLE = "pre", "post", "charge", ("unreplayable", None)


def _caches() -> tuple:
    """Everything the process learns across passes (each a dict or a list)."""
    return (_LEAF_TRUST, _TYPE_INFO, leaf_paths._BY_CLASS, block_paths.TRACES, block_paths._CLASS_OK,
            meta_shims._SDPA_CHOICES, _meta_kernels._ONE_IMAGE)


def clear_caches() -> None:
    """Forget what the process learned (fast paths checked, module types classified, composites' traces): the
    next pass costs what the first pass of a fresh process does. For benchmarks; counts never depend on it."""
    for cache in _caches():
        cache.clear()


@contextlib.contextmanager
def fresh_caches():
    """:func:`clear_caches` for the block, and what was learned before put back after it: a fresh process's
    pass timed inside a session that keeps its own knowledge (a benchmark interleaving cold and warm calls)."""
    saved = [type(c)(c) for c in _caches()]
    clear_caches()
    try:
        yield
    finally:
        for cache, old in zip(_caches(), saved):
            cache.clear()
            (cache.update if isinstance(cache, dict) else cache.extend)(old)


def _as_optimizer(counts: dict) -> dict:
    """An optimizer step's element ops, whatever category their rule gave them, are category ``optimizer``
    (MACs, memory moves and sub-counts such as ``norm.affine`` keep theirs)."""
    out: dict[str, int] = {}
    for c, n in counts.items():
        key = c if c in _MAC_SET or c == "memory" or "." in c else "optimizer"
        out[key] = out.get(key, 0) + n
    return out


class _State:
    def __init__(self, modules: dict[int, tuple[str, Layer, str]], bias_ids: set[int]):
        # id(module) -> (path, its Layer, op context: "recurrent" | "attention" | "norm" | "")
        self.modules = modules
        self.root = next(iter(modules.values()))  # ops run outside any module are charged to the root
        self.bias_ids = bias_ids
        self.stack: list[tuple[tuple[str, Layer, str], Any]] = []  # (module entry, args of the running call)
        self.uncovered: dict[str, dict] = {}
        self.cache: dict[int, tuple] = {}  # id(func) -> (name, rule or None, free); ops live for the pass
        self.order = 0  # modules seen so far, for Layer.first_call (execution order)
        self.failure: tuple[str, Any] | None = None  # (path, args) of the module whose forward raised
        # The last linear-category record (OpStat, MACs) and whether the next one is attention's AV
        # product: see _SOFTMAX_OF_ATTENTION.
        self.last_product: tuple[OpStat, int] | None = None
        self.pending_av = False
        # A training step: the phase being run, and which module each autograd node came from.
        self.phase = "forward"
        self.param_owner: dict[int, tuple[str, Layer, str]] = {}  # id(parameter copy) -> module entry
        self.recomputing = False  # a checkpointed forward re-run during the backward was met
        self.optimizer_owner: tuple[str, Layer, str] | None = None
        # Leaf fast paths: on when a forward-only pass runs real kernels (see profiler.core.leaf_paths).
        self.fast = False
        self.meta = False  # a shapes-only pass (see _NOOPS_ON_THE_HOST)
        self.mode: TorchDispatchMode | None = None  # the observer, stepped aside while a fast leaf runs
        self.capture: list | None = None  # the records of a leaf call being checked against its fast path
        self.trace: list | None = None  # what a composite's first call did, being kept for replay (_Block)
        self.quiet = False  # a replayed composite's forward runs on a real pass: its children's hooks do nothing
        self.block_env: tuple | None = None  # block_paths.env() of this pass, part of every composite's key
        self.key_memo: dict | None = None  # the subtrees' keys, during an outermost composite's call (_Block)
        self.last_offs: tuple | None = None  # (layer, offsets) of the last grouped matmul whose tokens were kept
        # Distributed passes (profiler.core.distributed): the global counts kept apart from this rank's (split),
        # the record being charged to them (to_global), the DTensor ops being run (inner), the global stream's
        # attention bookkeeping, and the collectives met: (path, phase, kind, group size) -> CommStat.
        self.split = False
        self.to_global = False
        self.inner = 0
        self.global_attn: tuple = (None, False)
        self.global_scale = 1  # the logical model's share of a plain op on local shards (all ranks' together)
        self.comm: dict | None = None
        self.owner: tuple[str, Layer, str] | None = None  # the module an FSDP group's collectives run for

    def running(self) -> tuple[str, Any] | None:
        """(path, args) of the innermost running module, if any."""
        return (self.stack[-1][0][0], self.stack[-1][1]) if self.stack else None

    # module hooks
    def pre(self, module, args):
        if self.quiet:
            return
        entry = self.modules.get(id(module))
        if entry is None:
            return
        if self.trace is not None:
            self.trace.append((_PRE, entry, shapes_of(args)))
        layer = entry[1]
        layer.calls += 1
        if layer.calls == 1:
            layer.input_shapes = shapes_of(args)
            layer.first_call = self.order
            self.order += 1
        flag = self._leaf_pre(module, args) if self.fast and not module._modules else None
        self.stack.append((entry, args, flag))

    def post(self, module, args, *rest):
        """Forward hook, called with (kwargs, output) on return and, registered ``always_call``, with
        (output=None) only when the forward raises."""
        if self.quiet:
            return
        entry = self.modules.get(id(module))
        if entry is None:
            return
        # Pop down to this module (and past entries an exception left behind).
        stack = self.stack
        flag = None
        while stack:
            top, _, flag = stack.pop()
            if flag is not None and flag[0] == _RUN:
                torch._C._push_on_torch_dispatch_stack(self.mode)  # the observer back on
            if top is entry:
                break
            flag = None
        if len(rest) == 1:  # the forward raised: the innermost module to unwind is the one that failed
            if flag is not None and flag[0] == _CHECK:
                self.capture = None
            if self.failure is None:
                self.failure = (entry[0], args)
            return
        self.failure = None  # a normal return: any earlier exception was caught by the model itself
        kwargs, output = rest
        if self.trace is not None:
            self.trace.append((_POST, entry, shapes_of((args, kwargs)) if kwargs else None, shapes_of(output)))
        layer = entry[1]
        if flag is not None:
            self._leaf_post(flag, module, args, output if not kwargs else None, entry)
        if layer.calls == 1 and not layer.output_shapes:
            if kwargs:  # the pre-hook saw the positional arguments only
                layer.input_shapes = shapes_of((args, kwargs))
            layer.output_shapes = shapes_of(output)

    # ops
    def _op(self, func) -> tuple:
        """(name, rule or None, free) of an op overload."""
        entry = self.cache.get(id(func))  # by id: an OpOverload's __hash__ is Python code
        if entry is None:
            name = _op_name(func)
            # a collective is free of compute; its Collective (truthy, not True) tells record() to keep its bytes
            free = COLLECTIVES.get(name) or counters.is_free(func)
            entry = self.cache[id(func)] = (name, counters.lookup(func), free)
        return entry

    def record(self, func, args, kwargs, out):
        name, rule, free = self._op(func)
        if free:
            if free is not True and not self.to_global:  # a collective: communication, not compute
                if self.trace is not None:
                    self.trace.append(_UNREPLAYABLE)
                distributed.collective(self, free, name, args, kwargs, out)
            return
        if self.meta and name in _NOOPS_ON_THE_HOST and _NOOPS_ON_THE_HOST[name](args, out):
            return
        phase = self.phase
        if phase == "forward":
            entry = self.stack[-1][0] if self.stack else self.root
        else:
            entry, phase = self._step_entry(phase, args)
        if self.owner is not None:  # FSDP's own work for a module's parameters (profiler.core.distributed.fsdp)
            entry = self.owner
        if name in _GROUPED_MM:  # independent of the op's rule
            self._expert_tokens(args, kwargs, entry[1], phase)
        if rule is None:
            self._uncovered(name, entry[0])
            if self.capture is not None:
                self.capture.append((name, None, 0, 0))
            return
        acc = [0]
        sargs = _to_shapes(args, acc)
        skw = {k: _to_shapes(v, acc) for k, v in kwargs.items()} if kwargs else {}
        read = acc[0]
        acc[0] = 0
        sout = _to_shapes(out, acc)
        self._charge(name, rule, sargs, skw, sout, read, acc[0], entry, phase, args)

    def _expert_tokens(self, args, kwargs, layer: Layer, phase: str) -> None:
        """Add the tokens each expert received to ``layer.expert_tokens``: the differences of a grouped matmul's
        cumulative ``offs``, on a real pass only (meta tensors hold no values). The up and down projections
        of one experts call share one offsets tensor: it is read once; backward and recompute not at all."""
        offs = kwargs["offs"] if "offs" in kwargs else (args[2] if len(args) > 2 else None)
        if phase != "forward" or type(offs) is not _Tensor or offs.device.type == "meta" or \
                (self.last_offs is not None and self.last_offs[0] is layer and self.last_offs[1] is offs):
            return
        self.last_offs = (layer, offs)
        ends = offs.tolist()
        counts = [b - a for a, b in zip([0] + ends[:-1], ends)]
        old = layer.expert_tokens
        layer.expert_tokens = [a + b for a, b in zip(old, counts)] if len(old) == len(counts) else counts

    def _charge(self, name, rule, sargs, skw, sout, read, written, entry, phase, args):
        """Count one op (its arguments as shapes) and add it to the op stats of ``entry``'s layer."""
        path, layer, ctx = entry
        if "out" in skw:  # an ``.out`` overload's destination: the rules take the output's shape as ``out``
            skw = {k: v for k, v in skw.items() if k != "out"}
        try:
            counts = rule(*sargs, out=sout, **skw)
        except Exception as exc:  # a rule that cannot read these arguments: report, never guess
            self._uncovered(name, path, f"{type(exc).__name__}: {exc}")
            if self.capture is not None:
                self.capture.append((name, None, 0, 0))
            return
        if self.capture is not None:
            self.capture.append((name, counts, read, written))
        if name in _BIAS_ADDS and "elementwise" in counts and any(
                isinstance(a, torch.Tensor) and id(a) in self.bias_ids for a in args):
            counts = dict(counts)
            counts["bias"] = counts.pop("elementwise")
        if self.trace is not None:
            self.trace.append((_CHARGE, entry, name, counts, read, written))
        self.add(name, counts, read, written, entry, phase)

    def add(self, name, counts, read, written, entry, phase):
        """Add one op's counts (its rule's, bias additions relabelled) to the op stats of ``entry``'s layer."""
        layer, ctx = entry[1], entry[2]
        if self.pending_av and "linear" in counts:
            counts = dict(counts)
            counts["attention"] = counts.pop("linear")
            self.pending_av = False
        if ctx:
            counts = self._relabel(name, counts, ctx)
        if phase == "optimizer":
            counts = _as_optimizer(counts)
        if self.to_global:  # the logical model's count of a distributed pass (profiler.core.distributed)
            ops = layer.global_ops.setdefault(phase, {})
            if self.global_scale != 1:
                counts, read, written = distributed.scaled(self.global_scale, counts, read, written)
        else:
            ops = layer.ops if phase == "forward" else layer.step_ops.setdefault(phase, {})
        st = ops.get(name)
        if st is None:
            st = ops[name] = OpStat()
        st.calls += 1
        st.bytes_read += read
        st.bytes_written += written
        st_counts = st.counts
        for c, n in counts.items():
            st_counts[c] = st_counts.get(c, 0) + n
        if "linear" in counts:
            self.last_product = (st, counts["linear"])
        elif "attention" in counts:
            self.last_product = None
        elif name == _SOFTMAX_OF_ATTENTION:
            self._mark_attention()

    # leaf fast paths (profiler.core.leaf_paths)
    def _leaf_pre(self, module, args):
        """Called for a leaf on a forward-only real pass: the flag its stack entry keeps (see ``post``)."""
        k = leaf_paths.key(module, args)
        if k is None:
            return None
        trusted = _LEAF_TRUST.get(k)
        if trusted is None:  # first call of this signature in the process: observe it and compare
            if self.capture is not None:
                return None
            self.capture = []
            return (_CHECK, k)
        if not trusted:
            return None
        mode = self.mode
        n = torch._C._len_torch_dispatch_stack()
        if n == 0 or torch._C._get_dispatch_stack_at(n - 1) is not mode:
            return None  # another mode runs above ours (the model's own): leave the stack alone
        torch._C._pop_torch_dispatch_stack(None)
        return (_RUN, k)

    def _leaf_post(self, flag, module, args, output, entry) -> None:
        if flag[0] == _CHECK:
            seen, self.capture = self.capture, None
            if output is not None:
                _LEAF_TRUST[flag[1]] = seen == self._expected(module, args, output)
            return
        made = leaf_paths.calls(module, args, output) if output is not None else None
        if made is None:
            if output is not None:
                self._uncovered(f"{type(module).__name__}.forward (unobserved output)", entry[0])
            return
        self.charge_calls(made, entry)

    def charge_calls(self, made: list, entry) -> None:
        """Charge a leaf path's calls (``leaf_paths.calls``) to ``entry``, as the observer would have them."""
        for func, sargs, skw, sout, read, written in made:
            name, rule, free = self._op(func)
            if free:
                continue
            if rule is None:
                self._uncovered(name, entry[0])
                continue
            self._charge(name, rule, sargs, skw, sout, read, written, entry, "forward", ())

    def _expected(self, module, args, output) -> list | None:
        """What the fast path says the call recorded, in the form ``capture`` keeps."""
        made = leaf_paths.calls(module, args, output)
        if made is None:
            return None
        out = []
        for func, sargs, skw, sout, read, written in made:
            name, rule, free = self._op(func)
            if free:
                continue
            try:
                counts = rule(*sargs, out=sout, **skw) if rule is not None else None
            except Exception:  # noqa: BLE001 - the path is then not trusted
                return None
            out.append((name, counts, read if counts is not None else 0, written if counts is not None else 0))
        return out

    def _step_entry(self, phase: str, args):
        """(module entry, phase) of an op of a training step's loss, backward or optimizer phase."""
        if phase == "backward":
            if self.stack:  # a module's forward runs inside the backward: a checkpointed forward re-run
                self.recomputing = True
                return self.stack[-1][0], "recompute"
            node = torch._C._current_autograd_node()
            entry = node.metadata.get(_NODE_TAG) if node is not None else None
            return entry or self.root, phase
        if phase == "optimizer":
            # Single-tensor optimizers loop over the parameters: the ops after one that touches a
            # parameter or its gradient update that parameter's state, so they go to its module too.
            # A foreach kernel takes lists of every parameter: the root.
            for a in args:
                entry = self.param_owner.get(id(a))
                if entry is not None:
                    self.optimizer_owner = entry
                    break
                if isinstance(a, (list, tuple)):
                    self.optimizer_owner = None
                    break
            return self.optimizer_owner or self.root, phase
        return (self.stack[-1][0] if self.stack else self.root), phase

    def tag_node(self, node) -> None:
        """Node-creation hook: an autograd node belongs to the innermost module running when it is made
        (its backward is charged there; the loss's nodes to the root)."""
        node.metadata[_NODE_TAG] = self.stack[-1][0] if self.stack else self.root

    def _uncovered(self, name: str, path: str, error: str | None = None):
        """An op without a rule (or whose rule failed with ``error``) met in ``path``."""
        if self.to_global:  # coverage is of this rank's ops: the logical model's record of one is not another
            return
        if self.trace is not None:
            self.trace.append(_UNREPLAYABLE)
        u = self.uncovered.setdefault(name, {"calls": 0, "modules": [], "error": ""})
        u["calls"] += 1
        if error is not None:
            u["error"] = error
        if path not in u["modules"]:
            u["modules"].append(path)

    def _mark_attention(self):
        """The scores product before this softmax was QK^T, the next product is AV: both attention."""
        if self.last_product is not None:
            st, n = self.last_product
            st.counts["linear"] -= n
            if not st.counts["linear"]:
                del st.counts["linear"]
            st.counts["attention"] = st.counts.get("attention", 0) + n
            self.last_product = None
        self.pending_av = True

    def _relabel(self, name, counts, ctx):
        counts = dict(counts)
        if ctx == "recurrent" and "linear" in counts:
            counts["recurrent"] = counts.pop("linear")
        elif ctx == "attention" and name in _BATCHED_PRODUCTS and "linear" in counts:
            counts["attention"] = counts.pop("linear")
        elif ctx == "norm":
            for c in _ELEMENT_CATEGORIES & counts.keys():
                counts["norm"] = counts.get("norm", 0) + counts.pop(c)
        return counts


class _Observer(TorchDispatchMode):
    def __init__(self, state: _State, fast_meta: dict | None = None):
        super().__init__()
        self.state = state
        self.record = state.record
        # On a meta pass: aten op -> direct shape function (profiler.core.meta_kernels), skipping torch's slow
        # Python meta kernels; NotImplemented from it means "not the simple case", run torch's kernel.
        self.fast_meta = fast_meta

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Without this, TorchDispatchMode wraps __torch_dispatch__ in a dynamo-disable frame per op;
        # the pass is never compiled, so that wrapper is pure overhead.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if types:  # a tensor subclass among the arguments: a DTensor's op is counted twice, globally and locally
            out = distributed.dispatch(self, func, types, args, kwargs or {})
            if out is not distributed.PLAIN:
                return out
        kwargs = kwargs or {}
        out = NotImplemented
        if self.fast_meta is not None:
            fast = self.fast_meta.get(func)
            if fast is not None:
                out = fast(*args, **kwargs)
        if out is NotImplemented:
            out = func(*args, **kwargs)
        self.record(func, args, kwargs, out)
        return out


# -- inputs -------------------------------------------------------------------------------------------
def _normalise_inputs(inputs, input_size, device, dtype):
    """(args, kwargs) on ``device``."""
    if inputs is None and input_size is None:
        raise ValueError("give `inputs` (a tensor, a tuple of arguments or a dict of keyword arguments) "
                         "or `input_size`, e.g. input_size=(1, 3, 224, 224)")
    if inputs is None:
        size = tuple(input_size)
        if not size or not all(isinstance(d, int) and d > 0 for d in size):
            raise ValueError(f"input_size must be positive integers, e.g. (1, 3, 224, 224); got {input_size!r}")
        if device.type == "meta":
            return (torch.empty(size, device=device, dtype=dtype),), {}
        # Seeded, from a generator of its own: the same input every run (a detector's cost depends on it), and
        # the caller's global random state left alone.
        gen = torch.Generator(device=device).manual_seed(0)
        return (torch.randn(size, device=device, dtype=dtype, generator=gen),), {}

    if isinstance(inputs, dict):
        return (), _move(inputs, device)
    if type(inputs) is tuple:  # a tuple of arguments; a namedtuple (PackedSequence ...) is one argument
        return _move(inputs, device), {}
    return (_move(inputs, device),), {}


def _move(o, device):
    """``o`` with every tensor on ``device`` (containers rebuilt, tensors already there kept)."""
    if isinstance(o, torch.Tensor):
        return o if o.device == device else o.to(device)
    if isinstance(o, nn.utils.rnn.PackedSequence):  # its own .to keeps batch_sizes on the CPU
        return o.to(device)
    if isinstance(o, tuple) and hasattr(o, "_fields"):  # a namedtuple takes its fields one by one
        return type(o)(*(_move(x, device) for x in o))
    if isinstance(o, (list, tuple)):
        return type(o)(_move(x, device) for x in o)
    if isinstance(o, dict):
        return {k: _move(v, device) for k, v in o.items()}
    return o


# -- the pass -----------------------------------------------------------------------------------------
# Per (module type, is leaf): (kind, op context, has hyper-parameters to print); a convolution's kind is None
# here (it reads groups and kernel size: conv_kind of the module).
_TYPE_INFO: dict[tuple[type, bool], tuple[str | None, str, bool]] = {}


def _type_info(mod: nn.Module) -> tuple[str | None, str, bool]:
    key = (type(mod), not mod._modules)
    hit = _TYPE_INFO.get(key)
    if hit is not None:
        return hit
    kind = None if isinstance(mod, nn.modules.conv._ConvNd) else layer_kind(mod)
    if isinstance(mod, (nn.RNNBase, nn.RNNCellBase)):
        ctx = "recurrent"
    elif is_attention_module(mod):
        ctx = "attention"
    elif kind == "norm":
        ctx = "norm"
    else:
        ctx = ""
    hit = _TYPE_INFO[key] = (kind, ctx, bool(layer_config(mod)))
    return hit


class _ModuleTree:
    """What one walk over the model gives: a :class:`Layer` per module with its children, parameters and
    buffers, in ``named_modules()`` order (pre-order, each module once, at its first path).

    Each parameter or buffer tensor is counted once (tied weights once), owned by the first module that
    registers it. One iterative walk: the recursive generators of ``named_modules``/``named_parameters``
    cost more than the rest of the set-up on models of a few hundred modules.
    """

    def __init__(self, model: nn.Module):
        # id(module) -> (path, its Layer, op context: "recurrent" | "attention" | "norm" | "")
        self.modules: dict[int, tuple[str, Layer, str]] = {}
        self.layers: dict[str, Layer] = {}
        self.bias_ids: set[int] = set()  # parameters named bias, bias_ih_l0, in_proj_bias ...
        self.order: list[nn.Module] = []  # every module once
        self.buffer_owners: list[nn.Module] = []  # modules with a buffer dict that is not empty
        self.unique_buffers: list[torch.Tensor] = []  # each buffer tensor once
        self.trainable = self.frozen = self.buffers = 0
        self.experts: list[tuple[str, nn.Module]] = []  # modules that may hold routed experts (profiler.core.moe)
        seen: set[int] = set()  # parameter and buffer ids
        subclassed = False  # a parameter or buffer of a tensor subclass (a DTensor?) met
        stack: list[tuple[str, nn.Module, Layer | None]] = [("", model, None)]
        modules = self.modules
        while stack:
            path, mod, parent = stack.pop()
            if id(mod) in modules:  # a shared module: a child of its first path only
                continue
            kind, ctx, configurable = _type_info(mod)
            layer = self.layers[path] = Layer(path=path, type=type(mod).__name__, kind=kind or conv_kind(mod),
                                              depth=parent.depth + 1 if parent is not None else 0,
                                              config=layer_config(mod) if configurable else {})
            modules[id(mod)] = (path, layer, ctx)
            if moe.is_candidate(path, mod):
                self.experts.append((path, mod))
            self.order.append(mod)
            if parent is not None:
                parent.children.append(path)
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                if type(p) is not _Parameter:
                    subclassed = True
                if _is_bias_name(name):
                    self.bias_ids.add(id(p))
                n = p.numel()
                layer.params += n
                if p.requires_grad:
                    layer.params_trainable += n
                    self.trainable += n
                else:
                    self.frozen += n
            if mod._buffers:
                self.buffer_owners.append(mod)
            for b in mod._buffers.values():
                if b is None or id(b) in seen:
                    continue
                seen.add(id(b))
                if type(b) is not _Tensor:
                    subclassed = True
                self.unique_buffers.append(b)
                layer.buffers += b.numel()
                self.buffers += b.numel()
            if mod._modules:
                prefix = f"{path}." if path else ""
                stack.extend((prefix + n, c, layer) for n, c in reversed(mod._modules.items()) if c is not None)
        # DTensor parameters counted by this rank's shards, the global counts kept (profiler.core.distributed);
        # a model of plain tensors is not walked again for them
        self.dtensors = subclassed and distributed.shard_params(self)


def _device_copy(t: torch.Tensor, target: torch.device) -> torch.Tensor:
    """``t`` on ``target`` for the pass, never ``t`` itself (the pass may write to it).

    On ``meta`` a 0-d tensor stays a CPU copy: models read scalars such as BatchNorm's
    ``num_batches_tracked`` with ``float()``, which a meta tensor cannot answer, and PyTorch lets a CPU
    scalar meet tensors of any device.
    """
    if target.type == "meta" and t.dim() == 0 and t.device.type != "meta":
        return t.detach().clone()
    out = t.to(target)
    return out.clone() if out is t else out


def _is_bias_name(name: str) -> bool:
    """``bias``, ``bias_ih_l0`` (RNNs), ``in_proj_bias`` (attention) ...: additions of these are bias."""
    last = name.rsplit(".", 1)[-1]
    return last.startswith("bias") or last.endswith("bias")


def _snapshot_buffers(tree: _ModuleTree):
    """Each module's buffer dict and the values of every buffer, to undo what the pass does to them.

    Compared by value afterwards, not by version counter: kernels such as ``native_batch_norm`` write the
    running statistics without declaring it, so their versions do not move. The values are kept as one copy
    per dtype, device and rank (a ``cat`` of the 1-d running statistics, a ``stack`` of the 0-d counters): a
    network has hundreds of buffers, and a clone and a comparison each cost more than the pass spends on most
    modules.
    """
    groups: dict[tuple, list[torch.Tensor]] = {}
    for t in tree.unique_buffers:
        if t.device.type != "meta":
            groups.setdefault((t.dtype, t.device, t.dim()), []).append(t)
    with torch.no_grad():
        values = [(ts, [t.shape for t in ts], _flat(ts, key[2])) for key, ts in groups.items()]
    return [(mod, dict(mod._buffers.items())) for mod in tree.buffer_owners], values


def _flat(tensors: list[torch.Tensor], dim: int) -> torch.Tensor:
    """The values of ``tensors`` (one dtype, device and rank ``dim``) in one new 1-d tensor."""
    if dim == 1:
        return torch.cat(tensors)
    if dim == 0:
        return torch.stack(tensors)
    return torch.cat([t.reshape(-1) for t in tensors])


@torch.no_grad()
def _restore_buffers(saved) -> None:
    if not saved:
        return
    dicts, values = saved
    for mod, refs in dicts:  # a forward that rebinds a buffer: the user's tensor goes back in
        _put_back(mod._buffers, refs)
    for ts, shapes, flat in values:
        now = [t.shape for t in ts]
        if now == shapes and torch.equal(_flat(ts, len(shapes[0])), flat):
            continue
        for t, shape, old in zip(ts, shapes, flat.split([s.numel() for s in shapes])):
            if t.shape != shape:  # resized in place
                t.resize_(shape)
            if not torch.equal(t.reshape(-1), old):
                t.copy_(old.view(shape))


def _device_copies(modules, target: torch.device) -> dict[int, torch.Tensor]:
    """id(tensor) -> its copy on ``target``, for every parameter and buffer (a tied tensor, one copy).

    Each copy is a leaf with its original's ``requires_grad``: made without autograd recording the copy (half
    the cost of a copy per tensor, for a forward-only pass that records no graph anyway).
    """
    copies: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for mod in modules:
            for tensors in (mod._parameters, mod._buffers):
                for t in tensors.values():
                    if t is not None and id(t) not in copies:
                        c = copies[id(t)] = _device_copy(t, target)
                        if t.requires_grad:
                            c.requires_grad_(True)
    return copies


def _swap_in(modules, copies: dict[int, torch.Tensor], saved: list) -> None:
    """Put the copies in the modules' parameter and buffer dicts, appending to ``saved`` what
    :func:`_swap_back` needs before each module is changed (an interrupt midway leaves nothing unrecorded).

    Not ``torch.func.functional_call``: it swaps a module once per name it is registered under, so a
    module shared by two paths got its *copies* put back and the user's model was left on meta.
    """
    for mod in modules:
        if mod._parameters or mod._buffers:
            saved.append((mod, dict(mod._parameters.items()), dict(mod._buffers.items())))
            for tensors in (mod._parameters, mod._buffers):
                for name, t in list(tensors.items()):
                    if t is not None:
                        tensors[name] = copies[id(t)]


def _swap_back(saved) -> None:
    for mod, params, buffers in saved:
        _put_back(mod._parameters, params)
        _put_back(mod._buffers, buffers)


def _put_back(tensors, saved: dict) -> None:
    """A module's parameter or buffer dict made ``saved`` again."""
    if isinstance(tensors, dict):  # also drops entries the forward added
        tensors.clear()
        tensors.update(saved)
        return
    # A TorchScript module's dicts are views of its C++ attributes (no clear, no update): set each name
    # through them, which assigns the attribute itself.
    for name, t in saved.items():
        tensors[name] = t


@contextlib.contextmanager
def _outside_modes():
    """The profiler's own tensor work (inputs, device copies, the buffer snapshot and its restore) hidden from
    the user's dispatch modes around the call: a counting mode must see the model's ops and only them."""
    if not torch._C._len_torch_dispatch_stack():
        yield
        return
    with _disable_current_modes():
        yield


@contextlib.contextmanager
def unobserved():
    """Ops run inside are not recorded by the profiler's passes on the dispatch stack, which stays as it is (a
    mode that keeps values, a fake-tensor mode, still answers them): a simulation's own bookkeeping, such as the
    counts a fake process group does not exchange, written where a real group's collective writes them."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    observers = [m for m in _get_current_dispatch_mode_stack() if isinstance(m, _Observer)]
    saved = [m.record for m in observers]
    for m in observers:
        m.record = _ignore
    try:
        yield
    finally:
        for m, record in zip(observers, saved):
            m.record = record


def _ignore(func, args, kwargs, out) -> None:
    return None


# id(module) -> nothing: every module of every pass running in the process (see ConcurrentProfileError).
_BUSY: set[int] = set()
_BUSY_LOCK = threading.Lock()
# Passes ended so far (under _BUSY_LOCK). A pass swaps copies into the model's modules: another thread that read
# the model while one ran and got the lock after it ended read the copies, and reads the model again.
_ENDED = [0]


@contextlib.contextmanager
def _exclusive(tree: "_ModuleTree"):
    ids = tree.modules.keys()
    with _BUSY_LOCK:
        clash = next((i for i in ids if i in _BUSY), None)
        if clash is None:
            _BUSY.update(ids)
    if clash is not None:
        path = tree.modules[clash][0] or "(root)"
        raise ConcurrentProfileError(
            f"module '{path}' ({tree.modules[clash][1].type}) is already being profiled, in another thread or by "
            "an enclosing profile() call; profile one copy per thread (copy.deepcopy(model))")
    try:
        yield
    finally:
        with _BUSY_LOCK:
            _BUSY.difference_update(ids)
            _ENDED[0] += 1


def _observer_back(observer: TorchDispatchMode) -> None:
    """Put the observer back on the dispatch stack if a fast leaf path stepped it aside and an interrupt
    (KeyboardInterrupt, SystemExit: not ``Exception``, so torch skips the always-called post hook that puts it
    back) left it off: leaving the ``with`` would pop the mode below it, the user's own."""
    n = torch._C._len_torch_dispatch_stack()
    if not any(torch._C._get_dispatch_stack_at(i) is observer for i in range(n)):
        torch._C._push_on_torch_dispatch_stack(observer)


def _step_copies(modules, target: torch.device) -> dict[int, torch.Tensor]:
    """Like :func:`_device_copies`, for a training step: detached leaf copies (parameters stay parameters
    with their ``requires_grad``), so that gradients, optimizer updates and optimizer state land on the
    copies and the user's tensors never get a ``.grad`` or a changed value."""
    copies: dict[int, torch.Tensor] = {}
    for mod in modules:
        for tensors in (mod._parameters, mod._buffers):
            for t in tensors.values():
                if t is None or id(t) in copies:
                    continue
                c = _device_copy(t.detach(), target)
                if isinstance(t, nn.Parameter):
                    c = nn.Parameter(c, requires_grad=t.requires_grad)
                copies[id(t)] = c
    return copies


def _detached(o):
    """Inputs cut from the user's autograd graph, each tensor keeping its ``requires_grad``: the input
    gradient is computed exactly for the inputs that ask for one, and lands on no user tensor."""
    if isinstance(o, torch.Tensor):
        d = o.detach()
        return d.requires_grad_(True) if o.requires_grad and d.is_floating_point() else d
    if isinstance(o, tuple) and hasattr(o, "_fields"):
        return type(o)(*(_detached(x) for x in o))
    if isinstance(o, (list, tuple)):
        return type(o)(_detached(x) for x in o)
    if isinstance(o, dict):
        return {k: _detached(v) for k, v in o.items()}
    return o


def profile(model: nn.Module, inputs=None, *, input_size=None, convention: str = "macs", device: str | None = "auto",
            strict: bool = False, name: str | None = None, backward: bool = False, loss=None,
            optimizer=None) -> Profile:
    """Profile one forward pass of ``model`` (or, with ``backward=True``, one training step).

    inputs: a tensor, a tuple of positional arguments or a dict of keyword arguments; or give
    ``input_size`` (e.g. ``(1, 3, 224, 224)``) for one random float tensor.
    convention: how totals are weighted (``macs`` = multiply-accumulates of conv/linear/attention/recurrent
    without bias, the default; ``flops`` = 2 x macs; ``all``; see ``profiler.conventions``).
    device: ``"auto"`` (the default; None too): count shapes only, on meta copies of the parameters and inputs
    (nothing computed, nothing allocated), for a model on the CPU or on meta; when the model cannot run on meta
    (data-dependent control flow, an op without a meta kernel), a real pass on the CPU, with a note saying why.
    A model on a GPU runs its real pass there (its fused kernels are its own). An FSDP2 model on the CPU counts
    shapes on fake CPU tensors instead of meta (``Profile.device == "fake"``). ``"meta"``: shapes only, an
    error instead of the fallback. ``"cpu"``, ``"cuda"``: the real pass there. The model itself stays put;
    ``Profile.device`` says where the pass ran and ``Profile.pass_kind`` which it was (shapes or real).
    strict: raise :class:`UncoveredOpsError` if any op met has no counting rule.
    backward: count a training step: the forward, the loss (``loss(output)``, default the sum of every
    floating tensor of the output), the backward autograd runs (each op charged to the module whose forward
    made its autograd node; a checkpointed forward re-run shows as phase ``recompute``) and, with
    ``optimizer`` (an optimizer class or a factory ``params -> Optimizer``), one ``step()`` over the
    trainable parameters. It all runs on copies of the parameters and buffers: the model's weights,
    ``.grad``, buffers and ``requires_grad`` come back as they were, and no optimizer state is left.
    """
    # A pass makes thousands of small objects (layers, op stats, shape lists) and no cycles that need the
    # collector: the collections they would trigger walk the whole heap, the model included, and cost more
    # than the counting. Collection resumes as it was afterwards.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _profile(model, inputs, input_size, convention, device, strict, name, backward, loss, optimizer)
    finally:
        if collecting:
            gc.enable()


def _profile(model, inputs, input_size, convention, device, strict, name, backward, loss, optimizer) -> Profile:
    if not isinstance(model, nn.Module):
        raise TypeError(f"profile() needs a torch.nn.Module, got {type(model).__name__}")
    get_convention(convention)  # fail early on a bad name
    if not backward and (loss is not None or optimizer is not None):
        raise ValueError("loss= and optimizer= describe a training step: pass backward=True too")
    if isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError("optimizer= takes an optimizer class or a factory params -> Optimizer (e.g. "
                        "torch.optim.AdamW), not an optimizer already holding parameters")
    if backward:
        check_can_step()
    ended = _ENDED[0]
    home = model_device(model)
    auto = device is None or device == "auto"
    # auto: shapes only where the model lives on the CPU (or meta), whose kernel choices the meta pass takes
    target = (_META if home.type in ("cpu", "meta") else home) if auto else check_device(device, also=("auto",))
    tree = _ModuleTree(model)
    fallback = None
    with _exclusive(tree), contextlib.ExitStack() as simulation:
        if _ENDED[0] != ended:  # another thread's pass ended meanwhile: what was read may have been its copies
            home = model_device(model)
            if auto:
                target = _META if home.type in ("cpu", "meta") else home
            tree = _ModuleTree(model)
        fake = target.type == "meta" and home.type == "cpu" and tree.dtensors and distributed.has_fsdp(tree)
        if fake:
            # FSDP2 drives real buffers through its device's streams, which meta has none of: shapes only on fake
            # CPU tensors instead (the parameters' copies and the inputs stay real; every op's result is fake),
            # where FSDP runs as on a real rank and nothing is computed.
            target = home
            simulation.enter_context(distributed.fake_simulation())
        try:
            try:
                state, args, kwargs, shim_notes, elapsed = _observe(model, tree, inputs, input_size, home, target,
                                                                    backward, loss, optimizer)
            except ProfilingError as exc:
                # Routing code reads values (``nonzero``, ``.tolist()`` over the router's choices): the pass again,
                # with the values that follow from the shapes (meta_shims.routing_values)
                if target.type != "meta" or not meta_shims.reads_values(exc):
                    raise
                tree = _ModuleTree(model)
                state, args, kwargs, shim_notes, elapsed = _observe(model, tree, inputs, input_size, home, target,
                                                                    backward, loss, optimizer, routing=True)
        except ProfilingError as exc:
            # Data-dependent code (``.item()``, ``nonzero`` ...) cannot run on meta: the real pass can, where
            # the model and the inputs have values.
            if not auto or target == home or _has_meta(inputs):
                raise
            fallback = f"the pass failed on meta ({short_error(exc.__cause__ or exc)}); counted on real tensors on {home}"
            tree, target = _ModuleTree(model), home
            state, args, kwargs, shim_notes, elapsed = _observe(model, tree, inputs, input_size, home, target,
                                                                backward, loss, optimizer)
    layers = tree.layers

    coverage = [UncoveredOp(op, u["calls"], u["modules"], u["error"]) for op, u in sorted(state.uncovered.items())]
    if strict and coverage:
        listing = "; ".join(f"{u.op} x{u.calls} in {', '.join(m or '(root)' for m in u.modules[:3])}"
                            for u in coverage)
        raise UncoveredOpsError(f"{len(coverage)} op(s) have no counting rule: {listing}")

    prof = Profile(
        model=name or type(model).__name__,
        inputs=shapes_of((args, kwargs)),
        convention=get_convention(convention).name,
        layers=list(layers.values()),
        coverage=coverage,
        params_trainable=tree.trainable,
        params_frozen=tree.frozen,
        buffers=tree.buffers,
        device="fake" if fake else str(target),
    )
    prof.distributed = distributed.result(state, tree)
    if backward:
        prof.phases = ["forward", "loss", "backward"] + (["recompute"] if state.recomputing else []) + \
            (["optimizer"] if optimizer is not None else [])
        prof.notes.extend(_step_notes(prof))
    prof.notes.extend(shim_notes)
    if fallback:
        prof.notes.append(fallback)
    scripted = [m for m in tree.order if isinstance(m, torch.jit.ScriptModule)]
    if scripted:
        prof.notes.append(_SCRIPTED_NOTE.format(root=tree.modules[id(scripted[0])][0] or "(root)"))
    if tree.experts:
        prof.notes.extend(_route_experts(model, tree))
        if target.type == "meta" and prof.is_moe:
            # under assumed routing choices (meta_shims.routing_values) a capacity limit may drop tokens a real
            # pass drops: that note says so, and "exact" would not hold
            assumed = any(n.startswith(meta_shims.ROUTING_NOTE.split("{")[0]) for n in prof.notes)
            prof.notes.append("on meta the tokens each expert received are unknown (they depend on the router's "
                              "values): " + ("" if assumed else "every count is exact, ") +
                              "expert_tokens needs a real pass (device='cpu')")
    prof.elapsed_s = elapsed
    return prof


def _observe(model, tree: _ModuleTree, inputs, input_size, home, target, backward, loss, optimizer,
             routing: bool = False):
    """Run the pass under the observer: (state, args, kwargs, shim notes, seconds). Everything done to the
    model or to the process (copies swapped in, hooks, shims, the observer on the dispatch stack) is undone in
    the ``finally``, also when the pass raises or is interrupted."""
    undo = contextlib.ExitStack()  # each change registers its undo as soon as it is made
    shim_notes: list[str] = []
    # Fast meta kernels answer ops without redispatching: a user's dispatch mode around the call would not
    # see them, so they run only when no mode is there.
    outer = torch._C._len_torch_dispatch_stack() > 0
    with undo:
        undo.callback(_restore_attributes, [(m, dict(m.__dict__)) for m in tree.order])
        with _outside_modes():
            args, kwargs = _normalise_inputs(inputs, input_size, target, _float_dtype(model))
            if backward:
                copies = _step_copies(tree.order, target)
                bias_ids = {id(copies[i]) for i in tree.bias_ids}
                args, kwargs = _detached(args), _detached(kwargs)
            elif target != home:
                # Device copies swapped in for the call only (meta copies allocate nothing); the pass writes to
                # them, so there are no buffer values to restore.
                copies = _device_copies(tree.order, target)
                bias_ids = {id(copies[i]) for i in tree.bias_ids}
            else:
                copies = None
                bias_ids = tree.bias_ids
                saved = _snapshot_buffers(tree)
                undo.callback(_restore_outside_modes, saved)

        state = _State(tree.modules, bias_ids)
        state.meta = target.type == "meta"
        if tree.dtensors:  # global and local counts apart; each module's own hooks run as part of it
            distributed.begin(state, tree, undo)
        params = []
        if backward:
            for mod in tree.order:
                entry = tree.modules[id(mod)]
                for p in mod._parameters.values():
                    if p is not None and id(copies[id(p)]) not in state.param_owner:
                        state.param_owner[id(copies[id(p)])] = entry
                        params.append(copies[id(p)])
        h_pre = _module_mod.register_module_forward_pre_hook(state.pre)
        undo.callback(h_pre.remove)
        h_post = _module_mod.register_module_forward_hook(state.post, with_kwargs=True, always_call=True)
        undo.callback(_remove_post_hook, h_post)
        if any(isinstance(m, torch.jit.ScriptModule) for m in tree.order):
            # TorchScript's optimised executor runs graphs specialised on its earlier calls, which fail under a
            # dispatch mode (a traced BatchNorm's second training step): the plain interpreter runs the same ops.
            undo.enter_context(torch.jit.optimized_execution(False))
        t0 = time.perf_counter()
        meta = target.type == "meta"
        fast = _meta_kernels.kernels() if meta and not outer and not tree.dtensors else None
        if meta:
            # A GPU model's attention would run the GPU's kernels: the CPU's are asked for a CPU (or meta) model.
            shim_notes = undo.enter_context(meta_shims.shapes_only(tree.order, home.type in ("cpu", "meta")))
            if routing:  # every op goes down to the mode that keeps the values, which runs the fast kernels
                undo.enter_context(meta_shims.routing_values(inputs, args, kwargs, notes=shim_notes, kernels=fast))
                fast = None
        if copies is not None:
            swapped: list = []
            undo.callback(_swap_back, swapped)
            _swap_in(tree.order, copies, swapped)
        try:
            if tree.dtensors:  # FSDP2's modules shard the copies (and are put back as they were)
                distributed.fsdp(state, tree, undo)
            if backward:
                torch._C._autograd._push_node_creation_hook(state.tag_node)
                try:
                    with torch.enable_grad(), _Observer(state, fast):
                        train_step(model, args, kwargs, state, loss, optimizer, params)
                finally:
                    torch._C._autograd._pop_node_creation_hook()
            else:
                observer = _Observer(state, fast)
                state.mode, state.fast = observer, not meta and not state.split
                if fast is not None or state.fast:
                    state.block_env = block_paths.env(home.type in ("cpu", "meta"))
                    undo.callback(_remove_shortcuts, _install_shortcuts(tree.order, state, fast))
                with torch.no_grad(), observer:
                    try:
                        model(*args, **kwargs)
                    except BaseException:
                        _observer_back(observer)
                        raise
        except Exception as exc:
            if state.phase not in ("forward", "recompute") and not state.stack:
                raise ProfilingError(f"the training step's {state.phase} failed: {type(exc).__name__}: {exc}") \
                    from exc
            path, where_args = state.failure or state.running() or ("", args)
            failing = tree.layers.get(path)
            raise ProfilingError(
                f"forward pass failed in module '{path or '(root)'}' ({failing.type if failing else '?'}) "
                f"with input shapes {shapes_of(where_args)}: {type(exc).__name__}: {exc}") from exc
    return state, args, kwargs, shim_notes, time.perf_counter() - t0


class _MetaLeaf:
    """The ``forward`` a meta pass puts on a stock leaf module for its duration: a call whose signature
    (``leaf_paths.key``) was seen to dispatch exactly the records its path describes is answered from shapes
    (the output by the fast meta kernel of the op the forward would dispatch, the records by the path), the
    forward itself not run; any other call runs the class's forward under the observer, the first call of a
    signature in the process with its records checked against the path."""

    __slots__ = ("state", "module", "out", "kernels", "owner")

    def __init__(self, state: _State, module: nn.Module, out, kernels: dict):
        self.state, self.module, self.out, self.kernels = state, module, out, kernels
        self.owner = threading.get_ident()

    def __call__(self, *args, **kwargs):
        mod, state = self.module, self.state
        forward = type(mod).forward
        if kwargs or state.capture is not None or state.phase != "forward" or state.split or \
                threading.get_ident() != self.owner:
            return forward(mod, *args, **kwargs)
        k = leaf_paths.key(mod, args, instance_forward_ok=True)
        if k is None:
            return forward(mod, *args)
        trusted = _LEAF_TRUST.get(k)
        if trusted is None:
            return self._check(k, forward, args)
        if not trusted:
            return forward(mod, *args)
        try:
            with _NO_PYTHON_DISPATCH():  # the profiler's own shape work, unseen by the observer
                out = self.out(mod, args[0], self.kernels)
        except Exception:  # noqa: BLE001 - an invalid call: the forward raises it as torch would
            out = NotImplemented
        made = None if out is NotImplemented else leaf_paths.calls(mod, args, out)
        if made is None:
            return forward(mod, *args)
        state.charge_calls(made, state.stack[-1][0] if state.stack else state.root)
        return out

    def _check(self, k, forward, args):
        """The signature's first call: run and observe it, and trust the shortcut for it only if the records
        and the output (sizes, strides, dtype) are the ones the shortcut gives."""
        mod, state = self.module, self.state
        state.capture = []
        try:
            out = forward(mod, *args)
        finally:
            seen, state.capture = state.capture, None
        try:
            with _NO_PYTHON_DISPATCH():
                mine = self.out(mod, args[0], self.kernels)
        except Exception:  # noqa: BLE001
            mine = NotImplemented
        _LEAF_TRUST[k] = mine is not NotImplemented and type(out) is _Tensor and \
            (mine.shape, mine.stride(), mine.dtype) == (out.shape, out.stride(), out.dtype) and \
            seen == state._expected(mod, args, out)
        return out


_NO_PYTHON_DISPATCH = torch._C._DisableTorchDispatch
_SECOND = operator.itemgetter(1)


class _Block:
    """The ``forward`` a forward-only pass puts on a known composite (:mod:`profiler.core.block_paths`) for its
    duration: the first call of a key in the process runs the class's forward observed and keeps its trace; a later
    call of that key writes the trace again (its children's module calls, its records). On a meta pass it then
    returns a fresh meta tensor of the output's sizes, the forward itself not run; on a real pass the forward runs
    with the observer and the module hooks stepped aside. Anything else runs the forward observed."""

    __slots__ = ("state", "module", "owner")

    def __init__(self, state: _State, module: nn.Module):
        self.state, self.module = state, module
        self.owner = threading.get_ident()

    def __call__(self, *args, **kwargs):
        mod, state = self.module, self.state
        forward = type(mod).forward
        stack = state.stack
        if kwargs or len(args) != 1 or not block_paths.ENABLED or state.capture is not None or \
                state.phase != "forward" or state.split or state.to_global or state.owner is not None or \
                threading.get_ident() != self.owner:
            return forward(mod, *args, **kwargs)
        entry = state.modules.get(id(mod))
        # called through its hooks (not ``mod.forward(x)`` from a parent, whose ops go to the parent)
        if entry is None or not stack or stack[-1][0] is not entry:
            return forward(mod, *args)
        if state.key_memo is not None:  # inside a keyed call: its subtree's keys hold
            return self._keyed(mod, forward, args[0])
        state.key_memo = {}
        try:
            return self._keyed(mod, forward, args[0])
        finally:
            state.key_memo = None

    def _keyed(self, mod, forward, x):
        state = self.state
        keyed = block_paths.key(mod, x, state.bias_ids, self._shortcut, state.block_env, state.key_memo)
        if keyed is None:  # something in the subtree is not known: its forward may change what the memo holds
            state.key_memo = None
            return forward(mod, x)
        k, mods = keyed
        entries = [state.modules.get(id(m)) for m in mods]
        if None in entries:  # a module outside the tree (added by the forward?): its calls are not counted
            return forward(mod, x)
        hit = block_paths.TRACES.get(k)
        if hit is None:
            return self._capture(k, forward, x, entries)
        if hit is False:
            return forward(mod, x)
        events, (shape, stride, dtype) = hit
        if state.meta:
            with _NO_PYTHON_DISPATCH():  # the profiler's own tensor, unseen by the observer
                out = torch.empty_strided(shape, stride, dtype=dtype, device=_META)
        elif torch._C._get_dispatch_stack_at(0) is not state.mode:
            return forward(mod, x)  # (the key saw one mode on the stack) not the observer: nothing stepped aside
        else:
            out = self._unobserved(forward, x)
            if type(out) is not _Tensor or (out.shape, out.stride(), out.dtype) != (shape, stride, dtype):
                # not the call the trace was kept for (never seen): forget the trace, and count the call observed
                block_paths.TRACES[k] = False
                return forward(mod, x)
        self._replay(events, entries)
        return out

    def _unobserved(self, forward, x):
        """The class's forward on ``x`` with the observer off the dispatch stack and the module hooks quiet."""
        state = self.state
        torch._C._pop_torch_dispatch_stack(None)  # the key saw the observer alone on it
        state.quiet = True
        try:
            return forward(self.module, x)
        finally:
            state.quiet = False
            torch._C._push_on_torch_dispatch_stack(state.mode)

    def _replay(self, events, entries) -> None:
        """Write a trace's events for this call, as the hooks and the observer would have."""
        state = self.state
        add = state.add
        if state.trace is not None:  # inside a composite being kept: its trace has this call's events too
            state.trace.extend((ev[0], entries[ev[1]]) + ev[2:] for ev in events)
        for ev in events:
            kind = ev[0]
            if kind is _CHARGE:
                add(ev[2], ev[3], ev[4], ev[5], entries[ev[1]], "forward")
            elif kind is _PRE:  # as _State.pre
                layer = entries[ev[1]][1]
                layer.calls += 1
                if layer.calls == 1:
                    layer.input_shapes = [list(s) for s in ev[2]]
                    layer.first_call = state.order
                    state.order += 1
            else:  # as _State.post
                layer = entries[ev[1]][1]
                if layer.calls == 1 and not layer.output_shapes:
                    if ev[2] is not None:
                        layer.input_shapes = [list(s) for s in ev[2]]
                    layer.output_shapes = [list(s) for s in ev[3]]
        state.failure = None

    def _shortcut(self, f) -> bool:
        return type(f) in (_MetaLeaf, _Block) and f.state is self.state

    def _capture(self, k, forward, x, entries):
        """The key's first call: run it observed, and keep its trace if it depends on nothing outside the key."""
        mod, state = self.module, self.state
        outer = state.trace  # a composite around this one being kept: one list, this call's events its tail
        trace = state.trace = [] if outer is None else outer
        start = len(trace)
        try:
            out = forward(mod, x)
        finally:
            state.trace = outer
        # A meta replay makes the output afresh, so it must be a fresh tensor; a real replay returns the forward's
        ok = type(out) is _Tensor and out is not x and out.device == x.device and out.layout is torch.strided and \
            not out.requires_grad and (x.shape, x.stride()) == (k[1][0], k[1][1]) and \
            (not state.meta or out._base is None and out.storage_offset() == 0 and not out.is_conj() and
             not out.is_neg())
        if ok:
            seg = trace[start:]  # (in C but the last step: a composite's events are read once per enclosing one)
            at = {id(e): i for i, e in enumerate(entries)}
            where = list(map(at.get, map(id, map(_SECOND, seg))))
            # a record outside the module (its parent's context), or one that cannot be replayed
            ok = _UNREPLAYABLE not in seg and None not in where
        if ok:
            events = tuple([(ev[0], i) + ev[2:] for ev, i in zip(seg, where)])
        block_paths.store(k, (events, (out.shape, out.stride(), out.dtype)) if ok else False)
        return out


def _install_shortcuts(modules, state: _State, kernels: dict | None) -> list:
    """Put a :class:`_Block` forward on every known composite and, on a meta pass (``kernels``, the fast meta
    kernels), a :class:`_MetaLeaf` forward on every stock leaf module that has a meta shortcut, that have no forward
    of their own on the instance; the modules changed (for :func:`_remove_shortcuts`)."""
    installed = []
    # Checking the fast kernels wants every op run: a replayed composite runs none (its trace may predate the check)
    blocks = kernels is None or not _meta_kernels.checking()
    for mod in modules:
        if "forward" in mod.__dict__ or isinstance(mod, torch.jit.ScriptModule):
            continue
        if mod._modules:
            if blocks and block_paths.is_known(mod):
                installed.append(mod)
                mod.__dict__["forward"] = _Block(state, mod)
            continue
        if kernels is None:  # a real pass: its leaves' fast paths are taken in the hooks (_State._leaf_pre)
            continue
        out = leaf_paths.meta_out(mod)
        if out is not None:
            installed.append(mod)  # recorded before the change: an interrupt leaves nothing unrecorded
            mod.__dict__["forward"] = _MetaLeaf(state, mod, out, kernels)
    return installed


def _remove_shortcuts(installed: list) -> None:
    for mod in installed:
        if type(mod.__dict__.get("forward")) in (_MetaLeaf, _Block):
            del mod.__dict__["forward"]


def _restore_attributes(saved) -> None:
    """Each module's attributes as they were: a forward that caches tensors in plain attributes (rotary
    tables, torchvision's anchors) would otherwise keep the pass's meta or device copies, and the model would
    no longer run on its own device. Shallow: a container changed in place keeps its change."""
    for mod, attrs in saved:
        now = mod.__dict__
        # Same keys in the same order holding the same objects: compared in C (map), as this runs for every
        # module of every pass; any other difference (a key re-inserted, say) takes the full restore.
        if len(now) == len(attrs) and all(map(_is, now, attrs)) and all(map(_is, now.values(), attrs.values())):
            continue
        for k in now.keys() - attrs.keys():
            del now[k]
        now.update(attrs)


def _remove_post_hook(handle) -> None:
    handle.remove()
    # torch's handle forgets the with_kwargs flag it set for a global hook: drop it ourselves.
    _module_mod._global_forward_hooks_with_kwargs.pop(handle.id, None)


def _restore_outside_modes(saved) -> None:
    with _outside_modes():
        _restore_buffers(saved)


_SCRIPTED_NOTE = ("TorchScript: the submodules of '{root}' run compiled, without module hooks: their ops are counted "
                  "and charged to '{root}', their own rows stay empty")


_META = torch.device("meta")


def _has_meta(o) -> bool:
    """Whether the inputs hold a meta tensor (they have no values for a real pass)."""
    if isinstance(o, torch.Tensor):
        return o.device.type == "meta"
    if isinstance(o, (list, tuple)):
        return any(_has_meta(x) for x in o)
    if isinstance(o, dict):
        return any(_has_meta(x) for x in o.values())
    return False


def _route_experts(model: nn.Module, tree: _ModuleTree) -> list[str]:
    """Mark the layers of routed experts (``Layer.routed``, behind ``Profile.params_active``); the notes on
    modules that look like experts but whose E or k could not be read."""
    routes, notes = moe.routed_experts(model, tree.experts)
    for path, (n, k, e) in routes.items():
        layer = tree.layers.get(path)
        if layer is not None and layer.params:  # min: a tensor tied elsewhere is owned there
            layer.routed = (min(n, layer.params), k, e)
    return notes


def _step_notes(prof: Profile) -> list[str]:
    """What a reader of a training step's totals must know: kernels that recompute, checkpointing."""
    notes = []
    met = {op for layer in prof.layers for op in layer.step_ops.get("backward", {})}
    for op in sorted(met & RECOMPUTING.keys()):
        notes.append(f"the fused attention backward {op} {RECOMPUTING[op]} (counted in the backward)")
    if "recompute" in prof.phases:
        notes.append(f"activation checkpointing: {prof.recomputed:,} {prof.unit} of the backward re-run "
                     "checkpointed forwards (phase 'recompute', counted in the backward)")
    return notes
