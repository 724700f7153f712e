"""Learners, registered by name and by config class.

A learner is one module with a ``LearnerConfig`` subclass, ``make(config, reward) -> Trainer`` and
``policy_of(config, saved) -> jrew.policy.InferencePolicy`` (the contract is in ``jrew/algos/base.py``);
adding one is that file and one ``register`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from jrew.algos import pg, ppo
from jrew.algos.base import LearnerConfig, Trainer
from jrew.policy import InferencePolicy, actor_critic_policy


class Algorithm(NamedTuple):
    name: str  # what the CLI's --algo and config.json call it
    config_cls: type[LearnerConfig]
    make: Callable[..., Trainer]
    policy_of: Callable[..., InferencePolicy]  # (config, one run's saved state) -> its inference policy


ALGORITHMS: dict[str, Algorithm] = {}


def register(name: str, config_cls: type[LearnerConfig], make: Callable[..., Trainer],
             policy_of: Callable[..., InferencePolicy]) -> None:
    """Makes ``config_cls`` trainable by ``jrew.train``, ``name`` selectable by ``jrew train --algo``
    and its runs exportable (``policy_of``: the inference policy of one run's saved state)."""
    if not (isinstance(config_cls, type) and issubclass(config_cls, LearnerConfig)):
        raise TypeError(f"register({name!r}): the config class must subclass LearnerConfig, got {config_cls!r}")
    if not callable(policy_of):
        raise TypeError(f"register({name!r}): policy_of must be a function (config, saved state) -> InferencePolicy, "
                        f"got {policy_of!r}")
    ALGORITHMS[name] = Algorithm(name, config_cls, make, policy_of)


def for_config(config: LearnerConfig) -> Algorithm:
    """The learner that trains ``config`` (by its class)."""
    for algorithm in ALGORITHMS.values():
        if type(config) is algorithm.config_cls:
            return algorithm
    known = ", ".join(f"{a.config_cls.__name__} ({a.name})" for a in ALGORITHMS.values())
    raise TypeError(f"no learner is registered for {type(config).__name__}; the registered configs are {known}")


def by_name(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algo {name!r}; expected one of {sorted(ALGORITHMS)}")
    return ALGORITHMS[name]


register("ppo", ppo.PPOConfig, ppo.make, actor_critic_policy)
register("pg", pg.PGConfig, pg.make, actor_critic_policy)

__all__ = ["ALGORITHMS", "Algorithm", "LearnerConfig", "Trainer", "by_name", "for_config", "pg", "ppo", "register"]
