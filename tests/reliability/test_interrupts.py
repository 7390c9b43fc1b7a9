"""Ctrl-C (KeyboardInterrupt) and SystemExit in the middle of a profiled pass (issue 23).

On a forward-only real pass the engine steps its dispatch mode aside while a trusted stock leaf (Conv2d,
eval BatchNorm2d, ReLU, Linear ...) runs, and puts it back in its ``always_call`` forward hook. torch runs
those hooks after an ``Exception`` only, so an interrupt inside such a leaf skipped the hook, the observer
was popped a second time on the way out, and the user saw ProfilingError "trying to pop from empty mode
stack" instead of their interrupt, with their own TorchDispatchMode (or FlopCounterMode, whose global module
hooks then stayed registered) popped from under them.

Each case: the very same exception comes out, a user's mode around the call is still on the stack inside
their ``with``, leaves it cleanly, and the model and the process's torch state are as they were.
Interrupts are injected deterministically: "after" raises from a process-wide forward hook registered before
the pass (it runs between the leaf's forward and the engine's own hook, the observer still stepped aside);
"inside" raises from the leaf class's forward itself, after the real forward ran (patched on the class: a
module's own hooks take the leaf off the fast path, and a replaced instance forward is not the stock leaf).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
import torchvision
from torch.nn.modules import module as module_mod
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import profiler
from _state import isolated, snapshot


@pytest.fixture(autouse=True)
def _isolated():
    with isolated():
        yield


class Counting(TorchDispatchMode):
    """A user's own mode: counts the ops it sees."""

    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


def small_net() -> nn.Sequential:
    relu = nn.ReLU()  # called twice: an interrupt on its second call
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), relu, nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), relu,
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


# leaf of small_net -> (index, the call that is interrupted)
POINTS = {"first": (0, 1), "middle": (2, 2), "last": (9, 1)}
PASSES = {
    "real": ({"device": "cpu"}, False),
    "meta": ({"device": "meta"}, False),
    "step": ({"backward": True, "device": "cpu"}, True),
    "step_meta": ({"backward": True}, True),
    "step_sgd": ({"backward": True, "optimizer": torch.optim.SGD}, True),
}


def _raise(exc):
    if exc == "sigint":  # a real signal: the default handler raises KeyboardInterrupt at the next bytecode
        signal.raise_signal(signal.SIGINT)
        raise AssertionError("SIGINT did not interrupt")  # pragma: no cover
    raise exc


@contextlib.contextmanager
def interrupt(target: nn.Module, call: int, exc, how: str):
    """Raise ``exc`` when ``target`` finishes its ``call``-th call."""
    n = 0

    def due(mod) -> bool:
        nonlocal n
        if mod is not target:
            return False
        n += 1
        return n == call

    if how == "after":
        def hook(mod, args, out):
            if due(mod):
                _raise(exc)

        handle = module_mod.register_module_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()
    else:
        cls = type(target)
        own = cls.__dict__.get("forward")  # BatchNorm2d's is _BatchNorm's
        original = cls.forward

        def forward(self, *args, **kwargs):
            out = original(self, *args, **kwargs)
            if due(self):
                _raise(exc)
            return out

        cls.forward = forward
        try:
            yield
        finally:
            if own is None:
                del cls.forward
            else:
                cls.forward = own


@contextlib.contextmanager
def outer_mode(kind: str):
    if kind == "none":
        yield None
    elif kind == "counting":
        with Counting() as mode:
            yield mode
    else:
        with FlopCounterMode(display=False) as mode:
            yield mode


def _check_interrupted(model, x, kwargs, outer, inject, exc):
    """Profile ``model`` under ``outer`` with ``inject`` armed: ``exc`` comes out and nothing is changed."""
    expected = type(exc) if isinstance(exc, BaseException) else KeyboardInterrupt  # "sigint"
    before = snapshot(model, x)
    probe = torch.zeros(2)
    with outer_mode(outer) as mode:
        inside = snapshot(model, x)  # the user's mode (and FlopCounterMode's hooks) on it
        with inject():
            with pytest.raises(BaseException) as info:
                profiler.profile(model, x, **kwargs)
        assert type(info.value) is expected, f"{type(info.value).__name__}: {info.value}"
        if isinstance(exc, BaseException):
            assert info.value is exc
        inside.assert_same(model)
        if isinstance(mode, Counting):  # still the innermost mode: it sees the user's next op
            seen = mode.ops
            probe.add_(1)
            assert mode.ops == seen + 1
    # leaving the user's with raised nothing; FlopCounterMode's hooks are gone with it
    before.assert_same(model)


INJECTIONS = [
    ("first", KeyboardInterrupt, "after"),
    ("middle", SystemExit, "after"),
    ("last", KeyboardInterrupt, "inside"),
    ("middle", "sigint", "inside"),
    ("first", SystemExit, "inside"),
]


@pytest.mark.parametrize("outer", ["none", "counting", "flop_counter"])
@pytest.mark.parametrize("pass_", list(PASSES))
@pytest.mark.parametrize("point,exc,how", INJECTIONS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_interrupt_in_a_leaf(pass_, outer, point, exc, how):
    if exc == "sigint" and signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not handled by Python's default handler here")
    kwargs, train = PASSES[pass_]
    model = small_net().train(train)
    x = torch.randn(2, 3, 8, 8)
    profiler.profile(model, x, **kwargs)  # the leaves' fast paths are checked and trusted now
    index, call = POINTS[point]
    raised = exc("interrupted by the test") if isinstance(exc, type) else exc
    _check_interrupted(model, x, kwargs, outer, lambda: interrupt(model[index], call, raised, how), raised)


@pytest.mark.parametrize("outer", ["none", "counting", "flop_counter"])
@pytest.mark.parametrize("where", ["loss", "optimizer"])
@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_interrupt_in_a_training_steps_loss_or_optimizer(where, exc, outer):
    model = small_net().train()
    x = torch.randn(2, 3, 8, 8)
    raised = exc("interrupted by the test")

    def interrupting(*args):
        raise raised

    kwargs = {"backward": True, where: interrupting}
    _check_interrupted(model, x, kwargs, outer, contextlib.nullcontext, raised)


@pytest.mark.parametrize("outer", ["none", "counting", "flop_counter"])
def test_interrupt_in_resnet18(outer):
    model = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    profiler.profile(model, x, device="cpu")
    for target, call, how in ((model.layer2[0].bn1, 1, "after"), (model.layer3[1].relu, 2, "inside")):
        raised = KeyboardInterrupt()
        _check_interrupted(model, x, {"device": "cpu"}, outer, lambda: interrupt(target, call, raised, how), raised)


def test_the_profiler_works_after_an_interrupt():
    model = small_net().eval()
    x = torch.randn(2, 3, 8, 8)
    clean = profiler.profile(model, x, device="cpu")
    with interrupt(model[4], 1, KeyboardInterrupt(), "after"), pytest.raises(KeyboardInterrupt):
        profiler.profile(model, x, device="cpu")
    again = profiler.profile(model, x, device="cpu")
    assert [(l.path, l.calls, l.counts()) for l in again.layers] == \
        [(l.path, l.calls, l.counts()) for l in clean.layers]
    # conv 3->8 and 8->8, 3x3, on 8x8 then 4x4, batch 2; linear 8->4
    assert again.macs == 2 * (8 * 27 * 64 + 8 * 72 * 16 + 8 * 4)


# -- the command line ----------------------------------------------------------------------------------
MARKED = textwrap.dedent("""
    import sys
    import torchvision


    def build():
        model = torchvision.models.resnet50()
        # a container's hook: the leaves below it keep their fast paths
        model.layer2.register_forward_pre_hook(lambda m, a: print("layer2", file=sys.stderr, flush=True))
        return model
""")


def test_sigint_to_the_command_exits_130_without_a_traceback(tmp_path):
    exe = shutil.which("profile-model", path=os.path.dirname(sys.executable)) or shutil.which("profile-model")
    if exe is None:
        pytest.skip("the profile-model console script is not installed")
    src = tmp_path / "marked.py"
    src.write_text(MARKED)
    proc = subprocess.Popen([exe, f"{src}:build", "--device", "cpu", "--input", "640", "--summary"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # blocks until the pass reaches layer2 (about 3/4 of its MACs to go)
        assert first == "layer2\n", first + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "profile-model: interrupted", err
