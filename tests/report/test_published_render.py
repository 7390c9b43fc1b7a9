"""Text renderings of a published-figures check (profiler.report.published), on hand-made results: the
counted value in the published unit with two more digits, the signed delta, the notes and the footer."""
import json

from profiler.published.check import EntryResult, FigureResult
from profiler.published.registry import Entry
from profiler.report.published import (HEADERS, fmt_counted, render_json, render_markdown, render_table, rows,
                                       stacked_rows)


def fig(metric, published, text, counted, status="ok", convention=None, unit=None, **kw):
    delta = None if counted is None else 100.0 * (counted - published) / published
    return FigureResult(metric, published, text, convention or ("macs" if metric == "macs" else "all"),
                        unit or ("MACs" if metric == "macs" else "params"), counted, delta, 0.01, status, **kw)


def entry(id_, model, **kw):
    return Entry(id=id_, model=model, input=(3, 224, 224), figures={}, source="Paper, Table 1", **kw)


OK = EntryResult(entry("A/1", "timm:mixnet_s", accuracy={"top1": 75.8}),
                 {"macs": fig("macs", 256e6, "256M", 256_920_000), "params": fig("params", 4.1e6, "4.1M", 4_134_606)},
                 "ok")
EXPLAINED = EntryResult(
    entry("B/2", "torchvision:resnet18", note="Built as in the zoo.", reported={"top5": 89.1}),
    {"macs": fig("macs", 1.8e9, "1.8G", 1_819_066_000, "explained", convention="flops", unit="FLOPs",
                 reason="the zoo's figure is rounded up")},
    "explained")
BROKEN = EntryResult(entry("C/3", "mine:net"),
                     {"macs": fig("macs", 1_234, "1,234", None, "mismatch", detail="not counted")}, "mismatch",
                     error="RuntimeError: boom")
RESULTS = [OK, EXPLAINED, BROKEN]


def test_fmt_counted():
    assert fmt_counted(fig("macs", 256e6, "256M", 256_920_000)) == "256.92M"  # 0 decimals printed -> 2
    assert fmt_counted(fig("params", 4.1e6, "4.1M", 4_134_606)) == "4.135M"  # 1 decimal printed -> 3
    assert fmt_counted(fig("macs", 1.8e9, "1.8G", 1_819_066_000)) == "1.819G"
    assert fmt_counted(fig("macs", 3.4e9, "3.4B", 3_412_000_000)) == "3.412B"  # B: billions
    assert fmt_counted(fig("macs", 12e3, "12K", 12_345)) == "12.35K"
    assert fmt_counted(fig("params", 1234, "1,234", 1234)) == "1,234"  # an exact count stays exact
    assert fmt_counted(fig("macs", 1234, "1,234", None)) == "-"


def test_rows():
    assert HEADERS[:2] == ["id", "model @ input"] and len(HEADERS) == 11
    assert rows(RESULTS) == [
        # delta: (256.92 - 256) / 256 = +0.36 %; (4,134,606 - 4.1e6) / 4.1e6 = +0.84 %
        ["A/1", "timm:mixnet_s @ 224x224", "256M MACs [macs]", "256.92M", "+0.36", "ok",
         "4.1M params [all]", "4.135M", "+0.84", "ok", "ok"],
        # (1,819,066,000 - 1.8e9) / 1.8e9 = +1.06 %; no params figure: empty cells
        ["B/2", "torchvision:resnet18 @ 224x224", "1.8G FLOPs [flops]", "1.819G", "+1.06", "explained",
         "", "", "", "", "explained"],
        ["C/3", "mine:net @ 224x224", "1,234 MACs [macs]", "-", "-", "mismatch", "", "", "", "", "mismatch"],
    ]


def test_render_table():
    out = render_table(RESULTS, width=None)  # one line per entry, whatever its width
    lines = out.splitlines()
    assert lines[0].split() == ["id", "model", "@", "input", "MACs", "published", "counted", "delta", "%", "status",
                                "params", "published", "counted", "delta", "%", "status", "entry"]
    assert lines[-5:] == [
        "Differences (explained or not):",
        "  B/2 (explained): macs: the zoo's figure is rounded up",
        "  C/3 (mismatch): macs MISMATCH: not counted error: RuntimeError: boom",
        "",
        "3 entries: 1 ok, 1 explained, 1 mismatch",
    ]
    assert lines[-6] == ""  # a blank line after the table
    assert "A/1 (" not in out  # an ok entry has no note


def test_stacked_rows():
    # the same figures as test_rows, a line per figure: the id and entry status over the model and input
    assert stacked_rows(RESULTS) == [
        ["A/1 (ok)\n  timm:mixnet_s @ 224x224", "MACs [macs]\nparams [all]", "256M\n4.1M", "256.92M\n4.135M",
         "+0.36\n+0.84", "ok\nok"],
        ["B/2 (explained)\n  torchvision:resnet18 @ 224x224", "FLOPs [flops]", "1.8G", "1.819G", "+1.06", "explained"],
        ["C/3 (mismatch)\n  mine:net @ 224x224", "MACs [macs]", "1,234", "-", "-", "mismatch"],
    ]


def test_render_table_fits_the_width():
    wide = render_table(RESULTS, width=None)
    assert max(len(line) for line in wide.splitlines()) > 120  # so the default text is the stacked one
    out = render_table(RESULTS)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert lines[0].split() == ["id", "(entry", "status)", "figure", "published", "counted", "delta", "%", "status"]
    assert lines[1].strip() == "model @ input"
    assert lines[3].split() == ["A/1", "(ok)", "MACs", "[macs]", "256M", "256.92M", "+0.36", "ok"]
    assert lines[4].split() == ["timm:mixnet_s", "@", "224x224", "params", "[all]", "4.1M", "4.135M", "+0.84", "ok"]
    assert out.endswith("\n\n3 entries: 1 ok, 1 explained, 1 mismatch")
    # a note wider than the width wraps under itself; every word kept
    long = EntryResult(EXPLAINED.entry, {"macs": fig("macs", 1.8e9, "1.8G", 1_819_066_000, "explained",
                                                     reason="word " * 60)}, "explained")
    notes = render_table([long], width=80).split("Differences (explained or not):\n")[1].split("\n\n")[0]
    assert max(len(line) for line in notes.splitlines()) <= 80 and len(notes.splitlines()) > 1
    assert notes.split() == ["B/2", "(explained):", "macs:"] + ["word"] * 60
    assert all(line.startswith("      ") for line in notes.splitlines()[1:])


def test_render_table_all_ok_has_no_differences():
    out = render_table([OK])
    assert "Differences" not in out and out.endswith("\n\n1 entries: 1 ok, 0 explained, 0 mismatch")


def test_render_markdown():
    out = render_markdown(RESULTS, preamble="Made by hand.\n")
    assert out.startswith("# Published figures vs counted\n\nMade by hand.\n\n"
                          "**3 entries: 1 ok, 1 explained, 1 mismatch.**\n\n| id ")
    lines = out.splitlines()
    assert "| A/1  | timm:mixnet_s @ 224x224" in out and "| 256.92M " in out
    assert lines[lines.index("## Differences") + 2:lines.index("## Differences") + 4] == [
        "- `B/2` (explained): macs: the zoo's figure is rounded up",
        "- `C/3` (mismatch): macs MISMATCH: not counted error: RuntimeError: boom",
    ]
    assert out.endswith("## Sources and notes\n\n"
                        "- `A/1`: Paper, Table 1; top1 75.8.\n"
                        "- `B/2`: Paper, Table 1; also reported: top5 89.1. Built as in the zoo.\n"
                        "- `C/3`: Paper, Table 1.\n")
    assert render_markdown([OK], title="Mine").startswith("# Mine\n\n**1 entries")


def test_render_json():
    doc = json.loads(render_json(RESULTS))
    assert [d["id"] for d in doc] == ["A/1", "B/2", "C/3"]
    assert doc[0]["counted"] == {"macs": 256_920_000, "params": 4_134_606}
    assert doc[1]["explained"] == {"macs": "the zoo's figure is rounded up"}
    assert doc[2]["error"] == "RuntimeError: boom" and doc[2]["status"] == "mismatch"
