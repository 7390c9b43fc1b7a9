"""Shape-only profiling: a model built and run on meta gives exactly the counts of a real pass; models that
cannot be built or run on meta fall back, with a note, and still give the real counts."""
import re
import textwrap

import pytest
import torch
import torch.nn as nn

import profiler
from profiler import zoo
from profiler.core import meta_kernels
from profiler.errors import UsageError
from profiler.zoo.build import create_meta, profile_model


def _real(spec, size):
    model, _ = zoo.create(spec)
    return profiler.profile(model, input_size=(1, *size), device="cpu")


def _same_counts(a, b, fused_attention=False):
    if fused_attention:
        # On the CPU, scaled_dot_product_attention runs one fused kernel; the meta device has no fused
        # kernel and runs the math decomposition, whose q/k scaling and contiguous copies are extra element
        # and memory ops. Every MAC category (attention's QK^T and AV included) and the softmax still agree.
        skip = {"elementwise", "memory"}
        assert {c: n for c, n in a.by_category.items() if c not in skip} == \
            {c: n for c, n in b.by_category.items() if c not in skip}
        assert a.macs == b.macs
        return
    assert a.by_category == b.by_category
    assert (a.params, a.params_trainable, a.buffers) == (b.params, b.params_trainable, b.buffers)
    assert {layer.path: layer.counts() for layer in a.layers} == {layer.path: layer.counts() for layer in b.layers}
    assert {layer.path: (layer.input_shapes, layer.output_shapes) for layer in a.layers} == \
        {layer.path: (layer.input_shapes, layer.output_shapes) for layer in b.layers}


@pytest.mark.parametrize("spec,size", [
    ("torchvision:resnet18", (3, 64, 64)),
    ("torchvision:mobilenet_v3_small", (3, 96, 96)),
    ("torchvision:shufflenet_v2_x0_5", (3, 64, 64)),
    ("timm:mixnet_s", (3, 64, 64)),
    ("timm:vit_tiny_patch16_224", (3, 224, 224)),  # attention through SDPA
])
def test_meta_build_and_pass_count_exactly_what_a_real_pass_counts(spec, size, monkeypatch):
    monkeypatch.setenv("PROFILER_CHECK_META", "1")  # every fast meta kernel checked against torch's
    prof = profile_model(spec, input=size)
    assert prof.source.build == "meta" and prof.device == "meta" and not prof.notes
    assert all(p.device.type == "meta" for p in create_meta(spec).model.parameters())  # nothing allocated
    _same_counts(prof, _real(spec, size), fused_attention="vit" in spec)


def test_cost_is_independent_of_resolution_in_counts_only():
    small = profile_model("torchvision:resnet18", input=64)
    big = profile_model("torchvision:resnet18", input=(1024, 1024))
    conv1_small = small.layer("conv1").macs
    assert big.layer("conv1").macs == conv1_small * (1024 // 64) ** 2  # stride-2 7x7 conv: output scales with input


def test_fast_kernel_disagreement_is_caught():
    wrong = meta_kernels._checked(torch.ops.aten.relu.default, lambda x: torch.empty(1, device="meta"))
    with pytest.raises(AssertionError, match="disagrees"):
        wrong(torch.empty(2, 3, device="meta"))


def _write(tmp_path, body):
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_initialiser_reading_data_builds_with_parameters_on_meta(tmp_path):
    # timm-style drop-path schedule: .item() of a tensor made in __init__ cannot run under torch.device("meta")
    path = _write(tmp_path, """
        import torch, torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.rates = [x.item() for x in torch.linspace(0, 0.1, 2)]
                self.conv = nn.Conv2d(3, 8, 3)
                self.fc = nn.Linear(8, 4)
                self.fc2 = nn.Linear(4, 4)
                self.fc2.weight = self.fc.weight if False else self.fc2.weight
            def forward(self, x):
                return self.fc2(self.fc(self.conv(x).mean((2, 3))))
        def build():
            return Net()
    """)
    spec = f"{path}:build"
    built = create_meta(spec)
    assert built.build == "meta-params" and "failed" in built.notes[0]
    assert all(p.device.type == "meta" for p in built.model.parameters())
    prof = profile_model(spec, input=(3, 16, 16))
    model, _ = zoo.create(spec)
    _same_counts(prof, profiler.profile(model, input_size=(1, 3, 16, 16)))
    assert prof.macs == 8 * 14 * 14 * 27 + 8 * 4 + 4 * 4


def test_tied_parameters_stay_tied_when_moved_to_meta(tmp_path):
    path = _write(tmp_path, """
        import torch, torch.nn as nn
        class Net(nn.Module):
            input_size = (4,)  # one sample: a 4-vector
            def __init__(self):
                super().__init__()
                self.n = int(torch.tensor(3).item())
                self.a = nn.Linear(4, 4, bias=False)
                self.b = nn.Linear(4, 4, bias=False)
                self.b.weight = self.a.weight
            def forward(self, x):
                return self.b(self.a(x))
        def build():
            return Net()
    """)
    built = create_meta(f"{path}:build")
    assert built.build == "meta-params"
    assert built.model.a.weight is built.model.b.weight
    prof = profile_model(f"{path}:build")
    assert prof.params == 16 and prof.macs == 2 * 16


def test_initialiser_reading_parameters_falls_back_to_a_cpu_build(tmp_path):
    path = _write(tmp_path, """
        import torch, torch.nn as nn
        class Net(nn.Module):
            input_size = (4,)  # one sample: a 4-vector
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
                self.scale = float(self.fc.weight.abs().max())  # reads parameter data
            def forward(self, x):
                return self.fc(x)
        def build():
            return Net()
    """)
    built = create_meta(f"{path}:build")
    assert built.build == "cpu" and len(built.notes) == 3  # two failed meta attempts, then the cpu note
    prof = profile_model(f"{path}:build")
    assert prof.device == "meta" and prof.macs == 12  # the pass itself still ran shape-only


_DATA_DEPENDENT_NET = """
    import torch, torch.nn as nn
    class Net(nn.Module):
        input_size = (4,)  # one sample: a 4-vector
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
        def forward(self, x):
            if x.sum() > -1e9:  # needs the data
                return self.fc(x)
            return x
    def build():
        return Net()
"""


def test_data_dependent_forward_reruns_on_real_tensors_with_a_note(tmp_path):
    prof = profile_model(f"{_write(tmp_path, _DATA_DEPENDENT_NET)}:build")
    assert prof.device == "cpu" and prof.source.build == "cpu"
    assert any("failed on meta" in n for n in prof.notes)
    assert prof.macs == 12


def test_real_device_builds_normally():
    prof = profile_model("torchvision:resnet18", input=32, device="cpu")
    assert prof.source.build == "cpu" and prof.device == "cpu" and prof.inputs == [[1, 3, 32, 32]]


def test_meta_without_fallback_refuses_a_data_dependent_forward(tmp_path):
    with pytest.raises(profiler.ProfilingError):
        profile_model(f"{_write(tmp_path, _DATA_DEPENDENT_NET)}:build", device="meta")


def test_source_says_what_was_built_and_how():
    prof = profile_model("torchvision:resnet18", input=(64, 96), batch=2, num_classes=10)
    src = prof.source
    assert (src.zoo, src.name, src.spec, src.input_size, src.batch) == \
        ("torchvision", "resnet18", "torchvision:resnet18", (3, 64, 96), 2)
    assert src.kwargs == {"num_classes": 10} and src.device == "auto" and prof.inputs == [[2, 3, 64, 96]]
    assert prof.layer("fc").macs == 2 * 512 * 10  # the constructor argument reached the builder
    doc = prof.to_dict()
    assert (doc["model"], doc["zoo"], doc["input"], doc["build"]) == ("resnet18", "torchvision", {"kind": "tensor", "shapes": [[2, 3, 64, 96]], "batch": 2}, "meta")


def test_a_module_goes_the_same_way_in():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False))
    prof = profile_model(model, input=(3, 10, 10))
    assert prof.macs == 4 * 3 * 9 * 8 * 8 and prof.source.zoo == "module" and prof.device == "meta"
    assert all(p.device.type == "cpu" for p in model.parameters())  # the user's module never moved
    from profiler.errors import UsageError
    with pytest.raises(UsageError, match="input="):
        profile_model(model)


def test_bad_names_are_usage_errors():
    from profiler.errors import UsageError
    with pytest.raises(UsageError):
        create_meta("timm:no_such_model_xyz")
    with pytest.raises(UsageError):
        profile_model("torchvision:resnet18", batch=0)


def test_profile_lengths_builds_once_and_counts_each_length():
    """One forward pass per sequence length: weights linear in T, attention quadratic (2 L T^2 d)."""
    d, layers, vocab = 64, 2, 100
    kw = dict(n_layer=layers, n_embd=d, n_head=4, vocab_size=vocab)
    profs = profiler.profile_lengths("hf:gpt2", [16, 64, 256], **kw)
    assert [p.source.input_size for p in profs] == [(16,), (64,), (256,)]
    for p, t in zip(profs, (16, 64, 256)):
        assert p.by_category["attention"] == 2 * layers * t * t * d
        assert p.macs == t * (layers * 12 * d * d + d * vocab) + 2 * layers * t * t * d
    with pytest.raises(UsageError, match="not tokens"):
        profiler.profile_lengths("torchvision:resnet18", [32, 64])


# -- the memory guard: a real build or pass that cannot fit is refused before anything is allocated -------
from profiler.zoo import build as build_module  # noqa: E402
from profiler.zoo import memory  # noqa: E402

_WIDE_NET = """
    import torch, torch.nn as nn
    class Net(nn.Module):
        input_size = (4,)  # one sample: a 4-vector
        def __init__(self, width):
            super().__init__()
            self.fc = nn.Linear(4, width)
        def forward(self, x):
            if x.sum() > -1e9:  # needs the data: the meta pass fails
                return self.fc(x)
            return x
    def build(width=3):
        return Net(width)
"""


def _linear_bytes(width):
    """A float32 Linear(4, width)'s parameters (weight and bias), in bytes."""
    return (4 * width + width) * 4


def _builds(monkeypatch, real=True):
    """The default device at each model construction ('meta' while building shapes only); ``real=False``:
    a real construction fails the test instead of starting (a broken guard must not take the machine down)."""
    seen = []
    create = build_module.names.create

    def recording(*args, **kwargs):
        seen.append(torch.empty(0).device.type)
        assert real or seen[-1] == "meta", "a real build was started"
        return create(*args, **kwargs)

    monkeypatch.setattr(build_module.names, "create", recording)
    return seen


def _free(monkeypatch, **free):
    """Fake memory available, in bytes, per device kind."""
    monkeypatch.setattr(memory, "available", lambda device="cpu": free[device.partition(":")[0]])


def test_fallback_that_cannot_fit_is_refused_before_allocating(tmp_path, monkeypatch):
    width = 1 << 26  # 1.25 GiB of float32 weights, never allocated: built on meta only
    need = 2 * _linear_bytes(width)  # the weights, and as much again for the pass (the stated rule)
    assert need == 2.5 * 2 ** 30
    seen = _builds(monkeypatch, real=False)
    _free(monkeypatch, cpu=2 * 2 ** 30)
    with pytest.raises(memory.TooBigError) as err:
        profile_model(f"{_write(tmp_path, _WIDE_NET)}:build", width=width)
    msg = str(err.value)
    assert seen == ["meta"]  # the meta build; no CPU build was started
    assert "\n" not in msg and "the pass failed on meta (" in msg and "--device meta to see the meta error" in msg
    assert "a real pass on the CPU would need 2.5 GiB" in msg and "but 2.0 GiB are available" in msg
    assert "activations 1.2 GiB (estimated as much again)" in msg and "--kwargs" in msg


def test_fallback_runs_when_it_fits_to_the_byte(tmp_path, monkeypatch):
    spec = f"{_write(tmp_path, _DATA_DEPENDENT_NET)}:build"
    need = 2 * _linear_bytes(3)  # Linear(4, 3)
    _free(monkeypatch, cpu=need)
    prof = profile_model(spec)
    assert prof.device == "cpu" and prof.macs == 12
    _free(monkeypatch, cpu=need - 1)
    with pytest.raises(memory.TooBigError):
        profile_model(spec)
    # A training step also keeps the gradients and Adam's two moments: 3 x the trainable parameters more.
    _free(monkeypatch, cpu=need)
    with pytest.raises(memory.TooBigError, match="gradients and Adam state"):
        profile_model(spec, backward=True)
    _free(monkeypatch, cpu=need + 3 * _linear_bytes(3))
    assert profile_model(spec, backward=True).device == "cpu"


# torchvision's resnet18: 11,689,512 float32 parameters (its published num_params); 20 BatchNorm layers over
# 64 + 4*64 + 5*128 + 5*256 + 5*512 = 4800 channels, each with running mean and var (float32) and a step count
# (int64).
_RESNET18 = 11_689_512 * 4 + 4800 * 2 * 4 + 20 * 8


def test_real_build_by_name_is_refused_before_allocating(monkeypatch):
    seen = _builds(monkeypatch)
    _free(monkeypatch, cpu=2 * _RESNET18 - 1)
    with pytest.raises(memory.TooBigError, match="a real build on cpu was asked for; a real pass on the CPU") as err:
        build_module.build_model("torchvision:resnet18", device="cpu")
    assert seen == ["meta"] and "--device auto or meta" in str(err.value)
    _free(monkeypatch, cpu=2 * _RESNET18)
    built = build_module.build_model("torchvision:resnet18", device="cpu")
    assert seen == ["meta", "meta", "cpu"] and built.build == "cpu"
    assert all(p.device.type == "cpu" for p in built.model.parameters())


def test_real_build_for_cuda_checks_the_host_and_the_device(monkeypatch):
    seen = _builds(monkeypatch, real=False)
    # a GPU to build for, on any machine: build_model refuses a device that is not there before the guard runs
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    _free(monkeypatch, cpu=2 ** 40, cuda=2 * _RESNET18 - 1)  # the whole pass runs on the GPU
    with pytest.raises(memory.TooBigError, match="a real pass on cuda would need"):
        build_module.build_model("torchvision:resnet18", device="cuda")
    _free(monkeypatch, cpu=_RESNET18 - 1, cuda=2 ** 40)  # the weights are built on the host first
    with pytest.raises(memory.TooBigError, match="building it on the CPU for cuda would need"):
        build_module.build_model("torchvision:resnet18", device="cuda")
    assert seen == ["meta", "meta"]


def test_mixtral_at_its_published_size_is_refused_without_allocating(monkeypatch):
    """MixtralConfig's defaults are Mixtral-8x7B: 46.70 B float32 parameters = 174 GiB, never built here."""
    import psutil

    d, layers, vocab, ffn, experts, kv = 4096, 32, 32000, 14336, 8, 8 * 128
    params = 2 * vocab * d + layers * (2 * d * d + 2 * d * kv + d * experts + experts * 3 * d * ffn + 2 * d) + d
    assert params == 46_702_792_704  # the published total
    need = 2 * params * 4  # + 512 bytes of rotary buffers, below the printed precision
    free = memory.available()
    if free is None or free >= need:
        pytest.skip(f"this machine has {free} bytes available: Mixtral-8x7B would fit")
    seen = _builds(monkeypatch, real=False)
    rss = psutil.Process().memory_info().rss
    with pytest.raises(memory.TooBigError) as err:
        profile_model("hf:mixtral", device="cpu")
    msg = str(err.value)
    assert seen == ["meta"] and psutil.Process().memory_info().rss - rss < 2 ** 31  # 174 GiB were never asked for
    assert "\n" not in msg and msg.startswith("hf:mixtral: a real build on cpu was asked for; ")
    assert f"would need {need / 2 ** 30:.1f} GiB (46.70 B float32 parameters {params * 4 / 2 ** 30:.1f} GiB" in msg
    said = float(re.search(r"but (\d+\.\d) GiB are available", msg).group(1))
    assert abs(said - free / 2 ** 30) < 1  # read again by the guard: other processes may have moved it a little
    assert "--kwargs num_hidden_layers=2" in msg and "experts_implementation" in msg
    # A meta pass that fails (as transformers' grouped_mm did in float32) falls back only if the CPU can hold it.
    real_profile = build_module.profile

    def failing_on_meta(model, device=None, **kw):
        if device == "meta":
            raise profiler.ProfilingError("forward pass failed") from RuntimeError("Expected mat_a to be BFloat16")
        return real_profile(model, device=device, **kw)

    monkeypatch.setattr(build_module, "profile", failing_on_meta)
    with pytest.raises(memory.TooBigError) as err:
        profile_model("hf:mixtral", input=16)
    msg = str(err.value)
    assert seen == ["meta", "meta"] and psutil.Process().memory_info().rss - rss < 2 ** 31
    assert msg.startswith("hf:mixtral: the pass failed on meta (RuntimeError: Expected mat_a to be BFloat16); "
                          f"a real pass on the CPU would need {need / 2 ** 30:.1f} GiB")
    assert "--device meta to see the meta error" in msg and "\n" not in msg


def test_cli_refusal_is_one_line_exit_1(tmp_path, monkeypatch, capsys):
    from profiler.cli import main

    _builds(monkeypatch, real=False)
    _free(monkeypatch, cpu=2 ** 30)
    code = main([f"{_write(tmp_path, _WIDE_NET)}:build", "--kwargs", f"width={1 << 26}"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "the pass failed on meta" in err and "would need 2.5 GiB" in err and "but 1.0 GiB are available" in err


def test_a_hugging_face_module_takes_token_ids_as_an_hf_name_does():
    """A transformers model given as an nn.Module is fed token ids (``input=(T,)`` is T tokens, the default its
    config's), as ``hf:`` names are; counts against the closed form of a Llama decoder."""
    transformers = pytest.importorskip("transformers")
    h, i, layers, heads, kv, vocab, t = 64, 128, 2, 4, 2, 1000, 16
    cfg = transformers.LlamaConfig(hidden_size=h, intermediate_size=i, num_hidden_layers=layers,
                                   num_attention_heads=heads, num_key_value_heads=kv, vocab_size=vocab)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg)
    d = h // heads
    linear = layers * t * (2 * h * h + 2 * h * kv * d + 3 * h * i) + t * h * vocab  # q, o; k, v; MLP; head
    attention = layers * 2 * heads * t * t * d  # QK^T and AV over every key (the mask applied, not skipped)
    for device in ("meta", "cpu"):
        prof = profile_model(model, input=(t,), device=device)
        assert prof.source.input_size == (t,) and prof.device == device
        assert prof.by_category["linear"] == linear and prof.by_category["attention"] == attention
    with pytest.raises(UsageError):
        profile_model(model, input=(3, 224, 224))  # not a token count
