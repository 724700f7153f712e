"""The collect step every learner shares: rollout -> reward pipeline -> episode statistics -> metrics.

One function, so every learner treats masks, resets, reward streams, the true reward and the
metrics the same way. What differs between learners is a few arguments: whether a critic values
the rollout (``value_fn``), whether only each env's first episode counts (critic-free learners on
fresh envs), and which envs were reset before the rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import envs
from jrew import rewards
from jrew.rollout import PolicyFn, rollout
from jrew.types import EnvSpec, EpisodeStats, Transition, first_episode_mask


class Collected(NamedTuple):
    env_state: envs.State  # after the rollout
    traj: Transition  # time-major [T, B]; .reward: the extrinsic training reward; .value: V(s) (0 without a critic;
    #                   [T, B, K] with one critic per stream)
    rewards: rewards.protocol.Rewards  # every training stream [T, B]
    next_values: jax.Array | None  # V(s') before any auto-reset, shaped as .value (None without a critic)
    valid: jax.Array | None  # [T, B] 1 for real steps; None: all are
    reward_state: Any
    episode_stats: EpisodeStats
    metrics: dict[str, jax.Array]  # episode returns, reward/<...> and env/<...>


def collect(
    env: envs.Env,
    policy: PolicyFn,
    env_state: envs.State,
    keys: tuple[jax.Array, jax.Array],
    num_steps: int,
    *,
    pipeline: rewards.RewardTransform,
    reward_hparams: Any,
    reward_state: Any,
    episode_stats: EpisodeStats,
    gamma: jax.Array,
    spec: EnvSpec,
    value_fn: Callable[[jax.Array], jax.Array] | None = None,
    first_episode_only: bool = False,
    reset: jax.Array | None = None,
) -> Collected:
    """Steps the envs ``num_steps`` times with ``policy`` and turns the rollout into training data.

    ``keys`` = (rollout key, reward-pipeline key). ``value_fn`` (a critic) values ``s`` and ``s'``
    in one batched pass; it returns one value per observation, or ``K`` (one per reward stream,
    extrinsic first) for a learner with several critics; ``pbrs_critic`` reads the extrinsic one.
    ``first_episode_only`` masks every step after an env's first episode ends. ``reset`` ([B]
    bool) says which envs the learner started afresh: the pipeline's per-env carries and the
    running episode totals restart there. ``spec`` is the env batch as the pipeline's ``init``
    saw it; learned bonuses read its action space.
    """
    rollout_key, reward_key = keys
    env_state, traj = rollout(env, policy, env_state, rollout_key, num_steps)
    next_values = None
    if value_fn is not None:
        values, next_values = critic_values(value_fn, traj, env_state.obs, max_truncations(env, num_steps))
        traj = traj.replace(value=values)
    valid = first_episode_mask(traj.done) if first_episode_only else None
    batch = rewards.protocol.RewardBatch.create(
        traj, rewards.protocol.streams_of(pipeline), gamma, reward_key, valid=valid, reset=reset,
        value_fn=None if value_fn is None else _extrinsic_value(value_fn, len(spec.observation_shape)), spec=spec,
    )
    streams, reward_state, reward_metrics = rewards.protocol.apply_checked(pipeline, reward_hparams, reward_state, batch)
    episode_stats = episode_stats.restart(reset).record_rollout(
        traj.reward, streams, traj.true_reward, traj.done, valid
    )
    metrics = dict(episode_stats.summary())
    metrics.update({f"reward/{k}": v for k, v in reward_metrics.items()})
    metrics.update({f"env/{k}": mean_over_steps(v, valid) for k, v in traj.env_metrics.items()})
    return Collected(
        env_state, traj.replace(reward=streams[rewards.protocol.EXTRINSIC]), streams, next_values, valid, reward_state,
        episode_stats, metrics,
    )


def max_truncations(env: envs.Env, num_steps: int) -> int | None:
    """The most truncations one env can have in ``num_steps`` steps: ceil(T / time limit), as an
    env truncates only at its time limit (``Env.episode_limit``); None when it has none."""
    limit = env.episode_limit
    return None if limit is None else -(-num_steps // limit)


def critic_values(value_fn: Callable[[jax.Array], jax.Array], traj: Transition, last_obs: jax.Array,
                  max_truncations: int | None) -> tuple[jax.Array, jax.Array]:
    """``(V(s_t), V(s'_t))`` over a rollout, in batched passes rather than one step at a time.

    ``s'_t`` is the next observation before any auto-reset, so truncations bootstrap from the
    episode's final observation. It equals ``s_{t+1}`` (``last_obs`` after the last row) except
    where an episode ended; there only truncations need a value, as terminations do not bootstrap.
    So the critic values the T + 1 observations ``s_0 .. s_T`` and, per env, the final
    observations of at most ``max_truncations`` truncations: about T·B rows instead of 2·T·B,
    the critic's largest cost outside the epochs. Without a bound (``None``, or one of T or more)
    it values ``s_t`` and ``s'_t`` directly. A truncation past the bound (an env that truncates
    before its time limit) gets a NaN value, so that training reports it instead of bootstrapping
    from the next episode's first state.
    """
    num_steps = traj.obs.shape[0]
    if max_truncations is None or max_truncations >= num_steps:
        return jnp.split(value_fn(jnp.concatenate([traj.obs, traj.next_obs])), 2)
    states = value_fn(jnp.concatenate([traj.obs, last_obs[None]]))  # V(s_0 .. s_T)
    values, next_values = states[:-1], states[1:]
    truncated = traj.truncated > 0
    # each env's first max_truncations truncation steps, padded with the last step: V(s'_{T-1}) is right there too
    steps = jax.vmap(lambda column: jnp.nonzero(column, size=max_truncations, fill_value=num_steps - 1)[0],
                     in_axes=1, out_axes=1)(truncated)  # [K, B]
    envs_index = jnp.arange(truncated.shape[1])
    next_values = next_values.at[steps, envs_index].set(value_fn(traj.next_obs[steps, envs_index]))
    past_bound = truncated & (jnp.cumsum(truncated, axis=0) > max_truncations)
    past_bound = past_bound.reshape(past_bound.shape + (1,) * (next_values.ndim - past_bound.ndim))
    return values, jnp.where(past_bound, jnp.nan, next_values)


def _extrinsic_value(value_fn: Callable[[jax.Array], jax.Array], obs_rank: int) -> Callable[[jax.Array], jax.Array]:
    def value(obs):
        v = value_fn(obs)
        return v[..., 0] if v.ndim > obs.ndim - obs_rank else v

    return value


def mean_over_steps(x: jax.Array, valid: jax.Array | None) -> jax.Array:
    """Mean of a per-step quantity over the rollout's valid steps (float32)."""
    if valid is None:
        return jnp.mean(x, dtype=jnp.float32)
    return jnp.sum(valid * x) / jnp.maximum(valid.sum(), 1.0)
