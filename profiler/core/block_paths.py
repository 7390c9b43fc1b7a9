"""Replay of composites whose forward is known (timm's ``BatchNormAct2d``, ``MixedConv2d``, ``SqueezeExcite``, the
efficientnet blocks made of them, the vision transformer's ``Block`` / ``Attention`` / ``Mlp``; torchvision's
ResNet, MobileNet, EfficientNet, RegNet and ConvNeXt blocks; ``nn.Sequential`` of such modules): the leaf-path
principle one level up.

Observing such a module's call costs its children's module calls (each through the process-wide hooks) and one
observed dispatch per op, and on a shapes-only pass its Python forward too, while everything it records follows
from its configuration and its input's signature. The first call of a :func:`key` in the process runs observed,
and what the observer did is kept as a trace (the descendants' module calls with their shapes, every record with
the module it was charged to, the output's sizes and strides); a later call of the same key writes that trace
again, in order, through the same bookkeeping (``_State.add``): on a meta pass instead of running the forward, on
a real pass around the forward run unobserved (its values are needed, its ops are known). A trace is kept only when
the call recorded nothing that depends on anything outside the key (no uncovered op, no collective, every record
charged inside the module; on meta a fresh output). A composite called while an enclosing one is being kept is kept
(or replayed) too, its events part of the enclosing trace.

The key is complete for the classes listed: their forwards (pinned by a hash of their source and of the methods
they call, so another version of a class is observed instead) read only the module's plain attributes, its
children, the shapes dtypes and devices of its parameters and buffers, and the input's signature; the children
are known composites or torch's stock leaves (convolutions, linear layers, norms, pools, activations, dropout,
identity), whose forwards read the same; what the kernels' choice reads of the process (attention backends,
default dtype, the device a meta pass stands for) is the pass's :func:`env`. Any hook on the module or a
descendant, any process-wide module hook besides the profiler's, a torch-function mode, another dispatch mode,
autocast or grad mode make the call run observed. Values are never part of a key: no known forward branches on
them (dropout and stochastic depth draw random values, whose ops do not depend on what they draw).
"""
from __future__ import annotations

import hashlib
import inspect

import torch
import torch.nn as nn
from torch.nn.modules import module as _module_mod

# (class module, class name) -> sha256 prefix of its forward's source: the forwards read for the key's
# completeness (timm 1.0.x). A class whose source differs is not replayed.
_KNOWN = {
    ("timm.layers.norm_act", "BatchNormAct2d"): "0d3810e96688422c",
    ("timm.layers.mixed_conv2d", "MixedConv2d"): "e0954dafd776bfc2",
    ("timm.models._efficientnet_blocks", "SqueezeExcite"): "d7fc3f9e90106daa",
    # the blocks around them: a sequence of their children, and ``drop_path(x) + shortcut`` when has_skip
    ("timm.models._efficientnet_blocks", "InvertedResidual"): "79b9321db3aa7ecf",
    ("timm.models._efficientnet_blocks", "DepthwiseSeparableConv"): "9933da8dd03375d4",
    # the vision transformer's: ``x + drop_path(ls(attn(norm(x))))`` and the same with the MLP; the attention's
    # kernel choice (fused or not) is its plain attribute ``fused_attn``, the backend's is in the key's ``env``
    ("timm.models.vision_transformer", "Block"): "2cb6f77c3039d89c",
    ("timm.layers.attention", "Attention"): "37a80e0fdf45af9c",
    ("timm.layers.mlp", "Mlp"): "6dade48223cfc248",
    ("timm.layers.layer_scale", "LayerScale"): "0cafce9bc5334478",
    ("timm.layers.drop", "DropPath"): "a772e32a8fe41579",  # random values, data-independent ops
    ("timm.layers.norm", "LayerNorm"): "2968ef0143a6bdf1",  # fast or not: the plain attribute _fast_norm
    ("timm.layers.norm", "LayerNorm2d"): "fb4fcc542296e1bb",
    # torchvision's ResNet blocks (torchvision 0.2x): children in sequence, ``out += identity``
    ("torchvision.models.resnet", "BasicBlock"): "5149f5a6ca0ed162",
    ("torchvision.models.resnet", "Bottleneck"): "d92f494e60f1c0fa",
    # ``for module in self: input = module(input)`` (torch 2.x): a known composite when all its children are;
    # torchvision's Sequential subclasses run that forward too
    ("torch.nn.modules.container", "Sequential"): "cf2aadd8853835c2",
    ("torchvision.ops.misc", "Conv2dNormActivation"): "cf2aadd8853835c2",
    ("torchvision.models.regnet", "BottleneckTransform"): "cf2aadd8853835c2",
    ("torchvision.models.regnet", "SimpleStemIN"): "cf2aadd8853835c2",
    # torchvision's other blocks (0.2x): children in sequence, a residual add (stochastic depth: random values,
    # data-independent ops), squeeze-excitation's scale (its _scale: pool, fc, activation, fc, gate)
    ("torchvision.ops.misc", "SqueezeExcitation"): "5227de65a8ab2b33",
    ("torchvision.ops.misc", "Permute"): "0a2b7e4993e37c1a",
    ("torchvision.ops.stochastic_depth", "StochasticDepth"): "6248deebc394a832",
    ("torchvision.models.mobilenetv2", "InvertedResidual"): "416d9d7a6ec8b8df",
    ("torchvision.models.mobilenetv3", "InvertedResidual"): "2620458680a405eb",
    ("torchvision.models.efficientnet", "MBConv"): "549ec04b7e2a368e",
    ("torchvision.models.efficientnet", "FusedMBConv"): "549ec04b7e2a368e",
    ("torchvision.models.convnext", "CNBlock"): "fb13ebe306bd333f",
    ("torchvision.models.convnext", "LayerNorm2d"): "96f5d7fdef454be8",
    ("torchvision.models.regnet", "ResBottleneckBlock"): "11c3c237de2287ee",
}
# methods besides ``forward`` that a class's call runs, pinned with it
_METHODS = {("torchvision.ops.misc", "SqueezeExcitation"): ("_scale",)}

# torch's stock leaves allowed as children: their forward is one functional call on the input, configured by plain
# attributes and the parameters' and buffers' shapes (no attribute written; of buffer values only batch norm's
# num_batches_tracked is read, with momentum=None in training, which the key refuses).
_CHILDREN = frozenset({
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Identity, nn.Flatten,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm,
    nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
    nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Hardsigmoid, nn.Hardswish, nn.Mish,
    nn.LeakyReLU, nn.ELU, nn.Softplus, nn.PReLU,
})

# nn.Module's own bookkeeping in __dict__: not configuration (hooks are checked apart, ``forward`` by the caller).
_INTERNAL = frozenset({
    "training", "_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "_is_full_backward_hook",
    "_backward_pre_hooks", "_backward_hooks", "_forward_hooks", "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called", "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_state_dict_hooks",
    "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks", "forward",
})

_PLAIN = frozenset({bool, int, float, str, type(None), torch.dtype, torch.device, torch.memory_format})
_NO = object()  # an attribute value the key cannot hold: the module is not replayed

# type -> whether it is a known composite (its forward's source checked once)
_CLASS_OK: dict[type, bool] = {}
# key -> (events, (output sizes, strides, dtype)) or False (observed and found not replayable)
TRACES: dict[tuple, object] = {}
_MAX_TRACES = 20_000  # knowledge per configuration: bounded, as a process may build many models
#: Replay on (tests turn it off to compare the documents).
ENABLED = True


def clear_cache() -> None:
    TRACES.clear()
    _CLASS_OK.clear()


def _source_hash(cls: type, name: tuple) -> str:
    """The pinned hash of what a class's call runs: its forward's source, and the other methods it calls."""
    src = "".join(inspect.getsource(getattr(cls, m)) for m in ("forward", *_METHODS.get(name, ())))
    return hashlib.sha256(src.encode()).hexdigest()[:16]


def is_known(mod: nn.Module) -> bool:
    """Whether ``mod``'s class is one whose forward was read (its source as pinned)."""
    cls = type(mod)
    ok = _CLASS_OK.get(cls)
    if ok is None:
        name = (cls.__module__, cls.__qualname__)
        want = _KNOWN.get(name)
        try:
            ok = want is not None and _source_hash(cls, name) == want
        except (OSError, TypeError):
            ok = False
        _CLASS_OK[cls] = ok
    return ok


def _canon(v):
    t = type(v)
    if t in _PLAIN:
        return (t, v)  # the type too: True == 1 and 1 == 1.0, but they need not configure alike
    if t is tuple or t is list:
        types = tuple(map(type, v))
        if _PLAIN.issuperset(types):  # kernel sizes, strides, paddings, split sizes: flat, compared in C
            return (t, tuple(v), types)
        items = tuple(map(_canon, v))
        return _NO if _NO in items else (t, items)
    return _NO


def _signature(m: nn.Module, bias_ids, leaf_forward) -> tuple | None:
    """Everything of one module its forward reads, or None when it has something the key cannot hold."""
    if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks:
        return None
    d = m.__dict__
    f = d.get("forward")
    if f is not None and not leaf_forward(f):
        return None
    names = tuple([k for k in d if k not in _INTERNAL])
    values = tuple([(type(v), v) if type(v) in _PLAIN else _canon(v) for v in map(d.__getitem__, names)])
    if _NO in values:
        return None
    tensors = tuple([(k, None) if t is None else
                     (k, type(t), t.shape, t.stride(), t.storage_offset(), t.dtype, t.device, t.requires_grad,
                      id(t) in bias_ids)
                     for group in (d["_parameters"], d["_buffers"]) for k, t in group.items()])
    cls = type(m)
    return cls, cls.forward, d["training"], names, values, tensors


def _subtree(mod: nn.Module, bias_ids, forward_ok, mods: list, memo: dict) -> tuple | None:
    """The key of a known composite and its children (stock leaves or known composites, recursively), appending
    them to ``mods`` in pre-order; None if any of them cannot be keyed. ``memo``: id(module) -> (its key, the
    modules of its subtree), the keys of the enclosing call's subtree (see :func:`key`)."""
    hit = memo.get(id(mod))
    if hit is not None:
        mods.extend(hit[1])
        return hit[0]
    start = len(mods)
    tree = _walk(mod, bias_ids, forward_ok, mods, memo)
    memo[id(mod)] = (tree, mods[start:] if tree is not None else ())
    return tree


def _walk(mod: nn.Module, bias_ids, forward_ok, mods: list, memo: dict) -> tuple | None:
    if mod.training and getattr(mod, "track_running_stats", False) and getattr(mod, "momentum", 0.0) is None:
        return None  # BatchNormAct2d's cumulative average reads num_batches_tracked's value
    own = _signature(mod, bias_ids, forward_ok)
    if own is None:
        return None
    mods.append(mod)
    kids = []
    for name, c in mod._modules.items():
        if c is None:
            return None
        if type(c) in _CHILDREN and not c._modules:
            if c.training and getattr(c, "track_running_stats", False) and getattr(c, "momentum", 0.0) is None:
                return None
            s = _signature(c, bias_ids, forward_ok)
            mods.append(c)
        elif is_known(c):
            s = _subtree(c, bias_ids, forward_ok, mods, memo)
        else:
            return None
        if s is None:
            return None
        kids.append((name, s))
    return own, tuple(kids)


def env(cpu_kernels: bool) -> tuple:
    """What a pass's kernel choices read besides the modules and the input: the device whose kernels a meta pass
    stands for (``cpu_kernels``), the attention backends enabled, the default dtype, deterministic algorithms.
    Taken once per pass and made part of every key."""
    b = torch._C
    return (cpu_kernels, b._get_flash_sdp_enabled(), b._get_mem_efficient_sdp_enabled(), b._get_math_sdp_enabled(),
            b._get_cudnn_sdp_enabled(), torch.get_default_dtype(), torch.are_deterministic_algorithms_enabled())


def key(mod: nn.Module, x, bias_ids, forward_ok, env: tuple, memo: dict) -> tuple | None:
    """(the replay key of a call ``mod(x)`` of a known composite, the modules of its subtree in pre-order), or
    None (the call runs observed).

    ``forward_ok(f)`` tells whether an instance ``forward`` is the pass's own shortcut (leaf or composite); ``env``
    is the pass's :func:`env`. ``memo`` keeps the subtrees' keys for the calls made inside an outermost keyed
    call: within it only known forwards run, which change no module's key, so each module is read once.
    """
    if type(x) is not torch.Tensor or x.is_nested or x.layout is not torch.strided:
        return None
    if torch.is_grad_enabled() or torch._C._is_any_autocast_enabled() or torch._C._len_torch_function_stack() or \
            torch._C._len_torch_dispatch_stack() != 1:
        return None
    # the profiler's pre and post hooks only: anyone else's would see the children's calls
    if len(_module_mod._global_forward_hooks) != 1 or len(_module_mod._global_forward_pre_hooks) != 1 or \
            _module_mod._global_backward_hooks or _module_mod._global_backward_pre_hooks:
        return None
    mods: list = []
    tree = _subtree(mod, bias_ids, forward_ok, mods, memo)
    if tree is None:
        return None
    return (tree, (x.shape, x.stride(), x.storage_offset(), x.dtype, x.device, x.requires_grad, id(x) in bias_ids,
                   torch.is_inference_mode_enabled()), env), mods


def store(k: tuple, value) -> None:
    if len(TRACES) < _MAX_TRACES:
        TRACES[k] = value
