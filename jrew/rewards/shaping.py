"""Stateless and lightly stateful reshaping and bounding of the reward signal."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jrew.config import concrete_values
from jrew.rewards.base import RewardTransform, check_probability, per_env_recurrence, stateless, transform, valid_mean
from jrew.rewards.registry import text_constructor


@text_constructor
def true_reward() -> RewardTransform:
    """The task's true reward in place of the visible one: the oracle control that reward variants
    (learned, shaped, tamperable) are compared against."""
    return stateless("true_reward", lambda p, r, batch: batch.rollout.true_reward)


@text_constructor
def affine(scale: float = 1.0, shift: float = 0.0) -> RewardTransform:
    """``a * r + b``."""
    return stateless("affine", lambda p, r, batch: p["scale"] * r + p["shift"], {"scale": scale, "shift": shift})


@text_constructor
def scale(factor: float) -> RewardTransform:
    """``c * r``."""
    return stateless("scale", lambda p, r, batch: p["factor"] * r, {"factor": factor})


@text_constructor
def clip(low: float, high: float) -> RewardTransform:
    """``clip(r, low, high)``."""
    lo, hi = concrete_values(low), concrete_values(high)
    if lo is not None and hi is not None and np.any(lo > hi):
        raise ValueError(f"clip: low ({low}) must be <= high ({high})")
    return stateless("clip", lambda p, r, batch: jnp.clip(r, p["low"], p["high"]), {"low": low, "high": high})


@text_constructor
def sign() -> RewardTransform:
    """``sign(r)`` (Mnih et al. 2015, DQN's reward clipping)."""
    return stateless("sign", lambda p, r, batch: jnp.sign(r))


@text_constructor
def symlog() -> RewardTransform:
    """``sign(r) * log(1 + |r|)`` (Hafner et al. 2023, DreamerV3, eq. 1)."""
    return stateless("symlog", lambda p, r, batch: jnp.sign(r) * jnp.log1p(jnp.abs(r)))


@text_constructor
def noisy(std: float) -> RewardTransform:
    """``r + std * eps``, ``eps ~ N(0, 1)`` per step: reward-noise robustness studies."""
    if (arr := concrete_values(std)) is not None and np.any(arr < 0):
        raise ValueError(f"noisy: std must be >= 0, got {std}")
    return stateless(
        "noisy", lambda p, r, batch: r + p["std"] * jax.random.normal(batch.key, r.shape), {"std": std}
    )


@text_constructor
def flip(probability: float) -> RewardTransform:
    """``-r`` with probability p per step, else ``r`` (noisy-reward RL: Wang et al. 2020)."""
    check_probability("flip: probability", probability)
    return stateless(
        "flip",
        lambda p, r, batch: jnp.where(jax.random.uniform(batch.key, r.shape) < p["probability"], -r, r),
        {"probability": probability},
    )


@text_constructor
def clip_mechanism(eta: float = 0.0) -> RewardTransform:
    """Clip bounding of a dense (process) reward: ``min(r - eta, 0)``.

    Bounded above by 0, so an agent cannot farm a dense learned reward by making episodes long
    (Gao et al. 2024, "On Designing Effective RL Reward at Training Time for LLM Reasoning", Sec. 4).
    """
    return stateless("clip_mechanism", lambda p, r, batch: jnp.minimum(r - p["eta"], 0.0), {"eta": eta})


@text_constructor
def tiered(thresholds: Sequence[float], values: Sequence[float]) -> RewardTransform:
    """Step-function reward by progress tier: ``values[k]`` where ``k = #{i : r >= thresholds[i]}``.

    Turns a dense progress score into a few sparse tiers (the tiered-reward design of the
    "sweet spot" studies). ``thresholds`` ascending; ``len(values) == len(thresholds) + 1``.
    """
    thresholds, values = list(thresholds), list(values)
    if len(values) != len(thresholds) + 1:
        raise ValueError(f"tiered: need len(values) == len(thresholds) + 1, got {len(values)} and {len(thresholds)}")
    if any(b < a for a, b in itertools.pairwise(thresholds)):
        raise ValueError(f"tiered: thresholds must be ascending, got {thresholds}")

    def fn(p, r, batch):
        tier = jnp.sum(r[..., None] >= p["thresholds"], axis=-1)
        return p["values"][tier]

    return stateless("tiered", fn, {"thresholds": jnp.asarray(thresholds, jnp.float32), "values": jnp.asarray(values, jnp.float32)})


@text_constructor
def par(reference: float = 0.0, temperature: float = 1.0, running: bool = False, decay: float = 0.99) -> RewardTransform:
    """Preference-as-reward bounding: ``sigmoid((r - r_ref) / temperature)``.

    Bounded in (0, 1), centred on a reference reward, steep near it and saturating far from it,
    which removes the incentive to push the proxy ever higher (Fu et al. 2025, "Reward Shaping to
    Mitigate Reward Hacking in RLHF", PAR). ``running=True`` (a static setting) makes ``r_ref`` an
    exponential moving average of the mean reward over valid steps (decay ``decay``), starting at
    ``reference``; the current batch is shaped with the reference from before it.
    """
    if (arr := concrete_values(temperature)) is not None and np.any(arr <= 0):
        raise ValueError(f"par: temperature must be > 0, got {temperature}")
    check_probability("par: decay", decay)
    running = bool(running)

    def init(p, key, spec):
        return jnp.asarray(p["reference"], jnp.float32)

    def apply(p, ref, batch):
        r = batch.rollout.reward
        ref = ref if running else p["reference"]
        shaped = jax.nn.sigmoid((r - ref) / p["temperature"])
        new_ref = p["decay"] * ref + (1.0 - p["decay"]) * valid_mean(r, batch) if running else ref
        return shaped, new_ref, {"reference": ref}

    hparams = {"reference": reference, "temperature": temperature, "decay": decay}
    return transform("par", apply, init, hparams, static={"running": running})


@text_constructor
def delta() -> RewardTransform:
    """Delta bounding of a progress score: ``r_t - r_{t-1}`` within an episode (``r_{-1} = 0``).

    An episode's shaped rewards telescope to its last score, so repeating a high-scoring state
    earns nothing more (Gao et al. 2024, Delta mechanism, written causally as in REWARDS.md).
    """

    def step(p, previous, r, done):
        return jnp.where(done > 0, 0.0, r), r - previous

    return per_env_recurrence("delta", step)
