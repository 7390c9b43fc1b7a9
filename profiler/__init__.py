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
from profiler.conventions import Convention, get_convention, list_conventions, register_convention
from profiler.core.engine import ProfilingError, UncoveredOpsError, profile
from profiler.core.profile import Layer, OpStat, Profile, Source, UncoveredOp
from profiler.zoo.build import profile_lengths, profile_model
from profiler.zoo.generate import Generation, profile_generate
from profiler.zoo.inputs import text_inputs
from profiler.analysis.analytic import separable_conv_cost, separable_ratio, standard_conv_cost
from profiler.analysis.mfu import mfu
from profiler import crosscheck  # callable package: profiler.crosscheck(model, inputs); peers imported lazily

__all__ = ["profile", "profile_model", "profile_generate", "profile_lengths", "text_inputs", "Generation", "mfu", "Profile", "Source", "Layer", "OpStat", "UncoveredOp", "Convention", "get_convention",
           "list_conventions", "register_convention", "ProfilingError", "UncoveredOpsError",
           "separable_ratio", "standard_conv_cost", "separable_conv_cost", "crosscheck"]
__version__ = "0.1.0"
