"""The sequence lab: the GRPO family from a supervised reference model, on token tasks with
verifiable rewards, scored on the true objective (exact match) with 95% bootstrap CIs over seeds.

    python experiments/seq_lab.py --task addition [--seeds 16] [--updates 150]
    python experiments/seq_lab.py --task chain --methods grpo tempo

Every method trains the same transformer policy from the same reference model (``sft_steps``
of supervised pretraining on demonstrations whose answer tokens are random digits with
probability ``sft_noise``: its sampled accuracy is the starting point RL improves on), with the
same groups (``num_groups`` prompts x ``group_size`` completions per update), learning rate and
seeds, one compiled program per method:

* ``grpo``: (R - mean) / std per group, the loss a mean over each completion's tokens (Shao et al. 2024)
* ``dr_grpo``: no std division, no length normalization (Liu et al. 2025)
* ``dapo_token_mean``: GRPO's advantage with DAPO's token-level loss aggregation (Yu et al. 2025)
* ``rloo``: leave-one-out baseline (Ahmadian et al. 2024)
* ``tempo``: GRPO plus TEMPO's prefix-tree token credit (Tran et al. 2025)

Per method: the reference's accuracy (the first updates), the final accuracy (the last 10% of
updates), the gain, the KL to the reference, and the updates until the accuracy (a 5-update
moving mean) first reaches ``--threshold``. On ``addition_length_proxy`` the visible return
(paid for length) is reported beside the true one. Writes ``seq_lab_<task>.{json,csv,png}`` and
``seq_lab_<task>_kl.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import method_comparison as compare
import numpy as np

import jrew
from jrew import plotting
from jrew.algos.pg import PGConfig

METHODS = {
    "grpo": {"estimator": "grpo", "loss_aggregation": "sequence_mean"},
    "dr_grpo": {"estimator": "grpo", "normalize_std": False, "loss_aggregation": "constant"},
    "dapo_token_mean": {"estimator": "grpo", "loss_aggregation": "token_mean"},
    "rloo": {"estimator": "rloo", "loss_aggregation": "sequence_mean"},
    "tempo": {"estimator": "tempo", "loss_aggregation": "sequence_mean"},
}
TASKS = {  # env kwargs of each task at the lab's default size
    "addition": (("digits", "2"),),
    "sort": (("length", "4"),),
    "chain": (("steps", "4"),),
    "addition_length_proxy": (("digits", "2"),),
}


def lab_config(task: str, updates: int, args) -> PGConfig:
    """The shared config: a 2-block transformer from the reference model, one PG epoch per batch."""
    import envs

    length = envs.make(f"seq/{task}", **dict(envs.parse_kwargs(TASKS[task]))).episode_limit
    groups = args.num_groups * args.group_size
    return PGConfig(
        env=f"seq/{task}", env_kwargs=TASKS[task], network="transformer", token_width=64, token_depth=2,
        token_heads=4, sft_steps=args.sft_steps, sft_noise=args.sft_noise, num_steps=length,
        num_groups=args.num_groups, group_size=args.group_size, num_minibatches=1, num_epochs=1,
        learning_rate=args.learning_rate, kl_coef=args.kl_coef, total_steps=updates * groups * length,
    )


def steps_to(threshold: float, accuracy: np.ndarray, window: int = 5) -> np.ndarray:
    """Per seed, the first update (1-based) where the ``window``-update moving mean of ``accuracy``
    ``[seeds, updates]`` reaches ``threshold``; NaN where it never does."""
    kernel = np.ones(window) / window
    smoothed = np.stack([np.convolve(a, kernel, mode="valid") for a in accuracy])
    reached = smoothed >= threshold
    return np.where(reached.any(axis=1), reached.argmax(axis=1) + window, np.nan)


def summarize(method: str, result: jrew.RunResult, threshold: float) -> dict:
    accuracy = result.metrics["true_return"]
    initial, final = np.nanmean(accuracy[:, :3], axis=1), compare.last_fraction(accuracy, 0.1)
    to_threshold = steps_to(threshold, accuracy)
    row = {
        "method": method,
        "initial_accuracy": compare.mean_ci(initial),
        "final_accuracy": compare.mean_ci(final),
        "gain": compare.mean_ci(final - initial),
        "final_kl": compare.mean_ci(compare.last_fraction(result.metrics["kl_to_reference"], 0.1)),
        "seeds_reaching_threshold": int(np.isfinite(to_threshold).sum()),
        "updates_to_threshold": compare.mean_ci(to_threshold) if np.isfinite(to_threshold).any() else None,
    }
    if "env/unsafe" in result.metrics:
        row["final_visible_return"] = compare.mean_ci(compare.last_fraction(result.metrics["env_return"], 0.1))
        row["final_unsafe_share"] = compare.mean_ci(
            compare.last_fraction(result.metrics["env/unsafe"] * result.metrics["episode_length"], 0.1))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=list(TASKS), default="addition")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--updates", type=int, default=150)
    parser.add_argument("--num-groups", type=int, default=8, help="prompts per update")
    parser.add_argument("--group-size", type=int, default=8, help="completions per prompt")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--kl-coef", type=float, default=0.0, help="k3 KL to the reference in the loss (GRPO's)")
    parser.add_argument("--sft-steps", type=int, default=800)
    parser.add_argument("--sft-noise", type=float, default=0.3)
    parser.add_argument("--threshold", type=float, default=0.7, help="accuracy for updates-to-threshold")
    parser.add_argument("--run-dir", type=Path, default=None, help="keep each method's run (checkpoints, metrics)")
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    config = lab_config(args.task, args.updates, args)
    configs = {m: config.replace(**METHODS[m]) for m in args.methods}
    started = time.time()
    results = {}
    for method, method_config in configs.items():
        print(f"[{method}] {METHODS[method]}", flush=True)
        run_dir = None if args.run_dir is None else args.run_dir / method
        results[method] = jrew.train(method_config, seeds=args.seeds, run_dir=run_dir)
    rows = [summarize(m, r, args.threshold) for m, r in results.items()]
    for row in rows:
        acc, gain = row["final_accuracy"], row["gain"]
        print(f"{row['method']:16s} accuracy {row['initial_accuracy']['mean']:.3f} -> {acc['mean']:.3f} "
              f"[{acc['ci_low']:.3f}, {acc['ci_high']:.3f}]  gain {gain['mean']:+.3f}  "
              f"KL {row['final_kl']['mean']:.3f}  reached {args.threshold}: {row['seeds_reaching_threshold']}/{args.seeds}")
    print(f"total {time.time() - started:.0f}s")
    name = f"seq_lab_{args.task}"
    compare.write(rows, results, "true_return", f"seq/{args.task}: exact-match accuracy from the reference", args.out,
                  name, vars(args) | {"out": str(args.out), "run_dir": str(args.run_dir)})
    compare.plot_metric(results, "kl_to_reference", f"seq/{args.task}: KL to the reference", args.out / f"{name}_kl.png")
    if args.task == "addition_length_proxy":
        curves = {}
        for method, result in results.items():
            curves[f"{method} visible"] = (result.env_steps, result.by_variant("env_return")[0])
            curves[f"{method} true"] = (result.env_steps, result.by_variant("true_return")[0])
        plotting.plot_curves(curves, "return", "length proxy: visible vs true", args.out / f"{name}_gap.png")


if __name__ == "__main__":
    main()
