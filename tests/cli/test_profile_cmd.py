"""``profile-model MODEL``: zoo and user models, every option, the JSON contract, and the bad inputs
(one line, exit 2; a failing forward exits 1 naming the layer; no traceback unless --debug).

Expected numbers are closed-form costs of tiny models written here."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types

import pytest

from profiler.cli import main, profile_cmd
from profiler.core.engine import ProfilingError

NET = textwrap.dedent("""
    import torch
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, width=8, num_classes=10, broken=False, data_dependent=False):
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3, padding=1, bias=False)
            self.head = nn.Linear(width * 16 * 16 + int(broken), num_classes)
            self.data_dependent = data_dependent

        def forward(self, x):
            y = self.conv(x)
            if self.data_dependent and y.sum().item() > 1e30:  # a value the meta device does not have
                y = y * 2
            return self.head(y.flatten(1))

    def build(width=8, **kw):
        return Net(width, **kw)
    """)


def conv_macs(width, side=16):
    return width * 3 * 9 * side * side


def head_macs(width, classes=10, side=16):
    return width * side * side * classes


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(NET)
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_zoo_model_table(capsys):
    code, out, err = run(capsys, "blocks_mnist_plain")
    assert code == 0 and err == ""
    assert "built by builtin as builtin:blocks_mnist_plain" in out
    assert "1x1x28x28 (batch 1)" in out  # the builtin registry's default input (MNIST)
    assert "MACs [macs]" in out and "params" in out  # the terminal's short headers ...
    assert "convention  macs = multiply-accumulates" in out
    assert "--legend: all columns" in " ".join(out.split())  # ... explained under --legend
    code, out, _ = run(capsys, "blocks_mnist_plain", "--legend")
    assert code == 0 and "%: the row's share of the total in the column to its left" in " ".join(out.split())
    code, out, _ = run(capsys, "blocks_mnist_plain", "--wide")  # the long headers
    assert code == 0 and "MACs [macs]" in out and "% MACs" in out and "% params" in out


def test_user_file_factory_kwargs_json(capsys, net):
    code, out, _ = run(capsys, f"{net}:build", "--kwargs", "width=4", "num_classes=3", "--input", "3x16x16",
                       "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert {"model", "zoo", "input", "convention", "macs", "params", "layers", "by_kind", "coverage"} <= set(doc)
    assert doc["zoo"] == "user" and doc["model"] == f"{net}:build" and doc["input"] == {"kind": "tensor", "shapes": [[1, 3, 16, 16]], "batch": 1}
    assert doc["macs"] == conv_macs(4) + head_macs(4, 3)
    assert doc["params"] == 4 * 27 + 4 * 256 * 3 + 3
    assert doc["by_kind"]["conv"] == {"macs": conv_macs(4), "params": 108}
    assert doc["by_kind"]["linear"]["macs"] == head_macs(4, 3)
    assert doc["coverage"] == [] and doc["device"] == "meta"


def test_module_factory_and_literal_kwargs(capsys, tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, _ = run(capsys, "mypkg.nets:Net", "--kwargs", "width=2", "num_classes=(5)", "--input", "16",
                       "--batch", "2", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["input"] == {"kind": "tensor", "shapes": [[2, 3, 16, 16]], "batch": 2} and doc["macs"] == 2 * (conv_macs(2) + head_macs(2, 5))


def test_depth_top_by_kind_summary_and_formats(capsys, net):
    base = [f"{net}:build", "--input", "16"]
    code, out, _ = run(capsys, *base, "--format", "csv", "--depth", "0")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("path,depth,type,kind") and len(lines) == 3  # root + total
    total = conv_macs(8) + head_macs(8)
    assert f",{total}," in lines[1] and lines[2].startswith("total")

    code, out, _ = run(capsys, *base, "--top", "1", "--format", "markdown")
    assert code == 0 and "| conv" in out and "(2 other modules)" in out and "**100.00**" in out

    code, out, _ = run(capsys, *base, "--by", "kind")
    assert code == 0
    conv_line = next(s for s in out.splitlines() if s.startswith("conv "))
    assert f"{conv_macs(8):,}" in conv_line and f"{100 * conv_macs(8) / total:.2f}" in conv_line

    code, out, _ = run(capsys, *base, "--summary")
    assert code == 0 and "Conv2d-1" in out and "Linear-2" in out and "Params size (MB)" in out

    code, out, _ = run(capsys, *base, "--format", "html")
    assert code == 0 and out.startswith("<!doctype html>") and "<details" in out

    code, out, _ = run(capsys, *base, "--format", "tree", "--convention", "flops")
    assert code == 0 and "(100.000% FLOPs)" in out and "FLOPs under convention 'flops'" in out


def test_output_file_format_from_suffix(capsys, net, tmp_path):
    target = tmp_path / "report.json"
    code, out, err = run(capsys, f"{net}:build", "--input", "16", "--output", str(target))
    assert code == 0 and out == "" and "wrote the json report" in err
    assert json.loads(target.read_text())["macs"] == conv_macs(8) + head_macs(8)


def test_every_wrote_message_goes_to_stderr(capsys, net, tmp_path):
    """--plot, --output and both together: "wrote FILE" on stderr, never in the report (issue 25)."""
    png, target = tmp_path / "layers.png", tmp_path / "report.md"
    code, out, err = run(capsys, f"{net}:build", "--input", "16", "--plot", str(png))
    assert code == 0 and f"wrote {png}" not in out and "Plot" not in out and png.exists()
    assert err == f"profile-model: wrote {png} (per layer, MACs [convention 'macs'] and parameters)\n"
    code, out, err = run(capsys, f"{net}:build", "--input", "16", "--plot", str(png), "--output", str(target))
    assert code == 0 and out == "" and f"wrote {png}" not in target.read_text()
    assert err.splitlines() == [f"profile-model: wrote the markdown report to {target}",
                                f"profile-model: wrote {png} (per layer, MACs [convention 'macs'] and parameters)"]


def test_meta_falls_back_to_cpu_with_a_note(capsys, net):
    code, out, _ = run(capsys, f"{net}:build", "--kwargs", "data_dependent=True", "--input", "16",
                       "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["device"] == "cpu" and doc["macs"] == conv_macs(8) + head_macs(8)
    assert any("the pass failed on meta" in n and "on the CPU" in n for n in doc["notes"])
    code, out, err = run(capsys, f"{net}:build", "--kwargs", "data_dependent=True", "--input", "16",
                         "--device", "meta")
    assert code == 1 and "forward pass failed" in err  # --device meta was asked for: no fallback


def test_real_cpu_pass_agrees_with_meta(capsys, net):
    counts = []
    for device in ("cpu", "meta"):
        code, out, _ = run(capsys, f"{net}:build", "--input", "16", "--device", device, "--format", "json")
        counts.append((json.loads(out)["macs"], json.loads(out)["device"]))
    assert counts == [(conv_macs(8) + head_macs(8), "cpu"), (conv_macs(8) + head_macs(8), "meta")]


BAD = [
    (["blocks_mnist_plan"], "did you mean: builtin:blocks_mnist_plain"),
    (["blocks_mnist_plain", "--input", "0"], "--input"),
    (["blocks_mnist_plain", "--input", "-3"], "--input"),
    (["blocks_mnist_plain", "--input", "abc"], "--input"),
    (["blocks_mnist_plain", "--input", "1x1x28x28"], "has 4 numbers"),  # the batch is not part of --input
    (["blocks_mnist_plain", "--convention", "nope"], "unknown convention 'nope'"),
    (["blocks_mnist_plain", "--device", "tpu"], "--device"),
    (["blocks_mnist_plain", "--format", "xml"], "--format"),
    (["blocks_mnist_plain", "--batch", "0"], "--batch"),
    (["blocks_mnist_plain", "--depth", "-1"], "--depth"),
    (["blocks_mnist_plain", "--depth", "every"], "integer >= 0 or 'all'"),
    (["blocks_mnist_plain", "--top", "0"], "--top"),
    (["blocks_mnist_plain", "--by", "colour"], "--by"),
    (["blocks_mnist_plain", "--kwargs", "oops"], "key=value"),
    (["nozoo:blocks_mnist_plain"], "nozoo"),
    (["blocks_mnist_plain", "--nonsense"], "unrecognized arguments"),
    # extension options are checked while parsing, before the (here unknown) model is looked up
    (["no_such_model_xyz", "--traffic", "--traffic-top", "0"], "--traffic-top"),
    (["no_such_model_xyz", "--latency", "--runs", "0"], "--runs"),
    (["no_such_model_xyz", "--latency", "--warmup", "-1"], "--warmup"),
    (["no_such_model_xyz", "--latency", "--latency-top", "x"], "--latency-top"),
    (["no_such_model_xyz", "--output", "/no_such_dir_xyz/r.json"], "folder '/no_such_dir_xyz' does not exist"),
    (["no_such_model_xyz", "--plot", "/no_such_dir_xyz/r.png"], "--plot"),
]


@pytest.mark.parametrize("argv,needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_one_line_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert needle in err


def test_bad_user_specs(capsys, net, tmp_path):
    for spec, needle in [(f"{net}:buld", "did you mean"), (str(tmp_path / "none.py") + ":build", "no such file"),
                         ("no_such_module_xyz.sub:build", "cannot import")]:
        code, out, err = run(capsys, spec, "--input", "16")
        assert code == 2 and err.count("\n") == 1 and needle in err, (spec, err)


def test_failing_forward_exit_1_names_the_layer(capsys, net):
    code, out, err = run(capsys, f"{net}:build", "--kwargs", "broken=True", "--input", "16")
    assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "module 'head' (Linear)" in err and "[[1, 2048]]" in err and "--debug" in err


def test_debug_shows_the_exception(net):
    with pytest.raises(ProfilingError, match="head"):
        main([f"{net}:build", "--kwargs", "broken=True", "--input", "16", "--debug"])


def test_extensions_get_the_context(capsys, net):
    seen = {}

    def add_arguments(parser):
        parser.add_argument("--fake", action="store_true")

    def apply(args, ctx):
        seen.update(inputs=ctx.inputs, source=ctx.profile.source, fake=args.fake)
        ctx.result["fake"] = {"macs_seen": ctx.profile.macs}
        ctx.sections.append(("Fake section", "fake text"))

    ext = types.SimpleNamespace(add_arguments=add_arguments, apply=apply)
    argv = [f"{net}:build", "--input", "16", "--fake"]
    assert profile_cmd.main(argv + ["--format", "json"], {}, [ext]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fake"] == {"macs_seen": doc["macs"]} and seen["fake"] is True
    # the pass ran on meta, the extension still gets a real tensor of the profiled shape
    assert seen["inputs"].device.type == "cpu" and list(seen["inputs"].shape) == [1, 3, 16, 16]
    assert seen["source"].zoo == "user" and seen["source"].build == "meta"
    assert profile_cmd.main(argv, {}, [ext]) == 0
    assert "Fake section\nfake text" in capsys.readouterr().out


def test_console_script(net):
    exe = shutil.which("profile-model", path=os.path.dirname(sys.executable)) or shutil.which("profile-model")
    if exe is None:
        pytest.skip("the profile-model console script is not installed")
    ok = subprocess.run([exe, f"{net}:build", "--input", "16", "--format", "json"], capture_output=True,
                        text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["macs"] == conv_macs(8) + head_macs(8)
    bad = subprocess.run([exe, f"{net}:build", "--input", "0"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.count("\n") == 1
    assert "Traceback" not in bad.stderr


def test_cuda_without_a_gpu_is_a_usage_error(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = run(capsys, "blocks_mnist_plain", "--device", "cuda")
    assert code == 2 and out == "" and err.count("\n") == 1 and "no CUDA device" in err


def test_device_meta_builds_shape_only_and_rebuilds_for_extensions(capsys, net, monkeypatch):
    seen = {}

    class Ext:
        @staticmethod
        def add_arguments(parser):
            pass

        @staticmethod
        def apply(args, ctx):
            seen["built"] = ctx.profile.source.build
            real = ctx.real_model()
            seen["real"] = {p.device.type for p in real.parameters()}
            seen["width"] = real.conv.out_channels

    code = profile_cmd.main([f"{net}:build", "--kwargs", "width=4", "--input", "16", "--device", "meta"],
                            {}, [Ext])
    capsys.readouterr()
    assert code == 0
    # nothing allocated at construction; extensions that run real kernels get real weights, same --kwargs
    assert seen == {"built": "meta", "real": {"cpu"}, "width": 4}


def test_extension_tables_are_plain_text_in_every_page_format(capsys, tmp_path):
    # Sections are shown preformatted (<pre> in HTML, a fenced block in Markdown): an HTML table escaped into
    # <pre> would show its markup, and --format markdown must give what an .md --output gives.
    argv = ["blocks_mnist_mobile_v1", "--separable"]
    code, out, _ = run(capsys, *argv, "--format", "html")
    assert code == 0 and "&lt;table" not in out and "counted ratio" in out
    code, md, _ = run(capsys, *argv, "--format", "markdown")
    target = tmp_path / "r.md"
    assert code == 0 and run(capsys, *argv, "--output", str(target))[0] == 0
    assert target.read_text() == md
    section = md.split("### Depthwise separable pairs")[1]
    assert "counted ratio" in section and "|--" not in section


# -- the headline command's terminal view fits a screen (issue 16) ------------------------------------------
# Expected row counts and folded modules come from timm's own module tree (named_modules), not from our output.
HEADLINE = ["mixnet_s", "--input", "224"]


@pytest.fixture(scope="module")
def mixnet_depths():
    timm = pytest.importorskip("timm")
    names = [name for name, _ in timm.create_model("mixnet_s").named_modules()]
    return [0 if not name else name.count(".") + 1 for name in names]


def _body(out):
    """The per-layer table's rows: between the header's dashes and the dashes above the totals."""
    lines = out.splitlines()
    start = next(i for i, s in enumerate(lines) if s.startswith("module "))
    end = next(i for i in range(start + 2, len(lines)) if lines[i].startswith("---"))
    return lines[start + 2:end]


def _footer(out, key):
    """A footer item's text, its wrapped lines joined."""
    lines = out.splitlines()
    i = next(i for i, s in enumerate(lines) if s.startswith(key + " "))
    text = [lines[i][len(key):].strip()]
    for s in lines[i + 1:]:
        if not s.startswith("   "):
            break
        text.append(s.strip())
    return " ".join(text)


def test_headline_fits_a_screen(capsys, mixnet_depths):
    code, out, err = run(capsys, *HEADLINE)
    assert code == 0 and err == ""
    assert max(len(s) for s in out.splitlines()) <= 120
    total = len(mixnet_depths)
    # the deepest depth whose table has <= 60 rows (computed here from timm's module tree)
    depth = max(d for d in range(1, max(mixnet_depths) + 1) if sum(x <= d for x in mixnet_depths) <= 60)
    shown = sum(x <= depth for x in mixnet_depths)
    body = _body(out)
    assert len(body) == shown <= 60 and shown < total
    folded = _footer(out, "folded")
    assert folded.startswith(f"{total - shown} of {total} modules folded into depth-{depth} rows")
    assert "--depth all shows them all" in folded
    # every printed number keeps its unit and convention: the cost header, the totals; the one-line legend
    # names the columns left out (the full legend is --legend's, tests/cli/test_footer_legend.py)
    assert "MACs [macs]" in out.split("\nmodule ")[1].splitlines()[0]
    legend = _footer(out, "legend")
    assert "hidden to fit 120 columns (--wide)" in legend and "--legend" in legend
    assert "239,173,360 MACs [macs] = 239.17 M MACs" in out and "coverage  complete" in out


def test_headline_wide_and_depth_all(capsys, mixnet_depths):
    code, out, _ = run(capsys, *HEADLINE, "--depth", "all")
    assert code == 0 and len(_body(out)) == len(mixnet_depths) and "\nfolded " not in out
    assert max(len(s) for s in out.splitlines()) <= 120
    code, wide, _ = run(capsys, *HEADLINE, "--depth", "all", "--wide")
    assert code == 0 and len(_body(wide)) == len(mixnet_depths)
    assert "output activations (elements)" in wide and "kernel/stride/groups" in wide and "% MACs" in wide
    assert max(len(s) for s in wide.splitlines()) > 120 and "\ncolumns " not in wide
    # --depth N is honoured as before, and says what it folded
    code, out, _ = run(capsys, *HEADLINE, "--depth", "2")
    shown = sum(x <= 2 for x in mixnet_depths)
    assert code == 0 and len(_body(out)) == shown
    assert _footer(out, "folded").startswith(f"{len(mixnet_depths) - shown} of {len(mixnet_depths)} modules")


def test_headline_files_keep_every_layer(capsys, mixnet_depths, tmp_path):
    target = tmp_path / "mixnet.csv"
    code, _, _ = run(capsys, *HEADLINE, "--output", str(target))
    lines = target.read_text().strip().splitlines()
    assert code == 0 and len(lines) == 1 + len(mixnet_depths) + 1  # header, every module, totals
    target = tmp_path / "mixnet.txt"  # a text file is today's full table
    code, _, _ = run(capsys, *HEADLINE, "--output", str(target))
    assert code == 0 and len(_body(target.read_text())) == len(mixnet_depths)
    assert "output activations (elements)" in target.read_text()


@pytest.mark.parametrize("option", [["--convention", "flops"], ["--train"], ["--summary"], ["--by", "kind"],
                                    ["--top", "10"]], ids=" ".join)
def test_headline_views_fit_120_columns(capsys, option):
    pytest.importorskip("timm")
    code, out, _ = run(capsys, *HEADLINE, *option)
    assert code == 0
    assert max(len(s) for s in out.splitlines()) <= 120
