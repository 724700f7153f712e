"""Environments for reward research, all in one protocol (the Brax Env API; see ``envs.core``)."""

from envs import lab, seq  # registers the lab/... and seq/... envs
from envs.core import Box, Discrete, Env, State, Wrapper, terminated, truncated
from envs.registry import describe, make, names, parse_kwargs, register
from envs.wrappers import AutoResetWrapper, DelayedReward, EpisodeWrapper, NoisyReward, SparseReward

__all__ = [
    "AutoResetWrapper",
    "Box",
    "DelayedReward",
    "Discrete",
    "Env",
    "EpisodeWrapper",
    "NoisyReward",
    "SparseReward",
    "State",
    "Wrapper",
    "describe",
    "lab",
    "make",
    "names",
    "parse_kwargs",
    "register",
    "seq",
    "terminated",
    "truncated",
]
