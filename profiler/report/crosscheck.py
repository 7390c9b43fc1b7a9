"""Text renderings of a crosscheck result (tabulate): one row per peer, and the reasons grouped.

Every number carries its unit: the peer's own (MACs; fvcore "flops" = MACs; torch FLOPs = 2 x MACs;
parameters for torchsummary). The result is :func:`profiler.crosscheck.crosscheck`'s data; nothing here counts.
"""
from __future__ import annotations

from collections import defaultdict

from tabulate import tabulate

from profiler.core.rows import percent
from profiler.report.format import percent as fmt_percent


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


def summary_table(result: dict, tablefmt: str = "simple") -> str:
    return tabulate(summary_rows(result), headers=HEADERS, tablefmt=tablefmt, disable_numparse=True)


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


def reasons_table(result: dict, tablefmt: str = "simple", params: bool = True) -> str:
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
    return tabulate(rows, headers=["tool", "reason (their count minus ours)", "layers", "e.g. layer", "amount"],
                    tablefmt=tablefmt, disable_numparse=True)
