"""Shared by tests/crosscheck and tests/conventions: a small CNN with its totals under each peer convention
worked out by hand from the peers' documented rules, and the peers run independently, in their documented
way (never through profiler.crosscheck), to check what the cross-check reports as theirs."""
import contextlib
import copy
import io
import re

import pytest
import torch
import torch.nn as nn


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()


# 1x3x16x16 input. conv1: 8x16x16 = 2048 outputs x 27 = 55,296 MACs (+2048 bias adds); BN1, ReLU: 2048
# elements; max pool 2x2: 2048 in -> 512 out; conv2: 16x8x8 = 1024 outputs x 72 = 73,728 MACs; BN2, ReLU6:
# 1024 elements; adaptive avg pool: 1024 in -> 16 out; linear 16x10 = 160 MACs (+10 bias adds).
CONV, LIN = 55_296 + 73_728, 160
EXPECTED = {
    "macs": CONV + LIN,
    "torch": 2 * (CONV + LIN),  # FLOPs
    "ptflops_aten": CONV + LIN + 2048 + 10,
    "torchinfo": CONV + LIN + 2048 + 10,
    # + BN 2 per element, ReLU and ReLU6 1 per element, pools 1 per *input* element
    "ptflops": CONV + LIN + 2048 + 10 + 2 * 3072 + 2048 + 1024 + 2048 + 1024,
    # + BN 2 per element (eval, affine), adaptive_avg_pool2d 1 per input element
    "fvcore": CONV + LIN + 2 * 3072 + 1024,
    # + BN 4 per element (affine), adaptive avg pool (64 + 1) per output, max pool and ReLU 0
    "thop": CONV + LIN + 4 * 3072 + 65 * 16,
}


# -- peers run independently, in their documented way ------------------------------------------------------
def ptflops_total(model, x, backend):
    from ptflops import get_model_complexity_info
    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = get_model_complexity_info(copy.deepcopy(model), tuple(x.shape[1:]), as_strings=False,
                                            input_constructor=lambda res: x, print_per_layer_stat=False,
                                            backend=backend)
    return macs


def fvcore_total(model, x):
    from fvcore.nn import FlopCountAnalysis
    fa = FlopCountAnalysis(copy.deepcopy(model), x)
    fa.unsupported_ops_warnings(False)
    fa.uncalled_modules_warnings(False)
    return fa.total()


def torch_total(model, x):
    from torch.utils.flop_counter import FlopCounterMode
    fc = FlopCounterMode(display=False)
    with fc, torch.no_grad():
        copy.deepcopy(model)(x)
    return fc.get_total_flops()


def thop_total(model, x):
    import thop
    with contextlib.redirect_stdout(io.StringIO()):
        ops, params = thop.profile(copy.deepcopy(model), inputs=(x,), verbose=False)
    return int(ops), int(params)


def torchinfo_stats(model, x):
    import torchinfo
    s = torchinfo.summary(copy.deepcopy(model), input_data=[x], verbose=0)
    return s.total_mult_adds, s.total_params


def torchsummary_total(model, x):
    from torchsummary import summary
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        summary(copy.deepcopy(model), tuple(x.shape[1:]), device="cpu")
    return int(re.search(r"Total params:\s*([\d,]+)", buf.getvalue()).group(1).replace(",", ""))


def independent(tool, model, x):
    if tool == "ptflops":
        return ptflops_total(model, x, "pytorch")
    if tool == "ptflops_aten":
        return ptflops_total(model, x, "aten")
    if tool == "fvcore":
        return fvcore_total(model, x)
    if tool == "torch":
        return torch_total(model, x)
    if tool == "thop":
        return thop_total(model, x)[0]
    if tool == "torchinfo":
        return torchinfo_stats(model, x)[0]
    if tool == "torchsummary":
        return torchsummary_total(model, x)
    raise AssertionError(tool)


def check_contract(result):
    for tool, e in result.items():
        assert {"theirs", "ours", "explained", "unexplained"} <= set(e), tool
        for k in ("theirs", "ours", "unexplained"):
            assert type(e[k]) is int, (tool, k)
        for item in e["explained"]:
            assert set(item) == {"what", "layer", "macs"} and type(item["macs"]) is int and item["what"]
        assert e["theirs"] - e["ours"] - sum(i["macs"] for i in e["explained"]) == e["unexplained"]
        if "params" in e:
            p = e["params"]
            assert p["theirs"] - p["ours"] - sum(i["macs"] for i in p["explained"]) == p["unexplained"]


def reconciled(result) -> bool:
    """Nothing unexplained for any peer, in its unit or in parameters (the contract checked first)."""
    check_contract(result)
    bad = {t: (e["unexplained"], e.get("layers_unexplained"), e["explained"]) for t, e in result.items()
           if e["unexplained"] or e.get("params", {}).get("unexplained")}
    assert not bad, bad
    return True


def items(result, tool, text: str = "") -> dict:
    """``{layer: amount}`` of ``tool``'s explained items whose reason contains ``text``."""
    out: dict = {}
    for i in result[tool]["explained"]:
        if text in i["what"]:
            out[i["layer"]] = out.get(i["layer"], 0) + i["macs"]
    return out


def installed() -> set:
    from profiler.crosscheck.core import available_tools
    return set(available_tools())


def need(*tools):
    return pytest.mark.skipif(not set(tools) <= installed(), reason=f"needs {', '.join(tools)}")
