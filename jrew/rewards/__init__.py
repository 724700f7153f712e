"""Composable, vmappable reward transforms compiled into training (see ``base`` for the interface)."""

from jrew.rewards.base import (
    RewardBatch,
    RewardTransform,
    chain,
    describe,
    identity,
    per_env_recurrence,
    stack_params,
    stateless,
)
from jrew.rewards.components import lagrangian, weighted_sum
from jrew.rewards.episodic import delayed, gated, subgoal_bonus
from jrew.rewards.normalize import hybrid_normalize, normalize_returns
from jrew.rewards.potential import pbrs, pbrs_critic, shaping_term
from jrew.rewards.shaping import affine, clip, clip_mechanism, delta, flip, noisy, par, scale, sign, symlog, tiered

__all__ = [
    "RewardBatch",
    "RewardTransform",
    "affine",
    "chain",
    "clip",
    "clip_mechanism",
    "delayed",
    "delta",
    "describe",
    "flip",
    "gated",
    "hybrid_normalize",
    "identity",
    "lagrangian",
    "noisy",
    "normalize_returns",
    "par",
    "pbrs",
    "pbrs_critic",
    "per_env_recurrence",
    "scale",
    "shaping_term",
    "sign",
    "stack_params",
    "stateless",
    "subgoal_bonus",
    "symlog",
    "tiered",
    "weighted_sum",
]
