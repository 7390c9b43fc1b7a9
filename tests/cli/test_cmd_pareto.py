"""profile-model pareto: CSV in, picture + printed frontier out; bad input is one line and exit 2."""
import json

from profiler.cli import main


def _csv(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("model,family,top1,macs,params,latency_ms\n"
                 "small,A,60,1e8,1e6,1.0\nmid,A,70,3e8,3e6,\nbig,B,69,9e8,9e6,3.0\nbest,B,75,2e9,2e7,2.0\n")
    return str(f)


def test_csv_to_png_and_frontier(tmp_path, capsys):
    out = tmp_path / "p.png"
    assert main(["pareto", "--csv", _csv(tmp_path), "--output", str(out)]) == 0
    text, err = capsys.readouterr()
    assert f"wrote {out}" in err and "wrote" not in text  # a message about a file: stderr, results on stdout
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "3 of 4 models" in text  # big (9e8, 69) is dominated by mid (3e8, 70)
    lines = [line.split()[0] for line in text.splitlines() if line.split() and line.split()[0] in
             ("small", "mid", "big", "best")]
    assert lines == ["small", "mid", "best"]


def test_latency_axis_json_and_missing(tmp_path, capsys):
    out = tmp_path / "p.svg"
    assert main(["pareto", "--csv", _csv(tmp_path), "--x", "latency", "--format", "json", "--output", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["not_shown"] == ["mid"]
    front = sorted(p["model"] for p in doc["points"] if p["frontier"])
    assert front == ["best", "small"]  # big (3.0 ms, 69) is beaten by best (2.0 ms, 75)
    assert b"<svg" in out.read_bytes()[:2000]


def test_models_filter(tmp_path, capsys):
    assert main(["pareto", "--csv", _csv(tmp_path), "--models", "B", "--output", str(tmp_path / "p.png")]) == 0
    assert "2 of 2 models" in capsys.readouterr().out  # big and best (family B): neither dominates


def test_counted_macs_from_zoo_column(tmp_path, capsys):
    f = tmp_path / "z.csv"
    f.write_text("model,family,top1,macs,params,zoo\nr18,ResNet,69.76,,,torchvision:resnet18\n")
    assert main(["pareto", "--csv", str(f), "--format", "json", "--output", str(tmp_path / "p.png")]) == 0
    (p,) = json.loads(capsys.readouterr().out)["points"]
    # torchvision documents resnet18 at 1.81 GFLOPS (its GFLOPS are MACs) and 11,689,512 params.
    assert round(p["macs"] / 1e9, 2) == 1.81 and p["params"] == 11_689_512
    assert p["macs_source"].startswith("counted")


def test_bad_input_exit_2(tmp_path, capsys):
    assert main(["pareto", "--csv", str(tmp_path / "none.csv"), "--output", str(tmp_path / "p.png")]) == 2
    assert main(["pareto", "--csv", _csv(tmp_path), "--output", str(tmp_path / "p.txt")]) == 2
    assert main(["pareto", "--csv", _csv(tmp_path), "--x", "watts", "--output", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert len([e for e in err.splitlines() if e]) == 3


def test_registry_source(tmp_path, capsys):
    # A registry in profiler.published's format: published top-1 (or its error) against counted MACs.
    reg = tmp_path / "r.yaml"
    reg.write_text("entries:\n"
                   "  - {id: zoo/resnet18, model: 'torchvision:resnet18', input: 224, top1: 69.758,\n"
                   "     macs: {value: 1.81G, convention: macs}, params: {value: 11.69M}, source: torchvision docs}\n"
                   "  - {id: zoo/alexnet, model: 'torchvision:alexnet', input: 224, top1_err: 43.45,\n"
                   "     macs: {value: 0.71G, convention: macs}, params: {value: 61.1M}, source: torchvision docs}\n")
    assert main(["pareto", "--registry", str(reg), "--format", "json", "--output", str(tmp_path / "p.png")]) == 0
    pts = {p["model"]: p for p in json.loads(capsys.readouterr().out)["points"]}
    assert round(pts["alexnet"]["top1"], 2) == 56.55  # 100 - 43.45
    # torchvision docs: resnet18 1.81 GFLOPS, alexnet 0.71 GFLOPS (their GFLOPS are MACs).
    assert round(pts["resnet18"]["macs"] / 1e9, 2) == 1.81 and round(pts["alexnet"]["macs"] / 1e9, 2) == 0.71
    assert pts["resnet18"]["frontier"] and pts["alexnet"]["frontier"]


def test_registry_duplicates_are_one_point_with_the_kept_source_named(tmp_path, capsys):
    # resnet18 quoted twice (a paper table and torchvision's metadata, different top-1): one point, the
    # paper's kept (the authors' table before a zoo's metadata), the other named as merged
    reg = tmp_path / "r.yaml"
    reg.write_text("entries:\n"
                   "  - {id: tv/resnet18, model: 'torchvision:resnet18', input: 224, top1: 69.758,\n"
                   "     macs: {value: 1.81G, convention: macs}, source: torchvision docs}\n"
                   "  - {id: paper/resnet18, model: 'torchvision:resnet18', input: 224, top1: 69.6,\n"
                   "     macs: {value: 1.8G, convention: macs}, source: He et al.}\n"
                   "  - {id: zoo/alexnet, model: 'torchvision:alexnet', input: 224, top1_err: 43.45,\n"
                   "     macs: {value: 0.71G, convention: macs}, source: torchvision docs}\n")
    out = str(tmp_path / "p.png")
    assert main(["pareto", "--registry", str(reg), "--format", "json", "--output", out]) == 0
    doc = json.loads(capsys.readouterr().out)
    pts = {p["model"]: p for p in doc["points"]}
    assert sorted(pts) == ["alexnet", "resnet18"]
    assert pts["resnet18"]["top1"] == 69.6 and pts["resnet18"]["source"] == "paper/resnet18"
    assert pts["resnet18"]["merged"] == ["tv/resnet18"] and "one point per model" in doc["merge_rule"]
    assert main(["pareto", "--registry", str(reg), "--output", out]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("resnet18")]
    assert len(rows) == 1 and "paper/resnet18 (+1 merged)" in rows[0]
    assert "resnet18 = paper/resnet18 (over tv/resnet18)" in text
