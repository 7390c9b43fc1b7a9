"""Analyses of a model or a Profile that return data: closed-form costs (``analytic``), depthwise-separable
pairs (``separable``), memory traffic (``traffic``), measured latency (``latency``, ``layer_latency``).
Nothing here prints: tables and figures are made in :mod:`profiler.report`."""
