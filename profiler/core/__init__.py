"""The counting core: the engine that observes a pass (module hooks + a dispatch-level op observer), the fast
meta kernels it installs, the :class:`~profiler.core.profile.Profile` it returns (plain data) and the layer
kinds. Below it only ``counters`` (the rules) and ``conventions`` (the weightings)."""
