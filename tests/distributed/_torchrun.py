"""What the torchrun tests share: a case script's ``main`` (one gloo rank writes ``rank<r>.json``) and the test's
launch of that script on ``n`` processes, each rank's JSON paired with the fake-group simulation of that rank."""
from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def rank_main(results, folder: str, mesh: bool = True) -> None:
    """In a torchrun process: join the gloo group, write ``results(mesh)`` (a 1-d CPU mesh of the whole group) or
    ``results(world, rank)`` to ``folder/rank<r>.json``, leave the group."""
    import torch.distributed as dist

    dist.init_process_group("gloo")
    try:
        if mesh:
            from torch.distributed.device_mesh import init_device_mesh

            data = results(init_device_mesh("cpu", (dist.get_world_size(),)))
        else:
            data = results(dist.get_world_size(), dist.get_rank())
        with open(os.path.join(folder, f"rank{dist.get_rank()}.json"), "w") as f:
            json.dump(data, f)
    finally:
        dist.destroy_process_group()


def launch(script: str, n: int, folder, simulate, timeout: int = 240) -> list:
    """Run ``script`` (a file beside this one) under torchrun on ``n`` processes (gloo, CPU, one thread each);
    [(real, simulated)] per rank, ``simulate(rank)`` giving that rank's data from the fake process group."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([ROOT, HERE])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
           os.path.join(HERE, script), str(folder)]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    pairs = []
    for rank in range(n):
        with open(os.path.join(folder, f"rank{rank}.json")) as f:
            real = json.load(f)
        pairs.append((real, json.loads(json.dumps(simulate(rank)))))
    return pairs
