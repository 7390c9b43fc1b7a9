"""The tensor-parallel MLP on two real ranks (torchrun, gloo, CPU) and its fake-group simulation: each rank's
profile (forward and training step, on the CPU and on meta: this rank's and the global counts, the collectives
and their bytes) is the simulation of that rank."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch.distributed as dist

from _tp_case import H, T, closed_forms, rank_results
from test_tp_local_global import fake_group

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torchrun's ranks talk over gloo, which this torch build lacks")


def test_two_gloo_ranks_match_the_simulation(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([ROOT, HERE])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           os.path.join(HERE, "_tp_case.py"), str(tmp_path)]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    want = closed_forms(2)
    for rank in (0, 1):
        with open(tmp_path / f"rank{rank}.json") as f:
            real = json.load(f)
        with fake_group(2, rank) as mesh:
            simulated = json.loads(json.dumps(rank_results(mesh)))
        assert real == simulated, rank
        fwd = real["forward-cpu"]
        assert (fwd["rank"], fwd["world_size"]) == (rank, 2)
        assert (fwd["macs"], fwd["macs_global"], fwd["params"], fwd["params_global"]) == \
            (want["macs"], want["macs_global"], want["params"], want["params_global"])
        assert fwd["comm"] == [["2", "forward", "all_reduce", 2, 1, want["all_reduce_bytes"],
                                want["all_reduce_sent"], want["all_reduce_sent"]]]
        # the step: the plain Linear in front adds T h h MACs forward, T h h backward (its weight gradient; the input
        # needs none); the colwise layer's input gradient is all-reduced for it
        step = real["step-cpu"]
        assert step["macs_global"] == 3 * want["macs_global"] + 2 * T * H * H
        assert step["macs"] == 3 * want["macs"] + 2 * T * H * H
        assert [c[:3] for c in real["step-meta"]["comm"]] == [["1.0", "backward", "all_reduce"],
                                                              ["1.2", "forward", "all_reduce"]]
