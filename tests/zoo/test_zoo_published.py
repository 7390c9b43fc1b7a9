"""Default totals and parameter counts of zoo models against what the zoos and papers publish.

torchvision: every classification model's DEFAULT weights carry ``meta["_ops"]`` (GFLOPS, which
torchvision computes as multiply-accumulates, 3 decimals) and ``meta["num_params"]`` (exact), for the
weights' own evaluation resolution (``transforms().crop_size``). We compare ``macs`` (our default
convention) rounded to 3 decimals, and unique parameters exactly.

timm: parameter counts and MACs as published independently of timm's code (papers' tables, to their
precision). Models are built on the meta device (no memory, no initialisation cost) and profiled with
``device="meta"``, which counts exactly like a real pass (tests/test_engine.py checks that).
"""
from __future__ import annotations

import contextlib

import pytest
import timm
import torch
import torch.nn as nn
import torchvision
from torchvision.models import get_model, get_model_weights, list_models

import profiler

# Builder options: googlenet's published weights have no auxiliary heads (torchvision removes them),
# inception_v3's keep AuxLogits (its num_params includes them; eval mode does not run them).
# init_weights=False skips scipy's truncated-normal initialisation, irrelevant to counting.
BUILD_KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False},
                "inception_v3": {"aux_logits": True, "init_weights": False}}


@contextlib.contextmanager
def parameters_on_meta():
    """Register every parameter and buffer on the meta device while a model is built.

    ``with torch.device("meta")`` cannot build RegNet, whose constructor computes its widths with real
    tensors (``.tolist()``); moving only what modules register keeps those computations on the CPU.
    """
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def meta_parameter(self, name, param):
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.detach().to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def meta_buffer(self, name, tensor, persistent=True):
        if tensor is not None and tensor.device.type != "meta":
            tensor = tensor.to("meta")
        register_buffer(self, name, tensor, persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = meta_parameter, meta_buffer
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer


def _count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


TORCHVISION = sorted(list_models(module=torchvision.models))


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_published_gflops_and_params(name):
    weights = get_model_weights(name).DEFAULT
    size = weights.transforms().crop_size[0]
    kwargs = dict(BUILD_KWARGS.get(name, {}))
    if name.startswith("vit_"):
        kwargs["image_size"] = size  # vit_h_14's DEFAULT (SWAG) weights are for 518x518
    with parameters_on_meta():
        model = get_model(name, weights=None, **kwargs).eval()
    prof = profiler.profile(model, input_size=(1, 3, size, size), device="meta")
    assert not prof.coverage, prof.coverage
    assert prof.params == weights.meta["num_params"]
    assert prof.params == _count_params(model)
    assert round(prof.macs / 1e9, 3) == pytest.approx(weights.meta["_ops"], abs=1e-9), (
        f"{name}: {prof.macs / 1e9:.6f} GMACs vs published {weights.meta['_ops']} GFLOPS")


# name: (exact params or None, (published value, unit divisor, decimals) or None, source)
TIMM = {
    "vit_base_patch16_224": (86_567_656, (17.6, 1e9, 1), "ViT-B/16 = DeiT-B: 17.6 GFLOPs, DeiT paper Table 1"),
    "deit_tiny_patch16_224": (5_717_416, (1.3, 1e9, 1), "DeiT-Ti: 1.3 GFLOPs, DeiT paper Table 1"),
    "deit_small_patch16_224": (22_050_664, (4.6, 1e9, 1), "DeiT-S: 4.6 GFLOPs, 22M params, DeiT paper"),
    "efficientnet_b0": (5_288_548, (0.39, 1e9, 2), "EfficientNet-B0: 5.3M params, 0.39B FLOPs, paper Table 2"),
    "resnet50": (25_557_032, (4.1, 1e9, 1), "ResNet-50 (torchvision/timm v1.5 layout): 4.1 GMACs"),
    "swin_tiny_patch4_window7_224": (28_288_354, (4.5, 1e9, 1), "Swin-T: 28M params, 4.5G FLOPs, Swin paper"),
    "convnext_tiny": (28_589_128, (4.5, 1e9, 1), "ConvNeXt-T: 29M params, 4.5G FLOPs, ConvNeXt paper"),
    "mixnet_s": (4_134_606, None, "MixNet-S parameters as listed for the same architecture by pytorchcv"),
    "mixnet_m": (5_014_382, None, "MixNet-M parameters as listed for the same architecture by pytorchcv"),
}


@pytest.mark.parametrize("name", sorted(TIMM))
def test_timm_independently_published_figures(name):
    params, macs, source = TIMM[name]
    with parameters_on_meta():
        model = timm.create_model(name, pretrained=False).eval()
    size = model.pretrained_cfg["input_size"]
    prof = profiler.profile(model, input_size=(1, *size), device="meta")
    assert not prof.coverage, prof.coverage
    if params is not None:
        assert prof.params == params, source
    if macs is not None:
        value, unit, decimals = macs
        assert round(prof.macs / unit, decimals) == pytest.approx(value, abs=1e-9), (
            f"{name}: {prof.macs / unit} vs {value} ({source})")


def test_meta_build_matches_a_real_build():
    # The meta-registration trick changes nothing that is counted.
    with parameters_on_meta():
        meta = torchvision.models.regnet_x_400mf()
    real = torchvision.models.regnet_x_400mf()
    assert all(p.device.type == "meta" for p in meta.parameters())
    a = profiler.profile(meta, input_size=(1, 3, 64, 64), device="meta")
    b = profiler.profile(real, input_size=(1, 3, 64, 64))
    assert (a.macs, a.params, a.buffers) == (b.macs, b.params, b.buffers)
    assert nn.Module.register_parameter.__name__ == "register_parameter"  # restored
