"""Cost of a reward pipeline inside the compiled training loop: PPO steps/s with
``chain(normalize_returns, pbrs, par, clip)`` against the identity transform, in one run.

    python -m benchmarks.reward_overhead [--env gymnax/CartPole-v1] [--seeds 16]

Alternates identity and pipeline runs (``--rounds`` each) and compares medians of per-chunk
times, compile excluded. Results: benchmarks/results/reward_overhead.{json,csv,png}.
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import numpy as np

import jrew
from benchmarks.common import bar_plot, machine, write_results
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="gymnax/CartPole-v1")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--updates", type=int, default=25, help="updates per timed chunk")
    parser.add_argument("--chunks", type=int, default=4, help="chunks per run")
    parser.add_argument("--rounds", type=int, default=2, help="identity/pipeline runs each, alternated")
    args = parser.parse_args()

    config = ppo.PPOConfig(env=args.env, total_steps=args.chunks * args.updates * 512)
    obs_size = ppo.make(config).env.observation_size
    rates = {"identity": [], "pipeline": []}
    compiles = {"identity": [], "pipeline": []}
    for _ in range(args.rounds):
        for name, reward in (("identity", None), ("pipeline", pipeline(obs_size))):
            sps, compile_seconds = measure(config, args.seeds, reward, args.updates)
            rates[name].append(sps)
            compiles[name].append(compile_seconds)
            print(f"{name:9s} {sps:>12,.0f} steps/s  (compile {compile_seconds:.1f}s)")
    identity, chain = float(np.median(rates["identity"])), float(np.median(rates["pipeline"]))
    overhead = identity / chain - 1.0
    rows = [
        {"run": "identity", "steps_per_second": identity, "compile_seconds": float(np.median(compiles["identity"]))},
        {"run": "chain(normalize_returns, pbrs, par, clip)", "steps_per_second": chain,
         "compile_seconds": float(np.median(compiles["pipeline"]))},
    ]
    json_path, _ = write_results("reward_overhead", rows, {**machine(), **vars(args), "overhead": overhead})
    bar_plot("reward_overhead", ["identity", "chain(normalize, pbrs, par, clip)"], [identity, chain],
             "env steps / s", f"PPO on {args.env}, {args.seeds} seeds: reward pipeline overhead {overhead:+.1%}")
    print(f"\npipeline overhead: {overhead:+.1%} time per step (goal <= 10%)   results: {json_path}")


if __name__ == "__main__":
    main()
