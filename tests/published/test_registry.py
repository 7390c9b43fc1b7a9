"""Loader validation: formats of published numbers, bad files, and the shipped registry's coverage."""
import pytest
import yaml

from profiler.errors import UsageError
from profiler.published import default_registry_path, load_registry, parse_quantity, parse_registry


def entry(**kw):
    base = {"id": "x", "model": "timm:mixnet_s", "input": 224, "macs": {"value": "256M"}, "source": "s"}
    base.update(kw)
    return {"entries": [base]}


@pytest.mark.parametrize("raw, value, resolution, exact", [
    ("569M", 569e6, 1e6, False),
    ("4.24M", 4.24e6, 1e4, False),
    ("1.370G", 1.370e9, 1e6, False),
    ("5,572,200", 5572200, 1, True),
    (5572200, 5572200, 1, True),
    ("0.39B", 0.39e9, 1e7, False),
    ("12M", 12e6, 1e6, False),
])
def test_parse_quantity(raw, value, resolution, exact):
    q = parse_quantity(raw, "here")
    assert q.value == pytest.approx(value)
    assert q.resolution == pytest.approx(resolution)
    assert q.exact is exact


@pytest.mark.parametrize("raw", ["", "abc", "5 MB", "1.2.3M", None, True, "-5M"])
def test_parse_quantity_rejects(raw):
    with pytest.raises(UsageError):
        parse_quantity(raw, "here")


def test_minimal_entry_defaults():
    (e,) = parse_registry(entry())
    assert e.input == (3, 224, 224)
    assert e.figures["macs"].convention == "macs"
    assert e.tolerance_for("macs") == 0.01
    (e,) = parse_registry(entry(params={"value": "5,572,200"}, input=[160, 192]))
    assert e.tolerance_for("params") == 0.0  # exact counts are exact
    assert e.input == (3, 160, 192)


@pytest.mark.parametrize("bad, words", [
    ({"model": None}, "missing 'model'"),
    ({"source": ""}, "missing 'source'"),
    ({"macs": None}, "at least one published figure"),
    ({"macs": {"value": "1M", "convention": "flopz"}}, "unknown convention 'flopz'"),
    ({"params": {"value": "1M", "convention": "macs"}}, "unknown convention 'macs'"),
    ({"input": "big"}, "input must be"),
    ({"input": [3, 0, 4]}, "positive"),
    ({"tolerance": 2}, "tolerance"),
    ({"tolerance": {"flops": 0.1}}, "tolerance keys"),
    ({"colour": "red"}, "unknown key(s) colour"),
    ({"explained": {"params": "why"}}, "no published params"),
    ({"explained": {"macs": {"counted": "1M"}}}, "needs 'reason'"),
    ({"id": "has space"}, "without spaces"),
    ({"macs": {"value": "1M", "rounding": "up"}}, "rounding"),
])
def test_bad_entries_name_the_problem(bad, words):
    with pytest.raises(UsageError, match=None) as info:
        parse_registry(entry(**bad))
    assert words in str(info.value)


def test_duplicate_ids_and_bad_documents(tmp_path):
    doc = entry()
    doc["entries"].append(dict(doc["entries"][0]))
    with pytest.raises(UsageError, match="duplicate id"):
        parse_registry(doc)
    with pytest.raises(UsageError, match="entries"):
        parse_registry([1, 2])
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries: [\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_registry(str(bad))
    with pytest.raises(UsageError, match="no such registry file"):
        load_registry(str(tmp_path / "missing.yaml"))


def test_safe_load_refuses_python_objects(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("entries: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(UsageError):
        load_registry(str(f))


# -- the shipped registry -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped():
    return {e.id: e for e in load_registry()}


def test_shipped_registry_loads_with_unique_ids_and_sources(shipped):
    assert len(shipped) > 100
    assert all(e.source for e in shipped.values())
    assert all(e.explained[m].reason for e in shipped.values() for m in e.explained)


def test_every_seed_figure_is_registered(shipped):
    # Seed tables, section A, C and E figures (as printed there), looked up by model and value.
    def has(model, metric, text, convention=None):
        return any(e.model == model and metric in e.figures and e.figures[metric].published.text == text
                   and (convention is None or e.figures[metric].convention == convention)
                   for e in shipped.values())

    assert has("builtin:crossnet58k5_b70e04g2", "macs", "309M", "crossnet")
    assert has("builtin:crossnet58k5_b70e04g2", "params", "3.28M")
    assert has("pytorchcv:mobilenet_w1", "params", "4.24M")
    for g, v in zip((1, 2, 3, 4, 8), (143, 140, 137, 133, 137)):
        assert has(f"builtin:shufflenet_v1_g{g}_x1_0", "macs", f"{v}M", "conv_macs")
    for w, v, p in (("0_5", 41, "1.4M"), ("1_0", 146, "2.3M"), ("1_5", 299, "3.5M"), ("2_0", 591, "7.4M")):
        assert has(f"builtin:shufflenet_v2_official_x{w}", "macs", f"{v}M")
        assert has(f"builtin:shufflenet_v2_official_x{w}", "params", p)
    for model, flops, params in (("torchvision:alexnet", "1.370G", "61.090M"), ("torchvision:vgg16", "30.810G", "138.340M"),
                                 ("timm:darknet53", "18.580G", "41.600M"), ("torchvision:squeezenet1_1", "0.690G", "1.230M")):
        assert has(model, "macs", flops, "flops_conv2_fc1") and has(model, "params", params)
    seed_e = {"fbnet_cb": "5,572,200", "hardnet39ds": "3,488,228", "hardnet68ds": "4,181,602",
              "mixnet_s": "4,134,606", "mixnet_m": "5,014,382", "mixnet_l": "7,329,252",
              "mnasnet_a1": "3,887,036", "mnasnet_b1": "4,383,312", "shufflenetv2b_w3d2": "4,410,194",
              "efficientnet_b0": "5,288,548"}
    for name, count in seed_e.items():
        assert has(f"pytorchcv:{name}", "params", count), name
    assert has("pytorchcv:fbnet_cb", "macs", "0.404G", "ptflops")
    # the two drifted counts are shown with their explanation, pinned to today's value
    assert shipped["E/hardnet68ds"].explained["params"].counted.value == 4180602
    assert shipped["E/mnasnet_a1"].explained["params"].counted.value == 3887038


def test_default_path_is_package_data():
    assert default_registry_path().endswith("profiler/published/registry.yaml")
    with open(default_registry_path()) as fh:
        assert "entries" in yaml.safe_load(fh)
