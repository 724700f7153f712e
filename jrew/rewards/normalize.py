"""Reward normalization by running statistics."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jrew import normalization
from jrew.rewards.base import RewardBatch, RewardTransform, check_metric, restart, scan_time, transform
from jrew.rewards.registry import text_constructor


@text_constructor
def normalize_returns(eps: float = 1e-8, clip: float = 10.0) -> RewardTransform:
    """Divides rewards by the running std of the discounted return (not the reward).

      G_t = r_t + gamma * G_{t-1} * (1 - done_{t-1})   per env, reset at episode ends
      r'_t = clip(r_t / sqrt(Var[G] + eps), -clip, clip)

    As in OpenAI baselines' VecNormalize, studied by Engstrom et al. 2020 ("Implementation
    Matters in Deep Policy Gradients", reward scaling). ``Var[G]`` pools the returns of every valid
    step seen so far; this rollout's returns update it before it is used. ``gamma`` is the
    learner's discount. ``G`` restarts where the learner resets an env.
    """

    def init(p, key, spec):
        return {"returns": jnp.zeros((spec.num_envs,), jnp.float32), "stats": normalization.RunningStats.create(1)}

    def apply(p, state, batch):
        returns, stats, std = running_return_std(
            state["returns"], state["stats"], batch.rollout.reward, batch, p["eps"], batch.gamma
        )
        shaped = jnp.clip(batch.rollout.reward / std, -p["clip"], p["clip"])
        return shaped, {"returns": returns, "stats": stats}, {"return_std": std}

    return transform("normalize_returns", apply, init, {"eps": eps, "clip": clip})


def running_return_std(
    returns: jax.Array, stats: normalization.RunningStats, reward: jax.Array, batch: RewardBatch, eps, gamma,
    episodic: bool = True,
) -> tuple[jax.Array, normalization.RunningStats, jax.Array]:
    """The per-env discounted returns ``G_t = r_t + gamma G_{t-1}`` of ``reward`` ``[T, B]`` pooled
    into running statistics: ``(returns, stats, sqrt(Var[G] + eps))``.

    ``episodic`` cuts ``G`` at episode ends; RND's intrinsic return runs across them (Burda et
    al. 2019, Sec. 2.3). ``G`` restarts where the learner resets an env and holds over invalid steps.
    """

    def step(g, x):
        r, done = x
        g = r + gamma * g
        return (jnp.where(done > 0, 0.0, g) if episodic else g), g

    returns, discounted = scan_time(step, restart(returns, batch), (reward, batch.rollout.done), batch.valid)
    stats = normalization.update(stats, discounted[..., None], batch.valid)
    return returns, stats, jnp.sqrt(stats.var[0] + eps)


@text_constructor
def hybrid_normalize(components: Sequence[str], weights: Sequence[float] | None = None, eps: float = 1e-8) -> RewardTransform:
    """Calibrates reward components onto one scale before summing (ReNorm-style hybrid rewards).

      r' = sum_c w_c * (x_c - mean_c) / sqrt(var_c + eps)

    ``x_c = env_metrics[c]`` (e.g. a dense process reward and a sparse outcome reward); running
    mean and variance per component pool every valid step seen so far. Replaces the incoming reward.
    ("Hybrid Reward Normalization for Process-supervised Non-verifiable Agentic Tasks", 2025.)
    """
    components = tuple(components)
    if not components:
        raise ValueError("hybrid_normalize: need at least one component metric key")
    weights = [1.0] * len(components) if weights is None else list(weights)
    if len(weights) != len(components):
        raise ValueError(f"hybrid_normalize: {len(weights)} weights for {len(components)} components")

    def init(p, key, spec):
        return normalization.RunningStats.create(len(components))

    def apply(p, stats, batch):
        x = jnp.stack([check_metric(batch.rollout, c, "hybrid_normalize") for c in components], axis=-1)
        stats = normalization.update(stats, x, batch.valid)
        z = (x - stats.mean) / jnp.sqrt(stats.var + p["eps"])
        stds = {f"{c}_std": jnp.sqrt(stats.var[i]) for i, c in enumerate(components)}
        return jnp.sum(p["weights"] * z, axis=-1), stats, stds

    hparams = {"weights": jnp.asarray(weights, jnp.float32), "eps": eps}
    return transform("hybrid_normalize", apply, init, hparams, static={"components": components})
