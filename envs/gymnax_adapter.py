"""gymnax environments in the jrew protocol, terminations and truncations kept apart."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from envs.core import Box, Discrete, Env, State, initial_state


class GymnaxEnv(Env):
    """Adapts a gymnax env (``step_env`` + ``is_truncated``, gymnax >= 1.0) to ``reset/step``.

    The env's own auto-reset is bypassed (jrew's ``AutoResetWrapper`` does it), observations are
    flattened to float32 vectors, and the env key travels in ``info["rng"]``.
    """

    def __init__(self, env, params, name: str):
        self.gymnax_env = env
        self.params = params
        self.name = name
        obs_shape = env.observation_space(params).shape
        self._observation_size = int(math.prod(obs_shape))
        space = env.action_space(params)
        if isinstance(space, spaces.Discrete):
            self._action_space = Discrete(int(space.n))
        elif isinstance(space, spaces.Box):
            size = int(math.prod(space.shape)) if space.shape else 1
            self._action_space = Box.from_bounds(space.low, space.high, size)
        else:
            raise TypeError(f"{name}: unsupported gymnax action space {type(space).__name__}")

    @property
    def observation_size(self) -> int:
        return self._observation_size

    @property
    def action_space(self):
        return self._action_space

    @property
    def episode_limit(self) -> int | None:
        limit = getattr(self.params, "max_steps_in_episode", None)
        return None if limit is None else int(limit)

    def _obs(self, obs) -> jax.Array:
        return jnp.reshape(obs, (-1,)).astype(jnp.float32)

    def reset(self, rng: jax.Array) -> State:
        rng, key = jax.random.split(rng)
        obs, env_state = self.gymnax_env.reset_env(key, self.params)
        return initial_state(env_state, self._obs(obs), rng=rng)

    def step(self, state: State, action: jax.Array) -> State:
        rng, key = jax.random.split(state.info["rng"])
        if isinstance(self._action_space, Discrete):
            action = jnp.asarray(action, jnp.int32).reshape(())
        obs, env_state, reward, terminated, _ = self.gymnax_env.step_env(key, state.pipeline_state, action, self.params)
        terminated = jnp.asarray(terminated, jnp.float32).reshape(())
        is_truncated = jnp.asarray(self.gymnax_env.is_truncated(env_state, self.params), jnp.float32).reshape(())
        truncation = is_truncated * (1.0 - terminated)
        reward = jnp.asarray(reward, jnp.float32).reshape(())
        info = {**state.info, "rng": rng, "true_reward": reward, "truncation": truncation}
        return state.replace(
            pipeline_state=env_state,
            obs=self._obs(obs),
            reward=reward,
            done=jnp.maximum(terminated, truncation),
            info=info,
        )
