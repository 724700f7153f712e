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


KL_ESTIMATORS = ("k1", "k2", "k3")


def kl_estimate(log_ratio: jax.Array, estimator: str) -> jax.Array:
    """Per-sample estimate of ``KL(pi || q)`` from ``log_ratio = log q(a|s) - log pi(a|s)``, ``a ~ pi``
    (Schulman 2020, "Approximating KL divergence"): ``k1 = -x`` (unbiased, can be negative: the
    form PPO-RLHF puts in the reward), ``k2 = x^2 / 2`` (biased, low variance), ``k3 = exp(x) - x - 1``
    (unbiased and >= 0: GRPO's loss term)."""
    if estimator == "k1":
        return -log_ratio
    if estimator == "k2":
        return 0.5 * jnp.square(log_ratio)
    if estimator == "k3":
        return k3_kl(log_ratio)
    raise ValueError(f"unknown KL estimator {estimator!r}; expected one of {KL_ESTIMATORS}")


AGGREGATIONS = ("token_mean", "sequence_mean", "constant")


def aggregate(x: jax.Array, mask: jax.Array, how: str) -> jax.Array:
    """A per-token loss ``[B, T]`` (B sequences) reduced to a scalar over the tokens ``mask`` keeps,
    the three ways GRPO-family trainers do (TRL's ``loss_type``):

    * ``token_mean``: ``sum(x m) / sum(m)``, every token weighs the same (DAPO; Yu et al. 2025);
    * ``sequence_mean``: the mean over sequences of each one's token mean (GRPO; Shao et al. 2024):
      a long sequence's tokens weigh less;
    * ``constant``: ``sum(x m) / (B T)``, no length normalization (Dr. GRPO; Liu et al. 2025).
    """
    if how == "token_mean":
        return jnp.sum(x * mask) / jnp.maximum(mask.sum(), 1.0)
    if how == "sequence_mean":
        tokens = mask.sum(axis=-1)
        per_sequence = jnp.sum(x * mask, axis=-1) / jnp.maximum(tokens, 1.0)
        return jnp.sum(per_sequence) / jnp.maximum(jnp.sum(tokens > 0), 1.0)
    if how == "constant":
        return jnp.sum(x * mask) / mask.size
    raise ValueError(f"unknown loss aggregation {how!r}; expected one of {AGGREGATIONS}")


def trajectory_preference_loss(step_rewards: jax.Array, valid: jax.Array, outcomes: jax.Array, rtol: float = 1e-5
                               ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The implicit process reward model's loss, trajectory-level DPO (OPRL / iStar, Liu et al.
    2025, arXiv:2509.19199): over every pair of samples of one group whose outcomes differ,
    ``R_i > R_j``,

      L = -mean_{(i, j): R_i > R_j} log sigmoid(Q_i - Q_j),   Q_i = mean_t r_t^i

    with ``r_t^i = beta (log pi_phi(a_t^i) - log pi_old(a_t^i))`` the implicit step rewards over the
    sample's valid steps (``mean`` over steps, as their released trainer scores a trajectory; the
    paper's eq. sums them). The mean runs over all pairs of all groups. Their trainer pairs every
    success (outcome > 0) with every failure; ordering by outcome is the same for 0/1 outcomes and
    also uses graded ones. Outcomes closer than ``rtol`` of the group's largest ``|R|`` are a tie,
    not a preference (as ``advantages.nonzero_variance_groups`` treats equal returns).

    Args: ``step_rewards [..., G, T]``, ``valid [..., G, T]``, ``outcomes [..., G]`` (leading axes:
    groups). Returns the loss (0 when no pair differs), the fraction of the pairs the model
    already orders, ``Q_i > Q_j`` (0 without pairs), and the number of pairs.
    """
    own = jnp.where(valid > 0, step_rewards, 0.0)  # a step past a sample's end counts for nothing, NaN included
    score = jnp.sum(own, axis=-1) / jnp.maximum(valid.sum(axis=-1), 1.0)  # Q_i
    tolerance = rtol * jnp.max(jnp.abs(outcomes), axis=-1, keepdims=True)[..., None]
    preferred = (outcomes[..., :, None] - outcomes[..., None, :] > tolerance).astype(score.dtype)  # i beat j
    margin = score[..., :, None] - score[..., None, :]
    count = preferred.sum()
    pairs = jnp.maximum(count, 1.0)
    loss = jnp.sum(preferred * jax.nn.softplus(-margin)) / pairs  # -log sigmoid(x) = softplus(-x)
    accuracy = jnp.sum(preferred * (margin > 0)) / pairs
    return loss, accuracy, count


def k3_kl(log_ratio: jax.Array) -> jax.Array:
    """Per-sample k3 estimate of ``KL(pi || q)`` from ``log_ratio = log q(a|s) - log pi(a|s)``,
    ``a ~ pi``: ``exp(x) - x - 1`` (Schulman 2020, "Approximating KL divergence"; unbiased, >= 0)."""
    return jnp.exp(log_ratio) - log_ratio - 1.0


def adam(max_grad_norm, learning_rate) -> optax.GradientTransformation:
    """Adam (eps 1e-5) after a global gradient-norm clip; ``learning_rate`` may be a schedule."""
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate, eps=1e-5))
