"""Return and advantage estimators. Time-major: leading axis is time; extra axes are batch.

Terminations and truncations enter differently: ``terminated`` zeroes the bootstrap value
(the episode has no future), while ``done = terminated OR truncated`` only cuts the
recursion between episodes. A truncated step therefore still bootstraps from ``V(s_{t+1})``,
the value of the last observation of the cut-off episode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def generalized_advantage_estimation(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: float | jax.Array,
    lambda_: float | jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """GAE(gamma, lambda) (Schulman et al. 2016, "High-Dimensional Continuous Control Using GAE", eq. 16).

      delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
      A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   A_T = 0

    ``next_values[t] = V(s_{t+1})`` where ``s_{t+1}`` is the observation reached at step t before
    any auto-reset. Returns ``(advantages, value_targets = advantages + values)``.
    """
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    continues = gamma * lambda_ * (1.0 - done)

    def backward(carry, inputs):
        delta, cont = inputs
        advantage = delta + cont * carry
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, continues), reverse=True)
    return advantages, advantages + values


def normalize_advantages(advantages: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Batch whitening ``(A - mean A) / (std A + eps)`` (as in OpenAI baselines' PPO2)."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)
