"""Multi-component rewards and constraints from the env's per-step metrics."""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp

from jrew.config import concrete_values
from jrew.rewards.base import RewardTransform, check_metric, transform, valid_mean
from jrew.rewards.registry import text_constructor


@text_constructor
def weighted_sum(weights: Mapping[str, float]) -> RewardTransform:
    """``r' = sum_i w_i * env_metrics[k_i]``: a weighted multi-aspect reward (replaces r).

    Each component's mean over valid steps is logged, so per-aspect progress stays visible.
    """
    if not weights:
        raise ValueError("weighted_sum: need at least one metric key and weight")
    keys = tuple(sorted(weights))

    def apply(p, state, batch):
        parts = {k: check_metric(batch.rollout, k, "weighted_sum") for k in keys}
        total = sum(p[k] * parts[k] for k in keys)
        return total, state, {f"{k}_mean": valid_mean(v, batch) for k, v in parts.items()}

    return transform("weighted_sum", apply, hparams={k: weights[k] for k in keys}, static={"keys": keys})


@text_constructor
def lagrangian(cost_key: str, limit: float, lr: float = 0.01, init_lambda: float = 0.0) -> RewardTransform:
    """Constrained RL by a Lagrange multiplier updated inside the compiled loop.

      r' = r - lambda * c_t,        c_t = env_metrics[cost_key]
      lambda <- max(0, lambda + lr * (J_c - limit)),   J_c = mean per-step cost over this rollout's valid steps

    The rollout is shaped with the multiplier from before it, which starts at ``init_lambda``.
    (Tessler et al. 2019, "Reward Constrained Policy Optimization"; the projected dual ascent of
    constrained MDPs.)
    """
    for name, value in (("lr", lr), ("init_lambda", init_lambda)):
        if (arr := concrete_values(value)) is not None and (arr < 0).any():
            raise ValueError(f"lagrangian: {name} must be >= 0, got {value}")

    def init(p, key, spec):
        return jnp.asarray(p["init_lambda"], jnp.float32)

    def apply(p, lam, batch):
        cost = check_metric(batch.rollout, cost_key, "lagrangian")
        shaped = batch.rollout.reward - lam * cost
        cost_rate = valid_mean(cost, batch)
        new_lam = jnp.maximum(0.0, lam + p["lr"] * (cost_rate - p["limit"]))
        return shaped, new_lam, {"lambda": lam, "cost_rate": cost_rate}

    hparams = {"limit": limit, "lr": lr, "init_lambda": init_lambda}
    return transform("lagrangian", apply, init, hparams, static={"cost_key": cost_key})
