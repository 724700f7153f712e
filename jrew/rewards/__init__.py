"""Composable, vmappable reward transforms compiled into training: the constructors.

Compose them in Python (``chain(normalize_returns(), pbrs(potential=phi, coef=0.5))``) or as text
(``jrew.rewards.spec``; ``jrew envs --transforms`` lists the text-callable ones). Writing a new
transform: ``jrew.rewards.protocol`` (the types and helpers) and ``jrew.rewards.base`` (the protocol).
"""

from jrew.rewards import protocol
from jrew.rewards.adversarial import gail
from jrew.rewards.base import RewardTransform, chain, identity, on_stream
from jrew.rewards.components import lagrangian, weighted_sum
from jrew.rewards.data import Data
from jrew.rewards.episodic import delayed, gated, subgoal_bonus
from jrew.rewards.exploration import (
    counts,
    e3b,
    episodic_knn,
    global_episodic,
    icm,
    intrinsic,
    novelty_search,
    rnd,
    simhash_counts,
)
from jrew.rewards.normalize import hybrid_normalize, normalize_returns
from jrew.rewards.potential import pbrs, pbrs_critic
from jrew.rewards.preferences import (
    PreferenceSet,
    preference_model,
    preference_set,
    return_decomposition,
    synthetic_labels,
)
from jrew.rewards.settings import Fn
from jrew.rewards.shaping import (
    affine,
    clip,
    clip_mechanism,
    delta,
    flip,
    noisy,
    par,
    scale,
    sign,
    symlog,
    tiered,
    true_reward,
)

__all__ = [
    "Data",
    "Fn",
    "PreferenceSet",
    "RewardTransform",
    "affine",
    "chain",
    "clip",
    "clip_mechanism",
    "counts",
    "delayed",
    "delta",
    "e3b",
    "episodic_knn",
    "flip",
    "gail",
    "gated",
    "global_episodic",
    "hybrid_normalize",
    "icm",
    "identity",
    "intrinsic",
    "lagrangian",
    "noisy",
    "normalize_returns",
    "novelty_search",
    "on_stream",
    "par",
    "pbrs",
    "pbrs_critic",
    "preference_model",
    "preference_set",
    "protocol",
    "return_decomposition",
    "rnd",
    "scale",
    "sign",
    "simhash_counts",
    "subgoal_bonus",
    "symlog",
    "synthetic_labels",
    "tiered",
    "true_reward",
    "weighted_sum",
]
