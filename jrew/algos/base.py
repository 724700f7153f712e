"""What every algorithm shares: the ``Trainer`` the runner drives, and init-time argument handling."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

import envs
from jrew import distributions, rewards
from jrew.config import finite, non_negative, positive, require, unit_interval
from jrew.networks import ACTIVATIONS


class Trainer(NamedTuple):
    """An algorithm bound to a config: pure ``init`` and ``update`` plus what the runner reads."""

    config: Any
    env: envs.Env
    init: Callable[..., Any]  # (key, hparams=None, reward_params=None) -> state
    update: Callable[[Any], tuple[Any, dict]]  # state -> (state, metrics)
    num_updates: int
    steps_per_update: int
    act: Callable[[Any, jax.Array, jax.Array], jax.Array]  # (state, obs, key) -> env action, one env


def numeric_inputs(config, hparams, reward: rewards.RewardTransform, reward_params) -> tuple[Any, Any]:
    """The config and reward params a state starts from, as float32 leaves (vmappable data).

    ``hparams`` / ``reward_params`` (None: the trainer's own) may differ from the trainer's only
    in numbers; anything structural would need a different compiled program.
    """
    cfg = config if hparams is None else hparams
    if jax.tree_util.tree_structure(cfg) != jax.tree_util.tree_structure(config):
        raise ValueError("hparams must differ from the trainer's config only in numeric fields")
    reward_params = reward.params if reward_params is None else reward_params
    if jax.tree_util.tree_structure(reward_params) != jax.tree_util.tree_structure(reward.params):
        raise ValueError("reward_params must have the structure of the trainer's reward transform's params")
    as_leaves = lambda tree: jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)  # noqa: E731
    return as_leaves(cfg), as_leaves(reward_params)


def check_learner_fields(config, non_negative_fields: tuple[str, ...]) -> None:
    """Validates what every learner config shares: network choices, time limit, optimizer numbers.

    Every numeric (vmappable) field must be finite; ``non_negative_fields`` are loss coefficients.
    """
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {config.activation!r}")
    if config.distribution not in distributions.NAMES:
        raise ValueError(
            f"distribution must be 'auto', 'categorical', 'normal' or 'tanh_normal', got {config.distribution!r}"
        )
    if config.episode_length is not None:
        require("episode_length", config.episode_length, positive, "a positive integer or None")
    for field in dataclasses.fields(config):
        if field.metadata.get("pytree_node", True):
            require(field.name, getattr(config, field.name), finite, "finite")
    require("learning_rate", config.learning_rate, positive, "> 0")
    require("gamma", config.gamma, unit_interval, "in [0, 1]")
    require("clip_eps", config.clip_eps, positive, "> 0")
    require("max_grad_norm", config.max_grad_norm, positive, "> 0")
    for name in non_negative_fields:
        require(name, getattr(config, name), non_negative, ">= 0")
