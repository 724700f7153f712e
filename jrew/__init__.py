"""jrew: a JAX-native compiled reward and RL engine.

A whole experiment — env steps, policy, reward pipeline, advantages, optimizer — is one pure
function compiled by XLA and vmapped over seeds and reward variants.

The public names load on first use, so ``import jrew.plotting`` or ``jrew.run_dir`` (reading a
run directory) never imports JAX, Orbax or the learners.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "PGConfig": "jrew.algos.pg",
    "PPOConfig": "jrew.algos.ppo",
    "make_train": "jrew.algos.ppo",
    "RunResult": "jrew.runner",
    "Chunk": "jrew.runner",
    "TrainingDivergedError": "jrew.runner",
    "resume": "jrew.runner",
    "train": "jrew.runner",
    "load_metrics": "jrew.run_dir",
    "load_summary": "jrew.run_dir",
    "load_policy": "jrew.policy",
    "Policy": "jrew.policy",
}

__all__ = [
    "Chunk",
    "PGConfig",
    "PPOConfig",
    "Policy",
    "RunResult",
    "TrainingDivergedError",
    "load_metrics",
    "load_policy",
    "load_summary",
    "make_train",
    "resume",
    "rewards",
    "train",
]
__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads them
    from jrew import rewards
    from jrew.algos.pg import PGConfig
    from jrew.algos.ppo import PPOConfig, make_train
    from jrew.policy import Policy, load_policy
    from jrew.run_dir import load_metrics, load_summary
    from jrew.runner import Chunk, RunResult, TrainingDivergedError, resume, train


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        try:
            value = importlib.import_module(f"jrew.{name}")  # submodules: jrew.rewards, jrew.config, ...
        except ModuleNotFoundError as err:
            if err.name != f"jrew.{name}":
                raise
            raise AttributeError(f"module 'jrew' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
