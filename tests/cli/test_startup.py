"""The command line's startup: every ``--help`` and a ``list`` from the name cache import neither torch nor a zoo
(checked in fresh interpreters); the cache lists what the zoos themselves list; a corrupt, stale or unwritable
cache is rebuilt or skipped, never an error. Timings are benchmarks/startup_report.py's business, not these."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from profiler import name_cache
from profiler.cli import choices, main, subcommands

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY = ("torch", "timm", "torchvision", "transformers", "pytorchcv")

_PROBE = """
import contextlib, io, json, sys
from profiler.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(%r)
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(), "heavy": [m for m in %r if m in sys.modules]}))
"""


def _fresh(argv) -> dict:
    """main(argv) in a new interpreter: its exit code, its stdout and the heavy packages it left imported."""
    proc = subprocess.run([sys.executable, "-c", _PROBE % (list(argv), HEAVY)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "120"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _here(capsys, argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


HELPS = [["--help"]] + [[name, "--help"] for name in sorted(subcommands())]


@pytest.mark.parametrize("argv", HELPS, ids=" ".join)
def test_help_imports_no_torch_and_no_zoo(argv):
    got = _fresh(argv)
    assert got["code"] == 0 and got["out"].startswith("usage: profile-model")
    assert got["heavy"] == []


def test_option_names_are_the_librarys():
    from profiler.core import step
    from profiler.crosscheck import core as crosscheck_core
    from profiler.report import page
    from profiler.zoo import hf, names

    assert (choices.ZOOS, choices.TASKS) == (names.ZOOS, hf.TASKS)
    assert (choices.LOSSES, choices.OPTIMIZERS) == (step.LOSSES, tuple(step.OPTIMIZERS))
    assert (choices.FORMATS, choices.GROUPINGS) == (page.FORMATS, page.GROUPINGS)
    assert choices.TOOLS == crosscheck_core.TOOLS


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """XDG_CACHE_HOME in a temporary folder (fresh interpreters inherit it), the cache enabled."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(name_cache.DISABLE, raising=False)
    return tmp_path


def _cache_files(home):
    return sorted((home / "profiler").glob("names-*.json"))


LISTINGS = [
    ["list"],
    ["list", "mobilenet", "--format", "json"],
    ["list", "resnet*d", "--zoo", "timm", "--zoo", "torchvision", "--format", "csv"],
    ["list", "gpt", "--zoo", "hf", "--zoo", "builtin", "--format", "markdown"],
    ["list", "mixnet", "--zoo", "pytorchcv", "--zoo", "pytorchcv", "--format", "html"],
    ["list", "zzz_no_such_model"],
]


def test_warm_list_imports_no_torch_and_lists_what_the_zoos_list(cache_home, capsys, monkeypatch):
    monkeypatch.setenv(name_cache.DISABLE, "1")
    expected = {tuple(argv): _here(capsys, argv) for argv in LISTINGS}
    assert not (cache_home / "profiler").exists()  # disabled: neither read nor written
    monkeypatch.delenv(name_cache.DISABLE)
    # the cold run builds the cache (here, where the zoos are imported already: it is the slow part)
    assert _here(capsys, LISTINGS[0]) == expected[tuple(LISTINGS[0])]
    assert len(_cache_files(cache_home)) == 1
    for argv in LISTINGS:
        got = _fresh(argv)
        assert got["heavy"] == [], argv
        assert (got["code"], got["out"]) == expected[tuple(argv)], argv


@pytest.mark.parametrize("argv", [["--help"], ["list", "--help"], ["list", "--zoo", "builtin", "crossnet"]],
                         ids=" ".join)
def test_console_loads_no_torch_for_help_and_warm_list(cache_home, argv):
    """console(), the installed script, imports up front what the command will need: not torch here."""
    if "--help" not in argv:  # the cache, built
        subprocess.run([sys.executable, "-c", "from profiler.cli import main; main(['list', '--zoo', 'builtin'])"],
                       cwd=ROOT, capture_output=True, check=True, timeout=600)
    code = f"import sys; sys.argv = ['profile-model'] + {argv!r}\nfrom profiler.cli import console\nconsole()"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {m.group(1) for m in re.finditer(r"^import time:.*\|\s*(\w+)[\w.]*$", proc.stderr, re.MULTILINE)}
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


ARGV = ["list", "--zoo", "builtin", "--format", "csv"]  # the one zoo that takes no time to list


def _valid_key_bad_rows():
    return json.dumps({"key": name_cache.key(), "zoos": {"builtin": [["crossnet"]]}}).encode()


@pytest.mark.parametrize("garbage", [b"{not json", b"\xff\xfe\x00", b"[]", b'{"key": {}, "zoos": {}}',
                                     _valid_key_bad_rows], ids=["json", "utf8", "list", "key", "rows"])
def test_corrupt_cache_is_rebuilt(cache_home, capsys, garbage):
    expected = _here(capsys, ARGV)
    (path,) = _cache_files(cache_home)
    path.write_bytes(garbage() if callable(garbage) else garbage)
    assert _here(capsys, ARGV) == expected
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["key"] == name_cache.key() and len(doc["zoos"]["builtin"]) == expected[1].count("\nbuiltin,")


def test_unwritable_cache_folder_lists_without_caching(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # no profiler/ folder can be made inside a file
    monkeypatch.setenv(name_cache.DISABLE, "1")
    expected = _here(capsys, ARGV)
    monkeypatch.delenv(name_cache.DISABLE)
    assert _here(capsys, ARGV) == expected
    assert blocker.read_text() == ""


def test_cache_folder_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec: ignored, ~/.cache instead
    monkeypatch.setenv("HOME", str(tmp_path))
    assert name_cache.folder() == str(tmp_path / ".cache" / "profiler")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    k = name_cache.key()
    assert set(k["versions"]) == {"torch", "timm", "torchvision", "pytorchcv", "transformers", "profiler"}
    assert os.path.join("models", "registry.py") in k["mtimes"]
    path = name_cache.path_for(k)
    assert path.startswith(str(tmp_path / "xdg" / "profiler" / "names-")) and path.endswith(".json")
    other = {**k, "versions": {**k["versions"], "timm": "0.0.0"}}  # another timm: another file
    assert name_cache.path_for(other) != path


def test_old_cache_files_are_pruned(cache_home, capsys):
    folder = cache_home / "profiler"
    folder.mkdir()
    for i in range(6):
        old = folder / f"names-old{i}.json"
        old.write_text("{}")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    (folder / "unrelated.json").write_text("{}")
    _here(capsys, ARGV)
    left = sorted(p.name for p in folder.iterdir())
    assert "unrelated.json" in left and len(_cache_files(cache_home)) == 1 + 3
    assert {"names-old5.json", "names-old4.json", "names-old3.json"} <= set(left)


def _torch_loading(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
            return "libtorch" in fh.read()
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads /proc/PID/maps to see torch loading")
@pytest.mark.parametrize("delay", [0.0, 0.3])
def test_ctrl_c_while_a_cold_list_imports_the_zoos_is_130_and_quiet(cache_home, delay):
    """console() imports no torch up front for `list`; the import a missing cache makes answers Ctrl-C the same
    way (130 and one line, never a traceback), and leaves no half-written cache."""
    code = "import sys; sys.argv = ['profile-model', 'list']\nfrom profiler.cli import console\nconsole()"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    while not _torch_loading(proc.pid) and proc.poll() is None and time.monotonic() - start < 60:
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip() == "profile-model: interrupted", (proc.returncode, err)
    assert _cache_files(cache_home) == [] and not list(cache_home.rglob("*.tmp"))
