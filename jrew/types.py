"""Pytrees that flow through training. Arrays in a Rollout are time-major: ``[T, num_envs, ...]``."""

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


Rollout = Transition  # a Transition whose leaves carry a leading time axis


class EpisodeStats(struct.PyTreeNode):
    """Per-env running returns and the most recently completed episode's totals."""

    train_return: jax.Array
    true_return: jax.Array
    length: jax.Array
    last_train_return: jax.Array
    last_true_return: jax.Array
    last_length: jax.Array
    completed: jax.Array  # episodes completed so far in this env

    @classmethod
    def zeros(cls, num_envs: int) -> "EpisodeStats":
        z = jnp.zeros((num_envs,), jnp.float32)
        return cls(z, z, z, z, z, z, jnp.zeros((num_envs,), jnp.int32))

    def record(self, reward: jax.Array, true_reward: jax.Array, done: jax.Array) -> "EpisodeStats":
        train_return = self.train_return + reward
        true_return = self.true_return + true_reward
        length = self.length + 1.0
        finished = done > 0
        keep = lambda new, old: jnp.where(finished, new, old)  # noqa: E731
        return EpisodeStats(
            train_return=keep(0.0, train_return),
            true_return=keep(0.0, true_return),
            length=keep(0.0, length),
            last_train_return=keep(train_return, self.last_train_return),
            last_true_return=keep(true_return, self.last_true_return),
            last_length=keep(length, self.last_length),
            completed=self.completed + finished.astype(jnp.int32),
        )

    def summary(self) -> dict[str, jax.Array]:
        """Mean over envs that finished an episode of their last episode's totals (NaN if none)."""
        has = self.completed > 0
        count = has.sum()
        mean = lambda x: jnp.where(count > 0, jnp.sum(jnp.where(has, x, 0.0)) / jnp.maximum(count, 1), jnp.nan)  # noqa: E731
        return {
            "true_return": mean(self.last_true_return),
            "train_return": mean(self.last_train_return),
            "episode_length": mean(self.last_length),
        }
