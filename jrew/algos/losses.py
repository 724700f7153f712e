"""Loss pieces the learners share."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax


def clipped_surrogate(
    log_prob: jax.Array, old_log_prob: jax.Array, advantage: jax.Array, clip_eps,
    mean: Callable[[jax.Array], jax.Array] = jnp.mean,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7), as a loss to minimize:

      L = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)),   rho = pi(a|s) / pi_old(a|s)

    with ``approx_kl`` (Schulman's k3 estimator of KL(pi_old || pi)) and ``clip_fraction``.
    ``mean`` averages over samples (e.g. over valid steps only).
    """
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    loss = -mean(jnp.minimum(ratio * advantage, clipped * advantage))
    return loss, {
        "policy_loss": loss,
        "approx_kl": mean((ratio - 1.0) - log_ratio),
        "clip_fraction": mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32)),
    }


def k3_kl(log_ratio: jax.Array) -> jax.Array:
    """Per-sample k3 estimate of ``KL(pi || q)`` from ``log_ratio = log q(a|s) - log pi(a|s)``,
    ``a ~ pi``: ``exp(x) - x - 1`` (Schulman 2020, "Approximating KL divergence"; unbiased, >= 0)."""
    return jnp.exp(log_ratio) - log_ratio - 1.0


def adam(max_grad_norm, learning_rate) -> optax.GradientTransformation:
    """Adam (eps 1e-5) after a global gradient-norm clip; ``learning_rate`` may be a schedule."""
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate, eps=1e-5))
