"""Environments for reward research, all in one protocol (the Brax Env API; see ``envs.core``)."""

from envs.core import Box, Discrete, Env, State, Wrapper, terminated, truncated
from envs.registry import describe, make, names, parse_kwargs, register
from envs.wrappers import AutoResetWrapper, EpisodeWrapper

__all__ = [
    "AutoResetWrapper",
    "Box",
    "Discrete",
    "Env",
    "EpisodeWrapper",
    "State",
    "Wrapper",
    "describe",
    "make",
    "names",
    "parse_kwargs",
    "register",
    "terminated",
    "truncated",
]
