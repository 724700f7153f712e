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

    def __init__(self, env, name: str):  # env: a brax.envs.Env
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
        s = self.brax_env.reset(rng)
        zero = jnp.zeros((), jnp.float32)
        info = {**s.info, "true_reward": zero, "truncation": zero}
        # jrew's State has Brax's fields, so Brax's step() works on it unchanged.
        return State(pipeline_state=s.pipeline_state, obs=s.obs, reward=s.reward, done=s.done, metrics=s.metrics, info=info)

    def step(self, state: State, action: jax.Array) -> State:
        state = self.brax_env.step(state, action)
        return state.replace(info={**state.info, "true_reward": state.reward})

    def render_html(self, states: list[State], height: int = 480) -> str:
        """An interactive three.js viewer of an episode (``brax.io.html``), as a standalone HTML page."""
        from brax.io import html

        system = self.brax_env.sys.tree_replace({"opt.timestep": self.brax_env.dt})  # play back at env speed
        return html.render(system, [s.pipeline_state for s in states], height=height)


def import_brax_envs():
    """``brax.envs``, imported on first use (slow) with mujoco's warp-probe prints silenced."""
    import contextlib
    import io
    import warnings

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Brax System, piplines and environments")
        from brax import envs as brax_envs
    return brax_envs
