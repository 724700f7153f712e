"""The jrew environment protocol: the Brax Env API plus an action-space description.

Every env speaks Brax's API — ``reset(rng) -> State``, ``step(State, action) -> State``,
``observation_size``, ``action_size`` — over ``brax.envs.base.State``. jrew adds three
conventions that keep reward research honest:

* ``state.info["true_reward"]``: the task's true objective R* for this step. For standard
  envs it equals ``state.reward``; reward-lab envs make them differ on purpose. Reward
  transforms change only the training signal, never this channel.
* ``state.done`` is ``terminated OR truncated``; ``state.info["truncation"]`` is 1 where the
  episode ended by the time limit only (Brax convention). A truncated step bootstraps from the
  value of its last observation, a terminated one does not (see ``terminated``/``truncated``).
* After an auto-reset, ``state.obs`` is the first observation of the next episode and
  ``state.info["final_obs"]`` the last observation of the finished one (what bootstrapping needs).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

__all__ = [
    "Box", "Discrete", "Env", "State", "Wrapper", "initial_state", "next_state", "terminated", "truncated",
]


@dataclasses.dataclass(frozen=True)
class Discrete:
    """``n`` actions, encoded as int32 scalars ``0 .. n-1``."""

    n: int

    def sample(self, key: jax.Array, batch_shape: tuple[int, ...] = ()) -> jax.Array:
        """Uniformly random actions of shape ``batch_shape``."""
        return jax.random.randint(key, batch_shape, 0, self.n)

    def __repr__(self) -> str:
        return f"Discrete({self.n})"


@dataclasses.dataclass(frozen=True)
class Box:
    """A continuous action box ``low <= a <= high`` of ``shape`` (bounds as tuples: hashable)."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.low),)

    @classmethod
    def from_bounds(cls, low: Any, high: Any, size: int) -> Box:
        low = np.broadcast_to(np.asarray(low, np.float32), (size,))
        high = np.broadcast_to(np.asarray(high, np.float32), (size,))
        return cls(tuple(float(x) for x in low), tuple(float(x) for x in high))

    def sample(self, key: jax.Array, batch_shape: tuple[int, ...] = ()) -> jax.Array:
        """Uniformly random actions of shape ``batch_shape + shape``."""
        return jax.random.uniform(
            key, (*batch_shape, *self.shape), minval=jnp.asarray(self.low), maxval=jnp.asarray(self.high)
        )

    def __repr__(self) -> str:
        return f"Box(shape={self.shape}, low={min(self.low)}, high={max(self.high)})"


ActionSpace = Discrete | Box


@struct.dataclass
class State:
    """Env state, field for field Brax's ``brax.envs.base.State`` (so Brax envs step it as is).

    ``pipeline_state`` is the simulator's state, ``metrics`` per-step quantities an env reports
    (e.g. reward components), ``info`` bookkeeping such as ``true_reward`` and ``truncation``.
    """

    pipeline_state: Any
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    metrics: dict = struct.field(default_factory=dict)
    info: dict = struct.field(default_factory=dict)


def initial_state(pipeline_state: Any, obs: jax.Array, metric_names: tuple[str, ...] = (), **info) -> State:
    """A reset ``State``: zero reward, not done, zero ``true_reward`` and ``truncation``.

    Each of ``metric_names`` starts at 0 (a step must report the same metrics); ``info`` adds
    entries such as an ``rng`` stream.
    """
    zero = jnp.zeros((), jnp.float32)
    return State(
        pipeline_state=pipeline_state, obs=obs, reward=zero, done=zero,
        metrics={k: zero for k in metric_names}, info={"true_reward": zero, "truncation": zero, **info},
    )


def next_state(
    state: State, pipeline_state: Any, obs: jax.Array, reward, true_reward, done, metrics: dict, **info
) -> State:
    """``state`` stepped: reward, true reward, done and metrics as float32 scalars; ``info`` entries
    are updated. ``truncation`` is left to ``EpisodeWrapper``."""
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    return state.replace(
        pipeline_state=pipeline_state,
        obs=obs,
        reward=f32(reward),
        done=f32(done),
        metrics={k: f32(v) for k, v in metrics.items()},
        info={**state.info, "true_reward": f32(true_reward), **info},
    )


class Env(abc.ABC):
    """Brax-style environment with a declared action space and a true-reward channel."""

    @abc.abstractmethod
    def reset(self, rng: jax.Array) -> State: ...

    @abc.abstractmethod
    def step(self, state: State, action: jax.Array) -> State: ...

    @property
    @abc.abstractmethod
    def observation_size(self) -> int: ...

    @property
    @abc.abstractmethod
    def action_space(self) -> ActionSpace: ...

    @property
    def action_size(self) -> int:
        """Brax's ``action_size``: the number of actions (discrete) or the action dimension."""
        space = self.action_space
        return space.n if isinstance(space, Discrete) else space.shape[0]

    @property
    def episode_limit(self) -> int | None:
        """The most steps an episode can last (its time limit), or None if it has none."""
        return None

    @property
    def unwrapped(self) -> Env:
        return self


class Wrapper(Env):
    """Delegates everything to ``env``; subclasses override what they change."""

    def __init__(self, env: Env):
        self.env = env

    def reset(self, rng: jax.Array) -> State:
        return self.env.reset(rng)

    def step(self, state: State, action: jax.Array) -> State:
        return self.env.step(state, action)

    @property
    def observation_size(self) -> int:
        return self.env.observation_size

    @property
    def action_space(self) -> ActionSpace:
        return self.env.action_space

    @property
    def episode_limit(self) -> int | None:
        return self.env.episode_limit

    @property
    def unwrapped(self) -> Env:
        return self.env.unwrapped

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not yet set: avoid infinite recursion during unpickling
            raise AttributeError(name)
        return getattr(self.env, name)


def truncated(state: State) -> jax.Array:
    """1.0 where the episode ended by the time limit only."""
    return state.info["truncation"]


def terminated(state: State) -> jax.Array:
    """1.0 where the episode ended in a terminal state (no bootstrapping)."""
    return state.done * (1.0 - state.info["truncation"])
