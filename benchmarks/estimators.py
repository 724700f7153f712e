"""PPO-GAE vs the critic-free RLOO and GRPO on 2 episodic tasks x 16 seeds, same env-step budget.

    python -m benchmarks.estimators [--seeds 16] [--total-steps 1000000]

Reports final true return (mean and 95% bootstrap CI over seeds, IQM) and training steps/s
(compile excluded). Every env step a learner simulates counts, including the masked steps the
critic-free learners simulate after an episode ends. Results: benchmarks/results/estimators.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import jrew
from benchmarks.common import RESULTS, machine, write_results
from jrew import stats
from jrew.algos import pg, ppo

TASKS = ("gymnax/CartPole-v1", "gymnax/Acrobot-v1")


def learners(env: str, total_steps: int) -> dict[str, object]:
    return {
        "PPO-GAE": ppo.PPOConfig(env=env, total_steps=total_steps),
        "RLOO": pg.PGConfig(env=env, estimator="rloo", total_steps=total_steps),
        "GRPO": pg.PGConfig(env=env, estimator="grpo", total_steps=total_steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=1_000_000)
    parser.add_argument("--replot", action="store_true", help="redraw the PNG from results/estimators.json")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads((RESULTS / "estimators.json").read_text())["rows"])
        return

    rows = []
    for env in TASKS:
        for name, config in learners(env, args.total_steps).items():
            result = jrew.train(config, seeds=args.seeds, progress=False)
            final = result.final("true_return")
            low, high = stats.curve_interval(final[:, None])
            summary = stats.summarize(final)
            rows.append({
                "task": env, "learner": name, "final_true_return_mean": summary["mean"],
                "ci95_low": float(low[0]), "ci95_high": float(high[0]), "iqm": summary["iqm"],
                "env_steps_per_seed": int(result.env_steps[-1]), "steps_per_second": result.steps_per_second,
                "compile_seconds": result.compile_seconds,
            })
            r = rows[-1]
            print(f"{env:22s} {name:8s} true return {r['final_true_return_mean']:8.1f} "
                  f"[{r['ci95_low']:.1f}, {r['ci95_high']:.1f}]  IQM {r['iqm']:8.1f}  "
                  f"{r['steps_per_second']:>10,.0f} steps/s  compile {r['compile_seconds']:.1f}s")
    json_path, _ = write_results("estimators", rows, {**machine(), **vars(args)})
    plot(rows)
    print(f"results: {json_path}")


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TASKS), figsize=(9, 3.5), dpi=120)
    for ax, env in zip(axes, TASKS):
        task_rows = [r for r in rows if r["task"] == env]
        means = np.array([r["final_true_return_mean"] for r in task_rows])
        errors = np.array([[m - r["ci95_low"], r["ci95_high"] - m] for m, r in zip(means, task_rows)]).T
        ax.errorbar([r["learner"] for r in task_rows], means, yerr=errors, fmt="o", capsize=5, markersize=7)
        ax.margins(x=0.3)
        ax.grid(alpha=0.3)
        ax.set_title(env, fontsize=9)
        ax.set_ylabel("final true return (95% CI)")
    fig.tight_layout()
    fig.savefig(RESULTS / "estimators.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
