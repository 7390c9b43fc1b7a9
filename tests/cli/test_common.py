"""CLI helpers: --input parsing, positive integers, output, progress."""
import argparse
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.cli import common
from profiler.errors import UsageError


@pytest.mark.parametrize("text,dims", [("224", (224,)), ("224x320", (224, 320)), ("3x224x224", (3, 224, 224)),
                                       ("3 x 224 X 224", (3, 224, 224)), ("3,32,32", (3, 32, 32))])
def test_input_dims(text, dims):
    assert common.input_dims(text) == dims


@pytest.mark.parametrize("text", ["0", "-3", "224x0", "abc", "224x", "x224", "2.5", "", "1x2x3x4x5x6"])
def test_input_dims_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        common.input_dims(text)


def test_comma_lists_are_marked_for_language_models():
    """Several numbers separated by commas only may be sequence lengths (a language model decides); any
    other separator is a size, and a list may be longer than a size."""
    assert common.input_dims("512,2048,8192").listed and common.input_dims("3,32,32").listed
    assert not common.input_dims("3x32x32").listed and not common.input_dims("3,32x32").listed
    assert not common.input_dims("128").listed
    assert common.input_dims("128,256,512,1024,2048,4096,8192") == (128, 256, 512, 1024, 2048, 4096, 8192)


def test_commas_between_x_shapes_separate_inputs():
    """3x520x960,3x520x960 is two inputs (RAFT's pair, a detection model's images); commas alone stay one
    shape's numbers or a language model's lengths, so no older spelling changes but a mixed one."""
    two = common.input_dims("3x520x960,3x520x960")
    assert isinstance(two, common.InputShapes) and two == ((3, 520, 960), (3, 520, 960)) and not two.listed
    assert common.input_dims("3x800x800, 600x1000") == ((3, 800, 800), (600, 1000))
    assert common.input_dims("3,32x32") == ((3,), (32, 32))  # a comma next to an x shape separates inputs
    assert not isinstance(common.input_dims("3,32,32"), common.InputShapes)
    for bad in ("3x520x960,", "3x520x960,,3x4x4", "3x0x4,3x4x4", "3x4x4,abc"):
        with pytest.raises(argparse.ArgumentTypeError):
            common.input_dims(bad)


@given(st.lists(st.integers(1, 4096), min_size=1, max_size=3))
def test_input_dims_roundtrip(dims):
    assert common.input_dims("x".join(map(str, dims))) == tuple(dims)


def test_positive_and_non_negative():
    assert common.positive_int("3") == 3 and common.non_negative_int("0") == 0
    for bad in ("0", "-1", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            common.positive_int(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        common.non_negative_int("-1")


def test_format_for():
    assert common.format_for(None, "a.JSON") == "json" and common.format_for(None, "a.md") == "markdown"
    assert common.format_for("csv", "a.json") == "csv" and common.format_for(None, None) == "table"
    assert common.format_for(None, "a.unknown") == "table"


def test_emit_to_unwritable_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot write"):
        common.emit("x", str(tmp_path / "no_dir" / "f.txt"))


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_only_for_a_terminal_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PROFILER_NO_PROGRESS", raising=False)
    assert common.progress_enabled(_Tty()) and not common.progress_enabled(io.StringIO())
    monkeypatch.setenv("CI", "true")
    assert not common.progress_enabled(_Tty())
    bar = common.progress(range(3), desc="x")
    assert list(bar) == [0, 1, 2] and bar.disable  # a pass-through under CI / without a terminal
