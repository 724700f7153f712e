"""One episode of a policy, stepped in a ``lax.scan``: what evaluation, rendering and
demonstration recording share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from envs.core import Env, State
from envs.wrappers import AutoResetWrapper

# (obs [obs_size], key) -> env action for one env
ActFn = Callable[[jax.Array, jax.Array], jax.Array]


def single_episode_env(env: Env) -> Env:
    """``env`` without an outer ``AutoResetWrapper``: the episode's own last step, not the next reset."""
    return env.env if isinstance(env, AutoResetWrapper) else env


def scan_episode(env: Env, act: ActFn, key: jax.Array, max_steps: int,
                 record: Callable[[State, jax.Array, State], Any]) -> tuple[State, Any]:
    """Pure and jittable: resets with ``key`` and steps ``max_steps`` times, returning the first
    state and ``record(state, action, next_state)`` stacked over steps. Steps after the episode's
    end keep stepping its last state; mask them with ``first_episode_mask(next_state.done)``."""
    env = single_episode_env(env)
    reset_key, act_key = jax.random.split(key)
    first = env.reset(reset_key)

    def step(state, k):
        action = act(state.obs, k)
        nxt = env.step(state, action)
        return nxt, record(state, action, nxt)

    return first, jax.lax.scan(step, first, jax.random.split(act_key, max_steps))[1]
