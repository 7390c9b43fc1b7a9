"""Each class of difference between a peer and our count, on a small module that has it, run through the peer
for real: the peer's total is what the peer returns when run on its own, ours in its convention is the closed
form written here, and the cross-check names the whole difference (nothing unexplained).

Classes: the norm rates by call (training-mode batch norm, functional norms with weight tensors, instance
norm with and without running statistics) under every peer; recurrent layers (fvcore skips aten::lstm / gru /
rnn_tanh, ptflops and thop cost them by their own formulas); convolutions with string padding (fvcore skips
aten::_convolution_mode); a single-layer model under thop (the root's own rule).
"""
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import profiler

from _peers import independent, installed, items, need, reconciled
from _op import Op

warnings.simplefilter("ignore")
ALL = ["fvcore", "ptflops", "ptflops_aten", "torch", "thop", "torchinfo"]


def run(model, x, tools=ALL):
    tools = [t for t in tools if t in installed()]
    r = profiler.crosscheck(model, x, tools=tools)
    assert not r.skipped, r.skipped
    for t in tools:  # theirs is the peer's own figure
        assert r[t]["theirs"] == int(independent(t, model, x)), t
    return r


X = torch.randn(2, 4, 5, 5)
N = X.numel()  # 200 elements, batch 2, 4 channels


# -- norms: the rate by call, under every peer ---------------------------------------------------------------
@pytest.mark.parametrize("affine", [True, False])
def test_training_mode_batch_norm_every_peer(affine):
    m = nn.BatchNorm2d(4, affine=affine).train()
    r = run(m, X)
    assert reconciled(r)
    # fvcore's batchnorm_flop_jit in training mode: 4 per element, 5 with a weight (its own test_batchnorm
    # expects 4 x N for BatchNorm2d(affine=False) in training mode).
    assert r["fvcore"]["theirs"] == r["fvcore"]["ours"] == (5 if affine else 4) * N
    # ptflops' bn hook: 1 per element, x2 with module.affine, whatever the mode; per sample (batch 2).
    assert r["ptflops"]["ours"] == (2 if affine else 1) * N and r["ptflops"]["theirs"] == (2 if affine else 1) * N // 2
    # thop: 2 per element, x2 with affine (thop switches the model to eval; its rule has no mode).
    assert r["thop"]["theirs"] == r["thop"]["ours"] == (4 if affine else 2) * N
    # FlopCounterMode and ptflops' aten backend count no norm; torchinfo: batch x parameters.
    assert r["torch"]["theirs"] == r["ptflops_aten"]["theirs"] == 0
    assert r["torchinfo"]["theirs"] == (2 * 8 if affine else 0)
    # The same module in eval mode: fvcore 2 (1) per element, every other peer as before.
    e = run(m.eval(), X, ["fvcore", "ptflops", "thop"])
    assert reconciled(e)
    assert e["fvcore"]["theirs"] == e["fvcore"]["ours"] == (2 if affine else 1) * N
    assert e["thop"]["ours"] == r["thop"]["ours"] and e["ptflops"]["ours"] == r["ptflops"]["ours"]


def test_batch_norm_without_running_stats_uses_batch_statistics():
    # track_running_stats=False: F.batch_norm(training=True) even in eval mode; fvcore: 5 per element.
    r = run(nn.BatchNorm2d(4, track_running_stats=False).eval(), X, ["fvcore", "thop", "ptflops"])
    assert reconciled(r) and r["fvcore"]["theirs"] == 5 * N


W, B, RM, RV = torch.randn(4), torch.randn(4), torch.zeros(4), torch.ones(4)


@pytest.mark.parametrize("fn,fv", [
    (lambda t: F.batch_norm(t, RM, RV, W, B), 2),  # eval, weight given
    (lambda t: F.batch_norm(t, RM, RV), 1),  # eval, no weight
    (lambda t: F.batch_norm(t, None, None, W, B, training=True), 5),
    (lambda t: F.batch_norm(t, None, None, training=True), 4),
    (lambda t: F.group_norm(t, 2, W, B), 5),
    (lambda t: F.group_norm(t, 2), 4),
    (lambda t: F.layer_norm(t, (5,), torch.ones(5), torch.zeros(5)), 5),
    (lambda t: F.instance_norm(t, weight=W, bias=B), 5),
    (lambda t: F.instance_norm(t), 4),
], ids=["bn-eval-w", "bn-eval", "bn-train-w", "bn-train", "gn-w", "gn", "ln-w", "in-w", "in"])
def test_functional_norms_affine_by_their_arguments(fn, fv):
    # The module has no parameters: affine or not is read from the call's weight argument, as fvcore does.
    m = Op(fn)
    p = profiler.profile(m, X)
    assert p.total("fvcore") == fv * N
    if "fvcore" in installed():
        r = run(m, X, ["fvcore"])
        assert reconciled(r) and r["fvcore"]["theirs"] == fv * N


@need("fvcore", "torch")
def test_weight_standardised_conv_counts_its_training_mode_batch_norm():
    # timm's StdConv2d standardises its weight with F.batch_norm(w.reshape(1, out, -1), None, None,
    # training=True): fvcore 4 per weight element (no weight tensor) on top of the conv (the BiT/ResNetV2 and
    # NF-Net families: 0.2-2.4 % of their published GMACs when the old eval rate was used).
    StdConv2d = pytest.importorskip("timm.layers").StdConv2d

    conv = StdConv2d(4, 8, 3, padding=1, bias=False).eval()
    x = torch.randn(1, 4, 6, 6)
    r = run(conv, x, ["fvcore", "torch"])
    assert reconciled(r)
    assert r["fvcore"]["theirs"] == 8 * 4 * 9 * 36 + 4 * (8 * 4 * 9)


def test_instance_norm_with_running_statistics_named():
    # InstanceNorm2d(track_running_stats=True) in eval mode: our dispatcher sees an eval batch_norm (1 per
    # element); fvcore's instance_norm handle counts 4 whatever the statistics: +3 per element, named.
    m = nn.InstanceNorm2d(4, track_running_stats=True).eval()
    p = profiler.profile(m, X)
    assert p.total("fvcore") == N
    if "fvcore" in installed():
        r = run(m, X, ["fvcore", "thop", "ptflops"])
        assert reconciled(r) and r["fvcore"]["theirs"] == 4 * N
        assert items(r, "fvcore", "instance_norm with running statistics") == {"": 3 * N}


# -- recurrent layers ----------------------------------------------------------------------------------------
LSTM_X = torch.randn(2, 7, 5)  # batch_first: 2 sequences of 7 steps, 5 features


@need("fvcore", "ptflops", "thop")
def test_lstm_skipped_by_fvcore_formulas_of_ptflops_and_thop():
    m = nn.LSTM(5, 6, batch_first=True, bidirectional=True)
    r = run(m, LSTM_X, ["fvcore", "ptflops", "thop", "torch"])
    assert reconciled(r)
    # Ours: 2 directions x 7 steps x 2 sequences x 4 gates x 6 x (5 + 6) MACs.
    macs = 2 * 7 * 2 * 4 * 6 * 11
    assert r["fvcore"]["ours"] == macs and r["fvcore"]["theirs"] == 0
    assert items(r, "fvcore", "aten::lstm has no fvcore handle") == {"": -macs}
    # ptflops: per step (w_ih 24x5 + w_hh 24x6 + 10 x 6 + biases 48) x dims 0 x 1 of the input x 2 directions,
    # then divided by the batch (2).
    assert r["ptflops"]["theirs"] == (120 + 144 + 60 + 48) * 2 * 7 * 2 // 2
    # thop: 4 x ((5 + 6) x 6 + 6 + 12) + 3 x 6 + 6 per step, sample and direction.
    assert r["thop"]["theirs"] == (4 * (11 * 6 + 6 + 12) + 18 + 6) * 2 * 2 * 7
    # FlopCounterMode has no formula for the CPU oneDNN kernel.
    assert r["torch"]["theirs"] == 0 and sum(items(r, "torch", "mkldnn_rnn_layer").values()) == -2 * macs


@pytest.mark.parametrize("cls,gates,op", [(nn.GRU, 3, "aten::gru"), (nn.RNN, 1, "aten::rnn_tanh")])
def test_gru_and_rnn_skipped_by_fvcore(cls, gates, op):
    m = cls(5, 6, num_layers=2)
    x = torch.randn(7, 2, 5)  # 7 steps, batch 2 (sequence first)
    macs = 7 * 2 * gates * 6 * ((5 + 6) + (6 + 6))  # two layers
    assert profiler.profile(m, x).total("fvcore") == macs
    if "fvcore" in installed():
        r = run(m, x, ["fvcore", "ptflops", "thop", "torch"])
        assert reconciled(r)
        assert r["fvcore"]["theirs"] == 0 and items(r, "fvcore", op) == {"": -macs}
        assert r["torch"]["theirs"] == 2 * macs  # decomposed to addmm on CPU: counted


@pytest.mark.parametrize("cls", [nn.LSTMCell, nn.GRUCell, nn.RNNCell])
def test_cells_counted_by_fvcore_own_formulas_elsewhere(cls):
    m = cls(5, 6)
    r = run(m, torch.randn(2, 5), ["fvcore", "ptflops", "thop", "torch"])
    assert reconciled(r)
    gates = {nn.LSTMCell: 4, nn.GRUCell: 3, nn.RNNCell: 1}[cls]
    assert r["fvcore"]["theirs"] == r["fvcore"]["ours"] == 2 * gates * 6 * 11  # the cell traces to linear ops


# -- convolutions with string padding -----------------------------------------------------------------------
@pytest.mark.parametrize("padding,side", [("same", 5), ("valid", 3)])
def test_string_padding_conv_skipped_by_fvcore(padding, side):
    m = nn.Sequential(nn.Conv2d(4, 4, 3, padding=padding), nn.Conv2d(4, 4, 1))
    macs = 2 * side * side * 4 * 4 * 9  # batch 2
    later = 2 * side * side * 4 * 4
    assert profiler.profile(m, X).total("fvcore") == macs + later
    if "fvcore" in installed():
        r = run(m, X, ["fvcore", "ptflops", "torch"])
        assert reconciled(r)
        assert r["fvcore"]["theirs"] == later
        assert items(r, "fvcore", "aten::_convolution_mode") == {"0": -macs}


def test_functional_string_padding_conv_named_in_its_module():
    w = torch.randn(4, 4, 3, 3)
    m = nn.Sequential(Op(lambda t: F.conv2d(t, w, padding="same")))
    if "fvcore" in installed():
        r = run(m, X, ["fvcore"])
        assert reconciled(r) and items(r, "fvcore", "_convolution_mode") == {"0": -2 * 25 * 4 * 4 * 9}


# -- thop on a single-layer model ----------------------------------------------------------------------------
@need("thop")
def test_thop_counts_the_root_module_not_its_parameters():
    m = nn.Linear(8, 3)
    x = torch.randn(4, 8)
    r = run(m, x, ["thop"])
    assert reconciled(r)
    assert r["thop"]["theirs"] == r["thop"]["ours"] == 4 * 8 * 3
    # dfs_count adds the root's ops but only its children's parameters.
    assert r["thop"]["params"]["theirs"] == 0 and items({"p": r["thop"]["params"]}, "p") == {"": -27}


# -- ptflops: what its patches see depends on how the code is written ---------------------------------------
class Spellings(nn.Module):
    """The same arithmetic written two ways: only the patched spellings reach ptflops."""

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.randn(3, 1, 1))

    def forward(self, x):  # x: (1, 3, 8, 8)
        a = torch.matmul(x, x)  # patched: 3 x 8 x 8 x 8 = 1536
        b = x @ x  # not patched
        c = F.softmax(a, -1) + b.softmax(-1)  # F.softmax patched (192), Tensor.softmax not
        return x.mul(self.scale) + c * 2  # Tensor.mul patched; `*` not


@need("ptflops")
def test_ptflops_counts_patched_spellings_only():
    x = torch.randn(1, 3, 8, 8)
    r = run(Spellings(), x, ["ptflops"])
    assert reconciled(r)
    # ptflops: matmul 192 x 8, F.softmax 192, x.mul(scale) with shapes lined up from the left (1, 3, 8, 8) vs
    # (3, 1, 1) -> 3 x 3 x 8 x 8 = 576 (torch's broadcast would give 192).
    assert r["ptflops"]["theirs"] == 1536 + 192 + 576
    # Ours in ptflops' convention: both products and both softmaxes (element ops 0).
    assert r["ptflops"]["ours"] == 2 * 1536 + 2 * 192
    assert items(r, "ptflops", "matrix products") == {"": -1536}
    assert items(r, "ptflops", "activations") == {"": -192}
    assert items(r, "ptflops", "element ops counted") == {"": 576}


class SharedConv(nn.Module):
    """One Conv2d registered under two parents (as CoaT shares its positional-encoding convs), called once."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)
        self.branch = nn.Sequential()
        self.branch.shared = self.conv

    def forward(self, x):
        return self.conv(x)


@need("ptflops")
def test_ptflops_sums_a_shared_module_once_per_parent():
    x = torch.randn(1, 3, 5, 5)
    r = run(SharedConv(), x, ["ptflops", "fvcore"])
    assert reconciled(r)
    macs = 25 * 3 * 4
    assert r["fvcore"]["theirs"] == macs and r["ptflops"]["theirs"] == 2 * macs
    assert items(r, "ptflops", "shared Conv2d") == {"conv": macs}


# -- FlopCounterMode under no_grad ---------------------------------------------------------------------------
class ExpandedParameter(nn.Module):
    """A parameter expanded and handed to a submodule (CaiT's class token): FlopCounterMode's ModuleTracker
    raises under torch.no_grad() on such a view; the cross-check counts it with autograd on, and says so."""

    def __init__(self):
        super().__init__()
        self.token = nn.Parameter(torch.randn(1, 1, 4))
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(self.token.expand(x.shape[0], x.shape[1], -1)) + x


def test_flop_counter_mode_failing_under_no_grad_is_rerun():
    from torch.utils.flop_counter import FlopCounterMode

    m, x = ExpandedParameter(), torch.randn(2, 3, 4)
    with pytest.raises(AssertionError, match="gradient function"):
        with FlopCounterMode(display=False), torch.no_grad():
            m(x)
    r = profiler.crosscheck(m, x, tools=["torch"])
    assert reconciled(r) and r["torch"]["theirs"] == 2 * 2 * 3 * 4 * 4
    assert "counted with autograd on" in r["torch"]["notes"][0]


# -- attention through the math backend ----------------------------------------------------------------------
class MaskedAttention(nn.Module):
    def forward(self, q):  # (1, 2, 5, 8): a float mask sends SDPA to a backend whose products we see as bmm
        mask = torch.zeros(5, 5)
        return F.scaled_dot_product_attention(q, q, q, attn_mask=mask)


@need("fvcore")
def test_fvcore_skips_sdpa_whichever_kernel_runs():
    r = run(MaskedAttention(), torch.randn(1, 2, 5, 8), ["fvcore", "torch"])
    assert reconciled(r)
    macs = 2 * 5 * 5 * (8 + 8)
    assert r["fvcore"]["theirs"] == 0 and r["fvcore"]["ours"] == macs
    assert items(r, "fvcore", "scaled_dot_product_attention") == {"": -macs}


# -- fvcore's einsum through numpy's printout ----------------------------------------------------------------
class RelPos(nn.Module):
    """MViTv2's relative-position einsum (an equation outside fvcore's two exact ones)."""

    def __init__(self):
        super().__init__()
        self.rel = nn.Parameter(torch.randn(13, 13, 17))

    def forward(self, q):  # (1, 2, 13, 13, 17)
        return torch.einsum("byhwc,hkc->byhwk", q, self.rel)


@need("fvcore")
def test_fvcore_einsum_rounded_to_numpys_printout():
    macs = 2 * 13 * 13 * 13 * 17  # 74,698: every (b, y, h, w, k, c) once
    # fvcore: numpy's FLOP count 2 x 74,698 = 149,396, printed "1.494e+05", halved and floored: 74,700.
    r = run(RelPos(), torch.randn(1, 2, 13, 13, 17), ["fvcore", "torch"])
    assert reconciled(r)
    assert r["fvcore"]["ours"] == macs and r["fvcore"]["theirs"] == 74_700
    assert items(r, "fvcore", "einsum") == {"": 2}


@need("ptflops")
def test_ptflops_multihead_attention_formula():
    # torchvision's ViT encoder attention: nn.MultiheadAttention(self-attention), batch first.
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    m, x = Block().eval(), torch.randn(1, 5, 16)
    r = run(m, x, ["ptflops"])
    assert reconciled(r)
    # ptflops: q scaling 5 x 16, three projections 3 x 5 x 16 x 16 + their bias 3 x 5 x 16, per head (4 of 4
    # dims) QK^T 5 x 5 x 4 + softmax 5 x 5 + AV 5 x 5 x 4, output projection with bias 5 x 16 x 17.
    hook = 80 + 3 * 5 * 256 + 240 + 4 * (100 + 25 + 100) + 5 * 16 * 17
    assert r["ptflops"]["theirs"] == hook
    assert items(r, "ptflops", "MultiheadAttention") == {"attn": 80 + 4 * 25}  # q scaling and softmax


# -- code a library scripts when it is traced ----------------------------------------------------------------
def tiny_mask_rcnn():
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU())
    backbone.out_channels = 8
    return MaskRCNN(backbone, num_classes=2, min_size=64, max_size=64, box_score_thresh=0.0,
                    box_detections_per_img=4, rpn_anchor_generator=AnchorGenerator(((16,),), ((1.0,),)),
                    box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2), mask_roi_pool=MultiScaleRoIAlign(["0"], 14, 2),
                    representation_size=16).eval()


@need("fvcore")
def test_fvcore_misses_torchvisions_mask_pasting():
    pytest.importorskip("torchvision")
    m = tiny_mask_rcnn()
    x = torch.rand(1, 3, 64, 64)
    r = profiler.crosscheck(m, x, tools=["fvcore"])
    assert reconciled(r)
    pasted = items(r, "fvcore", "mask pasting")
    # one bilinear upsample per detected mask to its box in the 64 x 64 image, 4 fvcore flops per output
    assert list(pasted) == [""] and pasted[""] < 0 and pasted[""] % 4 == 0
