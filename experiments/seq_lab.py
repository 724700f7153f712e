"""The sequence lab: the GRPO family from a supervised reference model, on token tasks with
verifiable rewards, scored on the true objective (exact match) with 95% bootstrap CIs over seeds.

    python experiments/seq_lab.py --task addition [--seeds 16] [--updates 150]
    python experiments/seq_lab.py --task chain --methods grpo tempo tp_grpo oprl rloo ppo
    python experiments/seq_lab.py --task addition_length_proxy --methods grpo --kl-coefs 0 0.2

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
* ``tp_grpo``: TP-GRPO's step rewards, the change over the greedy completion plus each turning
  point's own change, normalized per step (Tong, Liu et al. 2026)
* ``oprl``: GRPO plus the group-normalized implicit step rewards beta (log pi_phi - log pi_old) of a
  process reward model trained by trajectory-level DPO on each batch's outcome preferences,
  alternately with the policy, at twice the policy's learning rate (OPRL / iStar, Liu et al. 2025)
* ``ppo``: PPO with a token-level critic (a second transformer) and GAE (gamma 1, lambda 0.95), on
  the same batch of ``num_groups * group_size`` episodes per update (Ouyang et al. 2022's RL stage)

With ``--kl-coefs``, each method runs once per KL coefficient (GRPO's k3 penalty in the loss).

Per method: the reference's accuracy (the first updates), the final accuracy (the last 10% of
updates), the gain, the KL to the reference, and the updates until the accuracy (a 5-update
moving mean) first reaches ``--threshold``. The KL is PG's k3 estimate per token (``kl_to_reference``)
and PPO's exact per-token KL on its rollout's states (``kl_from_init``; PPO starts from the reference). On ``addition_length_proxy`` the visible return
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
from jrew.algos.ppo import PPOConfig

METHODS = {
    "grpo": {"estimator": "grpo", "loss_aggregation": "sequence_mean"},
    "dr_grpo": {"estimator": "grpo", "normalize_std": False, "loss_aggregation": "constant"},
    "dapo_token_mean": {"estimator": "grpo", "loss_aggregation": "token_mean"},
    "rloo": {"estimator": "rloo", "loss_aggregation": "sequence_mean"},
    "tempo": {"estimator": "tempo", "loss_aggregation": "sequence_mean"},
    "tp_grpo": {"estimator": "tp_grpo", "loss_aggregation": "sequence_mean"},
    "oprl": {"estimator": "oprl", "loss_aggregation": "sequence_mean"},
}
PPO = "ppo"
TASKS = {  # env kwargs of each task at the lab's default size, and its reference's SFT steps
    "addition": ((("digits", "2"),), 800),
    # base 5: at base 10 a 2-block width-64 reference needs > 3000 SFT steps to learn the chain's
    # modular steps at all (its accuracy stays at chance), and RL from chance has no signal
    "chain": ((("steps", "3"), ("base", "5")), 1600),
    "sort": ((("length", "4"),), 800),
    "addition_length_proxy": ((("digits", "2"),), 800),
}


def lab_config(task: str, updates: int, args) -> PGConfig:
    """The shared config: a 2-block transformer from the reference model, one PG epoch per batch."""
    import envs

    env_kwargs, sft_steps = TASKS[task]
    length = envs.make(f"seq/{task}", **dict(envs.parse_kwargs(env_kwargs))).episode_limit
    groups = args.num_groups * args.group_size
    return PGConfig(
        env=f"seq/{task}", env_kwargs=env_kwargs, network="transformer", token_width=64, token_depth=2,
        token_heads=4, sft_steps=args.sft_steps or sft_steps, sft_noise=args.sft_noise, num_steps=length,
        num_groups=args.num_groups, group_size=args.group_size, num_minibatches=1, num_epochs=1,
        learning_rate=args.learning_rate, total_steps=updates * groups * length,
    )


def ppo_config(config: PGConfig) -> PPOConfig:
    """PPO on the same network, reference, batch of episodes, learning rate and step budget."""
    shared = ("env", "env_kwargs", "network", "token_width", "token_depth", "token_heads", "sft_steps", "sft_noise",
              "num_steps", "num_minibatches", "num_epochs", "learning_rate", "total_steps")
    return PPOConfig(**{name: getattr(config, name) for name in shared}, num_envs=config.batch_episodes,
                     gamma=1.0, gae_lambda=0.95, anneal_lr=False, log_kl_from_init=True)


def method_configs(config: PGConfig, methods: list[str], kl_coefs: list[float]) -> dict:
    """``{label: config}``: each method (x each KL coefficient when there are several)."""
    configs = {}
    for method in methods:
        if method == PPO:
            configs[method] = ppo_config(config)  # PPO's KL to the reference: logged, not penalized
            continue
        for coef in kl_coefs:
            label = method if len(kl_coefs) == 1 else f"{method} kl={coef:g}"
            configs[label] = config.replace(**METHODS[method], kl_coef=coef)
            if method == "oprl":  # their launch scripts: the process reward model's step size twice the policy's
                configs[label] = configs[label].replace(process_reward_learning_rate=2 * config.learning_rate)
    return configs


def moving_mean(x: np.ndarray, window: int) -> np.ndarray:
    """``x [S, updates]`` averaged over ``window`` consecutive updates: ``[S, updates - window + 1]``."""
    kernel = np.ones(window) / window
    return np.stack([np.convolve(row, kernel, mode="valid") for row in x])


def steps_to(threshold: float, accuracy: np.ndarray, window: int = 5) -> np.ndarray:
    """Per seed, the first update (1-based) where the ``window``-update moving mean of ``accuracy``
    ``[seeds, updates]`` reaches ``threshold``; NaN where it never does."""
    reached = moving_mean(accuracy, window) >= threshold
    return np.where(reached.any(axis=1), reached.argmax(axis=1) + window, np.nan)


def kl_name(result: jrew.RunResult) -> str:
    """The per-token KL to the reference: PG's ``kl_to_reference``, PPO's ``kl_from_init``."""
    return "kl_to_reference" if "kl_to_reference" in result.metrics else "kl_from_init"


def summarize(method: str, result: jrew.RunResult, threshold: float) -> dict:
    accuracy = result.metrics["true_return"]
    initial, final = np.nanmean(accuracy[:, :3], axis=1), compare.last_fraction(accuracy, 0.1)
    to_threshold = steps_to(threshold, accuracy)
    row = {
        "method": method,
        "initial_accuracy": compare.mean_ci(initial),
        "final_accuracy": compare.mean_ci(final),
        "gain": compare.mean_ci(final - initial),
        "final_kl": compare.mean_ci(compare.last_fraction(result.metrics[kl_name(result)], 0.1)),
        "seeds_reaching_threshold": int(np.isfinite(to_threshold).sum()),
        "updates_to_threshold": compare.mean_ci(to_threshold) if np.isfinite(to_threshold).any() else None,
    }
    if "env/unsafe" in result.metrics:
        row["final_visible_return"] = compare.mean_ci(compare.last_fraction(result.metrics["env_return"], 0.1))
        row["final_unsafe_share"] = compare.mean_ci(
            compare.last_fraction(result.metrics["env/unsafe"] * result.metrics["episode_length"], 0.1))
    return row


def train_methods(configs: dict, seeds: int, run_dir: Path | None, describe) -> dict:
    """Each method's config trained on ``seeds`` (one program each), in order, announced with
    ``describe(method)``; ``run_dir/<method>`` keeps each run when given."""
    results = {}
    for method, config in configs.items():
        print(f"[{method}] {describe(method)}", flush=True)
        results[method] = jrew.train(config, seeds=seeds, run_dir=None if run_dir is None else run_dir / method)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=list(TASKS), default="addition")
    parser.add_argument("--methods", nargs="+", choices=[*METHODS, PPO], default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--updates", type=int, default=150)
    parser.add_argument("--num-groups", type=int, default=8, help="prompts per update")
    parser.add_argument("--group-size", type=int, default=8, help="completions per prompt")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--kl-coefs", type=float, nargs="+", default=[0.0],
                        help="k3 KL to the reference in the loss (GRPO's); several: one run per coefficient")
    parser.add_argument("--sft-steps", type=int, default=None, help="the reference's SFT steps (default: per task)")
    parser.add_argument("--sft-noise", type=float, default=0.3)
    parser.add_argument("--threshold", type=float, default=0.7, help="accuracy for updates-to-threshold")
    parser.add_argument("--run-dir", type=Path, default=None, help="keep each method's run (checkpoints, metrics)")
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    config = lab_config(args.task, args.updates, args)
    configs = method_configs(config, args.methods, args.kl_coefs)
    started = time.time()
    results = train_methods(configs, args.seeds, args.run_dir, lambda m: METHODS.get(m.split()[0], "ppo"))
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
    kl_curves = {method: (result.env_steps, result.by_variant(kl_name(result))[0]) for method, result in results.items()}
    plotting.plot_curves(kl_curves, "KL to the reference (per token)", f"seq/{args.task}: KL to the reference",
                         args.out / f"{name}_kl.png")
    if args.task == "addition_length_proxy":
        curves = {}
        for method, result in results.items():
            curves[f"{method} visible"] = (result.env_steps, result.by_variant("env_return")[0])
            curves[f"{method} true"] = (result.env_steps, result.by_variant("true_return")[0])
        plotting.plot_curves(curves, "return", "length proxy: visible vs true", args.out / f"{name}_gap.png")


if __name__ == "__main__":
    main()
