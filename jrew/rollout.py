"""A ``lax.scan`` rollout over any env that speaks the jrew env protocol."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

import envs
from jrew.types import Transition

# (obs [B, obs], key) -> (raw_action, env_action, log_prob)
PolicyFn = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]


def rollout(
    env: envs.Env,
    policy: PolicyFn,
    env_state: envs.State,
    key: jax.Array,
    num_steps: int,
) -> tuple[envs.State, Transition]:
    """Steps ``num_envs`` batched envs ``num_steps`` times; returns a time-major rollout.

    ``env_state`` is batched over envs (from ``jax.vmap(env.reset)``). ``value`` is left at zero:
    learners with a critic fill it in one batched pass after the rollout.
    """
    step = jax.vmap(env.step)

    def body(env_state, step_key):
        raw_action, env_action, log_prob = policy(env_state.obs, step_key)
        next_state = step(env_state, env_action)
        truncated = envs.truncated(next_state)
        transition = Transition(
            obs=env_state.obs,
            action=raw_action,
            env_action=env_action,
            log_prob=log_prob,
            value=jnp.zeros_like(log_prob),
            reward=next_state.reward,
            true_reward=next_state.info["true_reward"],
            terminated=envs.terminated(next_state),
            truncated=truncated,
            next_obs=next_state.info.get("final_obs", next_state.obs),  # pre-reset obs
            env_metrics=next_state.metrics,
        )
        return next_state, transition

    return jax.lax.scan(body, env_state, jax.random.split(key, num_steps))


def random_policy(space: envs.Box | envs.Discrete) -> PolicyFn:
    """Uniformly random actions: the raw env-stepping ceiling for throughput benchmarks."""

    def policy(obs, key):
        batch = obs.shape[0]
        action = space.sample(key, (batch,))
        return action, action, jnp.zeros((batch,))

    return policy
