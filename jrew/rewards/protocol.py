"""Writing a reward transform, and the runner's side of the protocol: types and helpers.

``jrew.rewards`` holds the constructors users compose (``pbrs``, ``rnd``, ``chain`` ...); this
module holds what one needs to write a new transform or to drive one (see ``base`` for the
protocol itself): the ``RewardBatch`` a transform reads, the ``Rewards`` streams it writes, the
builders ``transform`` / ``stateless`` / ``per_env_recurrence`` / ``bonus_transform``, and the
helpers the learners and the runner use (``describe``, ``stack_hparams``, ``streams_of`` ...).
Register a new constructor for the text grammar with ``text_constructor`` (or mark it
``python_only``); its annotations are then its grammar.
"""

from jrew.rewards.base import (
    EXTRINSIC,
    RewardBatch,
    Rewards,
    RewardTransform,
    apply_checked,
    as_hparams,
    check_transform,
    describe,
    per_env_recurrence,
    restart,
    scan_time,
    stack_hparams,
    stateless,
    streams_of,
    transform,
    valid_mean,
)
from jrew.rewards.exploration import INTRINSIC, bonus_transform, episodic_bonuses
from jrew.rewards.potential import shaping_term
from jrew.rewards.registry import python_only, text_constructor

__all__ = [
    "EXTRINSIC",
    "INTRINSIC",
    "RewardBatch",
    "RewardTransform",
    "Rewards",
    "apply_checked",
    "as_hparams",
    "bonus_transform",
    "check_transform",
    "describe",
    "episodic_bonuses",
    "per_env_recurrence",
    "python_only",
    "restart",
    "scan_time",
    "shaping_term",
    "stack_hparams",
    "stateless",
    "streams_of",
    "text_constructor",
    "transform",
    "valid_mean",
]
