"""Text renderings of a crosscheck result (profiler.report.crosscheck), on a hand-made result: each peer's
row in its own unit, the params row only where the parameters differ, the reasons grouped and ordered."""
import re

from profiler.report.crosscheck import HEADERS, grouped_reasons, reasons_table, summary_rows, summary_table

# theirs - ours - sum(explained) == unexplained, in each peer's unit
RESULT = {
    "fvcore": {"unit": "fvcore flops (= MACs)", "convention": "fvcore", "theirs": 1_000_000, "ours": 990_000,
               "explained": [{"what": "batch norm", "layer": "bn1", "macs": 6_000},
                             {"what": "upsample", "layer": "", "macs": -1_000},
                             {"what": "batch norm", "layer": "bn2", "macs": 2_000}],
               "unexplained": 3_000,
               "params": {"theirs": 50, "ours": 50, "explained": [], "unexplained": 0}},
    "torchsummary": {"unit": "MACs", "convention": "torchsummary", "theirs": 0, "ours": 0, "explained": [],
                     "unexplained": 0,
                     "params": {"theirs": 60, "ours": 50, "unexplained": 2,
                                "explained": [{"what": "class token missed", "layer": "", "macs": 8}]}},
}


def test_summary_rows():
    assert summary_rows(RESULT) == [
        ["fvcore", "fvcore flops (= MACs)", "1,000,000", "990,000", "fvcore", "+7,000", "+3,000", "0.3000%"],
        ["torchsummary", "MACs", "0", "0", "torchsummary", "+0", "+0", "-"],  # a zero count: no share
        ["torchsummary (params)", "params", "60", "50", "unique parameters", "+8", "+2", "3.3333%"],
    ]


def test_negative_unexplained_share_is_of_its_size():
    r = {"t": dict(RESULT["fvcore"], ours=1_010_000, unexplained=-17_000)}
    assert summary_rows(r)[0][5:] == ["+7,000", "-17,000", "1.7000%"]


def test_summary_table_text():
    lines = summary_table(RESULT).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == HEADERS
    assert set(lines[1]) == {"-", " "}
    assert re.split(r"\s{2,}", lines[2].strip()) == summary_rows(RESULT)[0]
    assert len(lines) == 5
    assert summary_table(RESULT, "github").startswith("| tool ")


def test_grouped_reasons_largest_first():
    assert grouped_reasons(RESULT["fvcore"]) == [("batch norm", 2, 8_000, "bn1"), ("upsample", 1, -1_000, "(root)")]
    assert grouped_reasons({"explained": [{"what": "a", "layer": "x", "macs": -5}, {"what": "b", "layer": "y",
                                                                                  "macs": 3}]}) == [
        ("a", 1, -5, "x"), ("b", 1, 3, "y")]  # by size, whatever the sign
    assert grouped_reasons({"explained": []}) == []


def test_reasons_table():
    rows = [re.split(r"\s{2,}", line.strip()) for line in reasons_table(RESULT).splitlines()]
    assert rows[0] == ["tool", "reason (their count minus ours)", "layers", "e.g. layer", "amount"]
    assert rows[2:] == [
        ["fvcore", "batch norm", "2", "bn1", "+8,000 fvcore flops (= MACs)"],
        ["fvcore", "upsample", "1", "(root)", "-1,000 fvcore flops (= MACs)"],
        ["torchsummary (params)", "class token missed", "1", "(root)", "+8 params"],
    ]
    without = reasons_table(RESULT, params=False)
    assert "class token" not in without and "batch norm" in without


def test_reasons_when_everyone_agrees():
    r = {"torch": {"unit": "FLOPs", "theirs": 10, "ours": 10, "explained": [], "unexplained": 0}}
    assert reasons_table(r) == "(every peer agrees with our count in its convention)"


# -- the zoo-scale summary (profiler.studies.zoo_crosscheck.summarise) -----------------------------------------
ZOO = {"fvcore": {"tried": 3, "unit": "fvcore flops (= MACs)", "reconciled": 1, "within_tolerance": 2,
                  "by_status": {"reconciled": 1, "close": 1, "unexplained": 0, "peer failed": 1, "model failed": 0,
                                "timeout": 0, "memory": 0, "crashed": 0},
                  "unexplained": [{"name": "b", "pct": 0.05, "unexplained": 5, "theirs": 10_000, "detail": "l +5"}],
                  "peer_failures": [{"name": "c", "error": "RuntimeError: x | y"}], "model_failures": [],
                  "classes": {"skipped: {module} | op": {"models": 2, "layers": 7, "amount": -1_234, "example": "e",
                                                         "model": "a"}},
                  "worst": ("b", 0.05)}}


def test_zoo_markdown_per_peer():
    from profiler.report.crosscheck import zoo_markdown, zoo_text

    md = zoo_markdown(ZOO, "3 timm models", "rows.csv", command="profile-model sweep ...", title="timm", level=2)
    assert md.startswith("## timm\n") and "### fvcore (fvcore flops (= MACs))" in md
    assert re.search(r"\| fvcore +\| fvcore flops \(= MACs\) +\| 3 +\| 1 +\| 1 +\| 0 +\| 1 +\| 0 +\| 0.0500% \(b\)", md)
    # the class, its model count, layers and amount in the peer's unit; a '|' in text is escaped
    assert re.search(r"\| skipped: \{module\} \\\| op +\| 2 +\| 7 +\| -1,234 +\| a", md)
    assert "RuntimeError: x \\| y" in md and "| b " in md
    text = zoo_text(ZOO, "3 timm models", "rows.csv")
    assert "fvcore: b: +5 fvcore flops (= MACs) unexplained (+0.0500% of 10,000)" in text
    assert "fvcore failed on c: RuntimeError: x | y" in text


def test_tables_fitted_to_a_width():
    # one line per row is wider than 110 columns here; fitted to 110: the headers and the text cells (tool,
    # unit, convention; the reasons, the layers) wrap, every number stays whole
    wide = summary_table(RESULT)
    assert max(len(line) for line in wide.splitlines()) > 110
    text = summary_table(RESULT, width=110)
    assert max(len(line) for line in text.splitlines()) <= 110
    words = text.split()
    for row in summary_rows(RESULT):
        for number in row[2:4] + row[5:]:
            assert number in words
    long = {"t": dict(RESULT["fvcore"], explained=[{"what": "a reason written in many words " * 4, "layer": "l",
                                                    "macs": 7_000}])}
    text = reasons_table(long, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "+7,000 fvcore flops (= MACs)" in text  # the amount with its unit, whole
    assert text.split().count("many") == 4 and text.split().count("written") == 4  # every word kept
    assert reasons_table(long) == reasons_table(long, width=None)  # the default: one line per reason
