"""Potential-based reward shaping (Ng, Harada & Russell 1999)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jrew.rewards.base import RewardBatch, RewardTransform, transform, valid_mean
from jrew.rewards.registry import text_constructor


def shaping_term(phi_s: jax.Array, phi_next: jax.Array, terminated: jax.Array, gamma) -> jax.Array:
    """``F = gamma * Phi(s') * (1 - terminated) - Phi(s)`` (Ng et al. 1999, Theorem 1).

    ``s'`` is the state the step reached before any auto-reset. A terminal state has potential 0
    (its future is empty); a time-limit truncation keeps ``Phi(s')``, as bootstrapping keeps V(s').
    """
    return gamma * phi_next * (1.0 - terminated) - phi_s


@text_constructor
def pbrs(potential: Callable[[jax.Array], jax.Array], coef: float = 1.0) -> RewardTransform:
    """``r + coef * (gamma * Phi(s') * (1 - d) - Phi(s))`` with a user potential ``Phi(obs) -> scalar``.

    Leaves the optimal policy unchanged for any Phi (Ng et al. 1999); a good Phi speeds learning
    on sparse rewards. Per episode the shaped discounted return differs from the original by the
    boundary terms ``gamma^T Phi(s_T)(1 - d_T) - Phi(s_0)`` only.
    """

    def phi(obs):
        single = jax.eval_shape(potential, jax.ShapeDtypeStruct(obs.shape[-1:], obs.dtype))
        if getattr(single, "shape", None) != ():
            raise ValueError(
                f"pbrs: potential must map one observation of shape {obs.shape[-1:]} to a scalar, "
                f"got output shape {getattr(single, 'shape', type(single).__name__)}"
            )
        flat = obs.reshape(-1, obs.shape[-1])
        return jax.vmap(potential)(flat).reshape(obs.shape[:-1])

    return _potential_shaping("pbrs", phi, coef, static={"potential": potential})


@text_constructor
def pbrs_critic(coef: float = 1.0) -> RewardTransform:
    """Potential-based shaping with the learner's own critic as the potential: ``Phi = V``.

    The critic is read with gradients stopped, so shaping never trains it directly. (The
    value-as-potential idea: e.g. process-reward PBRS in "Robo-Dopamine".)
    """

    def phi_from_batch(obs, batch: RewardBatch):
        if batch.value_fn is None:
            raise ValueError("pbrs_critic needs a learner with a critic (batch.value_fn is None)")
        return jax.lax.stop_gradient(batch.value_fn(obs))

    return _potential_shaping("pbrs_critic", phi_from_batch, coef, uses_batch=True)


def _potential_shaping(name: str, phi, coef, uses_batch: bool = False, static=None) -> RewardTransform:
    def apply(p, state, batch):
        rollout = batch.rollout
        both = jnp.concatenate([rollout.obs, rollout.next_obs])  # one batched call for s and s'
        values = phi(both, batch) if uses_batch else phi(both)
        phi_s, phi_next = jnp.split(values, 2)
        bonus = p["coef"] * shaping_term(phi_s, phi_next, rollout.terminated, batch.gamma)
        return rollout.reward + bonus, state, {"mean_shaping": valid_mean(bonus, batch)}

    return transform(name, apply, hparams={"coef": coef}, static=static)
