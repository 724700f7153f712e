"""Scaling: total env steps/s against the number of runs and the number of devices, beside raw env stepping.

    python -m benchmarks.scaling [--runs 1 4 16 64 256 1024 4096] [--devices 1 2 4 8] [--device-runs 256]

* Runs: jrew PPO on gymnax CartPole-v1 (``PPOConfig``'s defaults: 16 envs x 32 steps per update
  and run) with N seeds in one program, written to a run directory like any run (Parquet metrics,
  Orbax checkpoints). Beside it, the raw rate of stepping the same N x 16 CartPoles with random
  actions, 32 steps per ``lax.scan``: the ceiling. Also: compile time, the process's peak memory (RSS)
  and the size of the metrics on disk.
* Devices: ``--device-runs`` runs split over 1, 2, 4, 8 forced host devices
  (``XLA_FLAGS=--xla_force_host_platform_device_count=D``); on a CPU the devices share its cores.

Every point runs in its own process, so peak memory and device counts are its own. Steps/s are
over the training chunks after the compile, host I/O (metrics, checkpoints) included.
Results: benchmarks/results/scaling.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def one_point(runs: int, updates: int, raw: bool) -> dict:
    """Trains ``runs`` CartPole seeds for ``updates`` updates in this process; returns its figures."""
    import jax

    import envs
    import jrew
    from benchmarks.common import raw_steps_per_second
    from jrew.algos import ppo

    config = ppo.PPOConfig(env="gymnax/CartPole-v1")
    config = config.replace(total_steps=updates * config.num_envs * config.num_steps)
    with tempfile.TemporaryDirectory() as run_dir:
        result = jrew.train(config, seeds=runs, run_dir=Path(run_dir) / "run", chunk_updates=max(1, updates // 2),
                            progress=False)
        metrics_bytes = sum(f.stat().st_size for f in (Path(run_dir) / "run" / "metrics").iterdir())
    out = {"runs": runs, "devices": jax.device_count(), "updates": updates,
           "steps_per_second": result.steps_per_second, "compile_seconds": result.compile_seconds,
           "metrics_bytes_per_update": metrics_bytes / updates}
    if raw:
        env = envs.make(config.env)
        out["raw_steps_per_second"] = raw_steps_per_second(env, runs * config.num_envs, config.num_steps, repeats=3)[0]
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    return out


def in_subprocess(runs: int, updates: int, devices: int | None, raw: bool) -> dict:
    env = dict(os.environ)
    if devices is not None:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    command = [sys.executable, "-m", "benchmarks.scaling", "--point", str(runs), "--updates", str(updates)]
    done = subprocess.run(command + (["--raw"] if raw else []), env=env, capture_output=True, text=True, check=False,
                          cwd=Path(__file__).parent.parent)
    if done.returncode:
        raise RuntimeError(f"the point runs={runs} devices={devices} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(rows: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_runs = [r for r in rows if r["sweep"] == "runs"]
    by_devices = [r for r in rows if r["sweep"] == "devices"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    runs = [r["runs"] for r in by_runs]
    left.plot(runs, [r["steps_per_second"] for r in by_runs], "o-", label="jrew PPO (training)")
    left.plot(runs, [r["raw_steps_per_second"] for r in by_runs], "s--", label="raw env steps (random actions)")
    left.set(xscale="log", yscale="log", xlabel="runs (seeds) in one program", ylabel="env steps/s, all runs",
             title="CartPole-v1, one program")
    left.legend(fontsize=8)
    right.bar([str(r["devices"]) for r in by_devices], [r["steps_per_second"] for r in by_devices], color="#4c72b0")
    right.set(xlabel="devices (forced host devices)", ylabel="env steps/s, all runs",
              title=f"{by_devices[0]['runs'] if by_devices else ''} runs split over devices")
    fig.tight_layout()
    path = RESULTS / "scaling.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4, 16, 64, 256, 1024, 4096])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--device-runs", type=int, default=256)
    parser.add_argument("--updates", type=int, default=4, help="updates timed per point (2 chunks)")
    parser.add_argument("--point", type=int, default=None, help=argparse.SUPPRESS)  # one point, in this process
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point is not None:
        print(json.dumps(one_point(args.point, args.updates, args.raw)))
        return

    from benchmarks.common import machine, write_results

    rows = []
    for runs in args.runs:
        rows.append({"sweep": "runs", **in_subprocess(runs, args.updates, None, raw=True)})
        r = rows[-1]
        print(f"{runs:5d} runs: {r['steps_per_second']:>12,.0f} steps/s  raw {r['raw_steps_per_second']:>12,.0f}  "
              f"ratio {r['steps_per_second'] / r['raw_steps_per_second']:.3f}  compile {r['compile_seconds']:.1f}s  "
              f"peak RSS {r['peak_rss_gb']:.2f} GB  metrics {r['metrics_bytes_per_update'] / 1e3:,.1f} kB/update",
              flush=True)
    for devices in args.devices:
        rows.append({"sweep": "devices", **in_subprocess(args.device_runs, args.updates, devices, raw=False),
                     "raw_steps_per_second": float("nan")})
        r = rows[-1]
        print(f"{devices} devices, {args.device_runs} runs: {r['steps_per_second']:>12,.0f} steps/s  "
              f"compile {r['compile_seconds']:.1f}s", flush=True)
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
    write_results("scaling", rows, {**machine(), "env": "gymnax/CartPole-v1", "updates": args.updates})
    print(f"plot: {plot(rows)}")


if __name__ == "__main__":
    main()
