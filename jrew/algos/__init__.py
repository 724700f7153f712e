"""Algorithms: each maps a config class to ``make(config) -> Trainer``."""

from jrew.algos import pg, ppo

ALGORITHMS = {"ppo": (ppo.PPOConfig, ppo.make), "pg": (pg.PGConfig, pg.make)}

__all__ = ["ALGORITHMS", "pg", "ppo"]
