"""Shared test settings: hypothesis runs few, deadline-free examples so that each file takes seconds on a
shared 2-core machine (a profiled pass costs milliseconds, but timings vary with the load). Helpers shared
by several test folders (``_toy``) live beside this file and import as plain modules."""
import os
import sys

from hypothesis import HealthCheck, settings

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

settings.register_profile("profiler", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("profiler")
