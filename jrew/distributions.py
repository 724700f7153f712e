"""Action distributions as pure functions of their parameters (no object state).

Each distribution maps a network head output to ``sample``, ``log_prob``, ``entropy`` and the
env action. ``sample`` returns the *raw* action that ``log_prob`` scores (for tanh-squashed
Gaussians the pre-tanh value, as in Brax); ``to_env_action`` maps it into the env's action space.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from envs.core import Box, Discrete

_LOG_2PI = math.log(2.0 * math.pi)


class Distribution(NamedTuple):
    """A family of action distributions; ``head_size`` outputs come from the policy network."""

    name: str
    head_size: int
    sample: callable  # (key, head) -> raw action
    log_prob: callable  # (head, raw action) -> log pi(a|s)
    entropy: callable  # (head, key) -> H[pi(.|s)] (exact or one-sample estimate)
    to_env_action: callable  # raw action -> env action
    mode: callable  # head -> the most likely raw action (a deterministic policy for evaluation)


def categorical(n: int) -> Distribution:
    """Softmax policy over ``n`` actions; head = logits."""

    def log_prob(logits, action):
        logp = jax.nn.log_softmax(logits)
        return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(logits, key=None):
        logp = jax.nn.log_softmax(logits)
        return -jnp.sum(jnp.exp(logp) * logp, axis=-1)

    return Distribution(
        name="categorical",
        head_size=n,
        sample=lambda key, logits: jax.random.categorical(key, logits).astype(jnp.int32),
        log_prob=log_prob,
        entropy=entropy,
        to_env_action=lambda a: a,
        mode=lambda logits: jnp.argmax(logits, axis=-1).astype(jnp.int32),
    )


def _split_gaussian(head):
    mean, log_std = jnp.split(head, 2, axis=-1)
    return mean, log_std


def _gaussian_log_prob(mean, log_std, x):
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * _LOG_2PI, axis=-1)


def normal(space: Box) -> Distribution:
    """Diagonal Gaussian with state-independent log-std; actions are clipped to the box for the env.

    Head = concat(mean, log_std) where log_std is a learned parameter broadcast over the batch.
    """
    low, high = jnp.asarray(space.low), jnp.asarray(space.high)
    dim = len(space.low)

    def sample(key, head):
        mean, log_std = _split_gaussian(head)
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)

    def entropy(head, key=None):
        _, log_std = _split_gaussian(head)
        return jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI), axis=-1)

    return Distribution(
        name="normal",
        head_size=2 * dim,
        sample=sample,
        log_prob=lambda head, x: _gaussian_log_prob(*_split_gaussian(head), x),
        entropy=entropy,
        to_env_action=lambda x: jnp.clip(x, low, high),
        mode=lambda head: _split_gaussian(head)[0],
    )


def tanh_normal(space: Box) -> Distribution:
    """Gaussian squashed by tanh into the box (Haarnoja et al. 2018, App. C; Brax's PPO default).

    log pi(a) = log N(u; mu, sigma) - sum log(1 - tanh(u)^2), with u the raw (pre-tanh) sample.
    The entropy has no closed form; as in Brax it is estimated with one reparameterized sample.
    """
    low, high = jnp.asarray(space.low), jnp.asarray(space.high)
    dim = len(space.low)

    def log_det_jacobian(u):
        # log(1 - tanh(u)^2), written stably: 2 (log 2 - u - softplus(-2u))
        return jnp.sum(2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)

    def sample(key, head):
        mean, log_std = _split_gaussian(head)
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)

    def log_prob(head, u):
        return _gaussian_log_prob(*_split_gaussian(head), u) - log_det_jacobian(u)

    def entropy(head, key):
        _, log_std = _split_gaussian(head)
        u = sample(key, head)
        return jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI), axis=-1) + log_det_jacobian(u)

    return Distribution(
        name="tanh_normal",
        head_size=2 * dim,
        sample=sample,
        log_prob=log_prob,
        entropy=entropy,
        to_env_action=lambda u: low + (jnp.tanh(u) + 1.0) * 0.5 * (high - low),
        mode=lambda head: _split_gaussian(head)[0],  # tanh of the Gaussian's mode, as Brax evaluates
    )


NAMES = ("auto", "categorical", "normal", "tanh_normal")


def for_action_space(space, name: str = "auto", env_name: str = "") -> Distribution:
    """Picks the distribution ``name`` for ``space``; 'auto' = categorical or normal."""
    if name == "auto":
        name = "categorical" if isinstance(space, Discrete) else "normal"
    where = f" {env_name}" if env_name else " the env"
    if name == "categorical":
        if not isinstance(space, Discrete):
            raise ValueError(f"distribution 'categorical' needs a Discrete action space, but{where} has {space!r}")
        return categorical(space.n)
    if name in ("normal", "tanh_normal"):
        if not isinstance(space, Box):
            raise ValueError(
                f"distribution {name!r} is a continuous policy and needs a Box action space, "
                f"but{where} has {space!r}; use 'categorical' or 'auto'"
            )
        return normal(space) if name == "normal" else tanh_normal(space)
    raise ValueError(f"unknown distribution {name!r}; expected 'auto', 'categorical', 'normal' or 'tanh_normal'")
