"""Mixture-of-experts layers: which parameters belong to routed experts, and how many of them a token uses.

A routed experts module holds E experts of which the router picks k per token, so one token's forward
multiplies k/E of their parameters (:attr:`Profile.params_active`); routers, shared experts and everything
else are always active. The layouts met in transformers' models:

- stacked: one module whose parameters have leading dim E, at least one of them 3-D (the classes of
  ``use_experts_implementation``, Llama 4, JetMoe; a per-expert norm below it, as Ergo's, goes with them);
- listed: a ModuleList/ModuleDict of E modules of one class (Switch Transformers, NLLB-MoE);
- flattened: every parameter below it of leading dim E x n (DBRX's (E * ffn, hidden) blocks).

E is the module's ``num_experts`` (for a list named ``...experts`` without one, its number of children). k is
read from the module, its MoE block or a sibling (``top_k``, ``num_experts_per_tok``, ``moe_top_k``), else a
sibling router named ``Top<k>...`` (Switch's Top1Router, NLLB's Top2Router), else the module's or the block's
``config.num_experts_per_tok`` (DeepSeek-V2, whose router has no ``top_k``). Where E or k cannot be read for
a module that looks like experts, a note says so and its parameters count as active: nothing is guessed.
A module holding experts below it (the MoE block, the model, JetMoe's attention) is not itself experts.
"""
from __future__ import annotations

import re

import torch.nn as nn

_K_ATTRS = ("top_k", "num_experts_per_tok", "moe_top_k")
_TOP_K_NAME = re.compile(r"Top(\d+)")


def is_candidate(name: str, mod: nn.Module) -> bool:
    """Whether the tree walk hands ``mod`` (at path ``name``) to :func:`routed_experts`: one dict lookup and
    one string test per module, so dense models pay nothing measurable."""
    return "num_experts" in mod.__dict__ or name.endswith("experts")


def routed_experts(model: nn.Module, candidates: list[tuple[str, nn.Module]]):
    """Routed experts among ``candidates`` ((path, module) pairs in pre-order, see :func:`is_candidate`).

    Returns (routes, notes): routes maps the path of every module whose own parameters belong to routed
    experts to (those parameters' element count, k, E); notes name modules that look like experts but
    whose E or k could not be read (their parameters are then counted as active).
    """
    routes: dict[str, tuple[int, int, int]] = {}
    notes: list[str] = []
    experts: list[str] = []  # paths of the experts modules found, innermost first
    for path, mod in reversed(candidates):  # descendants before ancestors
        if any(p.startswith(path + ".") or not path for p in experts):
            continue  # holds experts below it: a MoE block, the model ...
        n_experts, per_module = _layout(path, mod)
        leaf = path.rsplit(".", 1)[-1]
        if per_module is None:
            if leaf.endswith("experts") and "shared" not in leaf and _has_3d(mod):
                notes.append(f"mixture of experts: '{path}' ({type(mod).__name__}) looks like routed experts "
                             "but no number of experts fitting its parameters was found; they count as active")
            continue
        k = _top_k(model, path, mod)
        if k is None or k > n_experts:
            notes.append(f"mixture of experts: '{path}' ({type(mod).__name__}) has {n_experts} experts but "
                         f"{'no readable top-k' if k is None else f'top-k {k}'}; its parameters count as active")
            continue
        experts.append(path)
        routes.update({p: (n, k, n_experts) for p, n in per_module.items() if n})
    return routes, notes


def _layout(path: str, mod: nn.Module) -> tuple[int, dict[str, int] | None]:
    """(E, path -> own parameters of routed experts) of an experts module, (E or 0, None) when ``mod`` is not
    one (a router, a block, a dense module)."""
    n_experts = mod.__dict__.get("num_experts")
    children = [c for c in mod._modules.values() if c is not None]
    if not isinstance(n_experts, int) and isinstance(mod, (nn.ModuleList, nn.ModuleDict)) and \
            path.endswith("experts"):
        n_experts = len(children)
    if not isinstance(n_experts, int) or n_experts < 2:
        return 0, None
    subtree = list(mod.named_modules(prefix=path))
    own = [(p, [t for t in m._parameters.values() if t is not None]) for p, m in subtree]
    if any(t.dim() >= 3 and t.shape[0] == n_experts for _, ts in own for t in ts):  # stacked
        return n_experts, {p: sum(t.numel() for t in ts if t.dim() and t.shape[0] == n_experts) for p, ts in own}
    kids = {f"{path}.{name}": type(c) for name, c in mod._modules.items() if c is not None and _has_params(c)}
    if len(kids) == n_experts and len(set(kids.values())) == 1:  # listed (a dropout beside them is no expert)
        return n_experts, {p: sum(t.numel() for t in ts) for p, ts in own
                           if p in kids or any(p.startswith(k + ".") for k in kids)}
    flat = [t for _, ts in own for t in ts]
    if flat and all(t.dim() and t.shape[0] > n_experts and t.shape[0] % n_experts == 0 for t in flat):
        return n_experts, {p: sum(t.numel() for t in ts) for p, ts in own}  # flattened
    return n_experts, None


def _has_params(mod: nn.Module) -> bool:
    return any(True for _ in mod.parameters())


def _has_3d(mod: nn.Module) -> bool:
    return any(t.dim() >= 3 for t in mod.parameters())


def _top_k(model: nn.Module, path: str, mod: nn.Module) -> int | None:
    """k, the experts a token is routed to, read from the module, its parent and the parent's other children."""
    parent = model.get_submodule(path.rsplit(".", 1)[0]) if "." in path else (model if path else None)
    siblings = [c for c in parent._modules.values() if c is not None and c is not mod] if parent is not None else []
    for obj in (mod, parent, *siblings):
        if obj is None:
            continue
        for attr in _K_ATTRS:
            k = obj.__dict__.get(attr)
            if isinstance(k, int) and k > 0:
                return k
    for sib in siblings:
        m = _TOP_K_NAME.search(type(sib).__name__)
        if m:
            return int(m.group(1))
    for obj in (mod, parent):
        config = obj.__dict__.get("config") if obj is not None else None
        for attr in ("num_experts_per_tok", "moe_top_k"):
            k = getattr(config, attr, None)
            if isinstance(k, int) and k > 0:
                return k
    return None
