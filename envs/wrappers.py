"""Episode-length and auto-reset wrappers shared by every env family."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp

from envs.core import Env, State, Wrapper

# Per-step outputs that describe the finished transition: an auto-reset must keep them.
_STEP_OUTPUT_KEYS = ("true_reward", "truncation")


class EpisodeWrapper(Wrapper):
    """Ends an episode after ``episode_length`` steps, flagged as a truncation.

    ``info["steps"]`` counts steps in the episode. At the limit ``done`` becomes 1 and
    ``info["truncation"]`` becomes 1 unless the env terminated on that very step (Brax's rule).
    """

    def __init__(self, env: Env, episode_length: int):
        if episode_length < 1:
            raise ValueError(f"episode_length must be >= 1, got {episode_length}")
        super().__init__(env)
        self.episode_length = int(episode_length)

    @property
    def episode_limit(self) -> int:
        inner = self.env.episode_limit
        return self.episode_length if inner is None else min(inner, self.episode_length)

    def reset(self, rng: jax.Array) -> State:
        state = self.env.reset(rng)
        info = {**state.info, "steps": jnp.zeros((), jnp.int32)}
        info.setdefault("truncation", jnp.zeros((), jnp.float32))
        return state.replace(info=info)

    def step(self, state: State, action: jax.Array) -> State:
        steps = state.info["steps"] + 1
        # truncation describes one step: clear the last step's flag; an inner env may set its own
        state = state.replace(info={**state.info, "truncation": jnp.zeros((), jnp.float32)})
        state = self.env.step(state, action)
        at_limit = steps >= self.episode_length
        env_truncated = state.info["truncation"]
        truncation = jnp.where(at_limit, 1.0 - state.done, env_truncated)
        done = jnp.where(at_limit, 1.0, state.done)
        return state.replace(done=done, info={**state.info, "steps": steps, "truncation": truncation})


class AutoResetWrapper(Wrapper):
    """Starts a new episode in the same step that the old one ends.

    ``mode="fresh"`` draws a new initial state from a key carried in ``info["reset_rng"]``
    (episodes are independent; the right default). ``mode="first"`` returns to the env's first
    initial state, as Brax's own training wrapper does (cheaper for expensive physics resets, and
    what the Brax PPO anchor does). Either way ``info["final_obs"]`` keeps the last observation of
    the finished episode, so a truncated episode can bootstrap from it.
    """

    def __init__(self, env: Env, mode: Literal["fresh", "first"] = "fresh"):
        if mode not in ("fresh", "first"):
            raise ValueError(f"auto-reset mode must be 'fresh' or 'first', got {mode!r}")
        super().__init__(env)
        self.mode = mode

    def reset(self, rng: jax.Array) -> State:
        rng, reset_rng = jax.random.split(rng)
        state = self.env.reset(rng)
        info = {**state.info, "final_obs": state.obs}
        info.setdefault("true_reward", jnp.zeros((), jnp.float32))
        info.setdefault("truncation", jnp.zeros((), jnp.float32))
        if self.mode == "fresh":
            info["reset_rng"] = reset_rng
        else:
            info["first_pipeline_state"] = state.pipeline_state
            info["first_obs"] = state.obs
            info["first_info"] = _resettable_info(state.info)
        return state.replace(info=info)

    def step(self, state: State, action: jax.Array) -> State:
        stepped = self.env.step(state, action)
        done = stepped.done > 0
        if self.mode == "fresh":
            reset_rng, key = jax.random.split(stepped.info["reset_rng"])
            fresh = self.env.reset(key)
            start_pipeline, start_obs = fresh.pipeline_state, fresh.obs
            start_info = {k: fresh.info[k] for k in _resettable_info(stepped.info) if k in fresh.info}
        else:
            start_pipeline = stepped.info["first_pipeline_state"]
            start_obs = stepped.info["first_obs"]
            start_info = stepped.info["first_info"]

        select = lambda new, old: jnp.where(done, new, old)
        info = {**stepped.info, **jax.tree.map(select, start_info, {k: stepped.info[k] for k in start_info})}
        info["final_obs"] = stepped.obs
        if self.mode == "fresh":
            info["reset_rng"] = reset_rng
        return stepped.replace(
            pipeline_state=jax.tree.map(select, start_pipeline, stepped.pipeline_state),
            obs=select(start_obs, stepped.obs),
            info=info,
        )


def _resettable_info(info: dict) -> dict:
    """Info entries that belong to the episode (e.g. step counters).

    Not the last step's outputs, and not random streams (keys ending in ``rng``): those run on
    across episodes, so a 'first'-mode reset does not replay the first episode's randomness.
    """
    skip = set(_STEP_OUTPUT_KEYS) | {"final_obs", "first_pipeline_state", "first_obs", "first_info"}
    return {k: v for k, v in info.items() if k not in skip and not k.endswith("rng")}


class DelayedReward(Wrapper):
    """Releases the episode's summed visible reward at its last step, 0 elsewhere.

    Credit assignment made hard on purpose: the delayed-reward setting of RUDDER (Arjona-Medina
    et al. 2019, arXiv:1806.07857). A time-limit cut releases too. ``true_reward`` is untouched.
    Wrap outside the ``EpisodeWrapper`` (``envs.make(..., reward_delay=True)`` does), so the cut
    is seen. The in-pipeline equivalent is ``jrew.rewards.delayed``.
    """

    def reset(self, rng: jax.Array) -> State:
        state = self.env.reset(rng)
        return state.replace(info={**state.info, "pending_reward": jnp.zeros((), jnp.float32)})

    def step(self, state: State, action: jax.Array) -> State:
        state = self.env.step(state, action)
        total = state.info["pending_reward"] + state.reward
        ended = state.done > 0
        return state.replace(
            reward=jnp.where(ended, total, 0.0),
            info={**state.info, "pending_reward": jnp.where(ended, 0.0, total)},
        )


class SparseReward(Wrapper):
    """Sparsification: ``r' = r * 1[r >= threshold]`` (or ``1[r >= threshold]`` when ``binary``).

    Turns a dense reward into a sparse, success-style one (as "sparse" variants of dense
    control tasks do); ``true_reward`` is untouched.
    """

    def __init__(self, env: Env, threshold: float, binary: bool = False):
        super().__init__(env)
        self.threshold, self.binary = float(threshold), bool(binary)

    def step(self, state: State, action: jax.Array) -> State:
        state = self.env.step(state, action)
        passed = state.reward >= self.threshold
        kept = jnp.ones_like(state.reward) if self.binary else state.reward
        return state.replace(reward=jnp.where(passed, kept, 0.0))


class NoisyReward(Wrapper):
    """Reward noise: ``r' = r + std * eps``, ``eps ~ N(0, 1)`` per step; ``true_reward`` untouched.

    For robustness studies of noisy rewards (e.g. Wang et al. 2020, arXiv:1810.01032). The
    in-pipeline equivalent is ``jrew.rewards.noisy``.
    """

    def __init__(self, env: Env, std: float):
        if std < 0:
            raise ValueError(f"reward noise std must be >= 0, got {std}")
        super().__init__(env)
        self.std = float(std)

    def reset(self, rng: jax.Array) -> State:
        rng, noise_rng = jax.random.split(rng)
        state = self.env.reset(rng)
        return state.replace(info={**state.info, "reward_noise_rng": noise_rng})

    def step(self, state: State, action: jax.Array) -> State:
        state = self.env.step(state, action)
        noise_rng, key = jax.random.split(state.info["reward_noise_rng"])
        noisy = state.reward + self.std * jax.random.normal(key, state.reward.shape)
        return state.replace(reward=noisy, info={**state.info, "reward_noise_rng": noise_rng})
