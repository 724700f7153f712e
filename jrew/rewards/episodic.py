"""Transforms that carry per-env state across steps and reset it at episode ends."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jrew.rewards.base import (
    RewardTransform,
    check_metric,
    per_env_recurrence,
    restart,
    scan_time,
    transform,
    valid_mean,
)
from jrew.rewards.registry import text_constructor


@text_constructor
def delayed() -> RewardTransform:
    """Releases the episode's summed reward at its last step, 0 elsewhere.

    Makes credit assignment hard on purpose (the delayed-reward setting of RUDDER, Arjona-Medina
    et al. 2019, and LaRe). Truncated episodes release at their cut too.
    """

    def step(p, pending, r, done):
        total = pending + r
        return jnp.where(done > 0, 0.0, total), jnp.where(done > 0, total, 0.0)

    return per_env_recurrence("delayed", step)


@text_constructor
def subgoal_bonus(predicate: Callable[[jax.Array], jax.Array], bonus: float = 1.0) -> RewardTransform:
    """``r + bonus`` the first time ``predicate(obs)`` holds in an episode (a one-shot subgoal).

    The predicate is read on the state each step reaches; a subgoal pays once per episode, so it
    cannot be farmed (as reward machines and CALM's subgoal rewards do).
    """

    def init(p, key, spec):
        return jnp.zeros((spec.num_envs,), bool)

    def apply(p, reached, batch):
        rollout = batch.rollout
        obs = rollout.next_obs
        holds = jax.vmap(predicate)(obs.reshape(-1, obs.shape[-1])).reshape(obs.shape[:-1]).astype(bool)

        def step(seen, x):
            now, done = x
            first = now & ~seen
            return (seen | now) & ~(done > 0), first

        reached, first = scan_time(step, restart(reached, batch), (holds, rollout.done), batch.valid)
        paid = p["bonus"] * first
        return rollout.reward + paid, reached, {"hit_rate": valid_mean(first, batch)}

    return transform("subgoal_bonus", apply, init, {"bonus": bonus}, static={"predicate": predicate})


@text_constructor
def gated(immediate_key: str, outcome_key: str, threshold: float) -> RewardTransform:
    """Gated reward accumulation (G-RA): immediate rewards count only if the outcome is good enough.

    The immediate component ``env_metrics[immediate_key]`` is taken out of each step's reward and
    held back; at the episode's end it is paid out if the episode's summed outcome reward
    ``env_metrics[outcome_key]`` reached ``threshold``, else dropped. ("Stabilizing Long-term
    Multi-turn RL with Gated Rewards", 2025.)
    """

    def init(p, key, spec):
        zeros = jnp.zeros((spec.num_envs,), jnp.float32)
        return {"immediate": zeros, "outcome": zeros}

    def apply(p, acc, batch):
        rollout = batch.rollout
        immediate = check_metric(rollout, immediate_key, "gated")
        outcome = check_metric(rollout, outcome_key, "gated")

        def step(carry, x):
            imm, out, done = x
            held, total = carry["immediate"] + imm, carry["outcome"] + out
            release = jnp.where((done > 0) & (total >= p["threshold"]), held, 0.0)
            reset = lambda v: jnp.where(done > 0, 0.0, v)
            return {"immediate": reset(held), "outcome": reset(total)}, release

        acc, released = scan_time(step, restart(acc, batch), (immediate, outcome, rollout.done), batch.valid)
        valid = 1.0 if batch.valid is None else batch.valid
        paid_out = jnp.sum(released * valid) / jnp.maximum(jnp.sum(rollout.done * valid), 1)
        return rollout.reward - immediate + released, acc, {"released": paid_out}

    static = {"immediate_key": immediate_key, "outcome_key": outcome_key}
    return transform("gated", apply, init, {"threshold": threshold}, static=static)
