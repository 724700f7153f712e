"""Adversarial imitation from a few expert episodes: PPO on GAIL's reward, scored on the true return.

    python experiments/gail_imitation.py --env cartpole   [--episodes 5]  [--seeds 16]
    python experiments/gail_imitation.py --env pendulum   [--episodes 10] [--seeds 16]

1. trains an expert (PPO on the true reward, one seed; Pendulum: 1M steps) into ``--expert-dir`` (kept: a second call
   reuses it), 2. records ``--episodes`` of its episodes (``jrew.demonstrations.record``, what
   ``jrew demos`` does), 3. trains PPO on ``R.gail(demos)`` (reward ``-log(1 - D)``, gradient
   penalty 10, then ``normalize_returns``) for every seed in one compiled program, the env reward
   never seen. Reports the final true return against the expert's and a random policy's (the
   normalized score ``(R - R_random) / (R_expert - R_random)``), and the discriminator's
   accuracy. Writes ``gail_<env>.{json,csv,png}`` to ``--out``.

GAIL's reward is positive, so on CartPole (episodes end on failure) it also pays for survival;
Pendulum's episodes have a fixed length, where that bias cannot solve the task.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import method_comparison as compare
import numpy as np

from envs import render
from jrew import demonstrations
from jrew import rewards as R
from jrew.algos import base, ppo

PRESETS = {
    "cartpole": {"config": ppo.PPOConfig(env="gymnax/CartPole-v1", total_steps=500_000), "episodes": 5},
    # the swing-up settings of tests/test_learning.py (gamma 0.95, lr 1e-3, observation normalization);
    # the expert trains for 1M steps, GAIL for 2M
    "pendulum": {"config": ppo.PPOConfig(env="gymnax/Pendulum-v1", total_steps=2_000_000, num_envs=16, num_steps=128,
                                         num_epochs=10, num_minibatches=32, normalize_observations=True,
                                         ent_coef=0.0, learning_rate=1e-3, gamma=0.95), "episodes": 10},
}


def expert_demonstrations(config, expert_dir: Path, episodes: int) -> demonstrations.Demonstrations:
    """The expert run in ``expert_dir`` (trained there first if absent) and ``episodes`` of its episodes."""
    expert = compare.expert_run(config.replace(total_steps=min(config.total_steps, 1_000_000)), expert_dir)
    return demonstrations.record(expert, episodes, seed=12345)


def random_return(config, episodes: int = 100) -> float:
    env = base.setup(config, 1)[0]
    return demonstrations.play(env, render.random_actions(env), episodes, seed=1).mean_return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", choices=sorted(PRESETS), default="cartpole")
    parser.add_argument("--episodes", type=int, default=None, help="expert episodes (default: the preset's)")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--expert-dir", type=Path, default=None, help="default runs/experts/<env>")
    parser.add_argument("--run-dir", type=Path, default=None, help="keep the GAIL run (checkpoints, metrics)")
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    preset = PRESETS[args.env]
    config, episodes = preset["config"], args.episodes or preset["episodes"]
    start = time.perf_counter()
    demos = expert_demonstrations(config, args.expert_dir or Path("runs") / "experts" / args.env, episodes)
    baseline = random_return(config)
    print(f"[demonstrations] {episodes} expert episodes, {demos.num_steps} steps, true return {demos.mean_return:.1f}; "
          f"random policy {baseline:.1f}", flush=True)
    results = compare.train_methods(
        config, {"GAIL": R.chain(R.gail(demos), R.normalize_returns())}, args.seeds, args.run_dir)
    result = results["GAIL"]
    final = result.final("true_return")
    accuracy = compare.reward_metric(result, "discriminator_accuracy")
    normalized = (final - baseline) / (demos.mean_return - baseline)
    row = {"method": "GAIL (gradient penalty 10)", "env": config.env, "seeds": len(final),
           "expert_episodes": episodes, "expert_steps": demos.num_steps, "env_steps": int(result.env_steps[-1]),
           "expert_true_return": demos.mean_return, "random_true_return": baseline,
           "final_true_return": compare.mean_ci(final), "normalized_score": compare.mean_ci(normalized),
           "fraction_of_expert_return": float(final.mean() / demos.mean_return),
           "final_discriminator_accuracy": compare.mean_ci(compare.last_fraction(accuracy, 0.1)),
           "seconds": time.perf_counter() - start}
    f, n, a = row["final_true_return"], row["normalized_score"], row["final_discriminator_accuracy"]
    print(f"\n{config.env}, {len(final)} seeds, {row['env_steps']:,} env steps, {episodes} expert episodes "
          f"({row['seconds']:.0f} s); mean [95% CI] over seeds\n"
          f"  final true return {f['mean']:.1f} [{f['ci_low']:.1f}, {f['ci_high']:.1f}] (expert {demos.mean_return:.1f}, "
          f"random {baseline:.1f}); normalized score {n['mean']:.2f} [{n['ci_low']:.2f}, {n['ci_high']:.2f}]; "
          f"discriminator accuracy {a['mean']:.2f}")
    compare.write([row], results, "true_return", f"{config.env}: GAIL from {episodes} expert episodes", args.out,
                  f"gail_{args.env}", vars(args))
    sys.exit(0 if np.isfinite(final).all() else 1)


if __name__ == "__main__":
    main()
