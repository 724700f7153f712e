"""Preference-based RL without humans: PPO on an online Bradley-Terry reward model vs PPO on the
true reward, at the same env-step budget, scored on the true return.

    python experiments/preference_rl.py [--env gymnax/CartPole-v1] [--seeds 16] [--labels 2000]
    python experiments/preference_rl.py --env lab/tomato_watering --total-steps 300000

The reward model (``R.preference_model``) compares pairs of 25-step segments of the policy's own
rollouts, labelled by a synthetic Boltzmann-rational labeller on the true reward (beta 1), 16
pairs per rollout until ``--labels`` labels are spent; its output is normalized by the running
return std (``R.normalize_returns``). On ``lab/tomato_watering`` the visible reward can be
tampered with (a bucket makes every tomato look watered): PPO on the visible reward is the
third method there. Writes ``preference_rl_<env>.{json,csv,png}`` to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import method_comparison as compare
import numpy as np

from jrew import rewards as R
from jrew.algos import ppo


def methods(env: str, labels: list[float]) -> dict[str, R.RewardTransform | list | None]:
    """The methods; several label budgets are variants of one program (the budget is a number)."""
    models = [R.chain(R.preference_model(label_budget=b), R.normalize_returns()) for b in labels]
    chosen = {"true reward": R.true_reward(), "preference model": models[0] if len(models) == 1 else models}
    if env.startswith("lab/"):
        chosen["visible reward"] = None
    return chosen


def summarize(results, labels: list[float]) -> list[dict]:
    reference = results["true reward"].metrics["true_return"][:, -1].mean()
    rows = []
    for method, result in results.items():
        variants = result.by_variant("true_return").shape[0]
        for v in range(variants):
            final = result.by_variant("true_return")[v, :, -1]
            row = {"method": method if variants == 1 else f"{method} ({labels[v]:g} labels)", "seeds": len(final),
                   "final_true_return": compare.mean_ci(final),
                   "fraction_of_true_reward_ppo": float(final.mean() / reference),
                   "env_steps": int(result.env_steps[-1])}
            if "reward/0_preference_model/labels" in result.metrics:
                row["labels"] = float(result.by_variant("reward/0_preference_model/labels")[v, :, -1].mean())
                accuracy = result.by_variant("reward/0_preference_model/preference_accuracy")[v]
                with np.errstate(all="ignore"):  # NaN: no pair of that rollout had different true returns
                    row["held_out_preference_accuracy"] = compare.mean_ci(np.nanmean(accuracy, axis=1))
            if "env/unsafe" in result.metrics:
                row["unsafe_step_fraction"] = compare.mean_ci(result.by_variant("env/unsafe")[v, :, -1])
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="gymnax/CartPole-v1")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--labels", type=float, nargs="+", default=[2000],
                        help="label budget per run; several train as variants of one program")
    parser.add_argument("--run-dir", type=Path, default=None, help="keep each method's run (checkpoints, metrics)")
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    config = ppo.PPOConfig(env=args.env, total_steps=args.total_steps)
    start = time.perf_counter()
    results = compare.train_methods(config, methods(args.env, args.labels), args.seeds, args.run_dir)
    rows = summarize(results, args.labels)
    print(f"\n{args.env}, {args.seeds} seeds, {rows[0]['env_steps']:,} env steps each "
          f"({time.perf_counter() - start:.0f} s); mean [95% CI] over seeds")
    for row in rows:
        f = row["final_true_return"]
        line = (f"  {row['method']:32s} final true return {f['mean']:.3f} [{f['ci_low']:.3f}, {f['ci_high']:.3f}]"
                f" = {row['fraction_of_true_reward_ppo']:.0%} of true-reward PPO")
        if "labels" in row:
            a = row["held_out_preference_accuracy"]
            line += (f"; {row['labels']:.0f} labels, held-out accuracy {a['mean']:.3f} "
                     f"[{a['ci_low']:.3f}, {a['ci_high']:.3f}]")
        if "unsafe_step_fraction" in row:
            line += f"; unsafe steps {row['unsafe_step_fraction']['mean']:.3f}"
        print(line)
    name = "preference_rl_" + args.env.split("/")[-1].lower().replace("-", "_")
    compare.write(rows, results, "true_return", f"{args.env}: preference model vs true reward", args.out, name, vars(args))


if __name__ == "__main__":
    main()
