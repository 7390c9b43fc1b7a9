"""Whether a call left a model, some tensors and the process's torch state exactly as they were.

``before = snapshot(model, x)`` records; ``before.assert_same(model)`` (or ``assert_unchanged(before, model)``)
raises an AssertionError listing every difference by name. Parameters, gradients and buffers are compared
by identity and bit for bit (NaN included; on meta by shape and dtype: there are no values), modules by
identity, class, training flag, hook dicts and attribute names; the process by its global module hooks,
mode stacks, grad/inference/autocast flags, the TorchScript executor's optimize flag, default dtype and device,
and the garbage collector's settings.
TorchScript modules (scripted or traced) and models on meta work too: their missing hook dicts are skipped.
"""
from __future__ import annotations

import gc

import torch
import torch.nn as nn
from torch.nn.modules import module as _module_mod

# Per-module dicts (and flags) a call must leave as they were; one missing on a module type is skipped.
_MODULE_HOOKS = (
    "_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks", "_is_full_backward_hook",
    "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks",
    "_non_persistent_buffers_set",
)
_AUTOCAST_DEVICES = ("cpu", "cuda")
_MISSING = "<missing>"


def _copy(v):
    if isinstance(v, dict) or hasattr(v, "items"):
        return dict(v.items())
    if isinstance(v, (set, frozenset)):
        return set(v)
    return v


def _named(model, what: str):
    # remove_duplicate=False: a tie broken (or made) by the call shows as a changed identity under one name
    fn = getattr(model, what)
    try:
        return list(fn(remove_duplicate=False))
    except TypeError:  # TorchScript's own named_* take no such argument in some versions
        return list(fn())


def _bits(t: torch.Tensor):
    """The tensor's content as bytes in a new tensor (None on meta, where there is none)."""
    with _unseen():
        return _bits_of(t)


def _unseen():
    # The check's own copies and comparisons must not reach a user's dispatch mode around it (a test may
    # count what such a mode sees): the Python dispatch key is skipped, the mode stack left alone.
    return torch._C._DisableTorchDispatch()


def _bits_of(t: torch.Tensor):
    t = t.detach()
    if t.device.type == "meta":
        return None
    if t.is_sparse:
        t = t.to_dense()
    elif t.is_quantized:
        t = t.int_repr()
    flat = t.contiguous().reshape(-1)
    try:
        return flat.view(torch.uint8).clone()
    except RuntimeError:  # a dtype torch cannot reinterpret: equal values instead
        return flat.clone()


def _tensor_record(t: torch.Tensor) -> dict:
    return {"class": type(t), "dtype": t.dtype, "device": t.device, "shape": tuple(t.shape),
            "requires_grad": t.requires_grad, "bits": _bits(t)}


def _tensor_diffs(what: str, obj, saved: dict, now: torch.Tensor) -> list[str]:
    out = []
    if now is not obj:
        out.append(f"{what}: a different tensor object (id {id(obj):#x} -> {id(now):#x})")
    rec = _tensor_record(now)
    for k in ("class", "dtype", "device", "shape", "requires_grad"):
        if rec[k] != saved[k]:
            out.append(f"{what}: {k} {saved[k]} -> {rec[k]}")
    a, b = saved["bits"], rec["bits"]
    if (a is None) != (b is None):
        out.append(f"{what}: values {'appeared' if a is None else 'lost'} (device {saved['device']} -> {rec['device']})")
    elif a is not None and not (a.shape == b.shape and a.dtype == b.dtype and _equal(a, b)):
        out.append(f"{what}: value changed")
    return out


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    with _unseen():
        return torch.equal(a, b)


def _global_state() -> dict:
    state = {}
    for n in sorted(dir(_module_mod)):
        if n.startswith("_global_"):
            state[f"torch.nn.modules.module.{n}"] = _copy(getattr(_module_mod, n))
    n = torch._C._len_torch_dispatch_stack()
    state["dispatch mode stack"] = _Stack(torch._C._get_dispatch_stack_at(i) for i in range(n))
    for key in ("FAKE", "PROXY", "FUNCTIONAL"):
        k = getattr(torch._C._TorchDispatchModeKey, key, None)
        if k is not None:
            state[f"infra dispatch mode {key}"] = torch._C._get_dispatch_mode(k)
    n = torch._C._len_torch_function_stack()
    state["function mode stack"] = _Stack(torch._C._get_function_stack_at(i) for i in range(n))
    state["grad enabled"] = torch.is_grad_enabled()
    state["inference mode"] = torch.is_inference_mode_enabled()
    for dev in _AUTOCAST_DEVICES:
        state[f"autocast {dev}"] = (torch.is_autocast_enabled(dev), torch.get_autocast_dtype(dev))
    state["autocast cache"] = torch.is_autocast_cache_enabled()
    state["anomaly mode"] = torch.is_anomaly_enabled()
    state["jit optimized execution"] = torch._C._get_graph_executor_optimize()
    state["default dtype"] = torch.get_default_dtype()
    state["default device"] = torch.get_default_device()
    state["gc enabled"] = gc.isenabled()
    state["gc threshold"] = gc.get_threshold()
    return state


class _Stack(list):
    """A mode stack: equal when it holds the very same mode objects (a mode may define __eq__)."""


def _same(a, b) -> bool:
    if isinstance(a, _Stack) and isinstance(b, _Stack):
        return len(a) == len(b) and all(x is y for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(a[k] is b[k] or _plain_equal(a[k], b[k]) for k in a)
    return a is b or a == b


def _plain_equal(a, b) -> bool:
    # tensors only by identity (== would compare values elementwise, and a meta tensor has none)
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - values that cannot be compared are compared by identity only
        return False


def _module_record(m: nn.Module) -> dict:
    rec = {"class": type(m), "training": m.training, "__dict__": sorted(m.__dict__)}
    for name in ("_parameters", "_buffers", "_modules"):
        d = getattr(m, name, None)
        rec[f"{name} names"] = list(d.keys()) if d is not None else _MISSING
    for name in _MODULE_HOOKS:
        rec[name] = _copy(m.__dict__[name]) if name in m.__dict__ else _MISSING
    # Plain attributes by identity: a forward that caches a tensor (rotary tables, anchors) must not leave
    # the pass's meta or device copy behind.
    rec["attribute values"] = {k: v for k, v in m.__dict__.items()
                               if k not in _MODULE_HOOKS and k not in ("_parameters", "_buffers", "_modules")}
    return rec


class Snapshot:
    def __init__(self, model: nn.Module | None, extras: tuple):
        self.model = model
        self.params = {}
        self.buffers = {}
        self.modules = {}
        if model is not None:
            for name, p in _named(model, "named_parameters"):
                g = p.grad
                self.params[name] = (p, _tensor_record(p), g, None if g is None else _tensor_record(g))
            for name, b in _named(model, "named_buffers"):
                self.buffers[name] = (b, _tensor_record(b))
            for name, m in _named(model, "named_modules"):
                self.modules[name] = (m, _module_record(m))
        self.extras = [(t, _tensor_record(t), _grad(t), None if _grad(t) is None else _tensor_record(_grad(t)))
                       for t in extras]
        self.globals = _global_state()

    def differences(self, model: nn.Module | None = None) -> list[str]:
        model = self.model if model is None else model
        out: list[str] = []
        if model is not None:
            params = dict(_named(model, "named_parameters"))
            out += _key_diffs("parameters", self.params, params)
            for name, (p, rec, g, grec) in self.params.items():
                if name not in params:
                    continue
                now = params[name]
                what = f"parameter '{name}'"
                out += _tensor_diffs(what, p, rec, now)
                if isinstance(p, nn.Parameter) and not isinstance(now, nn.Parameter):
                    out.append(f"{what}: no longer an nn.Parameter")
                out += _grad_diffs(what, g, grec, now.grad)
            buffers = dict(_named(model, "named_buffers"))
            out += _key_diffs("buffers", self.buffers, buffers)
            for name, (b, rec) in self.buffers.items():
                if name in buffers:
                    out += _tensor_diffs(f"buffer '{name}'", b, rec, buffers[name])
            modules = dict(_named(model, "named_modules"))
            out += _key_diffs("submodules", self.modules, modules)
            for name, (m, rec) in self.modules.items():
                if name not in modules:
                    continue
                now = modules[name]
                what = f"module '{name}' ({rec['class'].__name__})"
                if now is not m:
                    out.append(f"{what}: a different module object")
                    continue
                cur = _module_record(now)
                for k, v in rec.items():
                    if k == "__dict__" and v != cur[k]:
                        out.append(f"{what}: attributes added {sorted(set(cur[k]) - set(v))}, "
                                   f"removed {sorted(set(v) - set(cur[k]))}")
                    elif not _same(v, cur[k]):
                        out.append(f"{what}: {k} {_show(v)} -> {_show(cur[k])}")
        for i, (t, rec, g, grec) in enumerate(self.extras):
            out += _tensor_diffs(f"extra tensor {i}", t, rec, t)
            out += _grad_diffs(f"extra tensor {i}", g, grec, _grad(t))
        now = _global_state()
        for k, v in self.globals.items():
            if not _same(v, now.get(k, _MISSING)):
                out.append(f"global {k}: {_show(v)} -> {_show(now.get(k, _MISSING))}")
        return out

    def assert_same(self, model: nn.Module | None = None) -> None:
        diffs = self.differences(model)
        assert not diffs, "state changed:\n  " + "\n  ".join(diffs)


def _grad(t: torch.Tensor):
    # .grad of a non-leaf that does not retain it is None by definition, and reading it warns
    return t.grad if t.is_leaf or t.retains_grad else None


def _grad_diffs(what: str, g, grec, now) -> list[str]:
    if g is None:
        return [] if now is None else [f"{what}: .grad None -> a tensor of shape {list(now.shape)}"]
    if now is None:
        return [f"{what}: .grad lost (now None)"]
    return _tensor_diffs(f"{what}.grad", g, grec, now)


def _key_diffs(kind: str, before: dict, now: dict) -> list[str]:
    out = []
    gone = [k for k in before if k not in now]
    new = [k for k in now if k not in before]
    if gone:
        out.append(f"{kind} gone: {gone}")
    if new:
        out.append(f"{kind} added: {new}")
    return out


def _show(v) -> str:
    if isinstance(v, _Stack):
        return "[" + ", ".join(type(x).__name__ for x in v) + "]"
    s = repr(v)
    return s if len(s) <= 200 else s[:200] + "..."


def snapshot(model: nn.Module | None, *extra_tensors: torch.Tensor) -> Snapshot:
    """Record ``model`` (None: the process's torch state only) and ``extra_tensors`` (inputs ...)."""
    return Snapshot(model, extra_tensors)


def assert_unchanged(before: Snapshot, model: nn.Module | None = None) -> None:
    before.assert_same(model)


class isolated:
    """A context that puts the process's torch state back however the block left it: global module hooks,
    modes pushed and not popped, grad mode, the garbage collector. For tests whose failure (the state
    check's own) must not leave a broken stack to the tests after them; it checks nothing itself."""

    def __enter__(self):
        self.hooks = {n: _copy(getattr(_module_mod, n)) for n in dir(_module_mod)
                      if n.startswith("_global_") and isinstance(getattr(_module_mod, n), dict)}
        self.modes = torch._C._len_torch_dispatch_stack()
        self.grad, self.gc = torch.is_grad_enabled(), gc.isenabled()
        return self

    def __exit__(self, *exc):
        while torch._C._len_torch_dispatch_stack() > self.modes:
            torch._C._pop_torch_dispatch_stack(None)
        for n, saved in self.hooks.items():
            d = getattr(_module_mod, n)
            d.clear()
            d.update(saved)
        torch.set_grad_enabled(self.grad)
        (gc.enable if self.gc else gc.disable)()
        return False
