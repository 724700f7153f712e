"""The run axis over a device mesh: 8 forced CPU devices against 1, and checkpoints across device counts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("multidevice_worker.py")
# One device and eight split the runs differently, so XLA fuses the per-device batches differently:
# the same seeds agree to float32 rounding, which PPO's few updates here do not amplify past this.
RTOL, ATOL = 1e-4, 1e-5


def run_worker(mode: str, tmp_path: Path, devices: int = 8) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, str(WORKER), mode, str(tmp_path)], env=env, capture_output=True, check=False,
                          text=True, timeout=900, cwd=WORKER.parent.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def mesh_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mesh")


@pytest.fixture(scope="module")
def mesh_runs(mesh_dir):
    return run_worker("mesh", mesh_dir)


def assert_close(a: dict, b: dict, updates: slice = slice(None)) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(np.asarray(a[name], np.float64)[:, updates], np.asarray(b[name], np.float64)[:, updates],
                                   rtol=RTOL, atol=ATOL, err_msg=name)


def test_runs_are_padded_and_split_over_all_devices(mesh_runs):
    assert mesh_runs["num_devices"] == 8
    assert mesh_runs["padded_runs"] == 8 and mesh_runs["devices_holding_state"] == 8  # 3 seeds + 5 padding runs


def test_eight_devices_train_the_same_seeds_as_one(mesh_runs):
    assert np.asarray(mesh_runs["resumed_on_one"]["loss"]).shape == (3, 4)  # padding runs are not reported
    assert_close(mesh_runs["resumed_on_one"], mesh_runs["on_one"], slice(0, 2))  # updates 1-2 ran on 8 devices


def test_a_checkpoint_taken_on_eight_devices_resumes_on_one(mesh_runs):
    assert_close(mesh_runs["resumed_on_one"], mesh_runs["on_one"], slice(2, 4))


def test_a_sharded_checkpoint_without_padding_resumes_on_four_devices(mesh_runs):
    resumed, saved = mesh_runs["resumed_on_four"], mesh_runs["saved_full"]
    assert np.asarray(resumed["loss"]).shape == (8, 4)
    assert_close({k: v for k, v in saved.items() if k in resumed}, resumed)  # the file holds all 4 updates
    assert np.isfinite(np.asarray(resumed["loss"])).all()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_together_and_agree_with_one(tmp_path):
    """``jrew train --distributed`` in two processes on localhost (2 CPU devices each: 3 seeds padded
    to 4 over 4 devices), paused at update 2; the checkpoint resumes here, in one process on one device."""
    import jrew
    from jrew.algos import ppo

    run = tmp_path / "run"
    port = free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "JREW_COORDINATOR_ADDRESS": f"localhost:{port}", "JREW_NUM_PROCESSES": "2"}
    args = [sys.executable, "-m", "jrew.cli", "train", "--distributed", "--host-devices", "2", "--seeds", "3",
            "--total-steps", "2048",
            "--run-dir", str(run), "--chunk-updates", "2", "--until-update", "2"]
    processes = [subprocess.Popen(args, env={**env, "JREW_PROCESS_ID": str(i)}, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, cwd=WORKER.parent.parent) for i in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    assert "final true return over 3 seeds" in outputs[0] and "final true return" not in outputs[1]  # one reporter
    together = jrew.load_metrics(run)
    assert together["loss"].shape == (3, 2) and together["seed"].tolist() == [0, 1, 2]
    alone = jrew.train(ppo.PPOConfig(total_steps=2048), seeds=3, progress=False)
    assert_close({k: together[k] for k in alone.metrics}, {k: v[:, :2] for k, v in alone.metrics.items()})
    resumed = jrew.resume(run, progress=False)  # the two processes' checkpoint, here on one device
    assert_close(resumed.metrics, alone.metrics)


def test_a_policy_checkpointed_over_four_devices_loads_on_one(mesh_runs, mesh_dir):
    from jrew import policy

    loaded = policy.from_run(mesh_dir / "full", run=5)  # this process has one device
    assert np.isfinite(loaded.evaluate(episodes=2)["eval/true_return"])


def test_host_devices_flag_sets_the_forced_device_count_before_jax_starts(capsys):
    from jrew import cli

    assert cli.host_devices_flags(8, "") == "--xla_force_host_platform_device_count=8"
    assert cli.host_devices_flags(4, "--xla_cpu_foo=1 --xla_force_host_platform_device_count=2") == \
        "--xla_cpu_foo=1 --xla_force_host_platform_device_count=4"
    with pytest.raises(ValueError, match="--host-devices must be >= 1, got 0"):
        cli.force_host_devices(0, {})
    with pytest.raises(RuntimeError, match="before JAX is imported"):  # this process has started JAX
        cli.force_host_devices(8, {})
    assert cli.main(["train", "--coordinator-address", "localhost:1", "--seeds", "1"]) == 2
    assert "--process-id need --distributed" in capsys.readouterr().err
