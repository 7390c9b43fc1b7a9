"""profiler.progress: a tqdm bar with the remaining time on a terminal; plain lines at most every ``every``
seconds with done/total and the remaining time elsewhere (CI, pipes); never on stdout. The remaining time is
the closed form elapsed / done x (total - done)."""
import io

import pytest

from profiler import progress as P


class _Tty(io.StringIO):
    def isatty(self):
        return True


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def quiet_env(monkeypatch):
    for name in ("CI", "PROFILER_NO_PROGRESS", "PROFILER_PROGRESS_EVERY"):
        monkeypatch.delenv(name, raising=False)


def test_lines_every_interval_with_the_remaining_time():
    out, clock = io.StringIO(), _Clock()
    bar = P.ProgressLines(total=10, desc="sweep timm", every=10.0, stream=out, clock=clock)
    for step in range(10):
        clock.now += 4.0  # 4 s per model
        bar.set_postfix_str(f"m{step} ok")
        bar.update(1)
    lines = out.getvalue().splitlines()
    # a line once 10 s passed since the last: after models 3 (12 s), 6 (24 s), 9 (36 s); then the end
    assert lines == ["profile-model: sweep timm 3/10 models, 00:12 elapsed, about 00:28 left (m2 ok)",
                     "profile-model: sweep timm 6/10 models, 00:24 elapsed, about 00:16 left (m5 ok)",
                     "profile-model: sweep timm 9/10 models, 00:36 elapsed, about 00:04 left (m8 ok)",
                     "profile-model: sweep timm 10/10 models, 00:40 elapsed, done (m9 ok)"]


def test_a_short_run_writes_nothing_and_every_zero_a_line_per_model():
    out, clock = io.StringIO(), _Clock()
    bar = P.ProgressLines(range(3), every=10.0, stream=out, clock=clock)
    assert list(bar) == [0, 1, 2] and out.getvalue() == ""  # under 10 s: no noise, not even the end
    out = io.StringIO()
    bar = P.ProgressLines(range(2), desc="blocks: counting", every=0, stream=out, clock=clock)
    assert list(bar) == [0, 1]
    assert out.getvalue().splitlines() == [
        "profile-model: blocks: counting 1/2 models, 00:00 elapsed, about 00:00 left",
        "profile-model: blocks: counting 2/2 models, 00:00 elapsed, done"]


def test_not_a_terminal_lines_only_when_asked(quiet_env, monkeypatch, capsys):
    monkeypatch.setenv("PROFILER_PROGRESS_EVERY", "0")
    bar = P.progress(range(2), desc="sweep", log=True)
    assert isinstance(bar, P.ProgressLines) and list(bar) == [0, 1]
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines()[-1] == "profile-model: sweep 2/2 models, 00:00 elapsed, done"
    assert list(P.progress(range(2))) == [0, 1] and capsys.readouterr() == ("", "")  # a library call: silent
    monkeypatch.setenv("PROFILER_NO_PROGRESS", "1")
    assert list(P.progress(range(2), log=True)) == [0, 1] and capsys.readouterr() == ("", "")
    monkeypatch.delenv("PROFILER_NO_PROGRESS")
    assert list(P.progress(range(2), log=True, disable=True)) == [0, 1] and capsys.readouterr() == ("", "")


def test_a_terminal_gets_the_bar_with_elapsed_and_remaining(quiet_env, monkeypatch, capsys):
    tty = _Tty()
    monkeypatch.setattr("sys.stderr", tty)
    bar = P.progress(total=4, desc="sweep", log=True)
    assert not isinstance(bar, P.ProgressLines) and not bar.disable
    bar.update(2)
    bar.refresh()
    shown = tty.getvalue()
    bar.close()
    assert "2/4" in shown and "<" in shown.split("[", 1)[1]  # tqdm's [elapsed<remaining]
    assert capsys.readouterr().out == ""


def test_inside_log_lines_a_bar_that_does_not_say_writes_lines(quiet_env, monkeypatch, capsys):
    """What check, pareto and list run under: the bars of the library functions they call (which pass no
    ``log=``) write lines off a terminal; log_lines(False), their --no-progress, silences even a terminal's bar."""
    monkeypatch.setenv("PROFILER_PROGRESS_EVERY", "0")
    with P.log_lines():
        assert list(P.progress(range(2), desc="check", unit="entry")) == [0, 1]
        assert list(P.progress(range(1), log=False)) == [0]  # one that says keeps its word
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == ["profile-model: check 1/2 entries, 00:00 elapsed, about 00:00 left",
                                              "profile-model: check 2/2 entries, 00:00 elapsed, done"]
    assert list(P.progress(range(2))) == [0, 1] and capsys.readouterr() == ("", "")  # outside again: silent
    tty = _Tty()
    monkeypatch.setattr("sys.stderr", tty)
    with P.log_lines(False):
        bar = P.progress(range(2))
        assert bar.disable and list(bar) == [0, 1]
    assert tty.getvalue() == ""
    bar = P.progress(total=2)
    assert not bar.disable  # a terminal, outside: the bar
    bar.close()


def test_units_in_the_plural():
    assert [P._plural(u) for u in ("model", "entry", "zoo", "step", "days", "key")] == [
        "models", "entries", "zoos", "steps", "days", "keys"]
