"""Model names to modules and to profiles: ``names`` (zoo names -> ``nn.Module``, architectures only, and
each zoo's default input), ``hf`` (the Hugging Face zoo: configs by model type, file or cached hub id),
``inputs`` (sample shapes, input tensors, a language model's tokens), ``build`` (:func:`profile_model`, the
one way from a name to a :class:`~profiler.core.profile.Profile`; :func:`profile_lengths`, several sequence
lengths), ``generate`` (:func:`profile_generate`: the prefill and each decode step with the KV cache)."""
from profiler.zoo.names import (ZOOS, ModelInfo, create, default_input, list_names, parse_kwargs, resolve,
                                suggestions)
from profiler.zoo.inputs import text_inputs
from profiler.zoo.build import BUILDS, Built, build_model, create_meta, profile_lengths, profile_model
from profiler.zoo.generate import Generation, profile_generate

__all__ = ["ZOOS", "ModelInfo", "create", "default_input", "list_names", "parse_kwargs", "resolve", "suggestions",
           "text_inputs", "BUILDS", "Built", "build_model", "create_meta", "profile_lengths", "profile_model",
           "Generation", "profile_generate"]
