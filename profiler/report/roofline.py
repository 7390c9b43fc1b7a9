"""Roofline-style picture from measured per-layer latency.

Each layer that ran ops is one point: x = arithmetic intensity (MACs per byte moved, from
:mod:`profiler.analysis.traffic`), y = attained throughput (its MACs divided by its measured *self* time, GMAC/s,
from :mod:`profiler.analysis.layer_latency`). The two ceilings are empirical, read off the same measurements (no
vendor peak is assumed): the horizontal line is the best attained GMAC/s of any layer, the slanted one the
best attained bandwidth (bytes per second) of any layer, so the ridge where they meet says where layers stop
being limited by memory on this machine. Layers without MACs (element-wise, concatenations, shuffles) cost
time and no MACs: they are listed beside the axes by the time they take, the ShuffleNet v2 lesson; the legend
sits beside the axes, so neither hides a roof or a point.
"""
from __future__ import annotations

from matplotlib.figure import Figure

from profiler.report.plots import kind_colour


def roofline_points(traffic, latencies) -> list[dict]:
    """Plain data: one dict per layer with ``intensity`` (MACs/B), ``gmacs_per_s``, ``gb_per_s``, ``self_ms``."""
    by = latencies.by_path()
    out = []
    for t in traffic.layers:
        lat = by.get(t.path)
        if lat is None:
            continue
        ms = lat.self_ms.median_ms
        out.append({"path": t.path, "type": t.type, "kind": t.kind, "macs": t.macs, "bytes": t.bytes_total,
                    "self_ms": ms, "intensity": t.intensity,
                    "gmacs_per_s": t.macs / (ms * 1e6) if ms > 0 else None,
                    "gb_per_s": t.bytes_total / (ms * 1e6) if ms > 0 else None})
    return out


def plot_roofline(traffic, latencies, *, title: str | None = None) -> Figure:
    pts = roofline_points(traffic, latencies)
    fig = Figure(figsize=(9.5, 6.5), layout="constrained")
    ax = fig.add_subplot()
    mac_pts = [p for p in pts if p["macs"] > 0 and p["gmacs_per_s"] and p["intensity"]]
    kinds = sorted({p["kind"] for p in mac_pts})
    for kind in kinds:
        sel = [p for p in mac_pts if p["kind"] == kind]
        ax.scatter([p["intensity"] for p in sel], [p["gmacs_per_s"] for p in sel], s=18, alpha=0.8,
                   color=kind_colour(kind), label=kind)
    if mac_pts:
        peak = max(p["gmacs_per_s"] for p in mac_pts)
        bw = max(p["gb_per_s"] for p in pts if p["gb_per_s"])
        lo = min(p["intensity"] for p in mac_pts) / 2
        hi = max(p["intensity"] for p in mac_pts) * 2
        ridge = peak / bw
        xs = [lo, ridge, hi] if lo < ridge < hi else [lo, hi]
        ax.plot(xs, [min(peak, bw * x) for x in xs], color="black", lw=1, ls="--",
                label=f"measured ceilings: {peak:.1f} GMAC/s, {bw:.1f} GB/s")
        ax.set_xscale("log")
        ax.set_yscale("log")
    free = sorted((p for p in pts if p["macs"] == 0 and p["self_ms"] > 0), key=lambda p: -p["self_ms"])
    if free:
        total = sum(p["self_ms"] for p in free)
        lines = [f"no-MAC layers: {total:.2f} ms"] + [f"{p['path'] or '(root)'} ({p['type']}): {p['self_ms']:.2f} ms"
                                                       for p in free[:5]]
        # in the right margin under the legend, off the roofs and the points
        ax.annotate("\n".join(lines), xy=(1, 0), xycoords="axes fraction", xytext=(8, 2),
                    textcoords="offset points", va="bottom", ha="left", fontsize=7, annotation_clip=False,
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"})
    ax.set_xlabel("arithmetic intensity (MACs per byte read + written)")
    ax.set_ylabel("attained throughput (GMAC/s, MACs / measured self time)")
    ax.set_title(title or f"{traffic.model}: roofline from measured latency ({latencies.device}, {latencies.dtype}, "
                          f"batch {latencies.batch})", fontsize=10, loc="left")
    ax.grid(True, which="both", alpha=0.3)
    if mac_pts:  # beside the axes, off the data
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    return fig
