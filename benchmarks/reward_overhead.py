"""Cost of reward pipelines inside the compiled training loop: PPO steps/s with each pipeline
against the identity transform, in one run:

* ``chain(normalize_returns, pbrs, par, clip)``: stateless and running-statistics shaping;
* ``intrinsic(rnd())``: RND's two 256x256 networks, one Adam step per rollout, and a second critic;
* ``intrinsic(e3b())``: E3B's inverse-dynamics model and a per-env 32x32 Sherman-Morrison scan.

    python -m benchmarks.reward_overhead [--env gymnax/CartPole-v1] [--seeds 16]

Alternates the runs (``--rounds`` each) and compares medians of per-chunk times, compile
excluded. Results: benchmarks/results/reward_overhead.{json,csv,png}.
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import numpy as np

import jrew
from benchmarks.common import bar_plot, load_results, machine, write_results
from jrew import rewards as R
from jrew.algos import ppo


def pipeline(observation_size: int) -> R.RewardTransform:
    def potential(obs):
        return -jnp.sum(obs**2) / observation_size

    return R.chain(R.normalize_returns(), R.pbrs(potential, coef=0.5), R.par(running=True), R.clip(0.0, 1.0))


def measure(config, seeds: int, reward, updates: int) -> tuple[float, float]:
    result = jrew.train(config, seeds=seeds, reward=reward, chunk_updates=updates, progress=False)
    per_chunk = seeds * updates * config.batch_size
    return per_chunk / float(np.median(result.chunk_seconds)), result.compile_seconds


def pipelines(observation_size: int) -> dict[str, R.RewardTransform | None]:
    return {
        "identity": None,
        "chain(normalize_returns, pbrs, par, clip)": pipeline(observation_size),
        "intrinsic(rnd())": R.intrinsic(R.rnd()),
        "intrinsic(e3b())": R.intrinsic(R.e3b()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="gymnax/CartPole-v1")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--updates", type=int, default=25, help="updates per timed chunk")
    parser.add_argument("--chunks", type=int, default=4, help="chunks per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each pipeline, alternated")
    parser.add_argument("--replot", action="store_true",
                        help="measure nothing: redraw the figure from results/reward_overhead.json")
    args = parser.parse_args()
    if args.replot:
        print(f"figure: {plot(*load_results('reward_overhead'))}")
        return

    config = ppo.PPOConfig(env=args.env, total_steps=args.chunks * args.updates * 512)
    candidates = pipelines(ppo.make(config).env.observation_size)
    rates = {name: [] for name in candidates}
    compiles = {name: [] for name in candidates}
    for _ in range(args.rounds):
        for name, reward in candidates.items():
            sps, compile_seconds = measure(config, args.seeds, reward, args.updates)
            rates[name].append(sps)
            compiles[name].append(compile_seconds)
            print(f"{name:45s} {sps:>12,.0f} steps/s  (compile {compile_seconds:.1f}s)", flush=True)
    identity = float(np.median(rates["identity"]))
    rows = []
    for name in candidates:
        sps = float(np.median(rates[name]))
        rows.append({"run": name, "steps_per_second": sps, "time_per_step_vs_identity": identity / sps,
                     "compile_seconds": float(np.median(compiles[name]))})
    overheads = {row["run"]: row["time_per_step_vs_identity"] - 1.0 for row in rows[1:]}
    settings = {k: v for k, v in vars(args).items() if k != "replot"}
    json_path, _ = write_results("reward_overhead", rows, {**machine(), **settings, "overhead": overheads})
    plot(rows, settings)
    print()
    for name, overhead in overheads.items():
        print(f"{name:45s} {overhead:+.1%} time per step vs identity")
    print(f"results: {json_path}")


def plot(rows: list[dict], meta: dict):
    return bar_plot("reward_overhead", [row["run"].replace("(normalize_returns", "(normalize") for row in rows],
                    [row["steps_per_second"] for row in rows], "env steps / s",
                    f"PPO on {meta['env']}, {meta['seeds']} seeds: reward pipelines vs identity")


if __name__ == "__main__":
    main()
