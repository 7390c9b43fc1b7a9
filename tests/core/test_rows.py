"""Rows of the breakdowns: own shares add up to the totals at every depth, folding, top-N, groups.
Expected values are the closed-form costs of the toy model (tests/report/_toy.py)."""
import pytest
from _toy import (BLOCK_MACS, BLOCK_PARAMS, DW_MACS, FC_MACS, FC_PARAMS, MIX_MACS, PW_MACS, STEM_MACS,
                  STEM_PARAMS, TOTAL_MACS, TOTAL_PARAMS, toy_profile)
from hypothesis import given
from hypothesis import strategies as st

from profiler.core.rows import group_rows, layer_rows, percent_strings, top_rows


C_SQ = 8 * 8  # the Block's own channel-mixing Parameter


@pytest.fixture(scope="module")
def prof():
    return toy_profile()


def test_every_module_own_share(prof):
    rows = {r.path: r for r in layer_rows(prof)}
    assert set(rows) == {layer.path for layer in prof.layers}
    # A container's row is what its own forward computes (the einsum) and the Parameter it registers.
    assert rows["blocks.0"].cost == MIX_MACS and rows["blocks.0"].params == C_SQ
    assert rows["blocks.0"].has_shown_children and rows["blocks.0"].folded == 0
    assert rows["blocks.0"].cost_inclusive == BLOCK_MACS and rows["blocks.0"].params_inclusive == BLOCK_PARAMS
    assert rows["blocks.0.dw"].cost == DW_MACS and rows["blocks.0.pw"].cost == PW_MACS
    assert rows["stem"].cost == STEM_MACS and rows["stem"].params == STEM_PARAMS
    assert rows["fc"].cost == FC_MACS and rows["fc"].params == FC_PARAMS
    assert rows[""].cost_inclusive == TOTAL_MACS and rows[""].params_inclusive == TOTAL_PARAMS
    assert sum(r.cost for r in rows.values()) == TOTAL_MACS
    assert sum(r.params for r in rows.values()) == TOTAL_PARAMS



def test_depth_folds_subtrees_into_their_ancestor(prof):
    rows = {r.path: r for r in layer_rows(prof, depth=1)}
    assert list(rows) == ["", "stem", "blocks", "pool", "fc"]
    # blocks (depth 1) absorbs blocks.0, blocks.0.dw, blocks.0.pw, blocks.1, ... (6 modules)
    assert rows["blocks"].folded == 6 and not rows["blocks"].has_shown_children
    assert rows["blocks"].cost == 2 * BLOCK_MACS and rows["blocks"].params == 2 * BLOCK_PARAMS
    assert rows["stem"].folded == 0  # a leaf at the cut-off folds nothing
    (root,) = layer_rows(prof, depth=0)
    assert root.cost == TOTAL_MACS and root.params == TOTAL_PARAMS and root.folded == len(prof.layers) - 1


@given(depth=st.one_of(st.none(), st.integers(0, 5)), convention=st.sampled_from(["macs", "flops", "all"]))
def test_rows_sum_to_totals_at_any_depth(depth, convention):
    prof = toy_profile(convention)
    rows = layer_rows(prof, depth=depth)
    assert sum(r.cost for r in rows) == pytest.approx(prof.total(convention))
    assert sum(r.params for r in rows) == prof.params == TOTAL_PARAMS
    assert all(r.depth <= depth for r in rows) if depth is not None else len(rows) == len(prof.layers)


def test_top_rows_keep_heaviest_and_fold_the_rest(prof):
    rows = top_rows(layer_rows(prof), 3)
    assert [r.path for r in rows[:3]] == ["stem", "blocks.0.dw", "blocks.1.dw"]
    other = rows[-1]
    assert other.synthetic and other.path == f"({len(prof.layers) - 3} other modules)"
    assert other.cost == TOTAL_MACS - STEM_MACS - 2 * DW_MACS
    assert sum(r.params for r in rows) == TOTAL_PARAMS
    assert len(top_rows(layer_rows(prof), 100)) == len(prof.layers)  # nothing left to fold: no extra row
    with pytest.raises(ValueError):
        top_rows(layer_rows(prof), 0)


def test_group_rows_by_kind(prof):
    g = {x.name: x for x in group_rows(prof, "kind")}
    assert g["conv"].cost == STEM_MACS and g["conv"].modules == 1
    assert g["conv_depthwise"].cost == 2 * DW_MACS and g["conv_depthwise"].params == 2 * 72
    assert g["conv_pointwise"].cost == 2 * PW_MACS
    assert g["linear"].cost == FC_MACS and g["linear"].params == FC_PARAMS
    assert g["other"].cost == 2 * MIX_MACS and g["other"].modules == 4  # root, blocks, blocks.0, blocks.1
    assert sum(x.cost for x in g.values()) == TOTAL_MACS and sum(x.params for x in g.values()) == TOTAL_PARAMS
    by_type = {x.name: x for x in group_rows(prof, "type")}
    assert by_type["Conv2d"].modules == 5 and by_type["Block"].cost == 2 * MIX_MACS


def test_percent_strings():
    assert percent_strings([1, 1, 1], 3) == ["33.33", "33.33", "33.33"]
    assert percent_strings([10838016, 539492352], 568740352) == ["1.91", "94.86"]  # nearest, not forced
    assert percent_strings([0, 0], 0) == ["-", "-"]
