"""Runs in a subprocess with forced host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``),
which must be set before JAX starts, so it cannot run inside the pytest workers. Prints JSON.

    python tests/multidevice_worker.py mesh RUN_DIR

It leaves its runs in RUN_DIR: ``padded`` (3 seeds, checkpointed on 1 device) and ``full`` (8
seeds, checkpointed split over 4 devices).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

import jrew
from jrew import algos
from jrew.algos import ppo
from jrew.plan import expand
from jrew.program import Program

CONFIG = ppo.PPOConfig(total_steps=4 * 512)


def metrics_of(result) -> dict:
    return {k: np.asarray(v).tolist() for k, v in result.metrics.items()}


def mesh(run_dir: Path) -> dict:
    devices = jax.devices()
    program = Program(algos.for_config(CONFIG).make(CONFIG, jrew.rewards.identity()), "ppo",
                      expand(CONFIG, seeds=[0, 1, 2]), 2)
    leaf = jax.tree.leaves(program.initial_state())[0]
    layout = {"padded_runs": leaf.shape[0], "devices_holding_state": len(leaf.sharding.device_set)}
    # 3 seeds over 8 devices (padded to 8) for 2 updates, then resumed on 1 device for 2 more
    jrew.train(CONFIG, seeds=3, run_dir=run_dir / "padded", chunk_updates=2, until_update=2, progress=False)
    resumed_on_one = jrew.resume(run_dir / "padded", devices=devices[:1], progress=False)
    on_one = jrew.train(CONFIG, seeds=3, devices=devices[:1], progress=False)
    # 8 seeds fill 8 devices (no padding): the checkpoint's sharded state resumes on 4
    jrew.train(CONFIG, seeds=8, run_dir=run_dir / "full", chunk_updates=2, until_update=2, progress=False)
    resumed_on_four = jrew.resume(run_dir / "full", devices=devices[:4], progress=False)
    return {"num_devices": len(devices), **layout, "on_one": metrics_of(on_one),
            "resumed_on_one": metrics_of(resumed_on_one), "resumed_on_four": metrics_of(resumed_on_four),
            "saved_full": {k: v.tolist() for k, v in jrew.load_metrics(run_dir / "full").items()}}


if __name__ == "__main__":
    print(json.dumps({"mesh": mesh}[sys.argv[1]](Path(sys.argv[2]))))
