"""Pytrees that flow through training. A rollout is a Transition whose arrays are time-major:
``[T, num_envs, ...]``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import envs


class Transition(struct.PyTreeNode):
    """One env step for a batch of envs; stacked by ``lax.scan`` into a time-major rollout.

    ``reward`` is the reward the env emits (what the training signal starts from);
    ``true_reward`` the task's true objective, which no transform may change. ``action`` is the
    policy's raw sample (what its log-prob is of); ``env_action`` what the env received (clipped
    or squashed into the action space: what demonstrations record). ``next_obs`` is the
    observation the step led to, *before* any auto-reset: the value of a truncated episode's last
    state is computed from it.
    """

    obs: jax.Array
    action: jax.Array
    env_action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    true_reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array
    env_metrics: dict

    @property
    def done(self) -> jax.Array:
        return jnp.maximum(self.terminated, self.truncated)


class EnvSpec(NamedTuple):
    """What a reward transform's ``init`` knows of the env batch it will see (static, hashable)."""

    observation_shape: tuple[int, ...]
    observation_dtype: np.dtype
    action_space: envs.Discrete | envs.Box
    num_envs: int

    @classmethod
    def of(cls, env: envs.Env, num_envs: int) -> EnvSpec:
        obs = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).obs
        return cls(tuple(obs.shape), np.dtype(obs.dtype), env.action_space, int(num_envs))


def first_episode_mask(done: jax.Array, axis: int = 0) -> jax.Array:
    """1 for the steps of each sequence's first episode (its last step included), 0 after; the
    steps run along ``axis`` (time-major rollouts: 0)."""
    ended_before = jnp.cumsum(done, axis=axis) - done
    return (ended_before == 0).astype(done.dtype)


def select_envs(mask: jax.Array, new: Any, old: Any) -> Any:
    """Per env (leading axis of ``mask``), ``new`` where ``mask`` holds, else ``old``; any pytree."""

    def pick(n, o):
        return jnp.where(mask.reshape(mask.shape + (1,) * (jnp.ndim(n) - mask.ndim)), n, o)

    return jax.tree.map(pick, new, old)


class EpisodeStats(struct.PyTreeNode):
    """Per-env running episode totals and the most recently completed episode's totals.

    Three returns are kept apart: ``env`` (the reward the env shows the agent), ``train`` (the
    extrinsic training stream, after the reward pipeline) and ``true`` (the task's objective).
    Their gap is where shaping helps or a proxy gets hacked. Other reward streams (e.g. an
    intrinsic bonus) get their own ``<stream>_return``.
    """

    running: dict  # name -> [num_envs], the current episode so far
    last: dict  # name -> [num_envs], the last completed episode
    completed: jax.Array  # episodes completed so far per env

    NAMES = ("env_return", "train_return", "true_return", "episode_length")

    @staticmethod
    def names(streams: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The totals kept: the four of ``NAMES`` and one return per extra reward stream."""
        return EpisodeStats.NAMES + tuple(f"{s}_return" for s in streams if s != "extrinsic")

    @classmethod
    def zeros(cls, num_envs: int, streams: tuple[str, ...] = ()) -> EpisodeStats:
        z = {n: jnp.zeros((num_envs,), jnp.float32) for n in cls.names(streams)}
        return cls(running=z, last=dict(z), completed=jnp.zeros((num_envs,), jnp.int32))

    def record(self, steps: dict, done, valid=None) -> EpisodeStats:
        """Adds one step (``steps``: name -> [num_envs]) for every env; episodes that end here become
        the ``last`` ones. Where ``valid`` is 0 the step does not exist: nothing changes."""
        totals = {n: self.running[n] + steps[n] for n in self.running}
        finished = done > 0
        if valid is not None:
            totals = {n: jnp.where(valid > 0, v, self.running[n]) for n, v in totals.items()}
            finished = finished & (valid > 0)
        return EpisodeStats(
            running={n: jnp.where(finished, 0.0, v) for n, v in totals.items()},
            last={n: jnp.where(finished, v, self.last[n]) for n, v in totals.items()},
            completed=self.completed + finished.astype(jnp.int32),
        )

    def record_rollout(self, env_reward, rewards: dict, true_reward, done, valid=None) -> EpisodeStats:
        """``record`` over a time-major rollout ``[T, num_envs]``; ``rewards`` are the training
        streams (``extrinsic`` is logged as ``train_return``)."""
        steps = {"env_return": env_reward, "true_return": true_reward, "episode_length": jnp.ones_like(env_reward)}
        steps.update({("train_return" if s == "extrinsic" else f"{s}_return"): r for s, r in rewards.items()})
        xs = (steps, done) if valid is None else (steps, done, valid)
        return jax.lax.scan(lambda s, x: (s.record(*x), None), self, xs)[0]

    def restart(self, reset: jax.Array | None) -> EpisodeStats:
        """Drops the running totals of the envs a learner started afresh (``reset``: [num_envs] bool)."""
        if reset is None:
            return self
        return self.replace(running=select_envs(reset, jax.tree.map(jnp.zeros_like, self.running), self.running))

    def summary(self) -> dict[str, jax.Array]:
        """Mean over envs that finished an episode of their last episode's totals (NaN if none)."""
        has = self.completed > 0
        count = has.sum()

        def mean(x):
            return jnp.where(count > 0, jnp.sum(jnp.where(has, x, 0.0)) / jnp.maximum(count, 1), jnp.nan)

        return {n: mean(v) for n, v in self.last.items()}
