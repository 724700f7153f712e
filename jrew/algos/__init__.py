"""Algorithms: each maps a config class to ``make(config) -> Trainer``."""

from jrew.algos import ppo

ALGORITHMS = {"ppo": (ppo.PPOConfig, ppo.make)}

__all__ = ["ALGORITHMS", "ppo"]
