"""profiler: per-layer MACs, FLOPs and parameters of PyTorch models, with the conventions spelled out.

    >>> import profiler, torchvision
    >>> p = profiler.profile(torchvision.models.resnet18(), input_size=(1, 3, 224, 224))
    >>> p.macs, p.params        # multiply-accumulates (conv+linear, no bias), unique parameters
"""
from profiler.conventions import Convention, get_convention, list_conventions, register_convention
from profiler.engine import ProfilingError, UncoveredOpsError, profile
from profiler.profile import Layer, OpStat, Profile, UncoveredOp
from profiler.analytic import separable_conv_cost, separable_ratio, standard_conv_cost
from profiler import crosscheck  # callable package: profiler.crosscheck(model, inputs); peers imported lazily

__all__ = ["profile", "Profile", "Layer", "OpStat", "UncoveredOp", "Convention", "get_convention",
           "list_conventions", "register_convention", "ProfilingError", "UncoveredOpsError",
           "separable_ratio", "standard_conv_cost", "separable_conv_cost", "crosscheck"]
__version__ = "0.1.0"
