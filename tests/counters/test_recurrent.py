"""Recurrent rules: RNN/LSTM/GRU layers and cells against the formula from their weight shapes.

Every time step of every sequence multiplies the layer input by W_ih, the hidden state by W_hh and (LSTM
with proj_size) the cell output by W_hr, once per layer and direction:
recurrent MACs = (time steps summed over the batch) * sum(numel of every weight matrix).
The hand formula for a 1-layer LSTM: T * B * 4H * (I + H).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hypothesis import given, strategies as st

from _opcount import counts, macs_only

MODES = {"rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}), "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
         "lstm": (nn.LSTM, {}), "gru": (nn.GRU, {})}


def weight_macs_per_token(rnn: nn.Module) -> int:
    return sum(p.numel() for name, p in rnn.named_parameters() if name.startswith("weight"))


@given(st.sampled_from(list(MODES)), st.integers(1, 5), st.integers(1, 6), st.integers(1, 2), st.booleans(),
       st.booleans(), st.booleans(), st.integers(1, 4), st.integers(1, 3), st.integers(0, 3))
def test_rnn_layers_match_weight_formula(mode, input_size, hidden, layers, bidirectional, batch_first, bias,
                                         steps, batch, proj):
    cls, kw = MODES[mode]
    if mode == "lstm" and 0 < proj < hidden:
        kw = dict(kw, proj_size=proj)
    rnn = cls(input_size, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
              bias=bias, **kw)
    x = torch.randn(batch, steps, input_size) if batch_first else torch.randn(steps, batch, input_size)
    c = counts(rnn, x)
    macs_only(c, "recurrent", steps * batch * weight_macs_per_token(rnn))
    biases = sum(p.numel() for name, p in rnn.named_parameters() if name.startswith("bias"))
    assert c["bias"] == steps * batch * biases


def test_lstm_hand_formula():
    t, b, i, h = 7, 3, 10, 20
    macs_only(counts(nn.LSTM(i, h), torch.randn(t, b, i)), "recurrent", t * b * 4 * h * (i + h))


def test_gru_two_layers_bidirectional_hand_formula():
    t, b, i, h = 5, 2, 6, 8
    # layer 0: 3H*(I+H) per direction; layer 1 reads both directions: 3H*(2H+H).
    per_token = 2 * 3 * h * (i + h) + 2 * 3 * h * (2 * h + h)
    macs_only(counts(nn.GRU(i, h, num_layers=2, bidirectional=True), torch.randn(t, b, i)),
              "recurrent", t * b * per_token)


def test_unbatched_and_initial_state():
    lstm = nn.LSTM(4, 8)
    x, h0, c0 = torch.randn(6, 4), torch.zeros(1, 8), torch.zeros(1, 8)
    macs_only(counts(nn.Sequential(lstm), x), "recurrent", 6 * weight_macs_per_token(lstm))

    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, x):
            return self.lstm(x, (h0, c0))[0]

    macs_only(counts(WithState(), x), "recurrent", 6 * weight_macs_per_token(lstm))


def test_packed_sequence_counts_real_steps_only():
    lstm = nn.LSTM(4, 8)
    lengths = [5, 3, 2]
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(5, 3, 4), lengths)
    expected = sum(lengths) * weight_macs_per_token(lstm)
    macs_only(counts(lstm, packed), "recurrent", expected)  # passed as the one positional argument


@pytest.mark.parametrize("cls,gates", [(nn.RNNCell, 1), (nn.LSTMCell, 4), (nn.GRUCell, 3)])
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 4))
def test_cells(cls, gates, input_size, hidden, batch):
    cell = cls(input_size, hidden)
    macs_only(counts(cell, torch.randn(batch, input_size)), "recurrent", batch * gates * hidden * (input_size + hidden))


def test_cell_unrolled_in_a_loop_counts_every_step():
    class Unrolled(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(3, 5)

        def forward(self, x):
            h = torch.zeros(x.shape[1], 5)
            for t in range(x.shape[0]):
                h = self.cell(x[t], h)
            return h

    import profiler

    prof = profiler.profile(Unrolled(), torch.randn(4, 2, 3))
    assert prof.layer("cell").calls == 4
    assert prof.by_category["recurrent"] == 4 * 2 * 3 * 5 * (3 + 5)


def test_packed_sequence_peer_report():
    # thop PR #160: pack_sequence of lengths 7, 3 and 1 performs 11 cell evaluations, not 7 x 3 = 21;
    # with proj_size the recurrent products narrow to the projection.
    lstm = nn.LSTM(5, 8, proj_size=3)
    packed = nn.utils.rnn.pack_sequence([torch.randn(7, 5), torch.randn(3, 5), torch.randn(1, 5)])
    per_step = 4 * 8 * 5 + 4 * 8 * 3 + 3 * 8  # W_ih, W_hh (reads the 3-wide projection), W_hr
    macs_only(counts(lstm, packed), "recurrent", 11 * per_step)


@pytest.mark.parametrize("op", ["_cudnn_rnn", "miopen_rnn"])
@given(st.sampled_from(list(MODES)), st.integers(1, 2), st.booleans(), st.booleans(), st.integers(0, 3))
def test_gpu_whole_rnn_kernels(op, mode, layers, bidirectional, bias, proj):
    # The GPU kernels take the flat weight list of the module (no GPU needed to check the rule: it is a
    # pure function of the shapes the dispatcher passes).
    from profiler.counters import lookup

    cls, kw = MODES[mode]
    if mode == "lstm" and proj:
        kw = dict(kw, proj_size=proj)
    rnn = cls(5, 4, num_layers=layers, bidirectional=bidirectional, bias=bias, **kw)
    shapes = [w.shape for w in rnn._flat_weights]
    x = torch.Size([6, 3, 5])
    cudnn_mode = {"rnn_relu": 0, "rnn_tanh": 1, "lstm": 2, "gru": 3}[mode]
    rule = lookup(getattr(torch.ops.aten, op))
    if op == "_cudnn_rnn":
        c = rule(x, shapes, 2, None, torch.Size([1, 3, 4]), None, cudnn_mode, 4, proj, layers, False, 0.0,
                 False, bidirectional, [], None)
    else:
        c = rule(x, shapes, 2, torch.Size([1, 3, 4]), None, cudnn_mode, 4, layers, False, 0.0, False,
                 bidirectional, [], None)
    assert c["recurrent"] == 18 * weight_macs_per_token(rnn)
    biases = sum(p.numel() for name, p in rnn.named_parameters() if name.startswith("bias"))
    assert c.get("bias", 0) == 18 * biases
