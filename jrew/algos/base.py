"""What every algorithm shares: the ``Trainer`` the runner drives, and init-time argument handling."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

import envs
from jrew import rewards


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
