"""thop (``thop.profile``): forward hooks on modules whose *exact* type has a rule in ``register_hooks``.

Read from thop/profile.py and thop/vision/basic_hooks.py, calc_func.py (0.1.1): conv = output elements x
Cin/groups x kernel (no bias; a transposed conv is costed from the output side), linear = in_features x
output elements (no bias), BN/LN/IN = 2 per element, x2 when affine (also in eval mode), avg pool 1 per
output, adaptive avg pool (kernel + 1) per output, ReLU/max pool/dropout 0, PReLU 1 per element, softmax,
upsample. Modules without a rule count zero and their children are summed; a counted module's children are
not. Parameters: those under counted modules only. Unit: MACs.
"""
from __future__ import annotations

import time

import torch.nn as nn

from profiler.counters.registry import numel
from profiler.crosscheck.base import Item, PeerRun, is_descendant, own_cost, quiet, importable
from profiler.conventions.peers import SDPA_OPS

NAME = "thop"
UNIT = "MACs"
CONVENTION = "thop"


def available() -> bool:
    return importable("thop")


def run(model: nn.Module, args, kwargs) -> PeerRun:
    import thop

    if kwargs:
        raise ValueError("thop calls model(*inputs): positional inputs only")
    t0 = time.perf_counter()
    with quiet():
        ops, params, tree = thop.profile(model, inputs=tuple(args), verbose=False, ret_layer_info=True)
    by_layer: dict[str, int] = {}

    def walk(prefix, sub, inclusive):
        children = 0
        for name, (c_ops, _c_params, c_sub) in sub.items():
            path = f"{prefix}.{name}" if prefix else name
            walk(path, c_sub, c_ops)
            children += c_ops
        by_layer[prefix] = int(round(inclusive - children))

    walk("", tree, ops)
    return PeerRun(total=int(round(ops)), by_layer=by_layer, params=int(round(params)),
                   seconds=time.perf_counter() - t0)


def _counted(model: nn.Module) -> tuple[list[str], dict[str, nn.Module]]:
    """Paths of the modules whose rule thop applies (exact type registered, not Sequential, no counted
    ancestor below the root). thop's sum (dfs_count) starts from the root's own count and always walks the
    root's children: a root with a rule (a single-layer model) is counted and so are its children."""
    from thop.profile import register_hooks

    mods = dict(model.named_modules())
    counted: list[str] = [""] if type(model) in register_hooks else []
    for path, mod in mods.items():
        if type(mod) in register_hooks and not isinstance(mod, (nn.Sequential, nn.ModuleList)) \
                and path and not any(c and is_descendant(path, c) for c in counted):
            counted.append(path)
    return counted, mods


def _under_counted(path: str, counted: list[str]) -> bool:
    return any(c and is_descendant(path, c) for c in counted)


# thop/rnn_hooks.py (0.1.1): ops per step and sample of one cell (i = input size, h = hidden size).
def _rnn_cell(i: int, h: int, bias: bool) -> int:
    return h * (i + h) + h + (2 * h if bias else 0)


def _gru_cell(i: int, h: int, bias: bool) -> int:
    state = (h + i) * h + h + (2 * h if bias else 0)
    return 2 * state + (h + i) * h + h + (2 * h if bias else 0) + h + 3 * h


def _lstm_cell(i: int, h: int, bias: bool) -> int:
    return 4 * ((i + h) * h + h + (2 * h if bias else 0)) + 3 * h + h


_CELLS = {"RNN": _rnn_cell, "GRU": _gru_cell, "LSTM": _lstm_cell}


def _rnn_rule(mod: nn.Module, layer) -> int | None:
    """What thop's rule for an nn.RNN/GRU/LSTM or cell module gives for ``layer``'s calls, from the module's
    sizes and the first call's input shape; None if ``mod`` is not one (or its input is packed)."""
    if not isinstance(mod, (nn.RNNBase, nn.RNNCellBase)) or not layer.input_shapes:
        return None
    x = layer.input_shapes[0]
    if not isinstance(x, (tuple, list)) or not x or not all(isinstance(d, int) for d in x):
        return None
    name = type(mod).__name__
    cell = _CELLS["LSTM" if "LSTM" in name else "GRU" if "GRU" in name else "RNN"]
    if isinstance(mod, nn.RNNCellBase):
        return cell(mod.input_size, mod.hidden_size, mod.bias) * int(x[0]) * layer.calls
    dirs = 2 if mod.bidirectional else 1
    ops = cell(mod.input_size, mod.hidden_size, mod.bias) * dirs
    ops += (mod.num_layers - 1) * cell(mod.hidden_size * dirs, mod.hidden_size, mod.bias) * dirs
    batch, steps = (x[0], x[1]) if mod.batch_first else (x[1], x[0])
    if len(x) == 2:  # unbatched (L, H_in)
        batch, steps = 1, x[0]
    return ops * int(batch) * int(steps) * layer.calls


def explain(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    counted, mods = _counted(model)
    counted_set = set(counted)
    items = []
    for layer in prof.layers:
        mod = mods.get(layer.path)
        if mod is None:
            continue
        if layer.path in counted_set:
            rnn = _rnn_rule(mod, layer)
            if rnn is not None:
                ours = own_cost(layer, CONVENTION)
                if rnn != ours:
                    items.append(Item(f"{type(mod).__name__} costed by thop's recurrent rule (rnn_hooks: gate "
                                      "products with 2 bias adds per gate and its element ops per hidden unit), "
                                      "not op by op", layer.path, rnn - ours))
                continue
            if isinstance(mod, nn.modules.conv._ConvTransposeNd) and layer.output_shapes and layer.input_shapes:
                out, x = layer.output_shapes[0], layer.input_shapes[0]
                theirs = numel(out) * (int(x[1]) // mod.groups) * numel(mod.kernel_size) * layer.calls
                ours = own_cost(layer, CONVENTION, lambda o, c: c == "conv")
                if theirs != ours:
                    items.append(Item("transposed conv costed from the output side (thop conv formula)",
                                      layer.path, theirs - ours))
            continue
        if _under_counted(layer.path, counted):
            why = "inside a module thop counts by its own rule"
        elif list(mod.children()):
            why = f"ops run by {type(mod).__name__} itself (not a registered leaf type) are not seen"
        else:
            why = f"{type(mod).__name__} has no thop rule (exact type match)"
        attn = own_cost(layer, CONVENTION, lambda o, c: o in SDPA_OPS)
        if attn:
            items.append(Item(f"fused attention not counted: {why}", layer.path, -attn))
        rest = own_cost(layer, CONVENTION, lambda o, c: o not in SDPA_OPS)
        if rest:
            items.append(Item(f"not counted: {why}", layer.path, -rest))
    return items


def explain_params(prof, model: nn.Module, peer: PeerRun, ctx=None) -> list[Item]:
    counted, mods = _counted(model)
    items = []
    for layer in prof.layers:
        if not layer.params:
            continue
        mod = mods.get(layer.path)
        if layer.path == "" and "" in counted:
            items.append(Item(f"parameters of the root {type(mod).__name__} not counted (thop's sum adds the root's "
                              "ops, its children's parameters only)", layer.path, -layer.params))
        elif not any((c and (layer.path == c or is_descendant(layer.path, c))) for c in counted):
            items.append(Item(f"parameters of {type(mod).__name__} not counted (no thop rule for it or a parent)",
                              layer.path, -layer.params))
    # A tensor registered by two counted subtrees is summed by each.
    subtree_of = {}
    for c in (c for c in counted if c):
        for p in mods[c].parameters():
            subtree_of.setdefault(id(p), []).append((c, p.numel()))
    for owners in subtree_of.values():
        if len(owners) > 1:
            items.append(Item("shared parameter counted once per module that holds it", owners[1][0],
                              owners[0][1] * (len(owners) - 1)))
    return items


