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


# -- the user's cache stays out of every test ----------------------------------------------------------------
# XDG_CACHE_HOME (which profiler.name_cache honours, and fresh interpreters started by a test inherit) points at
# a folder of this test session, so ``profile-model list`` and the zoo name lookups build their names cache there
# (once a session) and never read or write ~/.cache/profiler. A test may point it elsewhere
# (tests/cli/test_startup.py's ``cache_home``: an empty folder of its own).
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    """The session's cache folder (XDG_CACHE_HOME of every test unless the test sets its own)."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def _private_cache(session_cache, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(session_cache))
