"""The bytes a rank sends, per module, as the per-layer views show them (the ``comm sent`` column).

Nothing here counts: the engine already recorded every collective per module, phase and kind
(``Profile.communication``, bytes under the ring / pairwise conventions of :mod:`profiler.counters.comm`);
this only adds those records up per module path and per subtree, the way the views add params and cost.
"""
from __future__ import annotations

#: The column's header (unit included) and what it is: the text, Markdown, CSV and HTML views say the same.
SENT_HEADER = "comm sent (bytes)"
SENT_SHORT = "sent B"  # a text table fitted to a terminal (``tables.fit``); the legend names it in full
SENT_LEGEND = "bytes this rank sends over the module's collectives in all phases (ring/pairwise algorithms)"


def sent_by_path(profile) -> dict[str, float]:
    """Bytes this rank sends per module path, every phase and collective kind summed (only modules that sent).

    A record whose module is not in the module tree (none is expected) counts for its nearest ancestor that
    is, the root at worst, so the subtree totals still add up to what the footer's communication line says."""
    known = {layer.path for layer in profile.layers}
    out: dict[str, float] = {}
    for c in profile.communication:
        path = c.path
        while path and path not in known:
            path = path.rpartition(".")[0]
        out[path] = out.get(path, 0) + c.sent
    return out


def sent_total(profile) -> float:
    """Bytes this rank sends in the whole pass (the column's total)."""
    return sum(c.sent for c in profile.communication)


def sent_inclusive(profile, own: dict[str, float]) -> dict[str, float]:
    """Each module's subtree total of ``own`` (``sent_by_path``), over the module tree's children as the
    rows' params and cost are (layers are in pre-order: children after their parent)."""
    inc = {layer.path: own.get(layer.path, 0) for layer in profile.layers}
    for layer in reversed(profile.layers):
        for child in layer.children:
            inc[layer.path] += inc.get(child, 0)
    return inc


def row_sent(profile, rows) -> list[tuple[float, float]] | None:
    """(own, subtree) bytes sent for each per-layer row, or None where the profile has no collective (the
    views then have no such column, so an ordinary model's output is unchanged).

    A row that folded its subtree (``--depth``) owns the whole subtree, as its params and cost do; the
    "other modules" row of ``--top`` holds what the kept rows leave: the rows split the modules between them,
    so the column sums to the total like any own column."""
    if not profile.communication:
        return None
    own = sent_by_path(profile)
    inc = sent_inclusive(profile, own)
    out: list[tuple[float, float]] = []
    for r in rows:
        if r.synthetic:
            out.append((0.0, 0.0))  # filled below, from the other rows
        elif r.folded:
            out.append((inc.get(r.path, 0), inc.get(r.path, 0)))
        else:
            out.append((own.get(r.path, 0), inc.get(r.path, 0)))
    rest = sent_total(profile) - sum(o for (o, _), r in zip(out, rows) if not r.synthetic)
    return [(rest, rest) if r.synthetic else v for v, r in zip(out, rows)]


def legend(profile) -> str:
    """The per-layer legend's sentence on the column (appended to the page's ``rows`` legend), or "" where the
    profile has no collective (its legend unchanged)."""
    if not profile.communication:
        return ""
    return f" {SENT_HEADER}: {SENT_LEGEND}; a container's subtree total in brackets, as above."
