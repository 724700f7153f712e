"""Multi-reward Pareto selection (Parrot) against a weighted sum and per-component group
normalization (GDPO): GRPO from the sequence lab's reference on ``seq/addition_components``,
scored by each reward component and by the true objective (exact match), with 95% bootstrap CIs
over seeds.

    python experiments/parrot.py [--seeds 16] [--updates 80] [--weights 1 1 1]

Every completion is scored by three components (``envs.seq.AdditionComponents``): correctness
(the share of the answer's digits right), format (digits, then EOS) and brevity
(``1 - length / budget``). They conflict: brevity pays for stopping early. No single one is
the true objective, exact match (the answer's digits, then EOS right after them). Each method
trains the same transformer from the same reference (the lab's addition recipe: ``sft_steps``
of supervised pretraining on noisy demonstrations), with the same groups (``num_groups``
prompts x ``group_size`` completions), learning rate and seeds, one compiled program per
method, GRPO's loss (a mean over each completion's tokens, then over completions):

* ``weighted_sum``: GRPO on ``sum_k w_k R_k``
* ``group_normalized``: each component normalized within its group, weighted, summed, then
  whitened over the batch (GDPO; Liu et al. 2026, arXiv:2601.05242)
* ``pareto``: ``weighted_sum``'s advantage on each group's non-dominated samples only (Parrot's
  batch-wise Pareto-optimal selection, per group; Lee et al. 2024, arXiv:2401.05675)

Per method: each component and the exact-match accuracy at the start (the first 3 updates) and
at the end (the last 10% of updates), the share of samples in the loss and the KL to the
reference. Writes ``parrot_addition_components.{json,csv,png}`` (the png: accuracy) and
``parrot_addition_components_components.png`` to ``--out``. See docs/parrot.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import method_comparison as compare
import numpy as np
from seq_lab import METHODS, lab_config, train_methods

import envs
import jrew
from jrew import plotting
from jrew.algos.pg import PGConfig

TASK = "addition_components"
COMPONENTS = ("correctness", "format", "brevity")
COMBINATIONS = ("weighted_sum", "group_normalized", "pareto")


def parrot_config(updates: int, args) -> PGConfig:
    """The lab's addition config (its reference recipe, groups, learning rate and GRPO's loss) on
    ``seq/addition_components``: the same prompts and answers, a budget one token longer."""
    config = lab_config("addition", updates, args).replace(**METHODS["grpo"])
    length = envs.make(f"seq/{TASK}", **dict(envs.parse_kwargs(config.env_kwargs))).episode_limit
    return config.replace(env=f"seq/{TASK}", num_steps=length, total_steps=updates * config.batch_episodes * length)


def method_configs(config: PGConfig, methods: list[str], weights: tuple[float, ...]) -> dict[str, PGConfig]:
    """``{method: config}``: ``config`` combining the components as each method says."""
    return {m: config.replace(multi_reward=m, reward_components=COMPONENTS, reward_weights=weights) for m in methods}


def summarize(method: str, result: jrew.RunResult) -> dict:
    """A method's row: the start (first 3 updates) and the end (last 10%) of each component and
    of the exact-match accuracy, per seed, as mean and 95% CI over seeds."""
    start = lambda x: np.nanmean(x[:, :3], axis=1)
    end = lambda x: compare.last_fraction(x, 0.1)
    accuracy = result.metrics["true_return"]
    row = {"method": method, "initial_accuracy": compare.mean_ci(start(accuracy)),
           "final_accuracy": compare.mean_ci(end(accuracy)),
           "gain": compare.mean_ci(end(accuracy) - start(accuracy))}
    for name in COMPONENTS:
        values = result.metrics[f"component/{name}"]
        row[f"initial_{name}"], row[f"final_{name}"] = compare.mean_ci(start(values)), compare.mean_ci(end(values))
    row["final_visible_return"] = compare.mean_ci(end(result.metrics["env_return"]))  # the components' plain sum
    row["final_length"] = compare.mean_ci(end(result.metrics["env/length"] * result.metrics["episode_length"]))
    row["final_kept_share"] = compare.mean_ci(end(result.metrics["kept_share"]))
    row["final_kl"] = compare.mean_ci(end(result.metrics["kl_to_reference"]))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", choices=COMBINATIONS, default=list(COMBINATIONS))
    parser.add_argument("--weights", type=float, nargs=len(COMPONENTS), default=[1.0, 1.0, 1.0],
                        help=f"one weight per component ({', '.join(COMPONENTS)})")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--updates", type=int, default=80)
    parser.add_argument("--num-groups", type=int, default=8, help="prompts per update")
    parser.add_argument("--group-size", type=int, default=8, help="completions per prompt")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--sft-steps", type=int, default=None, help="the reference's SFT steps (default: the lab's)")
    parser.add_argument("--sft-noise", type=float, default=0.3)
    parser.add_argument("--run-dir", type=Path, default=None, help="keep each method's run (checkpoints, metrics)")
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    configs = method_configs(parrot_config(args.updates, args), args.methods, tuple(args.weights))
    started = time.time()
    results = train_methods(configs, args.seeds, args.run_dir, lambda m: f"weights {dict(zip(COMPONENTS, args.weights))}")
    rows = [summarize(m, r) for m, r in results.items()]
    for row in rows:
        acc = row["final_accuracy"]
        parts = "  ".join(f"{name} {row[f'initial_{name}']['mean']:.3f}->{row[f'final_{name}']['mean']:.3f}"
                          for name in COMPONENTS)
        print(f"{row['method']:16s} exact match {row['initial_accuracy']['mean']:.3f} -> {acc['mean']:.3f} "
              f"[{acc['ci_low']:.3f}, {acc['ci_high']:.3f}]  {parts}  kept {row['final_kept_share']['mean']:.2f}  "
              f"KL {row['final_kl']['mean']:.3f}")
    print(f"total {time.time() - started:.0f}s")
    name = f"parrot_{TASK}"
    compare.write(rows, results, "true_return", f"seq/{TASK}: exact-match accuracy from the reference", args.out, name,
                  vars(args) | {"out": str(args.out), "run_dir": str(args.run_dir)})
    curves = {f"{method} {component}": (result.env_steps, result.by_variant(f"component/{component}")[0])
              for method, result in results.items() for component in COMPONENTS}
    path = plotting.plot_curves(curves, "component per completion", f"seq/{TASK}: the reward components",
                                args.out / f"{name}_components.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
