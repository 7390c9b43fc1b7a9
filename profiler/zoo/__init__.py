"""Model names to modules and to profiles: ``names`` (zoo names -> ``nn.Module``, architectures only, and
each zoo's default input), ``inputs`` (sample shapes, input tensors), ``build`` (:func:`profile_model`, the one
way from a name to a :class:`~profiler.core.profile.Profile`)."""
from profiler.zoo.names import (ZOOS, ModelInfo, create, default_input, list_names, parse_kwargs, resolve,
                                suggestions)
from profiler.zoo.build import BUILDS, Built, create_meta, profile_model

__all__ = ["ZOOS", "ModelInfo", "create", "default_input", "list_names", "parse_kwargs", "resolve", "suggestions",
           "BUILDS", "Built", "create_meta", "profile_model"]
