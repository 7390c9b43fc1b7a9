"""Studies over many models, returning rows: the block-family comparison (``blocks``), the zoo sweep
(``sweep``), accuracy-vs-cost points (``pareto``). Each model goes through :func:`profiler.zoo.profile_model`
or :func:`profiler.profile`; rendering is in :mod:`profiler.report`."""
