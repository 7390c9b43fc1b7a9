"""The memory guard's pieces (profiler/zoo/memory.py) on fake numbers: the estimate of a model built on meta
is a closed form of its tensors' sizes, the memory available is read from psutil, /proc/meminfo or a cgroup,
and the refusal is one line naming the GiB needed and available."""
import sys

import pytest
import torch
import torch.nn as nn

from profiler.core.engine import ProfilingError
from profiler.zoo import memory

GiB = 2 ** 30


def _tied_mixed_model():
    """Tied weights, two dtypes, a frozen parameter and buffers, on meta (nothing allocated)."""
    with torch.device("meta"):
        emb = nn.Embedding(10, 4)  # 40 float32
        out = nn.Linear(4, 10, bias=False)
        out.weight = emb.weight  # tied: one tensor
        bn = nn.BatchNorm1d(10)  # weight, bias: 2 x 10 float32; buffers: 2 x 10 float32 + 1 int64
        half = nn.Linear(4, 3).half()  # 12 + 3 float16
        half.bias.requires_grad_(False)
    return nn.Sequential(emb, out, bn, half)


def test_estimate_is_the_closed_form_of_the_tensors_sizes():
    model = _tied_mixed_model()
    params = 40 * 4 + 20 * 4 + 15 * 2
    buffers = 20 * 4 + 8
    est = memory.estimate(model)
    assert (est.params, est.buffers, est.count, est.dtypes) == (params, buffers, 40 + 20 + 15, ("float16", "float32"))
    assert est.activations == params + buffers and est.training == 0  # the stated rule: as much again
    assert est.total == 2 * (params + buffers)
    trainable = 40 * 4 + 20 * 4 + 12 * 2  # the frozen float16 bias has no gradient nor optimizer state
    assert memory.estimate(model, training=True).total == 2 * (params + buffers) + 3 * trainable
    assert all(p.device.type == "meta" for p in model.parameters())


def test_meminfo_and_cgroup_parsing():
    text = "MemTotal:       32000000 kB\nMemFree:  1000 kB\nMemAvailable:   24145168 kB\n"
    assert memory.meminfo_available(text) == 24145168 * 1024
    assert memory.meminfo_available("MemTotal: 1 kB\n") is None
    assert memory.cgroup_room("8589934592\n", "1073741824\n") == 7 * GiB
    assert memory.cgroup_room("max\n", "123\n") is None
    assert memory.cgroup_room("100", "150") == 0  # over its limit: no room


def test_available_falls_back_from_psutil_to_meminfo_to_unknown(monkeypatch):
    files = {"/proc/meminfo": "MemAvailable: 2048 kB\n"}
    monkeypatch.setattr(memory, "_read", files.get)
    monkeypatch.setitem(sys.modules, "psutil", None)  # `import psutil` raises ImportError
    assert memory.available() == 2048 * 1024
    files.update({"/sys/fs/cgroup/memory.max": "1048576\n", "/sys/fs/cgroup/memory.current": "524288\n"})
    assert memory.available() == 512 * 1024  # the container's limit is the tighter one
    files.clear()
    assert memory.available() is None  # nothing to read: unknown, and nothing is refused
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert memory.available("cuda") is None


def test_available_uses_psutil_when_importable(monkeypatch):
    class FakePsutil:
        @staticmethod
        def virtual_memory():
            return type("vm", (), {"available": 3 * GiB})()

    monkeypatch.setitem(sys.modules, "psutil", FakePsutil)
    monkeypatch.setattr(memory, "_read", lambda path: None)
    assert memory.available() == 3 * GiB


def test_check_refuses_in_one_line_beyond_what_is_available():
    need = memory.Estimate(params=10 * GiB, buffers=0, activations=10 * GiB, count=2_500_000_000, dtypes=("float32",))
    kw = dict(what="hf:big", where="a real pass on the CPU", why="the pass failed on meta (RuntimeError: x)",
              hints=["a smaller config (--kwargs num_hidden_layers=2)", "--device meta to see the meta error"])
    memory.check(need, 20 * GiB, **kw)  # exactly fits: no refusal
    memory.check(need, None, **kw)  # unknown: no refusal
    with pytest.raises(memory.TooBigError) as err:
        memory.check(need, 20 * GiB - 1, **kw)
    msg = str(err.value)
    assert isinstance(err.value, ProfilingError) and "\n" not in msg
    assert msg.startswith("hf:big: the pass failed on meta (RuntimeError: x); a real pass on the CPU would need "
                          "20.0 GiB (2.50 B float32 parameters 10.0 GiB")
    assert "but 20.0 GiB are available" in msg and "--kwargs num_hidden_layers=2" in msg and "--device meta" in msg
