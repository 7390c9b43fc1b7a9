"""Text of a formula check (:func:`profiler.analysis.formula_check.formula_check`): our exact training-step FLOPs
beside each framework's formula, every named difference in % of ours; and the MFU each gives for a measured
step. Every number says its unit; FLOPs = 2 x MACs throughout. Nothing here counts."""
from __future__ import annotations

from profiler.report import format as F
from profiler.report.textfit import TEXT_WIDTH, fit_table, wrap_item


def _pct(part: float, whole: float) -> str:
    """``part`` in % of ``whole`` with its sign, four decimals; an exact 0 as ``0``."""
    if not whole:
        return "-"
    return "0" if part == 0 else f"{100.0 * part / whole:+.4f} %"


def _names(report) -> list[str]:
    seen: list[str] = []
    for check in report.checks:
        for d in check.differences:
            if d.what not in seen:
                seen.append(d.what)
    return seen


def formula_rows(report, seconds: float | None = None, peak_tflops: float | None = None) -> list[list[str]]:
    """Rows of the table: the formula's FLOPs, ours - formula, each named part and the unexplained rest (each in
    % of ours), then (with a measured step) the MFU each count gives."""
    ours = report.ours_flops
    checks = report.checks
    rows = [["the formula's step FLOPs"] + [F.count(c.estimate.flops) for c in checks],
            ["ours - the formula, % of ours"] + [_pct(c.ours - c.estimate.flops, ours) for c in checks]]
    for name in _names(report):
        cells = []
        for c in checks:
            d = next((d for d in c.differences if d.what == name), None)
            cells.append("n/a" if d is None else _pct(d.flops, ours))
        rows.append(["· " + name] + cells)
    rows.append(["unexplained (FLOPs)"] + [F.count(c.unexplained) for c in checks])
    if seconds and peak_tflops:
        from profiler.analysis.mfu import flops_mfu

        rows.append([f"MFU at {seconds:g} s per step on {peak_tflops:g} TFLOP/s (ours: "
                     f"{100 * flops_mfu(ours, seconds, peak_tflops * 1e12):.2f} %)"]
                    + [f"{100 * flops_mfu(c.estimate.flops, seconds, peak_tflops * 1e12):.2f} %" for c in checks])
    return rows


def formula_table(report, seconds: float | None = None, peak_tflops: float | None = None,
                  tablefmt: str = "simple", width: int | None = TEXT_WIDTH) -> str:
    """The table (tabulate ``tablefmt``), its first column wrapped to fit ``width`` (None: as it is)."""
    headers = [f"FLOPs of one step, {report.batch} x {report.seq} tokens"] + [c.estimate.name for c in report.checks]
    return fit_table(formula_rows(report, seconds, peak_tflops), headers, width, wrap=(0,), tablefmt=tablefmt,
                     colalign=("left",) + ("right",) * len(report.checks))


def formula_notes(report, width: int | None = TEXT_WIDTH) -> str:
    """What ours and each formula count, their sources, and the element ops neither counts."""
    lines = [wrap_item("ours: ", f"{F.count(report.ours_flops)} FLOPs = 2 x {F.count(report.ours_macs)} MACs "
                       "(conv + linear + attention + recurrent, every phase of the step; bias and element ops not "
                       "counted)", width)]
    for c in report.checks:
        lines.append(wrap_item(f"{c.estimate.name}: ", f"{c.estimate.includes}. Source: {c.estimate.source}", width))
    lines.append(wrap_item("6N's N: ", f"{F.count(report.n_params)} parameters (all but position embeddings, as "
                           "nanoGPT's get_num_params(); routed experts at k/E)", width))
    if report.outside:
        parts = ", ".join(f"{c} {F.scaled(n, 'ops')} ({100.0 * n / report.ours_flops:.4f} % of ours)"
                          for c, n in report.outside.items())
        lines.append(wrap_item("in neither count: ", f"element ops {parts}", width))
    lines.append(wrap_item("sign: ", "+ where we count more than the formula, - where it counts more; the parts "
                           "and the unexplained rest add up to ours - the formula", width))
    return "\n".join(lines)


def formula_section(report, seconds: float | None = None, peak_tflops: float | None = None,
                    width: int | None = TEXT_WIDTH) -> tuple[str, str]:
    """``(title, text)`` for the profile command's page."""
    text = formula_table(report, seconds, peak_tflops, width=width) + "\n\n" + formula_notes(report, width)
    return "Cross-check with the frameworks' FLOPs formulas (FLOPs = 2 x MACs, % of ours)", text


def formula_record(report, seconds: float | None = None, peak_tflops: float | None = None) -> dict:
    """The JSON record (``result["crosscheck_formulas"]``)."""
    from profiler.analysis.mfu import flops_mfu

    out = {"unit": "FLOPs (2 x MACs)", "batch": report.batch, "seq": report.seq, "ours": report.ours_flops,
           "n_params": report.n_params, "outside_element_ops": dict(report.outside), "formulas": {}}
    for c in report.checks:
        rec = {"theirs": c.estimate.flops, "includes": c.estimate.includes, "source": c.estimate.source,
               "terms": dict(c.estimate.terms), "explained": [{"what": d.what, "flops": d.flops}
                                                               for d in c.differences],
               "unexplained": c.unexplained}
        if seconds and peak_tflops:
            rec["mfu"] = flops_mfu(c.estimate.flops, seconds, peak_tflops * 1e12)
        out["formulas"][c.estimate.name] = rec
    return out


def mfu_section(report, seconds: float, peak_tflops: float, accelerator: str | None = None, dtype: str = "bf16",
                width: int | None = TEXT_WIDTH) -> tuple[str, str]:
    """``(title, text)``: the MFU of one measured step by our count and by each formula, side by side."""
    from profiler.analysis.mfu import flops_mfu

    peak = peak_tflops * 1e12
    counts = [("ours (2 x MACs)", report.ours_flops)] + [(c.estimate.name, c.estimate.flops) for c in report.checks]
    rows = [[name, F.count(n), f"{100 * flops_mfu(n, seconds, peak):.2f} %"] for name, n in counts]
    where = f"{accelerator}'s dense {dtype} peak, " if accelerator else "a peak of "
    table = fit_table(rows, ["count", "FLOPs per step", "MFU"], width, wrap=(0,), colalign=("left", "right", "right"))
    note = wrap_item("MFU = ", f"FLOPs per step / {seconds:g} s / {where}{peak_tflops:g} TFLOP/s; each formula's "
                     "differences from ours: --crosscheck formulas", width)
    return "Model FLOPs utilisation by each count", table + "\n" + note
