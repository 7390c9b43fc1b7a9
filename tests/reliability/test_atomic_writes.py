"""Whole files (--output, check --output, plots, the sweep's summaries) are replaced all at once: a write that
fails midway (a file-size limit, Ctrl-C, an exception while rendering) leaves the old file as it was and no
temporary file beside it (issue 23)."""
import errno
import os
import resource
import signal
import stat
import subprocess
import sys

import matplotlib
import pytest

matplotlib.use("Agg")

from matplotlib import cbook  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from profiler import atomic  # noqa: E402
from profiler.atomic import atomic_open, atomic_savefig  # noqa: E402
from profiler.cli import main  # noqa: E402
from profiler.cli.common import emit  # noqa: E402
from profiler.errors import UsageError  # noqa: E402
from profiler.report.plots import save_figure  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(os.path.dirname(HERE), "published", "tiny_model.py") + ":tiny"
OLD = b'{"old": "a good report from an earlier run"}\n'


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def _old_file(folder, name="report.json", content=OLD):
    path = folder / name
    path.write_bytes(content)
    return path


class _Midway:
    """A file object whose first non-empty write stores half of its data and then raises KeyboardInterrupt:
    Ctrl-C in the middle of writing."""

    def __init__(self, fh):
        self._fh = fh

    def write(self, data):
        if not data:
            return self._fh.write(data)
        self._fh.write(data[:len(data) // 2])
        self._fh.flush()
        raise KeyboardInterrupt

    def __getattr__(self, name):
        return getattr(self._fh, name)


@pytest.fixture
def interrupt_midway(monkeypatch):
    real = atomic._open_temp

    def midway(*args, **kwargs):
        fh, tmp = real(*args, **kwargs)
        return _Midway(fh), tmp

    monkeypatch.setattr(atomic, "_open_temp", midway)


def _figure() -> Figure:
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([1, 2, 3])
    return fig


# -- a failure midway leaves the old file ------------------------------------------------------------------
def test_cli_output_under_a_file_size_limit_keeps_the_old_file(tmp_path):
    """A 4 KiB file-size limit (the JSON report is ~37 KB): the write fails with EFBIG, the command says so in
    one line and exits nonzero, and the old report is byte for byte what it was."""
    out = _old_file(tmp_path, "x.json")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write() instead of the process killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", "from profiler.cli import console; console()", "blocks_mnist_plain",
                           "--input", "1x28x28", "--format", "json", "--output", str(out)], cwd=tmp_path, env=env,
                          preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "cannot write --output" in err[0] and "too large" in err[0].lower(), proc.stderr
    assert out.read_bytes() == OLD
    assert sorted(os.listdir(tmp_path)) == ["x.json"]


def test_interrupted_emit_keeps_the_old_file(tmp_path, interrupt_midway):
    out = _old_file(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        emit('{"new": "%s"}' % ("x" * 10_000), str(out))
    assert out.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["report.json"]


def test_interrupted_plot_save_keeps_the_old_picture(tmp_path, interrupt_midway):
    png = _old_file(tmp_path, "layers.png", b"\x89PNG an older picture")
    with pytest.raises(KeyboardInterrupt):
        save_figure(_figure(), str(png))
    assert png.read_bytes() == b"\x89PNG an older picture"
    assert os.listdir(tmp_path) == ["layers.png"]


def test_exception_while_rendering_keeps_the_old_picture(tmp_path, monkeypatch):
    """The renderer fails after writing part of the picture (matplotlib's own write, no wrapper of ours)."""
    png = _old_file(tmp_path, "layers.png", b"\x89PNG an older picture")

    def broken(self, filename_or_obj, **kwargs):
        with cbook.open_file_cm(filename_or_obj, "wb") as fh:
            fh.write(b"\x89PNG\r\n\x1a\n half a picture")
            raise RuntimeError("renderer failed")

    monkeypatch.setattr(FigureCanvasAgg, "print_png", broken)
    with pytest.raises(RuntimeError, match="renderer failed"):
        save_figure(_figure(), str(png))
    assert png.read_bytes() == b"\x89PNG an older picture"
    assert os.listdir(tmp_path) == ["layers.png"]


def _registry(tmp_path) -> str:
    reg = tmp_path / "reg.yaml"
    reg.write_text(f"entries:\n  - id: one\n    model: {TINY}\n    input: [3, 8, 8]\n"
                   "    source: hand count\n    macs: {value: '18,944'}\n")
    return str(reg)


def test_interrupted_check_output_keeps_the_old_report(tmp_path, interrupt_midway, capsys):
    reg = _registry(tmp_path)
    md = _old_file(tmp_path, "published.md", b"# the published report of an earlier run\n")
    assert main(["check", "--registry", reg, "--format", "markdown", "--output", str(md)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert md.read_bytes() == b"# the published report of an earlier run\n"
    assert sorted(os.listdir(tmp_path)) == ["published.md", "reg.yaml"]


# -- a successful write replaces the file ------------------------------------------------------------------
def test_emit_replaces_the_file_with_a_fresh_files_permissions(tmp_path, capsys):
    out = _old_file(tmp_path)
    emit('{"new": 1}', str(out))
    assert out.read_text() == '{"new": 1}\n'
    new = tmp_path / "new.json"
    emit('{"new": 2}', str(new))
    assert new.read_text() == '{"new": 2}\n'
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~_umask()  # not mkstemp's 0600
    assert sorted(os.listdir(tmp_path)) == ["new.json", "report.json"]


def test_check_output_and_plot_replace_their_files(tmp_path, capsys):
    reg = _registry(tmp_path)
    md = _old_file(tmp_path, "published.md", b"old\n")
    assert main(["check", "--registry", reg, "--format", "markdown", "--output", str(md)]) == 0
    assert md.read_text().startswith("# ") and "| one " in md.read_text()
    png = tmp_path / "p.png"
    save_figure(_figure(), str(png))
    assert png.read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE(png.stat().st_mode) == 0o666 & ~_umask()
    assert sorted(os.listdir(tmp_path)) == ["p.png", "published.md", "reg.yaml"]


def test_a_narrow_umask_is_honoured(tmp_path):
    old = os.umask(0o077)
    try:
        with atomic_open(tmp_path / "a.txt") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o600


def test_an_existing_files_permissions_are_kept(tmp_path):
    path = _old_file(tmp_path)
    path.chmod(0o640)
    with atomic_open(path) as fh:
        fh.write("new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640


# -- profiler.atomic ---------------------------------------------------------------------------------------
def test_text_with_encoding_and_newline(tmp_path):
    path = tmp_path / "t.csv"
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("a,b\r\nµ,é\r\n")
    assert path.read_bytes() == "a,b\r\nµ,é\r\n".encode("utf-8")
    with atomic_open(str(path), "w", encoding="latin-1") as fh:
        fh.write("é")
    assert path.read_bytes() == b"\xe9"


def test_binary(tmp_path):
    path = _old_file(tmp_path, "b.bin")
    with atomic_open(path, "wb") as fh:
        fh.write(bytes(range(256)))
    assert path.read_bytes() == bytes(range(256))
    assert os.listdir(tmp_path) == ["b.bin"]


@pytest.mark.parametrize("exc", [ValueError("bad"), KeyboardInterrupt(), SystemExit(3)])
def test_an_exception_in_the_block_leaves_the_old_file(tmp_path, exc):
    path = _old_file(tmp_path)
    with pytest.raises(type(exc)):
        with atomic_open(path) as fh:
            fh.write("half of the new ")
            fh.flush()
            raise exc
    assert path.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["report.json"]


def test_no_file_is_created_when_the_first_write_fails(tmp_path):
    with pytest.raises(ValueError):
        with atomic_open(tmp_path / "new.txt") as fh:
            fh.write("x")
            raise ValueError
    assert os.listdir(tmp_path) == []


def test_a_failing_fsync_leaves_the_old_file(tmp_path, monkeypatch):
    """A full disk or a file-size limit may only show when the data is flushed to disk."""
    path = _old_file(tmp_path)

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    with pytest.raises(OSError) as info:
        with atomic_open(path) as fh:
            fh.write("new")
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_missing_folder_gives_opens_error(tmp_path):
    target = tmp_path / "no" / "such" / "x.json"
    with pytest.raises(OSError) as expected:
        open(target, "w")
    with pytest.raises(OSError) as got:
        with atomic_open(target) as fh:
            fh.write("x")
    assert type(got.value) is type(expected.value)
    assert (got.value.errno, got.value.filename) == (expected.value.errno, expected.value.filename)
    assert os.listdir(tmp_path) == []


def test_a_full_disk_at_creation_names_the_target_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = _old_file(tmp_path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / ".report.json.xyz.tmp"))

    monkeypatch.setattr(atomic, "_open_temp", full)
    with pytest.raises(OSError) as info:
        with atomic_open(path) as fh:
            fh.write("new")
    assert (info.value.errno, info.value.filename) == (errno.ENOSPC, str(path))
    assert path.read_bytes() == OLD


def test_a_folder_without_create_permission_still_writes_its_writable_file(tmp_path, monkeypatch):
    """open(path, "w") can rewrite a writable file in a folder nobody may add files to; so does atomic_open,
    in place (the folder's refusal is simulated: root may create files anywhere)."""
    path = _old_file(tmp_path)

    def refused(folder, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.path.join(folder, ".tmp"))

    monkeypatch.setattr(atomic, "_open_temp", refused)
    with atomic_open(path) as fh:
        fh.write("new")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_symbolic_link_keeps_pointing_at_its_file(tmp_path):
    real = _old_file(tmp_path, "real.json")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with atomic_open(link) as fh:
        fh.write("new")
    assert link.is_symlink() and real.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link.json", "real.json"]


def test_a_device_is_written_in_place():
    """Replacing /dev/null would swap the device for a plain file."""
    with atomic_open(os.devnull) as fh:
        fh.write("discarded")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_only_whole_file_modes():
    for mode in ("a", "r", "w+", "x"):
        with pytest.raises(ValueError, match="whole files"):
            with atomic_open(os.devnull, mode):
                pass


@pytest.mark.parametrize("ext,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_savefig_takes_the_format_from_the_targets_suffix(tmp_path, ext, magic):
    path = tmp_path / f"fig{ext}"
    atomic_savefig(_figure(), path, dpi=40)
    assert path.read_bytes().startswith(magic)
    assert os.listdir(tmp_path) == [path.name]


def test_savefig_failure_leaves_the_old_picture(tmp_path):
    path = _old_file(tmp_path, "fig.nosuchformat", b"old picture")
    with pytest.raises(ValueError):
        atomic_savefig(_figure(), path)
    assert path.read_bytes() == b"old picture"
    assert os.listdir(tmp_path) == ["fig.nosuchformat"]


def test_emit_turns_a_write_error_into_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot write --output"):
        emit("x", str(tmp_path / "no" / "x.json"))
