"""compare_blocks as plain data: row order and fields, round-robin timing totals, bad names."""
import pytest

from profiler.studies.blocks import compare_blocks, parse_datasets, state_dict_bytes
from profiler.errors import UsageError
from profiler.models.blocks import blocks_model


def test_rows_and_rounds():
    rows = compare_blocks("mnist", blocks=["plain", "shuffle"], runs=5, warmup=0, rounds=2, cuda=False,
                          threads=1)  # one thread: two would thrash on a busy 2-core machine
    assert [(r.dataset, r.block) for r in rows] == [("mnist", "plain"), ("mnist", "shuffle")]
    for r in rows:
        # 5 runs in 2 rounds = 3 + 2 samples, summarized together
        assert r.cpu.runs == 5 and len(r.cpu.samples_ms) == 5 and r.rounds == 2 and r.cuda is None
        assert r.input == [1, 1, 28, 28] and r.convention == "macs"
    # stem 1*64*49 + BN; 3x3 64->128 + BN; 7 x (3x3 128->128 + BN); FC 128*10 + 10
    assert rows[0].params == 3264 + 221696 + 886272 + 1290
    assert rows[0].state_dict_bytes == state_dict_bytes(blocks_model("mnist", "plain"))  # size, not values
    d = rows[1].to_dict()
    assert d["block"] == "shuffle" and d["cuda_median_ms"] is None and d["cpu_median_ms"] > 0


def test_untimed():
    rows = compare_blocks(["cifar10"], blocks=["dense"], runs=0)
    assert rows[0].cpu is None and rows[0].rounds == 0 and rows[0].to_dict()["runs"] == 0


def test_parse_datasets():
    assert parse_datasets("all") == parse_datasets(None) == ["mnist", "cifar10", "stl10"]
    assert parse_datasets("stl10,mnist,stl10") == ["stl10", "mnist"]
    for bad in ("imagenet", "", "mnist,,cifar10"):
        with pytest.raises(UsageError):
            parse_datasets(bad)
    with pytest.raises(UsageError):
        compare_blocks("mnist", blocks=["unet"], runs=0)
    with pytest.raises(UsageError):
        compare_blocks("mnist", runs=1, rounds=0)
