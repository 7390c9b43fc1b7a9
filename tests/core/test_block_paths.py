"""Composite replay (``profiler.core.block_paths``, ``engine._Block``): a known composite whose key was observed
once in the process writes that observation's trace again, on a meta pass instead of running its forward, on a
real pass around its forward run unobserved. The document must be the one the fully observed pass gives, in train
and eval mode, on the first pass (keys met twice within it) and on later ones (every key replayed), and a real
pass must compute what the model computes."""
import json

import pytest
import torch
import torch.nn as nn

import profiler
from profiler.core import block_paths, engine

timm = pytest.importorskip("timm")
from timm.layers.mixed_conv2d import MixedConv2d  # noqa: E402
from timm.layers.norm_act import BatchNormAct2d  # noqa: E402
from timm.models._efficientnet_blocks import SqueezeExcite  # noqa: E402


class _Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = MixedConv2d(c, c, kernel_size=[3, 5], dilation=1, depthwise=True)
        self.bn = BatchNormAct2d(c, act_layer=nn.SiLU)
        self.se = SqueezeExcite(c, rd_ratio=0.25)

    def forward(self, x):
        return x + self.se(self.bn(self.conv(x)))


def _toy():
    # repeated blocks: the same keys met several times in one pass
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), BatchNormAct2d(8, act_layer=nn.ReLU),
                         _Block(8), _Block(8), _Block(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def _doc(p) -> str:
    d = p.to_dict()
    d.pop("elapsed_s", None)
    return json.dumps(d, sort_keys=True, default=str)


def _layers(p) -> list:
    return [(la.path, la.calls, la.first_call, la.input_shapes, la.output_shapes,
             {n: (s.calls, s.bytes_read, s.bytes_written, dict(s.counts)) for n, s in la.ops.items()})
            for la in p.layers]


def _off_on(model, x, device="auto"):
    """(document with replay off, documents with it on: the first pass of the process and a later one)."""
    try:
        block_paths.ENABLED = False
        engine.clear_caches()
        off = profiler.profile(model, x, device=device)
        block_paths.ENABLED = True
        engine.clear_caches()
        first = profiler.profile(model, x, device=device)
        later = profiler.profile(model, x, device=device)
    finally:
        block_paths.ENABLED = True
    return off, first, later


def _captures(monkeypatch) -> list:
    seen = []
    real = engine._Block._capture
    monkeypatch.setattr(engine._Block, "_capture",
                        lambda self, *a: seen.append(type(self.module)) or real(self, *a))
    return seen


@pytest.mark.parametrize("train", [True, False])
def test_replay_gives_the_observed_document(train, monkeypatch):
    model = _toy().train(train)
    x = torch.randn(2, 3, 12, 12)
    captured = _captures(monkeypatch)
    off, first, later = _off_on(model, x)
    assert _doc(first) == _doc(off) == _doc(later)
    assert _layers(first) == _layers(off) == _layers(later)
    # replay did happen: 7 BatchNormAct2d, 3 MixedConv2d, 3 SqueezeExcite calls, 3 keys (the stem's, the blocks'
    # BatchNormAct2d, MixedConv2d, SqueezeExcite) captured on the first pass, none on the later one
    assert len(captured) == 4
    assert sum(1 for v in block_paths.TRACES.values() if v) == 4
    assert all("forward" not in m.__dict__ for m in model.modules())


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", ["mixnet_s", "mobilenetv3_small_050"])
def test_timm_models(name, train, monkeypatch):
    model = timm.create_model(name).train(train)
    x = torch.randn(1, 3, 64, 64)
    off, first, later = _off_on(model, x)
    assert _doc(first) == _doc(off) == _doc(later)
    assert _layers(first) == _layers(off) == _layers(later)
    # the blocks (InvertedResidual ...) and the composites inside them were kept
    kept = {type(m).__name__ for m in model.modules() if block_paths.is_known(m)}
    assert {"InvertedResidual", "BatchNormAct2d", "SqueezeExcite"} <= kept
    assert sum(1 for v in block_paths.TRACES.values() if v) >= 10
    captured = _captures(monkeypatch)
    assert _doc(profiler.profile(model, x)) == _doc(off)
    assert captured == []  # every composite call of a later pass is replayed


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_a_changed_trace_changes_the_document(device):
    """The comparison above can fail: a trace whose record is altered gives another document."""
    model = _toy().eval()
    x = torch.randn(2, 3, 12, 12)
    off, _, _ = _off_on(model, x, device)
    for k, v in block_paths.TRACES.items():
        if v and any(ev[0] == engine._CHARGE for ev in v[0]):
            events = [ev[:3] + ({c: n + 1 for c, n in ev[3].items()},) + ev[4:] if ev[0] == engine._CHARGE else ev
                      for ev in v[0]]
            block_paths.TRACES[k] = (tuple(events), v[1])
    try:
        assert _doc(profiler.profile(model, x, device=device)) != _doc(off)
    finally:
        engine.clear_caches()


def test_a_hook_on_a_child_or_another_module_hook_keeps_the_composite_observed(monkeypatch):
    model = _toy().eval()
    x = torch.randn(2, 3, 12, 12)
    seen = []
    model[2].bn.act.register_forward_hook(lambda m, a, out: seen.append(1))
    engine.clear_caches()
    captured = _captures(monkeypatch)
    profiler.profile(model, x)
    profiler.profile(model, x)
    assert seen == [1, 1]  # the hooked child ran on both passes
    assert BatchNormAct2d in captured  # the other BatchNormAct2d calls were still kept and replayed
    h = nn.modules.module.register_module_forward_hook(lambda m, a, out: seen.append(2))
    try:
        n = len(seen)
        profiler.profile(model, x)
        # every module call, the composites' children included, reached the user's global hook
        assert seen[n:].count(2) == sum(1 for _ in model.modules())
    finally:
        h.remove()


def test_another_version_of_a_class_is_not_replayed():
    class Patched(BatchNormAct2d):
        def forward(self, x):
            return super().forward(x) * 2

    assert not block_paths.is_known(Patched(4))
    assert block_paths.is_known(BatchNormAct2d(4))


# -- the real pass, and the other known composites (torchvision's ResNet blocks, timm's ViT blocks, Sequential) --
def _replays(monkeypatch) -> list:
    seen = []
    real = engine._Block._replay
    monkeypatch.setattr(engine._Block, "_replay", lambda self, *a: seen.append(type(self.module)) or real(self, *a))
    return seen


_MODELS = {
    "resnet18": lambda: __import__("torchvision").models.resnet18(),
    "resnet50": lambda: __import__("torchvision").models.resnet50(),
    # drop path on: each block's drop probability differs, so no two blocks share a key
    "deit_tiny": lambda: timm.create_model("deit_tiny_patch16_224", img_size=32, drop_path_rate=0.1),
    "vit_small": lambda: timm.create_model("vit_small_patch16_224", img_size=32, init_values=1e-5),
    "mixnet_s": lambda: timm.create_model("mixnet_s"),
    # torchvision's MobileNet, EfficientNet (stochastic depth on), RegNet (squeeze-excitation) and ConvNeXt blocks
    "mobilenet_v3_small": lambda: __import__("torchvision").models.mobilenet_v3_small(),
    "efficientnet_b0": lambda: __import__("torchvision").models.efficientnet_b0(stochastic_depth_prob=0.2),
    "regnet_y_400mf": lambda: __import__("torchvision").models.regnet_y_400mf(),
    "convnext_tiny": lambda: __import__("torchvision").models.convnext_tiny(),
}


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("name", list(_MODELS))
def test_replay_on_either_pass_gives_the_observed_document(name, device, train, monkeypatch):
    pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = _MODELS[name]().train(train)
    x = torch.randn(2, 3, 32, 32)
    off, first, later = _off_on(model, x, device)
    assert _doc(first) == _doc(off) == _doc(later)
    assert _layers(first) == _layers(off) == _layers(later)
    assert first.device == device and later.device == device
    replayed = _replays(monkeypatch)
    assert _doc(profiler.profile(model, x, device=device)) == _doc(off)
    assert replayed  # the later pass did replay, whole blocks (of several modules each)
    assert all(len(list(m.modules())) > 1 for m in model.modules() if type(m) in replayed)


class _Keep(nn.Module):
    """Keeps what its inner model returned: the values a real pass computed."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.outputs = inner, []

    def forward(self, x):
        y = self.inner(x)
        self.outputs.append(y)
        return y


@pytest.mark.parametrize("name", ["resnet18", "vit_small", "mixnet_s"])
def test_a_real_pass_with_replay_computes_what_the_model_computes(name, monkeypatch):
    pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = _Keep(_MODELS[name]().eval())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model.inner(x)
    engine.clear_caches()
    profiler.profile(model, x, device="cpu")
    unobserved = []
    real = engine._Block._unobserved
    monkeypatch.setattr(engine._Block, "_unobserved",
                        lambda self, *a: unobserved.append(1) or real(self, *a))
    model.outputs.clear()
    profiler.profile(model, x, device="cpu")
    assert unobserved  # the blocks ran unobserved ...
    assert torch.equal(model.outputs[0], want)  # ... and computed the model's values


def test_a_trace_whose_output_differs_is_dropped_and_the_call_observed():
    """A trace is kept for a key; if the forward ever returned another output than the trace's, the real pass
    forgets the trace and counts the call observed (a meta pass cannot tell: it trusts the key)."""
    tv = pytest.importorskip("torchvision")
    model, x = tv.models.resnet18().eval(), torch.randn(1, 3, 32, 32)
    off, _, _ = _off_on(model, x, "cpu")
    for k, v in list(block_paths.TRACES.items()):
        if v:
            events, (shape, stride, dtype) = v
            block_paths.TRACES[k] = (events, (torch.Size([*shape[:-1], shape[-1] + 1]), stride, dtype))
    try:
        assert _doc(profiler.profile(model, x, device="cpu")) == _doc(off)
        assert not any(block_paths.TRACES.values())
    finally:
        engine.clear_caches()


def test_the_attention_backends_enabled_are_part_of_the_key():
    """The CPU's fused attention is chosen only while flash attention is enabled: a trace kept with it enabled is
    not replayed with it disabled, where the CPU runs the math path's ops."""
    torch.manual_seed(0)
    model, x = timm.create_model("vit_small_patch16_224", img_size=32).eval(), torch.randn(1, 3, 32, 32)
    engine.clear_caches()
    fused = profiler.profile(model, x, device="cpu")
    was = torch.backends.cuda.flash_sdp_enabled()
    torch.backends.cuda.enable_flash_sdp(False)
    try:
        replayed = profiler.profile(model, x, device="cpu")
        block_paths.ENABLED = False
        observed = profiler.profile(model, x, device="cpu")
    finally:
        block_paths.ENABLED = True
        torch.backends.cuda.enable_flash_sdp(was)
    ops = lambda p: {op for la in p.layers for op in la.ops}  # noqa: E731
    assert "aten._scaled_dot_product_flash_attention_for_cpu" in ops(fused)
    assert "aten._scaled_dot_product_flash_attention_for_cpu" not in ops(observed)
    assert _doc(replayed) == _doc(observed)


class _Unfuse(nn.Module):
    """Not a known module: its forward switches a known attention to its unfused path."""

    def __init__(self, attn):
        super().__init__()
        self.__dict__["target"] = attn  # not a child: the Sequential's walk meets this module, then stops

    def forward(self, x):
        self.target.fused_attn = not self.target.fused_attn
        return x


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_a_module_changed_by_unknown_code_between_its_calls_is_keyed_again(device):
    """Keys are read once per outermost known call; where unknown code runs in between (a Sequential with an
    unknown child), a block called again after that code changed it is keyed afresh."""
    torch.manual_seed(0)
    from timm.models.vision_transformer import Block
    block = Block(16, 2).eval()
    block.attn.fused_attn = True
    model = nn.Sequential(block, _Unfuse(block.attn), block)
    x = torch.randn(1, 5, 16)
    off, first, later = _off_on(model, x, device)
    ops = {op for la in off.layers for op in la.ops}
    assert "aten._scaled_dot_product_flash_attention_for_cpu" in ops and "aten._softmax" in ops  # both paths ran
    assert _doc(first) == _doc(off) == _doc(later)
