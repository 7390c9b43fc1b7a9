"""The tests never touch the user's names cache: tests/cli/conftest.py points XDG_CACHE_HOME (which
:mod:`profiler.name_cache` honours) at a folder of the session; ``list`` writes its cache under
``$XDG_CACHE_HOME/profiler`` only, and under ``$HOME/.cache/profiler`` only when XDG_CACHE_HOME is unset."""
import os

from profiler import name_cache
from profiler.cli import main

ARGV = ["list", "crossnet", "--zoo", "builtin", "--format", "csv"]


def test_every_test_here_has_the_sessions_cache(session_cache):
    real = os.path.join(os.path.expanduser("~"), ".cache")
    assert name_cache.folder() == str(session_cache / "profiler")
    assert not name_cache.folder().startswith(real + os.sep)


def test_list_writes_its_cache_only_where_xdg_cache_home_says(tmp_path, monkeypatch, capsys):
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.delenv(name_cache.DISABLE, raising=False)
    assert main(ARGV) == 0
    out = capsys.readouterr().out
    assert [p.name for p in (xdg / "profiler").iterdir()][0].startswith("names-")
    assert list(home.iterdir()) == []  # nothing under HOME
    monkeypatch.delenv("XDG_CACHE_HOME")  # unset: ~/.cache, here the temporary HOME's
    assert main(ARGV) == 0 and capsys.readouterr().out == out
    assert len(list((home / ".cache" / "profiler").glob("names-*.json"))) == 1
