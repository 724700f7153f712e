"""Return decomposition on a delayed reward: PPO on the delayed reward vs PPO on a learned
redistribution of it (RUDDER / LaRe regression), scored on the true return.

    python experiments/return_decomposition.py [--env gymnax/CartPole-v1] [--seeds 16] [--delay wrapper]

``R.delayed()`` pays each episode's summed reward at its last step and 0 elsewhere, so credit
assignment has to span the whole episode. ``R.return_decomposition()`` learns ``r_hat(s, a)``
whose per-episode sums match the delayed returns and trains the policy on it. PPO on the
undelayed true reward is the reference. ``--delay wrapper`` delays the env's own reward instead
(``envs.make(..., reward_delay=True)``: the agent never sees the undelayed one; the reference then
trains on ``info["true_reward"]``). Writes ``return_decomposition_<env>[_wrapper].{json,csv,png}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import method_comparison as compare

from jrew import rewards as R
from jrew.algos import ppo

METHODS = {  # the delay as a reward transform
    "delayed reward": R.delayed(),
    "delayed + return decomposition": R.chain(R.delayed(), R.return_decomposition()),
    "true reward (undelayed)": None,
}
WRAPPER_METHODS = {  # the env itself pays late (envs' DelayedReward)
    "delayed reward": None,
    "delayed + return decomposition": R.return_decomposition(),
    "true reward (undelayed)": R.true_reward(),
}


def summarize(results) -> list[dict]:
    return [{"method": method, "seeds": result.metrics["true_return"].shape[0],
             "final_true_return": compare.mean_ci(result.metrics["true_return"][:, -1]),
             "mean_true_return_over_training": compare.mean_ci(result.metrics["true_return"].mean(axis=1)),
             "env_steps": int(result.env_steps[-1])} for method, result in results.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="gymnax/CartPole-v1")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--delay", choices=("transform", "wrapper"), default="transform",
                        help="delay the reward in the pipeline (R.delayed) or in the env (reward_delay=True)")
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    start = time.perf_counter()
    wrapped = args.delay == "wrapper"
    config = ppo.PPOConfig(env=args.env, total_steps=args.total_steps,
                           env_kwargs=(("reward_delay", "True"),) if wrapped else ())
    results = compare.train_methods(config, WRAPPER_METHODS if wrapped else METHODS, args.seeds, None)
    rows = summarize(results)
    print(f"\n{args.env}, {args.seeds} seeds, {rows[0]['env_steps']:,} env steps each "
          f"({time.perf_counter() - start:.0f} s); mean [95% CI] over seeds")
    for row in rows:
        f, m = row["final_true_return"], row["mean_true_return_over_training"]
        print(f"  {row['method']:32s} final true return {f['mean']:.1f} [{f['ci_low']:.1f}, {f['ci_high']:.1f}]"
              f"   mean over training {m['mean']:.1f} [{m['ci_low']:.1f}, {m['ci_high']:.1f}]")
    name = "return_decomposition_" + args.env.split("/")[-1].lower().replace("-", "_") + ("_wrapper" if wrapped else "")
    compare.write(rows, results, "true_return", f"{args.env}: delayed reward", args.out, name, vars(args))


if __name__ == "__main__":
    main()
