"""Deep exploration: PPO alone vs PPO + RND, + counts, + E3B and global x episodic products
(RND x E3B, counts x E3B) on DeepSea (or lab/point_goal).

    python experiments/deep_exploration.py [--size 20] [--seeds 16] [--total-steps 300000]
    python experiments/deep_exploration.py --env lab/point_goal --total-steps 2000000

DeepSea (Osband et al. 2020) pays +1 only at the far corner after ``size`` right moves whose
meaning is randomized per cell, so dithering finds it with probability 2^-size. Every method gets
the same PPO config, seeds and env steps; each trains its seeds in one compiled program with the
bonus on the ``intrinsic`` stream (a second critic). Its return follows the bonus: it runs on
across episodes for global bonuses (RND, counts) and is cut at episode ends for episodic ones
(E3B and the products with it); ``--intrinsic-return episodic|running`` forces one for all.
A seed *solves* the task when its final true return (mean over the envs' last episodes) is at
least ``--threshold``. PPO's entropy coefficient is 0.05 for every method (``--ent-coef``; at
PPO's default 0.01 the policies of the bonus methods turn deterministic before some seeds find
the corner: see the README). Writes ``deep_exploration_<env>.{json,csv,png}`` to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import method_comparison as compare
import numpy as np

from jrew import rewards as R
from jrew.algos import ppo

METHODS = ("ppo", "rnd", "counts", "e3b", "rnd_x_e3b", "counts_x_e3b")


def bonuses(env: str, size: int) -> dict[str, R.RewardTransform | None]:
    """Each method's reward pipeline. Counts are exact on DeepSea's grid, SimHash elsewhere."""
    counts = R.counts(size * size) if env == "lab/deep_sea" else R.simhash_counts(bits=16)
    return {
        "ppo": None,
        "rnd": R.intrinsic(R.rnd()),
        "counts": R.intrinsic(counts),
        "e3b": R.intrinsic(R.e3b()),
        # global x episodic products (Henaff et al. 2023)
        "rnd_x_e3b": R.intrinsic(R.global_episodic(R.rnd(), R.e3b())),
        "counts_x_e3b": R.intrinsic(R.global_episodic(counts, R.e3b())),
    }


def config(env: str, size: int, total_steps: int, ent_coef: float = 0.05,
           episodic_intrinsic: bool | None = None) -> ppo.PPOConfig:
    kwargs = (("size", str(size)),) if env == "lab/deep_sea" else ()
    return ppo.PPOConfig(env=env, env_kwargs=kwargs, total_steps=total_steps, num_envs=16, num_steps=32,
                         ent_coef=ent_coef, episodic_intrinsic=episodic_intrinsic)


def summarize(results, threshold: float) -> list[dict]:
    rows = []
    for method, result in results.items():
        true = result.metrics["true_return"]
        solved = true[:, -1] >= threshold
        first = [int(result.env_steps[np.argmax(c >= threshold)]) for c in true if np.any(c >= threshold)]
        rows.append({
            "method": method,
            "seeds": len(solved),
            "seeds_solved": int(solved.sum()),
            "solved_fraction": compare.mean_ci(solved.astype(float)),
            "final_true_return": compare.mean_ci(true[:, -1]),
            "mean_true_return_over_training": compare.mean_ci(np.nanmean(np.nan_to_num(true, nan=0.0), axis=1)),
            "median_env_steps_to_first_solve": float(np.median(first)) if first else None,
            "env_steps": int(result.env_steps[-1]),
            "steps_per_second": result.steps_per_second,
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="lab/deep_sea", choices=["lab/deep_sea", "lab/point_goal"])
    parser.add_argument("--size", type=int, default=20, help="DeepSea size")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=300_000)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--ent-coef", type=float, default=0.05, help="PPO entropy coefficient (every method)")
    parser.add_argument("--threshold", type=float, default=0.9, help="final true return that counts as solved")
    compare.add_intrinsic_return_flag(parser)
    parser.add_argument("--run-dir", type=Path, default=None, help="keep each method's run (checkpoints, metrics)")
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    methods = {m: b for m, b in bonuses(args.env, args.size).items() if m in args.methods}
    start = time.perf_counter()
    episodic_intrinsic = compare.INTRINSIC_RETURNS[args.intrinsic_return]
    cfg = config(args.env, args.size, args.total_steps, args.ent_coef, episodic_intrinsic)
    results = compare.train_methods(cfg, methods, args.seeds, args.run_dir)
    rows = summarize(results, args.threshold)
    compare.label_intrinsic_returns(rows, cfg, methods)
    label = f"{args.env} size {args.size}" if args.env == "lab/deep_sea" else args.env
    print(f"\n{label}, {args.seeds} seeds, {rows[0]['env_steps']:,} env steps each, PPO ent_coef {args.ent_coef}, "
          f"intrinsic return: {args.intrinsic_return}, "
          f"solved = final true return >= {args.threshold} ({time.perf_counter() - start:.0f} s)")
    for row in rows:
        ci = row["solved_fraction"]
        print(f"  {row['method']:12s} ({row['intrinsic_return']} intrinsic return) solved {row['seeds_solved']:2d}/{row['seeds']} "
              f"[{ci['ci_low']:.2f}, {ci['ci_high']:.2f}]  final true return {row['final_true_return']['mean']:.3f}  "
              f"median steps to first solve {row['median_env_steps_to_first_solve']}")
    name = "deep_exploration_" + (f"deep_sea{args.size}" if args.env == "lab/deep_sea" else args.env.split("/")[-1])
    name += "" if args.ent_coef == 0.05 else f"_ent{args.ent_coef:g}"
    name += compare.intrinsic_return_suffix(args.intrinsic_return)
    compare.write(rows, results, "true_return", label, args.out, name, vars(args))


if __name__ == "__main__":
    main()
