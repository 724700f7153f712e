"""Evaluation episodes: every run's current policy, on fresh episodes with a fixed key.

Training-episode returns mix the policy's exploration with its learning; a benchmark also wants
the policy itself, scored on the same episodes for every run and every time (common random
numbers: the evaluation key is fixed, so two variants see the same initial states). One
compiled ``vmap`` over runs x episodes, each a ``lax.scan`` of at most ``max_steps`` steps;
the runner calls it after the chunks where an evaluation is due and logs

* ``eval/true_return``: mean return on the task's true objective over the episodes,
* ``eval/return``: mean visible (env) reward return,
* ``eval/finished``: share of the episodes that ended (by termination or time limit) in ``max_steps``.

Deterministic evaluation takes the policy's mode (argmax, or the Gaussian's mean), as Brax and
gymnax-blines evaluate; stochastic evaluation samples it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from envs.episodes import scan_episode
from jrew.algos.base import Trainer
from jrew.types import first_episode_mask

METRICS = ("eval/true_return", "eval/return", "eval/finished")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """When and how to evaluate (the benchmark states these beside its results)."""

    every: int
    """updates between evaluations (an evaluation also follows the last update)"""
    episodes: int = 16
    """evaluation episodes per run"""
    deterministic: bool = True
    """the policy's mode (True) or samples from it (False)"""
    seed: int = 0
    """the evaluation key's seed: the same initial states for every run and every evaluation"""
    max_steps: int | None = None
    """steps after which an unfinished episode is cut (it counts with its return so far); None:
    the env's time limit (1000 if it has none)"""

    def __post_init__(self):
        for name in ("every", "episodes", "max_steps"):
            value = getattr(self, name)
            if value is None and name == "max_steps":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"evaluation {name} must be a positive integer, got {value!r}")
        if not isinstance(self.deterministic, bool):
            raise TypeError(f"evaluation deterministic must be true or false, got {self.deterministic!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"evaluation seed must be an integer, got {self.seed!r}")

    def due(self, before: int, after: int, last: int) -> bool:
        """Whether the updates ``before+1 .. after`` reach a multiple of ``every`` or the last update."""
        return after // self.every > before // self.every or after >= last

    def chunk_updates(self, default: int) -> int:
        """The largest chunk size up to ``default`` that divides ``every``: evaluations fall on chunk ends."""
        return max(d for d in range(1, min(default, self.every) + 1) if self.every % d == 0)


def episode_returns(trainer: Trainer, state: Any, key: jax.Array, evaluation: Evaluation) -> dict[str, jax.Array]:
    """One run's evaluation: mean true return, visible return and finished share over the episodes."""
    return policy_returns(trainer.env, lambda obs, k: trainer.act(state, obs, k, evaluation.deterministic), key,
                          evaluation)


def policy_returns(env, act: Callable, key: jax.Array, evaluation: Evaluation) -> dict[str, jax.Array]:
    """``episode_returns`` for any ``act(obs, key) -> action`` in ``env`` (e.g. an exported policy)."""

    def record(_, __, nxt):
        return nxt.reward, nxt.info["true_reward"], nxt.done

    max_steps = evaluation.max_steps or env.episode_limit or 1000

    def one(k):
        reward, true_reward, done = scan_episode(env, act, k, max_steps, record)[1]
        mask = first_episode_mask(done)
        return jnp.sum(mask * true_reward), jnp.sum(mask * reward), jnp.any(done > 0).astype(jnp.float32)

    true_return, visible_return, finished = jax.vmap(one)(jax.random.split(key, evaluation.episodes))
    return dict(zip(METRICS, (true_return.mean(), visible_return.mean(), finished.mean())))


def evaluator(trainer: Trainer, evaluation: Evaluation) -> Callable[[Any], dict[str, jax.Array]]:
    """``evaluate(states) -> {metric: [runs]}`` over a batch of run states, compiled once (the
    results stay on the devices, split like the states)."""
    key = jax.random.PRNGKey(evaluation.seed)
    return jax.jit(jax.vmap(lambda state: episode_returns(trainer, state, key, evaluation)))


def placed_last(values: dict[str, np.ndarray], num_updates: int) -> dict[str, np.ndarray]:
    """Evaluation results ``[runs]`` as metric columns ``[runs, num_updates]``: at the chunk's last
    update, NaN at the others (no evaluation there)."""
    out = {}
    for name, v in values.items():
        column = np.full((len(v), num_updates), math.nan, np.float32)
        column[:, -1] = v
        out[name] = column
    return out


def empty(num_runs: int, num_updates: int) -> dict[str, np.ndarray]:
    """The evaluation columns of a chunk without an evaluation (all NaN)."""
    return {name: np.full((num_runs, num_updates), math.nan, np.float32) for name in METRICS}
