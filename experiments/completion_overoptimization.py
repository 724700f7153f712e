"""Reward-model over-optimization over completions (Gao, Schulman & Hilton 2023, "Scaling Laws for
Reward Model Overoptimization"), in the sequence lab: proxy Bradley–Terry reward models trained on
``n`` gold-labelled comparisons of the reference model's samples, optimized by best-of-n sampling
and by RL (GRPO with a KL penalty), with the gold (the task's verifier: exact match) measured
against ``d = sqrt(KL(pi || pi_ref))``.

    python experiments/completion_overoptimization.py [--labels 250 1000 4000] [--seeds 16]
    python experiments/completion_overoptimization.py --labels 250 1000 4000 --mitigations-at 1000

For each label count (one compiled program of ``--kl-coefs`` x seeds): the proxy is
``jrew.rewards.completion_reward_model`` (a 1-block transformer over ``prompt ++ completion``,
``--rm-steps`` Adam steps on the labels, each seed its own initialization and minibatches, then
frozen; scores normalized to mean 0 and std 1 on the reference's samples), labels from a
Boltzmann-rational labeller of the gold (``--beta``). RL: the lab's GRPO from the lab's
reference (``seq_lab.lab_config``), each KL coefficient a variant; ``d^2`` is PG's
``kl_per_completion``. Best-of-n: each seed's own proxy (the one its RL runs optimize) picks from
``--pool`` fresh reference samples of each of ``--bon-prompts`` prompts (the unbiased estimator,
``jrew.overoptimization.best_of_n_estimate``); ``d^2`` is best-of-n's KL measured on the same
pools (``best_of_n_kl_estimate``, the mean over prompts). The closed form ``log n - (n - 1) / n``
(Gao et al.'s axis) assumes no completion repeats; the reference repeats its likely completions
(a right answer is one completion), so the closed form would overstate ``d`` (it is written
beside, as the ``closed_form_kl`` row).

Fits: Gao et al.'s ``R_bon(d) = d (alpha - beta d)`` and ``R_RL(d) = d (alpha - beta log d)`` on the
gold improvement over the reference's gold (the best-of-n pools' mean: d = 0), on the seed-mean
curve, with 95% CIs of alpha and beta from a bootstrap over seeds. For RL the fit is on the
``kl_coef = 0`` run's updates, each point a ``--window``-update moving mean of d and the gold.

``--mitigations-at N`` adds, at label count ``N``, RL runs (``kl_coef = 0``) with: a conservative
ensemble (4 members, mean - 1 std: a lower confidence bound), the ensemble's min (Coste et al. 2024's worst case), PAR (``sigmoid(r)``
centred on the reference's mean score; Fu et al. 2025) and a clip at 1 std above it; the
ensembles' aggregates pick best-of-n too (PAR and clip are monotone in the proxy: best-of-n
picks the same samples, so they act on RL only).

Writes ``completion_overoptimization_steps.{json,csv,png}`` (every row: RL per KL coefficient,
best-of-n per n, the fits; the plot: gold vs env steps) and ``completion_overoptimization{,_rl,
_mitigations}.png`` (gold and proxy vs d) to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import method_comparison as compare
import numpy as np
import seq_lab

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import envs
import jrew
from jrew import overoptimization as overopt
from jrew import stats
from jrew.algos import pg
from jrew.plan import expand
from jrew.rewards import completions

MITIGATIONS = {  # label -> completion_reward_model settings
    "ensemble mean-std": {"ensemble_size": 4, "aggregate_by": "mean_minus_std", "conservative_lambda": 1.0},
    "ensemble min": {"ensemble_size": 4, "aggregate_by": "min"},
    "par": {"bound": "par", "par_temperature": 1.0},
    "clip": {"bound": "clip", "clip_max": 1.0},
}


def best_of_n_curves(rm, rm_states, task, sample, spec, ns, prompts: int, pool: int, key):
    """Per seed ``[S, len(ns)]``: the gold and proxy (the aggregate each model pays, before any
    bound) of best-of-n by each seed's proxy, from ``pool`` fresh reference samples per prompt
    (``sample(prompts, key) -> completions``), and best-of-n's KL measured on those pools (the mean
    over prompts); per seed ``[S]``: the proxy's held-out accuracy on pairs of them."""
    static = dict(rm.static)
    net = completions.reward_network(static["kind"], int(spec.action_space.n) + 1, static["width"], static["depth"],
                                     static["heads"])
    gold_curves, proxy_curves, kl_curves, accuracy = [], [], [], []
    seed_keys = jax.random.split(key, jax.tree.leaves(rm_states)[0].shape[0])
    for s, k in enumerate(seed_keys):
        k_prompt, k_sample = jax.random.split(k)
        batch = jax.vmap(task.sample_prompt)(jax.random.split(k_prompt, prompts)).astype(jnp.int32)
        batch = jnp.repeat(batch, pool, axis=0)
        done = sample(batch, k_sample)
        tokens = completions.completion_tokens(batch, done)
        state = jax.tree.map(lambda x, s=s: x[s], rm_states)
        _, proxy = completions.proxy_scores(net, state, tokens, static["aggregate_by"],
                                            rm.hparams["conservative_lambda"])
        proxy = np.asarray(proxy).reshape(prompts, pool)
        gold = np.asarray(completions.gold_rewards(task, batch, done)).reshape(prompts, pool)
        gold_curves.append([overopt.best_of_n_estimate(proxy, gold, n).mean() for n in ns])
        proxy_curves.append([overopt.best_of_n_estimate(proxy, proxy, n).mean() for n in ns])
        outcomes = np.asarray(done).reshape(prompts, pool, -1)
        kl_curves.append([overopt.best_of_n_kl_estimate(proxy, outcomes, n).mean() for n in ns])
        half = pool // 2  # held-out pairs: sample i vs sample i + pool/2 of the same prompt
        right = (proxy[:, :half] > proxy[:, half:]) == (gold[:, :half] > gold[:, half:])
        differ = gold[:, :half] != gold[:, half:]
        accuracy.append(right[differ].mean() if differ.any() else np.nan)
    return np.array(gold_curves), np.array(proxy_curves), np.array(kl_curves), np.array(accuracy)


def bootstrap_fit(d: np.ndarray, gold: np.ndarray, form: str, samples: int = 1000, seed: int = 0) -> dict:
    """Gao's form fitted to the seed-mean curve of ``gold [S, points]`` at ``d [S, points]`` (gold
    relative to the reference's), with 95% percentile-bootstrap CIs of alpha, beta and the peak over
    seeds."""
    fit = overopt.fit_gold_curve(d.mean(0), gold.mean(0), form)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(samples):
        idx = rng.integers(0, len(gold), len(gold))
        f = overopt.fit_gold_curve(d[idx].mean(0), gold[idx].mean(0), form)
        peak = f.peak()
        draws.append((f.alpha, f.beta, np.nan if peak is None else peak[0]))
    low, high = np.nanpercentile(np.array(draws), [2.5, 97.5], axis=0)
    peak = fit.peak()
    return {"form": form, "alpha": fit.alpha, "beta": fit.beta, "r2": fit.r2, "points": fit.n_points,
            "alpha_ci": {"low": low[0], "high": high[0]}, "beta_ci": {"low": low[1], "high": high[1]},
            "peak_d": None if peak is None else peak[0], "peak_gold_gain": None if peak is None else peak[1],
            "peak_d_ci": {"low": low[2], "high": high[2]}, "d_max_measured": float(d.mean(0).max())}


def rl_program(config: pg.PGConfig, rm, kl_coefs: list[float], seeds: int, label: str):
    plan = expand(config, grid={"kl_coef": kl_coefs}, reward=rm, seeds=seeds)
    print(f"[{label}] RL: {len(kl_coefs)} KL coefficients x {seeds} seeds", flush=True)
    return jrew.train(plan)


def rl_curves(result, variant: int, reference_gold: np.ndarray, window: int = 1):
    """Per seed ``[S, points]``: d, the gold gain over the reference's gold (``[S]``, measured on
    the best-of-n pools: at d = 0, where the fitted forms are 0), the gold and the proxy (each a
    ``window``-update moving mean: one update's batch is 64 completions)."""
    smooth = lambda name: seq_lab.moving_mean(result.by_variant(name)[variant], window)
    gold, proxy = smooth("true_return"), smooth("reward/proxy_score")
    d = overopt.kl_distance(np.maximum(smooth("kl_per_completion"), 0.0))
    return d, gold - reference_gold[:, None], gold, proxy


def rl_row(label: str, result, variant: int, kl_coef: float, reference_gold: np.ndarray) -> dict:
    d, _, gold, proxy = rl_curves(result, variant, reference_gold)
    return {"label": label, "kl_coef": kl_coef,
            "initial_gold": compare.mean_ci(gold[:, :3].mean(1)),
            "peak_gold": compare.mean_ci(np.nanmax(gold, axis=1)),
            "final_gold": compare.mean_ci(compare.last_fraction(gold, 0.1)),
            "final_proxy": compare.mean_ci(compare.last_fraction(proxy, 0.1)),
            "final_d": compare.mean_ci(compare.last_fraction(d, 0.1)),
            "final_length": compare.mean_ci(compare.last_fraction(result.by_variant("episode_length")[variant], 0.1))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, nargs="+", default=[250, 1000, 4000], help="comparisons per proxy")
    parser.add_argument("--beta", type=float, default=10.0, help="the labeller's rationality (label noise)")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--kl-coefs", type=float, nargs="+", default=[0.0, 0.1, 0.5],
                        help="GRPO's k3 KL coefficient in the loss: one variant each")
    parser.add_argument("--rm-steps", type=int, default=2000, help="the proxy's Adam steps on its labels")
    parser.add_argument("--bon-prompts", type=int, default=64)
    parser.add_argument("--pool", type=int, default=256, help="reference samples per prompt for best-of-n")
    parser.add_argument("--mitigations-at", type=int, nargs="*", default=[],
                        help="label counts at which to also run the mitigations (RL with kl_coef 0)")
    parser.add_argument("--window", type=int, default=5, help="updates per point of the RL curves")
    parser.add_argument("--num-groups", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--sft-steps", type=int, default=None)
    parser.add_argument("--sft-noise", type=float, default=0.3)
    parser.add_argument("--out", type=Path, default=Path("experiments") / "results")
    args = parser.parse_args()
    if 0.0 not in args.kl_coefs:
        parser.error(f"--kl-coefs ({args.kl_coefs}) must include 0: the RL fit is on the run without a KL penalty")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    config = seq_lab.lab_config("addition", args.updates, args)
    task, policy_logits, reference, spec = pg.reference_policy(config)
    sample = jax.jit(lambda p, k: envs.seq.sample_completions(policy_logits, reference, task, p, k))  # compiled once
    ns = [int(n) for n in 2 ** np.arange(int(np.log2(args.pool))) if n <= args.pool // 2]
    closed_form_d = overopt.kl_distance(overopt.best_of_n_kl(np.array(ns)))
    free = args.kl_coefs.index(0.0)  # the RL fit's run: no KL penalty
    rows, fits, curves, results = [], {}, {}, {}
    for labels in args.labels:
        prefs = completions.completion_preferences(jax.random.PRNGKey(1000 + labels), task, policy_logits, reference,
                                                   labels, beta=args.beta)
        base = completions.completion_reward_model(prefs, pretrain_steps=args.rm_steps)
        models = {"proxy": base}  # first: its best-of-n pools give the reference's gold for the rest
        if labels in args.mitigations_at:
            models |= {name: completions.completion_reward_model(prefs, pretrain_steps=args.rm_steps, **kw)
                       for name, kw in MITIGATIONS.items()}
        reference_gold = None
        for name, rm in models.items():
            label = f"{labels} labels, {name}"
            kl_coefs = args.kl_coefs if name == "proxy" else [0.0]
            result = results[label] = rl_program(config, rm, kl_coefs, args.seeds, label)
            if dict(rm.static)["bound"] == "none":  # PAR and clip are monotone in the proxy: same best-of-n picks
                # each seed's proxy (the same in every KL variant: its key is the seed's), from variant 0's runs
                rm_states = jax.tree.map(lambda x: x[: args.seeds], result.state.reward_state)
                bon_gold, bon_proxy, bon_kl, accuracy = best_of_n_curves(
                    rm, rm_states, task, sample, spec, ns, args.bon_prompts, args.pool,
                    jax.random.PRNGKey(2000 + labels))
                bon_d = overopt.kl_distance(bon_kl)
                reference_gold = bon_gold[:, 0] if reference_gold is None else reference_gold  # n = 1: the reference
                curves[("bon", labels, name)] = (bon_d, bon_gold, bon_proxy)
                fits[f"bon {label}"] = bootstrap_fit(bon_d, bon_gold - reference_gold[:, None], "best_of_n")
                rows.append({"kind": "bon", "labels": labels, "model": name, "label": label,
                             "rm_accuracy": compare.mean_ci(accuracy),
                             **{f"gold_n{n}": compare.mean_ci(bon_gold[:, i]) for i, n in enumerate(ns)},
                             **{f"d_n{n}": compare.mean_ci(bon_d[:, i]) for i, n in enumerate(ns)}})
                print(f"[{label}] RM held-out accuracy {np.nanmean(accuracy):.3f}; best-of-n gold (d) "
                      + " ".join(f"{n}:{g:.3f} ({x:.2f})" for n, g, x in zip(ns, bon_gold.mean(0), bon_d.mean(0))),
                      flush=True)
            for v, coef in enumerate(kl_coefs):
                rows.append({"kind": "rl", "labels": labels, "model": name}
                            | rl_row(label, result, v, coef, reference_gold))
            v = free if name == "proxy" else 0
            d, gain, gold, proxy = rl_curves(result, v, reference_gold, args.window)
            curves[("rl", labels, name)] = (d, gold, proxy)
            fits[f"rl {label}"] = bootstrap_fit(d, gain, "rl")
        print(f"{time.time() - started:.0f}s", flush=True)
    for name, fit in fits.items():
        peak = "no peak" if fit["peak_d"] is None else f"peak d* {fit['peak_d']:.2f} (gain {fit['peak_gold_gain']:+.3f})"
        print(f"fit {name:36s} alpha {fit['alpha']:+.3f} beta {fit['beta']:+.3f} r2 {fit['r2']:.2f}  {peak}")
    print(f"total {time.time() - started:.0f}s")

    name = "completion_overoptimization"
    rows += [{"kind": "fit", "label": label, **fit} for label, fit in fits.items()]
    rows.append({"kind": "closed_form_kl", **{f"d_n{n}": float(x) for n, x in zip(ns, closed_form_d)}})
    compare.write(rows, results, "true_return", "RL on the proxy: gold (exact match) vs env steps", args.out,
                  f"{name}_steps", vars(args) | {"out": str(args.out), "bon_n": ns})
    plot(curves, fits, args.labels, args.out, name)


def plot(curves: dict, fits: dict, label_counts: list[int], out: Path, name: str) -> None:
    """Gold (solid) and proxy (dashed, right axis) against d per label count: best-of-n, RL, and
    the mitigations' RL curves."""
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(label_counts)))
    for kind, suffix in (("bon", ""), ("rl", "_rl")):
        fig, (ax, ax_proxy) = plt.subplots(1, 2, figsize=(11, 4))
        for color, labels in zip(colors, label_counts):
            if (kind, labels, "proxy") not in curves:
                continue
            d, gold, proxy = curves[(kind, labels, "proxy")]
            x = d.mean(0)
            low, high = stats.curve_interval(gold)
            ax.plot(x, gold.mean(0), "o-" if kind == "bon" else "-", color=color, label=f"{labels} labels")
            ax.fill_between(x, low, high, color=color, alpha=0.2)
            fit = fits[f"{kind} {labels} labels, proxy"]
            grid = np.linspace(0, x.max(), 100)
            form = overopt.gold_best_of_n if kind == "bon" else overopt.gold_rl
            ax.plot(grid, gold.mean(0)[0] + form(grid, fit["alpha"], fit["beta"]), ":", color=color)
            ax_proxy.plot(x, proxy.mean(0), "o-" if kind == "bon" else "-", color=color, label=f"{labels} labels")
        ax.set(xlabel="d = sqrt(KL(pi || pi_ref))", ylabel="gold (exact-match accuracy)",
               title=f"{'best-of-n' if kind == 'bon' else 'RL (GRPO, kl_coef 0)'}: gold (dotted: Gao fit)")
        ax_proxy.set(xlabel="d = sqrt(KL(pi || pi_ref))", ylabel="proxy score (reference: mean 0, std 1)",
                     title="proxy")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"{name}{suffix}.png", dpi=120)
        plt.close(fig)
    mitigated = [k for k in curves if k[0] == "rl" and k[2] != "proxy"]
    if mitigated:
        counts = sorted({labels for _, labels, _ in mitigated})
        fig, axes = plt.subplots(1, len(counts), figsize=(5.5 * len(counts), 4), squeeze=False)
        for ax, labels in zip(axes[0], counts):
            for (kind, n, model), (d, gold, _) in curves.items():
                if kind == "rl" and n == labels:
                    ax.plot(d.mean(0), gold.mean(0), label=model)
            ax.set(xlabel="d = sqrt(KL)", ylabel="gold", title=f"RL, {labels} labels: mitigations")
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / f"{name}_mitigations.png", dpi=120)
        plt.close(fig)


if __name__ == "__main__":
    main()
