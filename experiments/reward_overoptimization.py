"""Reward-model over-optimization (Gao et al. 2023) on a sensor-tampering gridworld: PPO optimizes
a proxy reward model learned offline from a limited number of preference labels; the true
return is logged beside the proxy, against env steps and against KL(pi || pi_0).

    python experiments/reward_overoptimization.py [--labels 200] [--seeds 16] [--total-steps 500000]

The feedback (``R.preference_set``: 25-step segment pairs, Boltzmann-rational labels of the true
return, beta 1) is collected once, on episodes of a safe policy (PPO trained on the true reward,
which leaves the bucket alone) and of a random one; no episode of it tampers for long. The proxy
(``R.preference_model(preferences=..., pretrain_steps=1000, updates_per_rollout=0)``) is then
frozen and optimized. The variants, each one vmapped program over seeds:

  proxy                  one reward model, its reward as it is
  conservative ensemble  5 members, mean - 1 * std (Coste et al. 2024)
  par                    the proxy bounded by sigmoid((r - r_ref) / 0.1), running r_ref (Fu et al. 2025)
  clip                   the proxy clipped to [0, 0.5]: no step may pay more than 0.5

``train_return`` is the return of the reward the policy optimizes (for par and clip the bounded
one). Writes ``reward_overoptimization_<labels>labels.{json,csv,png}`` (true and proxy return vs
env steps) and ``..._kl.png`` (true return vs KL from the initial policy).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import jax
import matplotlib
import method_comparison as compare
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import envs
from envs import render
from jrew import demonstrations, plotting
from jrew import rewards as R
from jrew.algos import ppo

ENV = "lab/tomato_watering"
TRUE_REWARD = R.true_reward()


def feedback_episodes(expert_dir: Path, episodes: int) -> demonstrations.Demonstrations:
    """Half the episodes from a safe policy (trained on the true reward into ``expert_dir`` if
    absent), half from a random one."""
    safe_run = compare.expert_run(ppo.PPOConfig(env=ENV, total_steps=300_000), expert_dir, TRUE_REWARD)
    safe = demonstrations.record(safe_run, episodes // 2, max_steps=200)
    env = envs.make(ENV)
    random = demonstrations.play(env, render.random_actions(env), episodes - episodes // 2, seed=1, max_steps=200,
                                 env_name=ENV)
    return demonstrations.concatenate([safe, random])


def variants(prefs: R.PreferenceSet) -> dict[str, R.RewardTransform]:
    model = lambda **kw: R.preference_model(preferences=prefs, pretrain_steps=1000, updates_per_rollout=0, **kw)
    return {
        "proxy": model(),
        "conservative ensemble": model(ensemble_size=5, aggregate_by="mean_minus_std", conservative_lambda=1.0),
        "par": R.chain(model(), R.par(temperature=0.1, running=True)),
        "clip": R.chain(model(), R.clip(0.0, 0.5)),
    }


def summarize(results, initial_true: float) -> list[dict]:
    rows = []
    for method, result in results.items():
        true = result.metrics["true_return"]
        mean_curve = np.nanmean(true, axis=0)
        peak = int(np.nanargmax(mean_curve))
        final = compare.last_fraction(true, 0.1)
        rows.append({
            "method": method, "seeds": true.shape[0], "env_steps": int(result.env_steps[-1]),
            "initial_true_return": initial_true,
            "peak_true_return": float(mean_curve[peak]), "peak_env_steps": int(result.env_steps[peak]),
            "final_true_return": compare.mean_ci(final),
            "final_optimized_return": compare.mean_ci(compare.last_fraction(result.metrics["train_return"], 0.1)),
            "final_kl_from_init": compare.mean_ci(compare.last_fraction(result.metrics["kl_from_init"], 0.1)),
            "final_tampering_fraction": compare.mean_ci(compare.last_fraction(result.metrics["env/unsafe"], 0.1)),
            "final_heldout_accuracy": compare.mean_ci(compare.last_fraction(
                compare.reward_metric(result, "preference_accuracy"), 0.1)),
        })
    return rows


def plot(results, reference: dict, path: Path) -> list[Path]:
    """True (solid) and optimized (dashed, right axis) return vs env steps; true return vs KL."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    proxy_ax = ax.twinx()
    kl_fig, kl_ax = plt.subplots(figsize=(6, 4.5))
    for (method, result), color in zip(results.items(), colors):
        steps = result.env_steps
        with warnings.catch_warnings():  # update 0 has no finished episode yet: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            true = np.nanmean(result.metrics["true_return"], axis=0)
            optimized = np.nanmean(result.metrics["train_return"], axis=0)
            kl = np.nanmean(result.metrics["kl_from_init"], axis=0)
        ax.plot(steps, true, color=color, label=f"{method}: true")
        proxy_ax.plot(steps, optimized, color=color, linestyle="--", alpha=0.6, label=f"{method}: optimized")
        kl_ax.plot(kl, true, ".", color=color, alpha=0.4, label=method)
    for (name, value), style in zip(reference.items(), (":", "-.", (0, (1, 3)))):
        ax.axhline(value, color="gray", linestyle=style, linewidth=1, label=f"true return of {name}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("true return (solid)")
    proxy_ax.set_ylabel("optimized proxy return (dashed)")
    handles, labels = ax.get_legend_handles_labels()  # one legend for both axes, under them (not over a line)
    proxy_handles, proxy_labels = proxy_ax.get_legend_handles_labels()
    plotting.legend_below(ax, handles + proxy_handles, labels + proxy_labels, columns=2)
    ax.set_title(f"{ENV}: PPO on a frozen preference reward model")
    kl_ax.set_xlabel("KL(pi || pi_0) on the rollout's states")
    kl_ax.set_ylabel("true return")
    plotting.legend_below(kl_ax)
    kl_ax.set_title("true return vs distance from the initial policy")
    paths = [path, path.with_name(path.stem + "_kl.png")]
    return [plotting.save(f, p) for f, p in zip((fig, kl_fig), paths)]  # with PDF and SVG beside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, default=200, help="labelled segment pairs the proxy learns from")
    parser.add_argument("--episodes", type=int, default=64, help="episodes the pairs are drawn from")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=500_000)
    parser.add_argument("--expert-dir", type=Path, default=Path("runs") / "experts" / "tomato_watering")
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    start = time.perf_counter()
    episodes = feedback_episodes(args.expert_dir, args.episodes)
    prefs = R.preference_set(jax.random.PRNGKey(0), episodes, args.labels, 25)
    print(f"[feedback] {args.labels} labelled pairs from {args.episodes} episodes (true return {episodes.mean_return:.2f})")
    config = ppo.PPOConfig(env=ENV, total_steps=args.total_steps, log_kl_from_init=True)
    results = compare.train_methods(config, variants(prefs), args.seeds, None)
    true_ppo = compare.train_methods(config, {"true reward": TRUE_REWARD}, args.seeds, None)["true reward"]
    initial = float(np.nanmean(next(iter(results.values())).metrics["true_return"][:, 1]))
    rows = summarize(results, initial)
    reference = {"PPO on the true reward": float(np.mean(compare.last_fraction(true_ppo.metrics["true_return"], 0.1))),
                 "random policy": float(np.mean(episodes.episode_returns[args.episodes // 2:]))}
    for row in rows:
        row["labels"] = args.labels
        row.update({f"reference_{k.replace(' ', '_')}": v for k, v in reference.items()})
    print(f"\n{ENV}, {args.seeds} seeds, {args.total_steps:,} env steps, proxy from {args.labels} labels "
          f"({time.perf_counter() - start:.0f} s); last 10% of training, mean [95% CI] over seeds")
    for name, value in reference.items():
        print(f"  {name}: true return {value:.2f}")
    for row in rows:
        f, o, t, k = (row[x] for x in ("final_true_return", "final_optimized_return", "final_tampering_fraction",
                                       "final_kl_from_init"))
        print(f"  {row['method']:22s} true {f['mean']:6.2f} [{f['ci_low']:.2f}, {f['ci_high']:.2f}] (peak "
              f"{row['peak_true_return']:.2f} at {row['peak_env_steps']:,}), optimized {o['mean']:8.2f}, tampering "
              f"{t['mean']:.2f}, KL {k['mean']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"reward_overoptimization_{args.labels}labels"
    compare.write(rows, results, "true_return", f"{ENV}: true return under a frozen proxy", args.out, name, vars(args))
    print("plots:", *plot(results, reference, args.out / f"{name}.png"))


if __name__ == "__main__":
    main()
