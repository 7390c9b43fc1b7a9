"""``profile-model``'s default text output: a short footer (totals, coverage, what was folded, a one-line
legend), the full legend under ``--legend`` and in files, and every line within 120 columns.

Expected counts come from the models' own module trees or from closed forms written here, not from our output.
"""
import pytest

from profiler.cli import main

HEADLINE = ["mixnet_s", "--input", "224"]
WIDTH = 120  # what the CLI promises its default text output fits (profiler.report.page.TEXT_WIDTH)

# A two-layer MLP in a nested Sequential, on a 1x1x2x2 input (--input 1x2x2) flattened to 4: 4 -> 8 -> 2, biases.
NET = """
import torch.nn as nn

def build():
    return nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)))
"""
INPUT = ["--input", "1x2x2"]
MLP_MACS = 4 * 8 + 8 * 2  # 48: bias not counted
MLP_PARAMS = 4 * 8 + 8 + 8 * 2 + 2  # 58


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _footer(out):
    """The footer's lines: after the per-layer table's totals row (the row under its last dashes)."""
    lines = out.rstrip("\n").splitlines()
    last_dashes = max(i for i, s in enumerate(lines) if s.startswith("---"))
    return [s for s in lines[last_dashes + 2:] if s.strip()]


def _item(footer, key):
    """A footer item's text, its wrapped lines joined ("" when absent)."""
    for i, s in enumerate(footer):
        if s.startswith(key + " "):
            text = [s[len(key):].strip()]
            for more in footer[i + 1:]:
                if not more.startswith("   "):
                    break
                text.append(more.strip())
            return " ".join(text)
    return ""


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "mlp.py"
    path.write_text(NET)
    return f"{path}:build"


def test_headline_footer_is_short_and_keeps_every_number_with_its_unit(capsys):
    pytest.importorskip("timm")
    code, out, err = run(capsys, *HEADLINE)
    assert code == 0 and err == ""
    footer = _footer(out)
    assert len(footer) <= 6, "\n".join(footer)
    assert [s.split()[0] for s in footer if not s.startswith(" ")] == ["total", "coverage", "folded", "legend"]
    assert "239,173,360 MACs [macs] = 239.17 M MACs" in _item(footer, "total")
    assert "4,134,606 params = 4.13 M params" in _item(footer, "total")
    legend = _item(footer, "legend")
    assert "[x]: the subtree's total" in legend and "hidden to fit 120 columns (--wide)" in legend
    assert "--legend" in legend
    # the long prose is not repeated every run
    assert "\ncolumns " not in out and "\nrows " not in out
    assert max(len(s) for s in out.splitlines()) <= WIDTH


def test_legend_flag_shows_the_full_legend(capsys):
    pytest.importorskip("timm")
    code, out, _ = run(capsys, *HEADLINE, "--legend")
    assert code == 0 and max(len(s) for s in out.splitlines()) <= WIDTH
    footer = _footer(out)
    columns, rows = _item(footer, "columns"), _item(footer, "rows")
    assert "MACs [macs]: the row's own MACs under convention 'macs'" in columns
    assert "not shown, to fit 120 columns (--wide shows them)" in columns
    assert "in brackets its subtree's total" in rows and "[1.23G]" in rows and "add up to 100" in rows
    assert _item(footer, "legend") == ""  # the one-line legend gives way to the full one


@pytest.mark.parametrize("suffix", ["txt", "md"])
def test_files_keep_the_legend(capsys, tmp_path, net, suffix):
    target = tmp_path / f"r.{suffix}"
    code, _, _ = run(capsys, net, *INPUT, "--output", str(target))
    text = " ".join(target.read_text().split())
    assert code == 0 and "in brackets its subtree's total" in text and "add up to 100" in text
    # the subtree totals themselves: the root and the inner Sequential own nothing, their subtrees all of it
    assert f"[{MLP_MACS}]" in text and f"[{MLP_PARAMS}]" in text


def test_a_count_under_1000_is_not_repeated(capsys, net):
    code, out, _ = run(capsys, net, *INPUT)
    total = _item(_footer(out), "total")
    assert code == 0 and total.startswith(f"{MLP_MACS} MACs [macs]; {MLP_PARAMS} params (all trainable)")
    assert f"{MLP_PARAMS} params = " not in total and f"= {MLP_MACS} MACs" not in total


@pytest.mark.parametrize("argv", [
    ["torchvision:resnet50", "--depth", "2"],
    ["hf:llama", "--kwargs", "num_hidden_layers=2"],
    ["hf:gpt2", "--input", "128,256,512"],  # several lengths: one forward pass each, a page of its own
], ids=["resnet50-depth2", "llama-2-layers", "gpt2-lengths"])
def test_default_text_fits_120_columns(capsys, argv):
    pytest.importorskip("torchvision" if argv[0].startswith("torchvision") else "transformers")
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == ""
    # characters = terminal columns: the tables indent with no-break spaces, one column (two bytes) each
    assert max(len(s) for s in out.splitlines()) <= WIDTH
    if "--depth" in argv or "--kwargs" in argv:
        assert len(_footer(out)) <= 6
