"""Progress of check, pareto and list, as sweep's and blocks': on stderr only (stdout is the same with or without
it), a tqdm bar on a terminal, else a line at most every PROFILER_PROGRESS_EVERY seconds (10 by default: a short
run writes none; 0 here: a line per step), and nothing at all with --no-progress."""
import io
import re

import pytest

from profiler import name_cache
from profiler.cli import main

CHECK = ["check", "--only", "B/shufflenet_v1_g*_1x"]  # a few entries of the package registry, on meta
LINE = re.compile(r"^profile-model: (.+) (\d+)/(\d+) (\w+), \d\d:\d\d elapsed, (about \d\d:\d\d left|done)")


class _Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def log_env(monkeypatch):
    """stderr not a terminal (capsys), a line per step."""
    for name in ("CI", "PROFILER_NO_PROGRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROFILER_PROGRESS_EVERY", "0")


def _run(capsys, argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _lines(err: str, desc: str) -> list[tuple[int, int, str]]:
    got = [LINE.match(line) for line in err.splitlines()]
    return [(int(m.group(2)), int(m.group(3)), m.group(4)) for m in got if m and m.group(1) == desc]


def test_check_writes_progress_lines_off_a_terminal(log_env, capsys, monkeypatch):
    code, out, err = _run(capsys, CHECK)
    assert code == 0
    steps = _lines(err, "check")
    n = steps[-1][1]
    assert n >= 2 and [s[0] for s in steps] == list(range(1, n + 1)) and steps[0][2] == "entries"
    assert err.splitlines()[-1].endswith("done")
    assert _run(capsys, CHECK + ["--no-progress"]) == (0, out, "")  # the same stdout; no progress at all
    monkeypatch.delenv("PROFILER_PROGRESS_EVERY")  # 10 s: a run of a few seconds writes no line
    assert _run(capsys, CHECK) == (0, out, "")


def test_check_shows_a_bar_on_a_terminal(log_env, capsys, monkeypatch):
    expected = _run(capsys, CHECK + ["--no-progress"])[1]
    tty = _Tty()
    monkeypatch.setattr("sys.stderr", tty)
    assert main(CHECK) == 0
    assert capsys.readouterr().out == expected
    shown = tty.getvalue()
    assert "check:" in shown and "entry" in shown and "<" in shown  # tqdm's [elapsed<remaining]
    assert "profile-model: check" not in shown  # the bar, not the lines


def _pareto_csv(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("model,family,top1,macs,params,zoo\n"
                 "a,A,60,,,builtin:blocks_mnist_plain\nb,A,70,,,builtin:blocks_mnist_residual\n"
                 "c,B,65,,,builtin:blocks_mnist_mobile_v1\n")
    return str(f)


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_pareto_writes_progress_lines_off_a_terminal(log_env, capsys, tmp_path, fmt):
    argv = ["pareto", "--csv", _pareto_csv(tmp_path), "--output", str(tmp_path / "p.svg"), "--format", fmt]
    code, out, err = _run(capsys, argv)
    assert code == 0
    assert [s[:2] for s in _lines(err, "counting MACs (meta device)")] == [(1, 3), (2, 3), (3, 3)]
    code, quiet_out, quiet_err = _run(capsys, argv + ["--no-progress"])
    assert (code, quiet_out) == (0, out) and quiet_err.splitlines() == [f"profile-model: wrote {tmp_path / 'p.svg'}"]


def test_list_shows_the_names_cache_being_built(log_env, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty cache: built by the first run
    monkeypatch.delenv(name_cache.DISABLE, raising=False)
    argv = ["list", "crossnet", "--zoo", "builtin"]
    code, out, err = _run(capsys, argv)
    assert code == 0 and _lines(err, "list: names cache") == [(1, 1, "zoo")]
    assert _run(capsys, argv) == (0, out, "")  # warm: nothing to build, no progress (and no tqdm imported)
    for path in (tmp_path / "profiler").iterdir():
        path.unlink()
    assert _run(capsys, argv + ["--no-progress"]) == (0, out, "")
    code, out, err = _run(capsys, ["list", "crossnet58k3", "--zoo", "builtin", "--sizes"])
    assert code == 0 and _lines(err, "list: default inputs")[-1][:2] == (1, 1)
