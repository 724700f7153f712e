"""Pytrees that flow through training. A rollout is a Transition whose arrays are time-major:
``[T, num_envs, ...]``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


class Transition(struct.PyTreeNode):
    """One env step for a batch of envs; stacked by ``lax.scan`` into a time-major rollout.

    ``reward`` is the reward the env emits (what the training signal starts from);
    ``true_reward`` the task's true objective, which no transform may change. ``next_obs`` is the
    observation the step led to, *before* any auto-reset: the value of a truncated episode's last
    state is computed from it.
    """

    obs: jax.Array
    action: jax.Array
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


class EpisodeStats(struct.PyTreeNode):
    """Per-env running episode totals and the most recently completed episode's totals.

    Three returns are kept apart: ``env`` (the reward the env shows the agent), ``train`` (after
    the reward pipeline) and ``true`` (the task's objective). Their gap is where shaping helps or
    a proxy gets hacked.
    """

    running: dict  # name -> [num_envs], the current episode so far
    last: dict  # name -> [num_envs], the last completed episode
    completed: jax.Array  # episodes completed so far per env

    NAMES = ("env_return", "train_return", "true_return", "episode_length")

    @classmethod
    def zeros(cls, num_envs: int) -> "EpisodeStats":
        z = {n: jnp.zeros((num_envs,), jnp.float32) for n in cls.NAMES}
        return cls(running=z, last=dict(z), completed=jnp.zeros((num_envs,), jnp.int32))

    def record(self, env_reward, train_reward, true_reward, done) -> "EpisodeStats":
        """Adds one step for every env; episodes that end here become the ``last`` ones."""
        steps = {"env_return": env_reward, "train_return": train_reward, "true_return": true_reward,
                 "episode_length": jnp.ones_like(env_reward)}
        totals = {n: self.running[n] + steps[n] for n in self.NAMES}
        finished = done > 0
        return EpisodeStats(
            running={n: jnp.where(finished, 0.0, v) for n, v in totals.items()},
            last={n: jnp.where(finished, v, self.last[n]) for n, v in totals.items()},
            completed=self.completed + finished.astype(jnp.int32),
        )

    def record_rollout(self, env_reward, train_reward, true_reward, done) -> "EpisodeStats":
        """``record`` over a time-major rollout ``[T, num_envs]``."""
        return jax.lax.scan(lambda s, x: (s.record(*x), None), self, (env_reward, train_reward, true_reward, done))[0]

    def summary(self) -> dict[str, jax.Array]:
        """Mean over envs that finished an episode of their last episode's totals (NaN if none)."""
        has = self.completed > 0
        count = has.sum()

        def mean(x):
            return jnp.where(count > 0, jnp.sum(jnp.where(has, x, 0.0)) / jnp.maximum(count, 1), jnp.nan)

        return {n: mean(v) for n, v in self.last.items()}
