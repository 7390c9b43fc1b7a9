"""Text renderings of a crosscheck result (tabulate): one row per peer, and the reasons grouped.

Every number carries its unit: the peer's own (MACs; fvcore "flops" = MACs; torch FLOPs = 2 x MACs;
parameters for torchsummary). The result is :func:`profiler.crosscheck.crosscheck`'s data; nothing here counts.
"""
from __future__ import annotations

from collections import defaultdict


from profiler.core.rows import percent
from profiler.report.format import percent as fmt_percent
from profiler.report.tables import markdown_table
from profiler.report.textfit import fit_table, wrap_line


def _share(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole``, four decimals and the sign (``-`` when ``whole`` is 0)."""
    return fmt_percent(percent(part, whole), 4, suffix="%")


def summary_rows(result: dict) -> list[list]:
    rows = []
    for tool, e in result.items():
        explained = sum(i["macs"] for i in e["explained"])
        rows.append([tool, e["unit"], f"{e['theirs']:,}", f"{e['ours']:,}", e.get("convention", ""),
                     f"{explained:+,}", f"{e['unexplained']:+,}", _share(abs(e["unexplained"]), e["theirs"])])
        p = e.get("params")
        if p is not None and (p["theirs"] != p["ours"] or p["unexplained"]):
            pe = sum(i["macs"] for i in p["explained"])
            rows.append([f"{tool} (params)", "params", f"{p['theirs']:,}", f"{p['ours']:,}", "unique parameters",
                         f"{pe:+,}", f"{p['unexplained']:+,}", _share(abs(p["unexplained"]), p["theirs"])])
    return rows


HEADERS = ["tool", "unit", "theirs", "ours (their convention)", "convention", "explained", "unexplained",
           "unexplained / theirs"]


def summary_table(result: dict, tablefmt: str = "simple", width: int | None = None) -> str:
    """One row per peer; ``width``: the text table fitted to that many columns (headers, units and
    conventions wrapped; numbers whole)."""
    return fit_table(summary_rows(result), HEADERS, width if tablefmt == "simple" else None, wrap=(0, 1, 4),
                     tablefmt=tablefmt)


def grouped_reasons(entry: dict) -> list[tuple[str, int, int, str]]:
    """(what, number of layers, amount, example layer) per distinct reason, largest amount first."""
    groups: dict[str, list] = defaultdict(lambda: [0, 0, None])
    for item in entry["explained"]:
        g = groups[item["what"]]
        g[0] += 1
        g[1] += item["macs"]
        if g[2] is None:
            g[2] = item["layer"] or "(root)"
    return sorted(((w, n, m, ex) for w, (n, m, ex) in groups.items()), key=lambda r: -abs(r[2]))


def reasons_table(result: dict, tablefmt: str = "simple", params: bool = True, width: int | None = None) -> str:
    """The named differences grouped per peer; ``width``: the text table fitted to that many columns (the
    reasons and layer names wrapped; the amounts whole)."""
    rows = []
    for tool, e in result.items():
        parts = [(tool, e)]
        if params and e.get("params") and e["params"]["explained"]:
            parts.append((f"{tool} (params)", dict(e["params"], unit="params")))
        for name, entry in parts:
            for what, n, amount, example in grouped_reasons(entry):
                rows.append([name, what, n, example, f"{amount:+,} {entry['unit']}"])
    if not rows:
        return "(every peer agrees with our count in its convention)"
    return fit_table(rows, ["tool", "reason (their count minus ours)", "layers", "e.g. layer", "amount"],
                     width if tablefmt == "simple" else None, wrap=(1, 3, 0), tablefmt=tablefmt)


# -- the zoo-scale cross-check (profiler.studies.zoo_crosscheck.summarise) ----------------------------------
def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _pct(p: float) -> str:
    """A share in percent, small ones in scientific notation rather than as 0.0000%."""
    return f"{p:.4f}%" if abs(p) >= 1e-4 else f"{p:.1e}%"


def zoo_summary_rows(summary: dict) -> list[list]:
    rows = []
    for tool, s in summary.items():
        b = s["by_status"]
        worst = "-" if not s["worst"] else "0 (every model)" if not s["worst"][1] else \
            f"{_pct(s['worst'][1])} ({s['worst'][0]})"
        rows.append([tool, s["unit"] or "-", s["tried"], s["reconciled"], b["close"], b["unexplained"],
                     b["peer failed"], sum(b[k] for k in ("model failed", "timeout", "memory", "crashed")), worst])
    return rows


ZOO_HEADERS = ["peer", "unit", "models tried", "reconciled (nothing unexplained)", "within 0.1 %",
               "unexplained > 0.1 %", "peer failed", "model failed", "largest |unexplained| / theirs"]


def zoo_text(summary: dict, scope: str, out: str, width: int | None = None) -> str:
    """What ``profile-model sweep --crosscheck`` prints: one line per peer, then what is left to look at;
    ``width``: fitted to that many columns (headers and long lines wrapped, numbers whole)."""
    lines = [f"cross-check of {scope}; rows: {out}",
             fit_table(zoo_summary_rows(summary), ZOO_HEADERS, width, wrap=(1, 8))]
    for tool, s in summary.items():
        for u in s["unexplained"]:
            lines.append(f"  {tool}: {u['name']}: {u['unexplained']:+,} {s['unit']} unexplained "
                         f"({'+' if u['pct'] >= 0 else ''}{_pct(u['pct'])} of {u['theirs']:,}) {u['detail']}")
        for f in s["peer_failures"]:
            lines.append(f"  {tool} failed on {f['name']}: {f['error'][:160]}")
    failed = {(m["name"], m["status"], m["error"]) for s in summary.values() for m in s["model_failures"]}
    for name, status, error in sorted(failed):
        lines.append(f"  {name}: {status}: {error[:160]}")
    return "\n".join(wrap_line(line, width) for line in lines)


def zoo_markdown(summary: dict, scope: str, out: str, command: str = "", title: str | None = None,
                 level: int = 1) -> str:
    """The zoo cross-check as Markdown: per peer, models tried and reconciled, peer failures, and the classes
    of named differences with how many models each touches (amounts in the peer's unit). ``level``: the
    title's heading level (the peers' sections are one below)."""
    h, h2 = "#" * level, "#" * (level + 1)
    parts = [f"{h} {title or 'Cross-check at zoo scale'}\n"]
    if command:
        parts.append(f"Regenerate: `{command}`. ")
    parts.append(f"Scope: {scope}; each model built on the CPU with random weights (nothing downloaded), eval "
                 "mode, its zoo's default input size, batch 1; every peer run for real on its own copy beside our "
                 "count, and its total reconciled with ours in its convention: `theirs - ours - named "
                 f"differences = unexplained`, in the peer's unit. Rows: `{out}`.\n")
    parts.append(markdown_table(zoo_summary_rows(summary), ZOO_HEADERS))
    parts.append("")
    for tool, s in summary.items():
        parts.append(f"{h2} {tool} ({s['unit'] or 'no result'})\n")
        if s["classes"]:
            rows = sorted(s["classes"].items(), key=lambda kv: (-kv[1]["models"], -abs(kv[1]["amount"])))
            parts.append(markdown_table(
                [[_cell(cls), c["models"], c["layers"], f"{c['amount']:+,}", c["model"]] for cls, c in rows],
                ["class of named difference (their count minus ours)", "models", "layers",
                 f"total amount ({s['unit']})", "e.g. model"]))
            parts.append("")
        else:
            parts.append("No named difference: every model agrees with our count in this peer's convention.\n")
        if s["unexplained"]:
            parts.append("Left unexplained:\n")
            parts.append(markdown_table([[u["name"], f"{u['unexplained']:+,}", f"{u['theirs']:,}", _pct(u["pct"]),
                                         _cell(u["detail"])] for u in s["unexplained"]],
                                        ["model", f"unexplained ({s['unit']})", "theirs", "share", "where"]))
            parts.append("")
        if s["peer_failures"]:
            parts.append(f"{tool} itself failed on:\n")
            parts.append(markdown_table([[f["name"], _cell(f["error"][:300])] for f in s["peer_failures"]],
                                        ["model", "error"]))
            parts.append("")
    failed = sorted({(m["name"], m["status"], m["error"]) for s in summary.values() for m in s["model_failures"]})
    if failed:
        parts.append(f"{h2} Models that could not be cross-checked\n")
        parts.append(markdown_table([[n, st, _cell(e[:300])] for n, st, e in failed], ["model", "status", "reason"]))
        parts.append("")
    return "\n".join(parts) + "\n"
