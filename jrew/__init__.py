"""jrew: a JAX-native compiled reward and RL engine.

A whole experiment — env steps, policy, reward pipeline, advantages, optimizer — is one pure
function compiled by XLA and vmapped over seeds and reward variants.
"""

from jrew import rewards
from jrew.algos.pg import PGConfig
from jrew.algos.ppo import PPOConfig, make_train
from jrew.runner import RunResult, TrainingDivergedError, load_metrics, resume, train

__all__ = [
    "PGConfig",
    "PPOConfig",
    "RunResult",
    "TrainingDivergedError",
    "load_metrics",
    "make_train",
    "resume",
    "rewards",
    "train",
]
__version__ = "0.1.0"
