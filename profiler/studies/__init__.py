"""Studies over many models, returning rows: the block-family comparison (``blocks``), the zoo sweep
(``sweep``), the cross-check at zoo scale (``zoo_crosscheck``, in the sweep's worker processes),
accuracy-vs-cost points (``pareto``). Each model goes through :func:`profiler.zoo.profile_model`,
:func:`profiler.profile` or :func:`profiler.crosscheck`; rendering is in :mod:`profiler.report`."""
