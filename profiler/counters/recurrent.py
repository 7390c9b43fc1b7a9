"""Recurrent rules: fused RNN/LSTM/GRU layer ops (oneDNN on CPU, the aten reference ops).

Per time step and batch element a layer multiplies its input and its hidden state by each weight matrix
once, so the MACs of a whole call are ``steps * batch * sum(numel of every 2-d weight)``; each 1-d bias is
added once per step and batch element. The unfused cells (nn.LSTMCell, the GRU/RNN CPU path) reach the
dispatcher as addmm and pointwise ops and are re-labelled `recurrent` by the engine.
"""
from __future__ import annotations

from profiler.counters.registry import numel, ops_named, register

# cuDNN mode numbers used by mkldnn_rnn_layer: RNN_RELU, RNN_TANH, LSTM, GRU.
_GATES = {0: 1, 1: 1, 2: 4, 3: 3}
# Pointwise work per hidden unit and step: (activations, other element ops) for RNN, LSTM, GRU.
# LSTM: 3 sigmoid + 2 tanh; 4 gate sums, c = f*c + i*g (3), h = o*tanh(c) (1).
# GRU: 2 sigmoid + tanh; 3 gate sums, r*h_n (1), h = (1-z)*n + z*h (4).
_POINTWISE = {1: (1, 1), 4: (5, 8), 3: (3, 8)}


def rnn_counts(steps_x_batch: int, weights, biases, hidden: int, gates: int):
    counts = {"recurrent": steps_x_batch * sum(numel(w) for w in weights)}
    b = steps_x_batch * sum(numel(x) for x in biases)
    if b:
        counts["bias"] = b
    act, elem = _POINTWISE.get(gates, (gates, gates))
    # One (w_ih, w_hh) pair per layer and direction; projection weights have other rows.
    layers = max(1, sum(1 for w in weights if len(w) == 2 and int(w[0]) == gates * hidden) // 2)
    counts["activation"] = steps_x_batch * hidden * act * layers
    counts["elementwise"] = steps_x_batch * hidden * elem * layers
    return counts


@register(*ops_named("mkldnn_rnn_layer"))
def mkldnn_rnn_layer(x, w_ih, w_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes, mode, hidden_size,
                     *rest, out=None, **kwargs):
    steps_x_batch = numel(x[:-1])
    gates = _GATES.get(int(mode), 1)
    biases = [b for b in (b_ih, b_hh) if b is not None and len(b) == 1]
    return rnn_counts(steps_x_batch, [w_ih, w_hh], biases, int(hidden_size), gates)


def _flat_rnn(gates):
    def rule(x, hx, params, has_biases, *rest, out=None, **kwargs):
        params = list(params)
        weights = [p for p in params if len(p) == 2]
        biases = [p for p in params if len(p) == 1]
        hidden = int(weights[0][0]) // gates
        # batch_first does not matter: steps * batch is every dim but the feature dim.
        return rnn_counts(numel(x[:-1]), weights, biases, hidden, gates)

    return rule


register(*ops_named("lstm"))(_flat_rnn(4))
register(*ops_named("gru"))(_flat_rnn(3))
register(*ops_named("rnn_tanh", "rnn_relu"))(_flat_rnn(1))


def _flat_weights_rnn(x, weights, mode, hidden_size):
    """cuDNN / MIOpen whole-RNN kernels: a flat list of every layer's and direction's weights."""
    shapes = [w for w in weights if w is not None]
    return rnn_counts(numel(x[:-1]), [w for w in shapes if len(w) == 2], [b for b in shapes if len(b) == 1],
                      int(hidden_size), _GATES.get(int(mode), 1))


@register(*ops_named("_cudnn_rnn"))
def cudnn_rnn(x, weights, weight_stride0, weight_buf, hx, cx, mode, hidden_size, *rest, out=None, **kwargs):
    # x: (T, B, I), (B, T, I) or packed (sum of lengths, I): every dim but the last counts steps x batch.
    return _flat_weights_rnn(x, weights, mode, hidden_size)


@register(*ops_named("miopen_rnn"))
def miopen_rnn(x, weights, weight_stride0, hx, cx, mode, hidden_size, *rest, out=None, **kwargs):
    return _flat_weights_rnn(x, weights, mode, hidden_size)
