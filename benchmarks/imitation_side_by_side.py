"""Preference-based RL on CartPole-v1: jrew against imitation (HumanCompatibleAI), at the same label
and env-step budget, measured in one run on this machine.

    python -m benchmarks.imitation_side_by_side [--labels 2000] [--total-steps 500000]
        [--imitation-seeds 3] [--jrew-seeds 16] [--venv .imitation-venv]

imitation stays out of jrew's dependencies: this script makes its own virtual environment
(``--venv``; pinned ``torch==2.13.0``, ``imitation==1.0.1``) on first use and runs
``imitation_preferences.py`` there, one process per seed, one after the other. jrew trains all
its seeds in one compiled program here (``R.preference_model`` + ``R.normalize_returns``, as in
``experiments/preference_rl.py``). Both are scored on CartPole's true return. Writes
``benchmarks/results/imitation_side_by_side.{json,csv}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
import venv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
IMITATION_PACKAGES = ["torch==2.13.0", "imitation==1.0.1"]


def imitation_python(path: Path) -> Path:
    """The venv's python, making the venv and installing imitation first if needed."""
    python = path / "bin" / "python"
    if not python.exists():
        print(f"[imitation] making {path} with {' '.join(IMITATION_PACKAGES)}", flush=True)
        venv.create(path, with_pip=True)
        for package in IMITATION_PACKAGES:  # torch first: the CPU build, not the CUDA one imitation would pull
            subprocess.run([str(python), "-m", "pip", "install", "-q", package], check=True)
    return python


def run_imitation(python: Path, seed: int, labels: int, total_steps: int) -> dict:
    start = time.perf_counter()
    out = subprocess.run([str(python), str(HERE / "imitation_preferences.py"), "--seed", str(seed), "--labels",
                          str(labels), "--total-steps", str(total_steps)], capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"imitation (seed {seed}) failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - start  # with interpreter start and torch import
    return result


def run_jrew(seeds: int, labels: int, total_steps: int) -> dict:
    import jrew
    from jrew import rewards as R
    from jrew.algos import ppo

    start = time.perf_counter()
    result = jrew.train(ppo.PPOConfig(env="gymnax/CartPole-v1", total_steps=total_steps), seeds=seeds,
                        reward=R.chain(R.preference_model(label_budget=labels), R.normalize_returns()))
    wall = time.perf_counter() - start
    final = result.final("true_return")
    accuracy = result.metrics["reward/0_preference_model/preference_accuracy"]
    with np.errstate(all="ignore"):
        held_out = float(np.nanmean(accuracy[:, -accuracy.shape[1] // 10:]))
    return {"library": "jrew", "seeds": seeds, "labels": labels, "env_steps": int(result.env_steps[-1]),
            "final_true_return": final.tolist(), "held_out_accuracy_last_10pct": held_out,
            "compile_seconds": result.compile_seconds, "train_seconds": result.train_seconds, "wall_seconds": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, default=2000)
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--imitation-seeds", type=int, default=3)
    parser.add_argument("--jrew-seeds", type=int, default=16)
    parser.add_argument("--venv", type=Path, default=Path(".imitation-venv"))
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    from jrew import stats

    python = imitation_python(args.venv)
    jrew_run = run_jrew(args.jrew_seeds, args.labels, args.total_steps)
    imitation_runs = []
    for seed in range(args.imitation_seeds):
        imitation_runs.append(run_imitation(python, seed, args.labels, args.total_steps))
        print(f"[imitation] seed {seed}: {imitation_runs[-1]}", flush=True)

    def row(library, returns, seconds_total, seconds_per_seed, **extra):
        low, high = stats.curve_interval(np.asarray(returns, np.float64)[:, None])
        return {"library": library, "seeds": len(returns), "labels": args.labels, "env_steps": args.total_steps,
                "final_true_return_mean": float(np.mean(returns)), "ci_low": float(low[0]), "ci_high": float(high[0]),
                "wall_seconds_total": seconds_total, "wall_seconds_per_seed": seconds_per_seed, **extra}

    imitation_returns = [r["final_true_return"] for r in imitation_runs]
    imitation_seconds = [r["wall_seconds"] for r in imitation_runs]
    rows = [
        row("jrew", jrew_run["final_true_return"], jrew_run["wall_seconds"], jrew_run["wall_seconds"] / args.jrew_seeds,
            compile_seconds=jrew_run["compile_seconds"], held_out_accuracy=jrew_run["held_out_accuracy_last_10pct"]),
        row("imitation 1.0.1 (SB3 PPO, torch CPU)", imitation_returns, float(np.sum(imitation_seconds)),
            float(np.mean(imitation_seconds)),
            reward_accuracy=float(np.mean([r["reward_accuracy"] for r in imitation_runs]))),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "imitation_side_by_side.json").write_text(
        json.dumps({"rows": rows, "jrew": jrew_run, "imitation": imitation_runs}, indent=2) + "\n")
    with (args.out / "imitation_side_by_side.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nCartPole-v1, {args.labels} labels, {args.total_steps:,} env steps per seed")
    for r in rows:
        print(f"  {r['library']:38s} {r['seeds']:2d} seeds: final true return {r['final_true_return_mean']:.1f} "
              f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}], wall {r['wall_seconds_total']:.0f} s in all, "
              f"{r['wall_seconds_per_seed']:.1f} s per seed")
    print(f"wrote {args.out / 'imitation_side_by_side.json'}")
    sys.exit(0)


if __name__ == "__main__":
    main()
