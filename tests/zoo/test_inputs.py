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


@given(st.lists(st.integers(1, 4096), min_size=1, max_size=3))
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
