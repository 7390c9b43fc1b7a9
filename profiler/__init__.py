"""profiler: per-layer MACs, FLOPs and parameters of PyTorch models, with the conventions spelled out.

    >>> import profiler, torchvision
    >>> p = profiler.profile(torchvision.models.resnet18(), input_size=(1, 3, 224, 224))
    >>> p.macs, p.params        # multiply-accumulates (conv+linear, no bias), unique parameters
    >>> p = profiler.profile_model("mixnet_s", input=224)   # by name: built on meta, zoo's input
    >>> g = profiler.profile_generate("hf:gpt2", input=512, new_tokens=32)   # prefill + decode with the KV cache

Layout (imports only go down this list): ``counters`` (rules) -> ``conventions`` -> ``core`` (engine,
Profile) -> ``zoo`` (names, inputs, :func:`profile_model`) -> ``analysis`` -> ``studies`` -> ``crosscheck``,
``published`` -> ``report`` (tables, pages, plots) -> ``cli``.
"""
import importlib

#: Each public name and the module it lives in, imported on first use (PEP 562): ``import profiler.cli``, the
#: command line's first step, must not load torch, so that Ctrl-C while it starts is answered by
#: :func:`profiler.cli.console` in one line.
_EXPORTS = {
    "profile": "profiler.core.engine", "ProfilingError": "profiler.core.engine",
    "UncoveredOpsError": "profiler.core.engine", "ConcurrentProfileError": "profiler.core.engine",
    "profile_model": "profiler.zoo.build", "profile_lengths": "profiler.zoo.build",
    "profile_generate": "profiler.zoo.generate", "Generation": "profiler.zoo.generate",
    "text_inputs": "profiler.zoo.inputs", "mfu": "profiler.analysis.mfu",
    "Profile": "profiler.core.profile", "Source": "profiler.core.profile", "Layer": "profiler.core.profile",
    "OpStat": "profiler.core.profile", "UncoveredOp": "profiler.core.profile",
    "Convention": "profiler.conventions", "get_convention": "profiler.conventions",
    "list_conventions": "profiler.conventions", "register_convention": "profiler.conventions",
    "separable_ratio": "profiler.analysis.analytic", "standard_conv_cost": "profiler.analysis.analytic",
    "separable_conv_cost": "profiler.analysis.analytic",
    "crosscheck": None,  # the callable package itself: profiler.crosscheck(model, inputs); peers imported lazily
}

__all__ = ["profile", "profile_model", "profile_generate", "profile_lengths", "text_inputs", "Generation", "mfu",
           "Profile", "Source", "Layer", "OpStat", "UncoveredOp", "Convention", "get_convention",
           "list_conventions", "register_convention", "ProfilingError", "UncoveredOpsError",
           "ConcurrentProfileError", "separable_ratio", "standard_conv_cost", "separable_conv_cost", "crosscheck"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name] or f"{__name__}.{name}")
    value = module if _EXPORTS[name] is None else getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
