"""A bare name several zoos have: the one built, and the specs of the others (``also``), found without importing
a zoo that was not needed (only zoos already imported are asked, the others come from the names cache)."""
import pytest

from profiler.zoo import names


@pytest.fixture
def zoos(monkeypatch):
    """timm and torchvision imported (timm imports torchvision), pytorchcv and transformers not: those two come
    from the cache; every zoo asked directly is recorded."""
    asked = []
    loaded = {"builtin", "timm", "torchvision"}
    monkeypatch.setattr(names, "_loaded", lambda z: z in loaded)
    real_has = names._has

    def has(z, name):
        asked.append(z)
        return real_has(z, name)

    monkeypatch.setattr(names, "_has", has)
    monkeypatch.setattr(names, "_cached_names",
                        lambda: {"pytorchcv": frozenset({"resnet50", "mixnet_s"}), "hf": frozenset({"gpt2"})})
    return asked


def test_other_zoos_of_a_bare_name(zoos):
    # torchvision's resnet50 and pytorchcv's resnet50 beside timm's (their model lists name them)
    assert names.also_in("timm", "resnet50") == ("torchvision:resnet50", "pytorchcv:resnet50")
    assert names.also_in("timm", "mixnet_s") == ("pytorchcv:mixnet_s",)  # torchvision has no mixnet
    assert names.also_in("hf", "gpt2") == ()
    assert set(zoos) <= {"builtin", "timm", "torchvision"}  # pytorchcv, hf: never imported for this


def test_a_zoo_neither_imported_nor_cached_is_left_out(zoos, monkeypatch):
    monkeypatch.setattr(names, "_cached_names", lambda: {})
    assert names.also_in("timm", "resnet50") == ("torchvision:resnet50",)


def test_create_records_them_for_a_bare_name_only(zoos):
    _, info = names.create("resnet18")
    assert (info.spec, info.also) == ("timm:resnet18", ("torchvision:resnet18",))
    _, info = names.create("timm:resnet18")  # a qualified name: the user chose
    assert info.also == ()


def test_the_source_and_the_document_carry_them(zoos):
    from profiler import zoo

    prof = zoo.profile_model("resnet18", input=(3, 32, 32))
    assert prof.source.also == ["torchvision:resnet18"]
    assert prof.to_dict()["also"] == ["torchvision:resnet18"]
    assert zoo.profile_model("torchvision:resnet18", input=(3, 32, 32)).to_dict()["also"] == []
