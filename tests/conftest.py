"""Shared test settings: hypothesis runs few, deadline-free examples so that each file takes seconds on a
shared 2-core machine (a profiled pass costs milliseconds, but timings vary with the load)."""
from hypothesis import HealthCheck, settings

settings.register_profile("profiler", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("profiler")
