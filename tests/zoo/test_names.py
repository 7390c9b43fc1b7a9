"""Model names across zoos: resolution order, suggestions, default inputs from each zoo's own config,
constructor keyword arguments, user specs. Architectures only (never weights)."""
import pytest

from profiler import zoo
from profiler.errors import UnknownModelError, UsageError


def test_resolution_order():
    assert zoo.resolve("mixnet_s") == ("timm", "mixnet_s")  # timm before pytorchcv, which has it too
    assert zoo.resolve("pytorchcv:mixnet_s") == ("pytorchcv", "mixnet_s")
    assert zoo.resolve("torchvision:resnet18") == ("torchvision", "resnet18")
    assert zoo.resolve("resnet18") == ("timm", "resnet18")
    assert zoo.resolve("crossnet58k5_b70e04g2") == ("builtin", "crossnet58k5_b70e04g2")  # a name grammar
    assert zoo.resolve("mobilenet_w1") == ("pytorchcv", "mobilenet_w1")


def test_unknown_names_suggest():
    with pytest.raises(UnknownModelError, match="did you mean: timm:mixnet_s") as exc:
        zoo.resolve("mixnet_ss")
    assert isinstance(exc.value, UsageError)  # so the CLI exits 2
    assert "timm:mobilenetv1_100" in zoo.suggestions("mobilenetv1")  # names containing the query come first
    with pytest.raises(UnknownModelError, match="in torchvision"):
        zoo.resolve("torchvision:mixnet_s")
    with pytest.raises(UsageError, match="did you mean timm:resnet18"):
        zoo.resolve("timmm:resnet18")


def test_user_specs():
    assert zoo.resolve("path/to/net.py:build") == ("user", "path/to/net.py:build")
    assert zoo.resolve("my.package.nets:Net") == ("user", "my.package.nets:Net")
    assert zoo.resolve("os:getcwd") == ("user", "os:getcwd")  # an importable plain module
    with pytest.raises(UsageError, match="not a torch.nn.Module"):
        zoo.create("os:getcwd")


@pytest.mark.parametrize("z,name,size", [
    ("timm", "inception_v3", (3, 299, 299)),  # Inception v3 is a 299x299 network
    ("timm", "vit_base_patch16_384", (3, 384, 384)),
    ("torchvision", "inception_v3", (3, 299, 299)),
    ("torchvision", "efficientnet_b3", (3, 300, 300)),  # torchvision's docs: crop 300 for B3
    ("torchvision", "resnet50", (3, 224, 224)),
    ("builtin", "blocks_mnist_plain", (1, 28, 28)),  # the block study's MNIST input
])
def test_default_input_from_the_zoo_config(z, name, size):
    assert zoo.default_input(z, name) == size


def test_pytorchcv_default_input_from_the_built_model():
    model, info = zoo.create("pytorchcv:inceptionv3")
    assert info.input_size == (3, 299, 299) and info.zoo == "pytorchcv" and info.spec == "pytorchcv:inceptionv3"
    assert not model.training


def test_constructor_kwargs():
    model, info = zoo.create("timm:resnet18", num_classes=7)
    assert model.fc.out_features == 7 and info.input_size == (3, 224, 224)
    with pytest.raises(UsageError, match="rejected the constructor arguments"):
        zoo.create("torchvision:resnet18", no_such_argument=1)


def test_parse_kwargs():
    got = zoo.parse_kwargs(["num_classes=10", "width=0.5", "act=relu", "flag=True", "size=(3, 4)", "s='x=y'",
                            "none=None"])
    assert got == {"num_classes": 10, "width": 0.5, "act": "relu", "flag": True, "size": (3, 4), "s": "x=y",
                   "none": None}
    for bad in ("novalue", "=3", "not an id=3"):
        with pytest.raises(UsageError, match="key=value"):
            zoo.parse_kwargs([bad])


def test_list_names():
    names = zoo.list_names("resnet1?", ("torchvision",))
    assert ("torchvision", "resnet18") in names and all(z == "torchvision" for z, _ in names)
    assert ("timm", "mixnet_s") in zoo.list_names("mixnet")  # no wildcard: substring


def test_pytorchcv_channels_without_an_in_channels_attribute():
    import torch.nn as nn

    from profiler.zoo.names import default_input

    class Net(nn.Module):
        def __init__(self, first):
            super().__init__()
            self.in_size = (224, 224)
            self.body = nn.Conv2d(first, 8, 3)

    # a 1-channel first convolution: a grayscale network (superpointnet)
    assert default_input("pytorchcv", "x", Net(1)) == (1, 224, 224)
    # any other count may follow a reshuffle of the image (i-RevNet: space-to-depth, 12 -> 6 + 6): an RGB image
    assert default_input("pytorchcv", "x", Net(6)) == (3, 224, 224)


def test_pytorchcv_models_with_inputs_only_their_tests_describe():
    import pytest

    from profiler.errors import UsageError
    from profiler.zoo import profile_model

    # the weight counts pytorchcv's own _test() asserts for these models
    for name, params in (("voca8flame", 809_563), ("nvpattexp116bazel76", 327_397)):
        prof = profile_model(f"pytorchcv:{name}")
        assert prof.params == params and not prof.coverage and prof.macs > 0
        assert prof.inputs == [[1, *prof.inputs[0][1:]], [1]]  # the audio windows and the subject id
    with pytest.raises(UsageError, match="fixed inputs of pytorchcv's own test code"):
        profile_model("pytorchcv:voca8flame", input=(16, 29))
