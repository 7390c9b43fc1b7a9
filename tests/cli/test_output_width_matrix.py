"""Every default text output of ``profile-model`` fits a 120-column terminal (issue 25): one parametrized test
over the matrix of commands (the per-layer table under every convention, --by kind, --train with the MFU,
--generate, several --input lengths, --crosscheck, --separable, --traffic, --format tree, check, list, sweep,
pareto), each run in-process through ``profiler.cli.main`` on small models (shapes only where the command
allows it). Long notes wrap under their key and wide tables wrap their text cells; no line may be wider.

The default per-layer page is bounded in length too: its table folds to about ``AUTO_ROWS`` rows and its
footer (the ``key  value`` block under the table: total, coverage, folded, legend ...) takes at most 6 lines.
"""
import pytest

import profiler
from profiler.cli import main
from profiler.core.rows import AUTO_ROWS

WIDTH = 120  # the terminal every default text output fits
FOOTER_LINES = 6  # the default page's footer, at most
TABLE_CHROME = 7  # lines of the table besides its rows: up to 3 header lines, 2 rules, the totals row, a spare

GPT2 = ["hf:gpt2", "--kwargs", "n_layer=2"]  # 2 layers of GPT-2's default config: seconds, on meta

#: (id, argv, page): page = the default per-layer page, whose footer and table length are bounded too.
#: "{tmp}" is replaced by the test's temporary folder (files a command writes or reads).
MATRIX = [
    *[(f"convention-{name}", ["mixnet_s", "--convention", name], True)
      for name in sorted(c if isinstance(c, str) else c.name for c in profiler.list_conventions())],
    ("resnet18-depth-2", ["torchvision:resnet18", "--depth", "2"], True),
    ("gpt2-table", GPT2, True),
    ("by-kind", ["mixnet_s", "--by", "kind"], False),
    ("by-type-fvcore", ["torchvision:resnet18", "--by", "type", "--convention", "fvcore"], False),
    ("train-mfu", ["torchvision:resnet18", "--train", "--optimizer", "adamw", "--loss", "cross-entropy",
                   "--step-time", "0.5", "--peak-tflops", "989"], False),
    # a language model's step: long module paths and a column per phase (143 wide before the phases could go)
    ("train-llama", ["hf:llama", "--kwargs", "num_hidden_layers=2", "--train"], False),
    ("generate", GPT2 + ["--generate", "8"], False),
    ("generate-fvcore-sampled", GPT2 + ["--generate", "40", "--convention", "fvcore"], False),
    ("lengths", GPT2 + ["--input", "128,512,2048"], False),  # 2,048 > GPT-2's 1,024 positions: a long note
    ("lengths-all", GPT2 + ["--input", "128,4096", "--convention", "all"], False),
    ("crosscheck", ["blocks_mnist_plain", "--crosscheck"], False),
    ("separable", ["mixnet_s", "--separable"], False),
    ("traffic", ["mixnet_s", "--traffic"], False),
    ("traffic-top", GPT2 + ["--traffic", "--traffic-top", "5"], False),
    ("tree", ["mixnet_s", "--format", "tree"], False),
    ("tree-gpt2", GPT2 + ["--format", "tree"], False),
    ("check", ["check"], False),  # the package registry: 138 entries, about 12 s
    ("list", ["list", "mobilenet"], False),
    ("list-sizes", ["list", "--sizes", "--zoo", "torchvision", "resnet"], False),
    ("sweep-crosscheck", ["sweep", "--zoo", "builtin", "--only", "blocks_mnist_plain", "--crosscheck", "fvcore",
                          "--output", "{tmp}/sweep.csv", "--markdown", "{tmp}/sweep.md", "--no-progress"], False),
    ("pareto", ["pareto", "--csv", "{tmp}/models.csv", "--output", "{tmp}/pareto.png"], False),
]

#: A frontier with long names, sources and a merged duplicate, and a model without MACs ("not shown").
PARETO_CSV = ("model,family,top1,macs,params,source\n"
              + "".join(f"an_uncommonly_long_model_name_number_{i}_for_the_width_test,family_with_a_long_name_{i},"
                        f"{60 + 2 * i},{(i + 1) * 10 ** 8},{(i + 1) * 10 ** 6},"
                        f"a long citation: Somebody et al. (2024) table {i} row {i} of the supplementary material\n"
                        for i in range(8))
              + "an_uncommonly_long_model_name_number_3_for_the_width_test,family_with_a_long_name_3,"
                "66,400000000,4000000,the same model quoted by another table with a long citation as well\n"
              + "no_macs_model_with_a_rather_long_name_as_well,family_x,70,,1000000,nowhere\n")


def _paragraphs(out: str) -> list[list[str]]:
    return [p.splitlines() for p in out.strip("\n").split("\n\n") if p.strip()]


def _is_rule(line: str) -> bool:
    return bool(line.strip()) and set(line) <= {"-", " "}


@pytest.mark.parametrize("argv,page", [pytest.param(a, p, id=i) for i, a, p in MATRIX])
def test_default_output_fits_120_columns(argv, page, capsys, tmp_path):
    (tmp_path / "models.csv").write_text(PARETO_CSV)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) > 1
    wide = [f"{len(line)}: {line}" for line in lines if len(line) > WIDTH]
    assert not wide, f"{len(wide)} line(s) wider than {WIDTH} columns:\n" + "\n".join(wide[:5])
    if not page:
        return
    # header, table, footer: the table is the paragraph with the rules, the footer the one after it
    paras = _paragraphs(out)
    (at,) = [i for i, p in enumerate(paras) if any(_is_rule(line) for line in p)]
    table, footer = paras[at], paras[at + 1]
    assert len(table) <= AUTO_ROWS + TABLE_CHROME, f"the default table has {len(table)} lines"
    assert footer[0].startswith("total "), footer[0]
    assert len(footer) <= FOOTER_LINES, (f"the default footer has {len(footer)} lines, more than {FOOTER_LINES}:\n"
                                         + "\n".join(footer))
