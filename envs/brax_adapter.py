"""Brax environments (any backend: generalized, positional, spring, mjx) in the jrew protocol."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.core import Box, Env, State


class BraxEnv(Env):
    """A Brax env with a continuous ``Box(-1, 1)`` action space and a true-reward channel.

    Brax envs terminate on their own (e.g. a fallen pendulum); the time limit is added by
    ``EpisodeWrapper`` so that truncations are flagged.
    """

    def __init__(self, env, name: str):
        self.brax_env = env
        self.name = name
        self._action_space = Box.from_bounds(-1.0, 1.0, env.action_size)

    @property
    def observation_size(self) -> int:
        return int(self.brax_env.observation_size)

    @property
    def action_space(self):
        return self._action_space

    @property
    def backend(self) -> str:
        return self.brax_env.backend

    def reset(self, rng: jax.Array) -> State:
        state = self.brax_env.reset(rng)
        zero = jnp.zeros((), jnp.float32)
        return state.replace(info={**state.info, "true_reward": zero, "truncation": zero})

    def step(self, state: State, action: jax.Array) -> State:
        state = self.brax_env.step(state, action)
        return state.replace(info={**state.info, "true_reward": state.reward})
