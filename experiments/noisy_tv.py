"""The noisy-TV problem: does a curiosity bonus get stuck watching unpredictable noise?

    python experiments/noisy_tv.py [--seeds 16] [--total-steps 1000000]

``lab/noisy_tv`` is a 9x9 room with the goal in the far corner (true return 1 if reached within
100 steps) and six TV cells whose screen shows fresh noise while the agent stands on them (Burda
et al. 2019's noisy TV). Prediction-error bonuses (ICM, RND) stay high on noise, count-like
bonuses (E3B's elliptical bonus, episodic counts) do not. Every method gets the same PPO config,
seeds and steps, with its bonus on the ``intrinsic`` stream (whose return follows the bonus:
cut at episode ends for E3B and episodic counts, running on for ICM and RND;
``--intrinsic-return episodic|running`` forces one for all). Per method it reports, with 95%
bootstrap CIs over seeds, the share of steps spent watching the TV and the goal rate (true
return), over all of training and over its last quarter. Writes ``noisy_tv.{json,csv,png}`` to
``--out``. It is a research result whichever way it comes out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import method_comparison as compare
import numpy as np

from jrew import rewards as R
from jrew.algos import ppo

NUM_CELLS = 121  # the one-hot agent cell of the 11x11 layout; the TV screen follows it


def bonuses() -> dict[str, R.RewardTransform | None]:
    return {
        "ppo": None,
        "icm": R.intrinsic(R.icm()),
        "rnd": R.intrinsic(R.rnd()),
        "e3b": R.intrinsic(R.e3b()),
        # the agent's cell is the argmax of the observation: 1.0 there, noise in [0, 1) on the screen
        "episodic_counts": R.intrinsic(R.counts(NUM_CELLS, episodic=True)),
    }


def summarize(results) -> list[dict]:
    rows = []
    for method, result in results.items():
        watching, true = result.metrics["env/watching_tv"], np.nan_to_num(result.metrics["true_return"], nan=0.0)
        rows.append({
            "method": method,
            "seeds": watching.shape[0],
            "tv_share": compare.mean_ci(watching.mean(axis=1)),
            "tv_share_last_quarter": compare.mean_ci(compare.last_fraction(watching, 0.25)),
            "goal_rate": compare.mean_ci(true.mean(axis=1)),
            "goal_rate_last_quarter": compare.mean_ci(compare.last_fraction(true, 0.25)),
            "env_steps": int(result.env_steps[-1]),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=1_000_000)
    parser.add_argument("--methods", nargs="+", default=list(bonuses()), choices=list(bonuses()))
    compare.add_intrinsic_return_flag(parser)
    parser.add_argument("--run-dir", type=Path, default=None, help="keep each method's run (checkpoints, metrics)")
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    config = ppo.PPOConfig(env="lab/noisy_tv", total_steps=args.total_steps, num_envs=16, num_steps=32,
                           episodic_intrinsic=compare.INTRINSIC_RETURNS[args.intrinsic_return])
    methods = {m: b for m, b in bonuses().items() if m in args.methods}
    start = time.perf_counter()
    results = compare.train_methods(config, methods, args.seeds, args.run_dir)
    rows = summarize(results)
    compare.label_intrinsic_returns(rows, config, methods)
    print(f"\nlab/noisy_tv, {args.seeds} seeds, {rows[0]['env_steps']:,} env steps each, "
          f"intrinsic return: {args.intrinsic_return} "
          f"({time.perf_counter() - start:.0f} s); mean [95% CI] over seeds")
    show = lambda d: f"{d['mean']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"
    for row in rows:
        print(f"  {row['method']:16s} ({row['intrinsic_return']}) TV share {show(row['tv_share'])}, "
              f"last quarter {show(row['tv_share_last_quarter'])}"
              f"   goal rate {show(row['goal_rate'])}, last quarter {show(row['goal_rate_last_quarter'])}")
    name = "noisy_tv" + compare.intrinsic_return_suffix(args.intrinsic_return)
    compare.write(rows, results, "true_return", "lab/noisy_tv", args.out, name, vars(args))
    watching = compare.plot_metric(results, "env/watching_tv", "lab/noisy_tv: share of steps on the TV",
                                   args.out / f"{name}_watching.png")
    print(f"wrote {watching}")


if __name__ == "__main__":
    main()
