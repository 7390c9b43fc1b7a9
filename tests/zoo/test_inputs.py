"""One sample's input shape from the numbers a user gives and the model's default shape."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.errors import UsageError
from profiler.zoo.inputs import random_inputs, sample_shape


def test_input_size_against_default_rank():
    assert sample_shape(None, (3, 299, 299)) == (3, 299, 299)
    assert sample_shape((224,), (3, 299, 299)) == (3, 224, 224)
    assert sample_shape((224, 320), (3, 299, 299)) == (3, 224, 320)  # H x W
    assert sample_shape((1, 28, 28), (3, 224, 224)) == (1, 28, 28)
    assert sample_shape((112,), (3, 16, 224, 224)) == (3, 16, 112, 112)  # video: the clip length stays
    assert sample_shape((64,), (2, 1000)) == (2, 64)  # 1-d signal
    with pytest.raises(UsageError, match="has 4 numbers"):
        sample_shape((1, 3, 224, 224), (3, 224, 224))
    # a user's model of unknown rank: three or more numbers are the shape
    assert sample_shape((1, 4, 8, 8), (3, 224, 224), rank_known=False) == (1, 4, 8, 8)


def _channel_like(dims) -> bool:
    """Two numbers whose first looks like a channel count (1, 3, 4) and second like a side: refused."""
    return len(dims) == 2 and dims[0] in (1, 3, 4) and dims[1] > 4 * dims[0]


@given(st.lists(st.integers(1, 4096), min_size=1, max_size=3).filter(lambda d: not _channel_like(d)))
def test_input_roundtrip(dims):
    shape = sample_shape(tuple(dims), (3, 224, 224))
    expected = {1: (3, dims[0], dims[0]), 2: (3, *dims), 3: tuple(dims)}[len(dims)]
    assert shape == expected


def test_an_int_is_the_image_side_and_bad_sizes_are_usage_errors():
    assert sample_shape(96, (3, 224, 224)) == (3, 96, 96)
    with pytest.raises(UsageError, match=">= 1"):
        sample_shape((0, 224), (3, 224, 224))


def test_random_inputs_on_meta_allocate_nothing():
    x = random_inputs((2, 3, 8, 8), device="meta")
    assert x.device.type == "meta" and tuple(x.shape) == (2, 3, 8, 8)
    assert random_inputs((1, 4)).device.type == "cpu"


def test_a_language_model_takes_one_length():
    assert sample_shape(None, (128,), kind="tokens") == (128,)
    assert sample_shape((512,), (128,), kind="tokens") == (512,)
    with pytest.raises(UsageError, match="takes tokens: --input LENGTH"):
        sample_shape((3, 224, 224), (128,), "hf:gpt2", kind="tokens")


@pytest.mark.parametrize("dims, default", [((3, 224), (3, 224, 224)), ((1, 28), (1, 28, 28)),
                                           ((4, 100), (3, 224, 224)), ((3, 112), (3, 16, 112, 112))])
def test_a_channel_sized_first_number_of_two_is_refused(dims, default):
    # 3x224 read as HxW would be a 3-pixel-high image: refuse it, naming both readings
    with pytest.raises(UsageError, match=rf"reads as HxW.*{dims[0]}x.*{dims[1]}.*side alone \({dims[1]}\)"):
        sample_shape(dims, default, "m")
    assert sample_shape((16, 224), (3, 224, 224)) == (3, 16, 224)  # a real HxW stays one
    assert sample_shape((3, 4, 224), (3, 224, 224)) == (3, 4, 224)  # the full shape says it unambiguously


def test_several_shapes_per_input_kind():
    from profiler.zoo.inputs import sample_shapes
    assert sample_shapes(None, (3, 512, 512), kind="image-pair") == ((3, 512, 512),) * 2
    assert sample_shapes((520, 960), (3, 512, 512), kind="image-pair") == ((3, 520, 960),) * 2
    assert sample_shapes([(3, 520, 960), (3, 520, 960)], (3, 512, 512), kind="image-pair") == ((3, 520, 960),) * 2
    with pytest.raises(UsageError, match="divisible by 8.*3x520x968"):
        sample_shapes((520, 961), (3, 512, 512), "raft", kind="image-pair")
    with pytest.raises(UsageError, match="image pair"):
        sample_shapes([(64,), (64,), (64,)], (3, 512, 512), "raft", kind="image-pair")
    assert sample_shapes([(3, 800, 800), (600, 1000)], (3, 800, 800), kind="images") == \
        ((3, 800, 800), (3, 600, 1000))
    with pytest.raises(UsageError, match="takes one input tensor, got 2"):
        sample_shapes([(3, 32, 32), (3, 32, 32)], (3, 224, 224), "resnet", kind="tensor")
    # a user's model of unknown rank: one positional tensor per shape
    assert sample_shapes([(3, 32, 32), (2, 8, 8)], (3, 224, 224), rank_known=False) == ((3, 32, 32), (2, 8, 8))


def test_tokens_with_an_image_or_audio_take_one_length():
    # CLIP's --input is its text's tokens, Whisper's its decoder's: the image and the audio come from the config
    assert sample_shape((16,), (77,), kind="text-image") == (16,)
    with pytest.raises(UsageError, match="takes tokens and an image at its config's size: --input LENGTH") as exc:
        sample_shape((3, 224, 224), (77,), "hf:clip", kind="text-image")
    assert "several lengths" not in str(exc.value)  # those are a language model's alone
    with pytest.raises(UsageError, match="takes audio features at its config's size and decoder tokens"):
        sample_shape((80, 3000), (128,), "hf:whisper", kind="speech-text")


def test_text_inputs_of_two_tower_and_speech_configs():
    import torch
    from profiler.zoo.hf import load_config
    from profiler.zoo.inputs import text_inputs

    clip = load_config("clip", {"vision_config": {"image_size": 64, "num_channels": 4}})
    x = text_inputs(clip, 7, batch=2)
    assert {k: tuple(v.shape) for k, v in x.items()} == {"input_ids": (2, 7), "pixel_values": (2, 4, 64, 64)}
    assert x["pixel_values"].dtype == torch.float32 and float(x["pixel_values"].std()) > 0.5  # random, not zeros
    # Whisper: mel bins x 2 * max_source_positions frames (its encoder's two convolutions halve them), and the
    # decoder's tokens
    whisper = load_config("whisper", {"num_mel_bins": 16, "max_source_positions": 25})
    x = text_inputs(whisper, 5, batch=3, attention_mask=True)
    assert {k: tuple(v.shape) for k, v in x.items()} == {"input_features": (3, 16, 50), "decoder_input_ids": (3, 5),
                                                         "decoder_attention_mask": (3, 5)}
    meta = text_inputs(whisper, 5, device="meta")
    assert {v.device.type for v in meta.values()} == {"meta"}
