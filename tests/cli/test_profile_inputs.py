"""profile-model's --input (several inputs, a channel-sized HxW refused) and --kwargs (ends at the first word
without '=', so the model name may follow)."""
import json

from profiler.cli import main
from profiler.cli.profile_cmd import _kwargs_argv


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_kwargs_end_at_the_first_word_without_an_equals_sign():
    assert _kwargs_argv(["--kwargs", "a=1", "b=2", "m", "--depth", "1"]) == \
        ["--kwargs=a=1", "--kwargs=b=2", "m", "--depth", "1"]
    assert _kwargs_argv(["m", "--kwargs", "a=1", "b=2"]) == ["m", "--kwargs=a=1", "--kwargs=b=2"]
    assert _kwargs_argv(["m", "--kwargs", "oops"]) == ["m", "--kwargs", "oops"]  # parse_kwargs names it


def test_model_name_after_kwargs(capsys):
    code, out, err = run(capsys, "--kwargs", "num_classes=7", "torchvision:resnet18", "--format", "json",
                         "--input", "64")
    # torchvision's ResNet-18: 11,689,512 params with a 512 -> 1000 fc; 512 -> 7 here
    assert code == 0 and json.loads(out)["params"] == 11_689_512 - (512 * 1000 + 1000) + (512 * 7 + 7)


def test_a_channel_sized_hxw_is_refused_in_one_line(capsys):
    code, out, err = run(capsys, "torchvision:resnet18", "--input", "3x224")
    assert code == 2 and err.count("\n") == 1 and "reads as HxW" in err and "3x224x224" in err


def test_an_image_pair_from_the_command_line(capsys):
    code, out, err = run(capsys, "torchvision:raft_small", "--input", "3x128x256,3x128x256", "--format", "json")
    assert code == 0 and json.loads(out)["input"] == [[1, 3, 128, 256]] * 2
    code, out, err = run(capsys, "torchvision:resnet18", "--input", "3x32x32,3x32x32")
    assert code == 2 and "takes one input tensor, got 2" in err


def test_an_image_pair_in_the_header_and_refused_by_options_that_need_one_tensor(capsys):
    code, out, err = run(capsys, "torchvision:raft_small", "--input", "3x128x128,3x128x128")
    assert code == 0 and "1x3x128x128; 1x3x128x128 (an image pair, batch 1)" in out
    code, out, err = run(capsys, "torchvision:raft_small", "--input", "3x128x128,3x128x128", "--latency")
    assert code == 2 and err.count("\n") == 1 and "takes an image pair" in err
