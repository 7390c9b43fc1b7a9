"""On meta, nn.LSTM, nn.GRU, nn.RNN and F.one_hot run the ops they run on the CPU (meta_shims.lstm_as_on_cpu,
meta_shims.generic_rnns_as_on_cpu, meta_shims.one_hot_as_on_cpu): oneDNN's mkldnn_rnn_layer per layer and
direction; ATen's generic path with the whole sequence's input projected in one linear per layer and direction;
and aminmax + zeros + scatter_; so every layer's op records (names, calls, counts per category, bytes) are the
CPU pass's."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import profiler


def records(model, x, device, **kwargs):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        prof = profiler.profile(model, x, device=device, **kwargs)
    return {(layer.path, op): (st.calls, dict(st.counts), st.bytes_read, st.bytes_written)
            for layer in prof.layers for op, st in layer.ops.items()}


def same_on_meta(model, x, **kwargs):
    cpu, meta = records(model, x, "cpu", **kwargs), records(model, x, "meta", **kwargs)
    assert meta == cpu
    return cpu


def calls(ops, *names):
    return sum(n for (_, op), (n, *_) in ops.items() if op in names)


def products(ops):
    """Matrix products: with or without a bias (a batch-first input's first projection is strided: mm + add_)."""
    return calls(ops, "aten.addmm", "aten.mm")


def rnn(kind, *args, **kwargs):
    if kind == "relu":
        return nn.RNN(*args, nonlinearity="relu", **kwargs)
    return {"gru": nn.GRU, "tanh": nn.RNN, "lstm": nn.LSTM}[kind](*args, **kwargs)


# ATen's generic RNN path (GRU, RNN, LSTM with projections or packed) differs on the CPU alone (RNN.cpp FullLayer,
# PackedLayer: the whole sequence's input projected in one linear per layer and direction where
# ``input.device().is_cpu()``, per step on meta): with T steps the CPU runs T + 1 products per layer and
# direction (meta without the shim 2T).


@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_takes_onednns_path_on_meta_as_on_the_cpu(layers, bidirectional, batch_first, bias):
    torch.manual_seed(0)
    model = nn.LSTM(8, 16, layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional).eval()
    ops = same_on_meta(model, torch.randn(2, 5, 8))
    names = {op for _, op in ops}
    assert sum(calls for (_, op), (calls, *_) in ops.items() if op == "aten.mkldnn_rnn_layer") == \
        layers * (2 if bidirectional else 1)
    assert "aten.addmm" not in names


@pytest.mark.parametrize("cls", [nn.GRU, nn.RNN])
def test_gru_and_rnn_generic_path(cls):
    torch.manual_seed(0)
    model = cls(8, 16, 2, batch_first=True, bidirectional=True).eval()
    ops = same_on_meta(model, torch.randn(2, 5, 8))
    assert "aten.mkldnn_rnn_layer" not in {op for _, op in ops}


@pytest.mark.parametrize("kind", ["gru", "tanh", "relu"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_gru_and_rnn_project_the_sequence_at_once_on_meta_as_on_the_cpu(kind, layers, bidirectional, batch_first,
                                                                         bias):
    torch.manual_seed(0)
    model = rnn(kind, 8, 16, layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional).eval()
    ops = same_on_meta(model, torch.randn(2, 5, 8))  # 5 steps (time-major) or 2
    steps = 2 if not batch_first else 5
    assert products(ops) == layers * (2 if bidirectional else 1) * (steps + 1)
    names = {op for _, op in ops}
    assert {"aten.sigmoid_", "aten.tanh_"} <= names if kind == "gru" else \
        ("aten.tanh" if kind == "tanh" else "aten.relu") in names
    assert "aten.mkldnn_rnn_layer" not in names


class GivenStates(nn.Module):
    """A recurrent layer fed a permuted input and given initial states, its outputs used by a head."""

    def __init__(self, kind, dropout=0.0):
        super().__init__()
        self.rnn = rnn(kind, 8, 16, 2, batch_first=True, dropout=dropout, bidirectional=True)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        h = x.new_zeros(4, x.shape[1], 16)
        out, hn = self.rnn(x.permute(1, 0, 2), h)
        return self.head(out) + hn.sum()


@pytest.mark.parametrize("kind", ["gru", "tanh", "relu"])
@pytest.mark.parametrize("train", [False, True])
def test_gru_and_rnn_with_given_states_and_dropout(kind, train):
    torch.manual_seed(0)
    ops = same_on_meta(GivenStates(kind, dropout=0.5).train(train), torch.randn(5, 3, 8))
    assert products({k: v for k, v in ops.items() if k[0] == "rnn"}) == 2 * 2 * (5 + 1)  # batch 3, 5 steps
    # dropout between the layers in training only (its mask rescaled: div_; the mask's draw is not counted)
    assert (("rnn", "aten.div_") in ops) == train


@pytest.mark.parametrize("kind", ["gru", "tanh", "lstm"])
def test_a_training_step_of_the_generic_path(kind):
    torch.manual_seed(0)
    model = rnn(kind, 8, 16, 2, bidirectional=True, dropout=0.2, **({"proj_size": 4} if kind == "lstm" else {}))
    ops = same_on_meta(model.train(), torch.randn(5, 3, 8), backward=True)
    assert "aten.div_" in {op for _, op in ops}  # dropout between the layers


class Packed(nn.Module):
    """A recurrent layer over a packed batch of sequences of lengths 5, 3 and 2."""

    def __init__(self, kind, **kwargs):
        super().__init__()
        self.rnn = rnn(kind, 8, 16, 2, bidirectional=True, **kwargs)

    def forward(self, x):
        out, _ = self.rnn(pack_padded_sequence(x, torch.tensor([5, 3, 2])))
        return pad_packed_sequence(out)[0]


@pytest.mark.parametrize("kind", ["gru", "tanh", "relu", "lstm"])
@pytest.mark.parametrize("train", [False, True])
def test_packed_sequences(kind, train):
    torch.manual_seed(0)
    ops = same_on_meta(Packed(kind, dropout=0.5).train(train), torch.randn(5, 3, 8))
    # per layer and direction one projection of the 10 packed rows, then one product per step
    assert products({k: v for k, v in ops.items() if k[0] == "rnn"}) == 2 * 2 * (5 + 1)


def test_lstm_inside_a_model_with_given_states_and_dropout():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(8, 16, 2, batch_first=True, dropout=0.5, bidirectional=True)
            self.head = nn.Linear(32, 4)

        def forward(self, x):
            h = x.new_zeros(4, x.shape[1], 16)
            out, _ = self.rnn(x.permute(1, 0, 2), (h, h.clone()))
            return self.head(out)

    torch.manual_seed(0)
    same_on_meta(Net().train(), torch.randn(5, 3, 8))


@pytest.mark.parametrize("layers,bidirectional,batch_first", [(1, False, False), (2, True, True)])
def test_lstm_with_projections_keeps_the_generic_path(layers, bidirectional, batch_first):
    # ATen hands no LSTM with projections to oneDNN: the generic path on both, run on meta as the CPU runs it
    torch.manual_seed(0)
    model = nn.LSTM(8, 16, layers, proj_size=4, bidirectional=bidirectional, batch_first=batch_first).eval()
    ops = same_on_meta(model, torch.randn(5, 2, 8))
    steps = 2 if batch_first else 5
    assert "aten.mkldnn_rnn_layer" not in {op for _, op in ops}
    # per layer and direction: one projection of the input, per step the hidden product and the projection w_hr
    assert products(ops) == layers * (2 if bidirectional else 1) * (2 * steps + 1)


def test_lstm_of_a_dtype_onednn_refuses_takes_the_generic_path():
    torch.manual_seed(0)
    ops = same_on_meta(nn.LSTM(8, 16, 2).double().eval(), torch.randn(5, 2, 8, dtype=torch.float64))
    assert "aten.mkldnn_rnn_layer" not in {op for _, op in ops}
    assert products(ops) == 2 * (5 + 1)


class OneHot(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.classes = classes
        self.fc = nn.Linear(7, 3)

    def forward(self, ids):
        return self.fc(F.one_hot(ids, self.classes).float())


@pytest.mark.parametrize("classes", [7, -1])
def test_one_hot(classes):
    ids = torch.tensor([[0, 3, 6], [1, 2, 6]])
    ops = same_on_meta(OneHot(classes), ids)
    names = {op for _, op in ops}
    assert "aten.scatter_" in names or any(n.startswith("aten.scatter_") for n in names), names
    assert "aten.eq" not in names
