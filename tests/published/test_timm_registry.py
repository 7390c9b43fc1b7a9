"""profiler.published.timm: timm's published GMACs and parameter counts (its results CSV, shipped with the
package) reproduced row by row. The full check (1,629 rows) is `profile-model check --registry timm`; a
sample of it runs here, the expected figures being timm's own printed ones."""
import pytest

from profiler.cli import main
from profiler.published.timm import check_timm, load_timm_registry, source

pytest.importorskip("timm")
pytest.importorskip("fvcore")


@pytest.fixture(scope="module")
def registry():
    return {e.id: e for e in load_timm_registry()}


def test_the_csv_and_its_provenance(registry):
    assert len(registry) == 1629
    assert "pytorch-image-models" in source() and "90cae8c5" in source()
    e = registry["timm/resnet50@224"]
    assert e.model == "timm:resnet50" and e.input == (3, 224, 224)
    # Two printed decimals: 0.005 either way, whatever the number's size.
    assert e.figures["macs"].published.text == "4.11G" and e.figures["macs"].published.half_unit == 5e6
    assert e.figures["params"].published.text == "25.56M" and e.figures["params"].published.half_unit == 5e3
    assert e.figures["macs"].convention == "fvcore" and e.tolerance_for("macs") == 0.0


SAMPLE = {
    # plain CNN, three sizes
    "timm/resnet18@160": "ok", "timm/resnet18@224": "ok", "timm/resnet18@288": "ok",
    # weight-standardised convs: F.batch_norm(training=True) on the weights, fvcore's 4 per element
    "timm/resnetv2_50x1_bit@224": "ok",
    # attention counted as the unfused matmuls
    "timm/vit_base_patch16_224@224": "ok",
    # reparameterised to its deploy form (on the CPU: its fusion needs real tensors)
    "timm/repvgg_a0@224": "ok",
    # fvcore skips aten::lstm and aten::_convolution_mode: timm's figure leaves them out
    "timm/sequencer2d_s@224": "explained", "timm/convmixer_768_32@224": "explained",
}


@pytest.fixture(scope="module")
def results(registry):
    return {r.entry.id: r for r in check_timm([registry[i] for i in SAMPLE])}


@pytest.mark.parametrize("eid", sorted(SAMPLE))
def test_sample_rows(results, eid):
    r = results[eid]
    assert r.status == SAMPLE[eid], (r.figures["macs"].counted, r.figures["macs"].detail, r.error)
    assert r.figures["params"].status == "ok"
    macs = r.figures["macs"]
    if SAMPLE[eid] == "ok":
        assert abs(macs.counted - macs.published) <= 5e6


def test_skipped_ops_are_named_with_their_amount(results):
    seq = results["timm/sequencer2d_s@224"].figures["macs"]
    # timm prints 4.96 G; ours counts the 36 LSTMs too (8.36 G): fvcore has no handle for aten::lstm.
    assert "aten::lstm" in seq.reason and "in 36 layers" in seq.reason and seq.counted > 8.3e9
    mix = results["timm/convmixer_768_32@224"].figures["macs"]
    assert "_convolution_mode" in mix.reason and "in 32 layers" in mix.reason


def test_repvgg_counted_in_deploy_form(results):
    r = results["timm/repvgg_a0@224"]
    assert any("reparameterised" in n for n in r.notes)
    assert r.figures["params"].counted < 9e6  # the training form has 9.1 M parameters


def test_cli_registry_timm(capsys):
    assert main(["check", "--registry", "timm", "--only", "timm:resnet18d"]) == 0
    out = capsys.readouterr().out
    assert "timm/resnet18d@224" in out and "2 entries: 2 ok" in out
