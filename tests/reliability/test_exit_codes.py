"""Exit codes of every command (issue 23, part 7): the user's mistake (a name, a value, a path, a file) exits 2,
the model failing on valid input 1, an interrupt 130; each with one line on stderr and no traceback. Also the
Python API's errors for the same mistakes (:class:`profiler.errors.UsageError`), the message of a training step
under ``torch.inference_mode()``, and the lazy ``import profiler`` that lets the command answer Ctrl-C while
torch loads."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import profiler
from profiler.cli import main
from profiler.core.devices import check_device
from profiler.core.step import check_can_step
from profiler.errors import UsageError

FULL = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a disk that is always full)")
MODEL = "blocks_mnist_plain"  # builtin: builds and counts in milliseconds

BROKEN = '''
import torch.nn as nn


class Broken(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.fc = nn.Linear(3, width)

    def forward(self, x):
        raise RuntimeError("this model is broken")


def build(width=4):
    return Broken(width)


def fails(width=4):
    raise ValueError("cannot be built at all")
'''


@pytest.fixture
def paths(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    binary = bytes([0xA2, 0x00, 0xFF, 0xFE]) * 64
    for name in ("binary.csv", "binary.json", "binary.py"):
        (tmp_path / name).write_bytes(binary)
    (tmp_path / "syntax.py").write_text("def build(:\n")
    (tmp_path / "broken.py").write_text(BROKEN)
    return {"dir": str(folder), "tmp": str(tmp_path), "bin": str(tmp_path / "binary.csv"),
            "binjson": str(tmp_path / "binary.json"), "binpy": str(tmp_path / "binary.py"),
            "syntax": str(tmp_path / "syntax.py"), "broken": str(tmp_path / "broken.py")}


@pytest.fixture
def quick_sweep(monkeypatch):
    """The sweep's worker processes replaced by a canned row per model: the rows are about the command's files."""
    from profiler.studies import sweep

    def run_sweep(todo, **_):
        for zoo, name in todo:
            yield {**dict.fromkeys(sweep.COLUMNS, ""), "zoo": zoo, "name": name, "status": "ok", "macs": "1"}

    monkeypatch.setattr(sweep, "run_sweep", run_sweep)


# (argv, exit code, a substring of the one line on stderr); {dir} ... are the paths of the fixture above
ROWS = [
    # -- the profile command: constructor arguments (bad values are the user's, wherever they fail)
    (["resnet18", "--kwargs", "num_classes=-5"], 2, "num_classes=-5: a count cannot be negative"),
    (["resnet18", "--kwargs", "drop_rate=abc"], 2, "drop_rate='abc': ResNet takes a number"),
    (["timm:resnet18", "--kwargs", "drop_rate=-1"], 2, "drop_rate=-1: a probability"),
    (["timm:resnet18", "--kwargs", "global_pool=bogus"], 2, "cannot be built with --kwargs global_pool='bogus'"),
    (["torchvision:resnet18", "--kwargs", "groups=2"], 2, "cannot be built with --kwargs groups=2"),
    (["hf:gpt2", "--kwargs", "n_layer=two"], 2, "n_layer='two'"),
    (["hf:gpt2", "--kwargs", "num_hidden_layers=-1"], 2, "num_hidden_layers=-1: a count cannot be negative"),
    (["hf:gpt2", "--kwargs", "n_layer=1", "n_head=0"], 2, "cannot be built with --kwargs"),
    ([MODEL, "--kwargs", "num_classes=3", "num_classes=4"], 2, "num_classes is given twice"),
    ([MODEL, "--kwargs", "num_classes=3", "--kwargs", "num_classes=4"], 2, "num_classes is given twice"),
    ([MODEL, "--kwargs", "oops"], 2, "key=value"),
    # -- the profile command: names, options, values
    (["--bogus-flag"], 2, "unrecognized arguments: --bogus-flag"),
    ([MODEL, "--bogus-flag"], 2, "unrecognized arguments: --bogus-flag"),
    ([], 2, "required: model"),
    (["no_such_model_xyz"], 2, "unknown model 'no_such_model_xyz'"),
    (["nozoo:" + MODEL], 2, "unknown zoo"),
    ([MODEL, "--device", "tpu"], 2, "--device: invalid choice: 'tpu'"),
    ([MODEL, "--input", "abc"], 2, "--input"),
    ([MODEL, "--input", "0"], 2, ">= 1"),
    ([MODEL, "--batch", "0"], 2, "--batch"),
    ([MODEL, "--convention", "bogus"], 2, "unknown convention 'bogus'"),
    ([MODEL, "--step-time", "nan", "--peak-tflops", "1", "--train"], 2, "finite number > 0"),
    ([MODEL, "--optimizer", "sgd"], 2, "add --train"),
    ([MODEL, "--task", "base"], 2, "Hugging Face"),
    (["hf:bert", "--kwargs", "num_hidden_layers=1", "--generate", "2"], 2, "no KV cache"),
    # -- the profile command: files
    ([MODEL, "--output", "{dir}"], 2, "it is a folder"),
    ([MODEL, "--output", "{tmp}/missing/x.txt"], 2, "does not exist"),
    pytest.param([MODEL, "--output", "/dev/full"], 2, "cannot write --output '/dev/full'", marks=FULL),
    ([MODEL, "--plot", "{dir}"], 2, "it is a folder"),
    (["hf:{binjson}"], 2, "not UTF-8 text"),
    (["hf:{dir}"], 2, "no config.json"),
    (["{binpy}:build"], 2, "cannot load"),
    (["{syntax}:build"], 2, "SyntaxError"),
    (["{dir}:build"], 2, "is a folder"),
    (["{broken}:nothing"], 2, "no callable 'nothing'"),
    (["{broken}:build", "--kwargs", "width=abc"], 2, "width='abc': build() takes a number"),
    (["{broken}:build", "--kwargs", "depth=2"], 2, "does not take --kwargs"),
    # -- the model failing on valid input
    (["{broken}:build"], 1, "this model is broken"),
    (["{broken}:fails", "--kwargs", "width=2"], 1, "cannot be built at all"),  # fails without them too
    # -- list
    (["list", "--zoo", "bogus"], 2, "invalid choice: 'bogus'"),
    (["list", "resnet", "--zoo", "builtin", "--output", "{dir}"], 2, "it is a folder"),
    pytest.param(["list", "crossnet", "--zoo", "builtin", "--output", "/dev/full"], 2, "/dev/full", marks=FULL),
    (["list", "zzz_no_such_name", "--zoo", "builtin"], 1, "no model name matches"),  # as grep: nothing found
    (["list", "--bogus"], 2, "unrecognized arguments: --bogus"),
    # -- check
    (["check", "--registry", "{tmp}/missing.yaml"], 2, "no such registry file"),
    (["check", "--registry", "{dir}"], 2, "it is a folder"),
    (["check", "--registry", "{bin}"], 2, "not UTF-8 text"),
    (["check", "--only", "zzz_no_such_entry"], 2, "no registry entry matches"),
    (["check", "--device", "tpu"], 2, "invalid choice: 'tpu'"),
    (["check", "--output", "{dir}"], 2, "it is a folder"),
    pytest.param(["check", "--only", "A/mobilenet_v1", "--output", "/dev/full"], 2, "/dev/full", marks=FULL),
    # -- blocks
    (["blocks", "--dataset", "bogus"], 2, "unknown dataset 'bogus'"),
    (["blocks", "--threads", "0"], 2, "positive integer"),
    (["blocks", "--output", "{dir}"], 2, "it is a folder"),
    (["blocks", "--plot", "{dir}"], 2, "it is a folder"),
    (["blocks", "--runs", "0", "--plot", "{tmp}/p.png"], 2, "--plot needs latency"),
    pytest.param(["blocks", "--dataset", "mnist", "--runs", "0", "--output", "/dev/full"], 2, "/dev/full", marks=FULL),
    # -- pareto
    (["pareto", "--csv", "{bin}", "--output", "{tmp}/p.png"], 2, "not UTF-8 text"),
    (["pareto", "--csv", "{dir}", "--output", "{tmp}/p.png"], 2, "it is a folder"),
    (["pareto", "--csv", "{tmp}/missing.csv", "--output", "{tmp}/p.png"], 2, "no such CSV file"),
    (["pareto", "--registry", "{bin}", "--output", "{tmp}/p.png"], 2, "not UTF-8 text"),
    (["pareto", "--output", "{dir}"], 2, "it is a folder"),
    (["pareto", "--output", "{tmp}/p.txt"], 2, "must end in .png"),
    (["pareto", "--x", "bogus", "--output", "{tmp}/p.png"], 2, "invalid choice: 'bogus'"),
    (["pareto", "--models", "zzz_no_such_model", "--output", "{tmp}/p.png"], 2, "no model matches"),
    # -- sweep
    (["sweep", "--zoo", "bogus"], 2, "invalid choice: 'bogus'"),
    (["sweep", "--zoo", "builtin", "--output", "{dir}"], 2, "it is a folder"),
    pytest.param(["sweep", "--zoo", "builtin", "--only", MODEL, "--no-progress", "--output", "/dev/full"], 2,
                 "cannot write --output '/dev/full'", marks=FULL),
    pytest.param(["sweep", "--zoo", "builtin", "--only", MODEL, "--no-progress", "--output", "{tmp}/s.csv",
                  "--markdown", "/dev/full"], 2, "--markdown '/dev/full'", marks=FULL),
    pytest.param(["sweep", "--zoo", "builtin", "--only", MODEL, "--resume", "--output", "/dev/full"], 2,
                 "not a regular file", marks=FULL),
    (["sweep", "--zoo", "builtin", "--only", MODEL, "--resume", "--output", "{bin}"], 2, "not UTF-8 text"),
    (["sweep", "--zoo", "builtin", "--max-memory", "-1"], 2, "--max-memory: expected a finite number > 0"),
    (["sweep", "--zoo", "builtin", "--max-memory", "0"], 2, "--max-memory: expected a finite number > 0"),
    (["sweep", "--zoo", "builtin", "--timeout", "nan"], 2, "--timeout: expected a finite number > 0"),
    (["sweep", "--zoo", "builtin", "--timeout", "inf"], 2, "--timeout: expected a finite number > 0"),
    (["sweep", "--zoo", "builtin", "--only", "zzz_no_such_model"], 2, "no builtin model matches"),
    (["sweep", "--zoo", "builtin", "--only", MODEL, "--crosscheck", "bogus"], 2, "unknown tool"),
    (["sweep", "--zoo", "builtin", "--jobs", "0"], 2, "positive integer"),
]


def _id(row) -> str:
    argv = row.values[0] if hasattr(row, "values") else row[0]
    return " ".join(argv) or "(nothing)"


@pytest.mark.parametrize("argv,code,message", ROWS, ids=[_id(r) for r in ROWS])
def test_exit_code_and_one_line(argv, code, message, paths, quick_sweep, capsys, monkeypatch):
    monkeypatch.chdir(paths["tmp"])  # default outputs (reports/...) land in the test's folder
    argv = [a.format(**paths) for a in argv]
    message = message.format(**paths)
    got = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert got == code, err
    assert message in lines[0], err


def test_generate_of_a_model_without_cache_prints_no_library_warning(capsys):
    """transformers' deprecation notice about past_key_values went through logging, before the one line."""
    from transformers.utils import logging as hf_logging

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Keep(level=logging.WARNING)
    root = logging.getLogger("transformers")
    hf_logging.warning_once.cache_clear()  # said once per process: an earlier test may have said it
    root.addHandler(handler)
    try:
        code = main(["hf:bert", "--kwargs", "num_hidden_layers=1", "--generate", "2"])
    finally:
        root.removeHandler(handler)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert records == []


def test_an_interrupt_in_main_is_130_and_one_line(monkeypatch, capsys):
    from profiler import zoo

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo, "profile_model", interrupted)
    assert main([MODEL]) == 130
    assert capsys.readouterr().err == "profile-model: interrupted\n"


# -- the Python API -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(input="abc"), "input='abc': give one sample's size as integers"),
    (dict(input=2.5), "input=2.5"),
    (dict(batch=True), "batch must be a positive integer"),
    (dict(device="tpu"), "unknown device 'tpu'; choose one of: auto, cpu, meta"),
    (dict(convention="bogus"), "unknown convention"),
    (dict(num_classes=-5), "num_classes=-5"),
])
def test_api_mistakes_are_usage_errors(kwargs, match):
    with pytest.raises(UsageError, match=match.replace("(", r"\(").replace(".", r"\.")):
        profiler.profile_model(MODEL, **kwargs)


def test_a_device_this_machine_lacks_is_a_usage_error():
    missing = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(UsageError, match=f"'{missing}'.*choose one of: auto, cpu, meta"):
        profiler.profile_model(MODEL, device=missing)
    with pytest.raises(UsageError, match="unknown device 'tpu'; choose one of: cpu, meta"):
        check_device("tpu")
    assert check_device("meta") == torch.device("meta") and check_device(torch.device("cpu")).type == "cpu"


def test_a_training_step_under_inference_mode_says_so():
    model = torch.nn.Linear(3, 4)
    check_can_step()  # outside: nothing to say
    with torch.inference_mode():
        with pytest.raises(UsageError, match=r"torch\.inference_mode\(\) is on"):
            check_can_step()
        with pytest.raises(UsageError, match=r"outside the `with torch\.inference_mode\(\):` block"):
            profiler.profile_model(MODEL, backward=True)
        # engine.profile: the step's own message (until the engine checks first), never "requires grad"
        with pytest.raises(Exception, match=r"torch\.inference_mode\(\) is on") as info:
            profiler.profile(model, torch.randn(2, 3), backward=True)
        assert "requires grad" not in str(info.value)
    with torch.no_grad():  # grad mode is the engine's to lift
        assert profiler.profile(model, torch.randn(2, 3), backward=True).macs > 0


# -- startup: the lazy package and Ctrl-C while torch loads -----------------------------------------------------
def test_importing_the_command_line_loads_no_torch():
    code = ("import sys, profiler.cli; assert 'torch' not in sys.modules, 'torch imported'; "
            "import profiler; assert 'torch' not in sys.modules; assert profiler.__version__; "
            "from profiler import profile, profile_model, Profile, crosscheck, mfu; "
            "assert callable(profile) and callable(crosscheck) and 'torch' in sys.modules; "
            "assert set(profiler.__all__) <= set(dir(profiler)); "
            "ns = {}; exec('from profiler import *', ns); assert set(profiler.__all__) <= set(ns)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(AttributeError, match="no_such_name"):
        profiler.no_such_name  # noqa: B018


def _torch_loading(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
            return "libtorch" in fh.read()
    except OSError:
        return False


def _command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "profile-model")
    args = ["list", "crossnet", "--zoo", "builtin"]
    if os.path.exists(script):
        return [script, *args]
    return [sys.executable, "-c", f"import sys; sys.argv = ['profile-model', *{args!r}]; "
            "from profiler.cli import console; console()"]


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads /proc/PID/maps to see torch loading")
def test_ctrl_c_while_loading_is_130_and_quiet():
    """SIGINT at several moments from the start of torch's import (seen in the process's memory maps: console()
    has installed its handler by then) through the command's own run: each run ends 130 with at most
    "profile-model: interrupted", or finished normally; never a traceback, never killed by a signal (SIGABRT)."""
    outcomes = []
    for delay in (0.0, 0.05, 0.15, 0.4, 1.0):
        # no name cache: a warm one lists without importing torch, and there would be no loading to interrupt
        proc = subprocess.Popen(_command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PROFILER_NO_PROGRESS": "1", "PROFILER_NO_CACHE": "1"})
        start = time.monotonic()
        while not _torch_loading(proc.pid) and proc.poll() is None and time.monotonic() - start < 60:
            time.sleep(0.002)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        outcomes.append((delay, proc.returncode, err))
        assert "Traceback" not in err, err
        assert proc.returncode in (0, 130), (delay, proc.returncode, err)
        if proc.returncode == 130:
            assert err.strip() in ("", "profile-model: interrupted"), err
    assert outcomes[0][1] == 130, outcomes  # as torch begins to load, the command is surely not done
