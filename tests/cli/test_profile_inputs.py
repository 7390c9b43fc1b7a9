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
    assert code == 0 and json.loads(out)["input"] == {"kind": "image-pair", "shapes": [[1, 3, 128, 256]] * 2, "batch": 1}
    code, out, err = run(capsys, "torchvision:resnet18", "--input", "3x32x32,3x32x32")
    assert code == 2 and "takes one input tensor, got 2" in err


def test_an_image_pair_in_the_header_and_refused_by_options_that_need_one_tensor(capsys):
    code, out, err = run(capsys, "torchvision:raft_small", "--input", "3x128x128,3x128x128")
    assert code == 0 and "1x3x128x128; 1x3x128x128 (an image pair, batch 1)" in out
    code, out, err = run(capsys, "torchvision:raft_small", "--input", "3x128x128,3x128x128", "--latency")
    assert code == 2 and err.count("\n") == 1 and "takes an image pair" in err


# Small two-tower and speech configs (--kwargs shrink them; sub-configs as dict literals)
TOWER = "{'num_hidden_layers':1,'hidden_size':64,'intermediate_size':128,'num_attention_heads':4}"
VISION = TOWER[:-1] + ",'image_size':32,'patch_size':8}"
WHISPER = ["d_model=64", "encoder_layers=1", "decoder_layers=1", "encoder_attention_heads=4",
           "decoder_attention_heads=4", "encoder_ffn_dim=128", "decoder_ffn_dim=128", "num_mel_bins=16",
           "max_source_positions=50", "vocab_size=100", "pad_token_id=0", "bos_token_id=0", "eos_token_id=0",
           "decoder_start_token_id=0"]


def test_two_tower_models_get_tokens_and_an_image(capsys):
    for spec, tokens in (("hf:clip", 77), ("hf:siglip", 64)):  # their text positions; the image at the config's 32
        code, out, err = run(capsys, spec, "--kwargs", f"text_config={TOWER}", f"vision_config={VISION}",
                             "--format", "json")
        doc = json.loads(out)
        assert code == 0 and doc["coverage"] == []
        assert doc["input"] == {"kind": "text-image", "tokens": tokens, "batch": 1,
                                "shapes": [[1, tokens], [1, 3, 32, 32]]}


def test_whisper_gets_audio_features_and_decoder_tokens(capsys):
    code, out, err = run(capsys, "hf:whisper", "--input", "12", "--batch", "2", "--kwargs", *WHISPER,
                         "--format", "json")
    doc = json.loads(out)
    # 16 mel bins x 100 frames (2 x max_source_positions), 12 decoder tokens
    assert code == 0 and doc["task"] == "seq2seq-lm"
    assert doc["input"] == {"kind": "speech-text", "tokens": 12, "batch": 2, "shapes": [[2, 16, 100], [2, 12]]}
    assert doc["coverage"] == []
    code, out, err = run(capsys, "hf:whisper", "--generate", "4", "--kwargs", *WHISPER)
    assert code == 2 and err.count("\n") == 1 and "takes audio features and decoder tokens" in err
    code, out, err = run(capsys, "hf:whisper", "--input", "8,16", "--kwargs", *WHISPER)
    assert code == 2 and err.count("\n") == 1 and "several --input lengths" in err


def test_kwargs_reach_from_config_arguments(capsys):
    llama = ["num_hidden_layers=1", "hidden_size=64", "intermediate_size=128", "num_attention_heads=4",
             "vocab_size=100"]
    # refused before as "no config field"; both go to from_config
    code, out, err = run(capsys, "hf:llama", "--input", "8", "--kwargs", "experts_implementation=batched_mm",
                         "attn_implementation=eager", "dtype=bfloat16", *llama, "--format", "json")
    assert code == 0 and json.loads(out)["coverage"] == []
    code, out, err = run(capsys, "hf:llama", "--kwargs", "experts_implementaton=batched_mm", *llama)
    assert code == 2 and err.count("\n") == 1 and "did you mean experts_implementation" in err
    code, out, err = run(capsys, "hf:llama", "--kwargs", "experts_implementation=foo", *llama)
    assert code == 2 and err.count("\n") == 1 and "is not one of: eager, batched_mm" in err


def test_whisper_past_its_decoder_positions_is_noted(capsys):
    code, out, err = run(capsys, "hf:whisper", "--input", "500", "--kwargs", *WHISPER, "max_target_positions=448",
                         "--format", "json")
    doc = json.loads(out)
    assert code == 0 and any("500 tokens exceed" in n and "448" in n for n in doc["notes"])
