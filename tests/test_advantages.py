"""GAE against rlax and against hand cases for terminations and truncations."""

import jax
import jax.numpy as jnp
import numpy as np
import rlax

from jrew.advantages import generalized_advantage_estimation


def test_gae_matches_rlax_with_terminations():
    rng = np.random.default_rng(0)
    for _ in range(20):
        T, gamma, lam = 17, 0.97, 0.9
        rewards = rng.normal(size=T).astype(np.float32)
        values = rng.normal(size=T + 1).astype(np.float32)
        terminated = (rng.uniform(size=T) < 0.2).astype(np.float32)
        # without truncations the next state's value is the next entry, except after a termination
        ours, _ = generalized_advantage_estimation(
            jnp.asarray(rewards), jnp.asarray(values[:-1]), jnp.asarray(values[1:]),
            jnp.asarray(terminated), jnp.asarray(terminated), gamma, lam,
        )
        ref = rlax.truncated_generalized_advantage_estimation(
            jnp.asarray(rewards), jnp.asarray(gamma * (1 - terminated)), lam, jnp.asarray(values)
        )
        np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=1e-5)


def test_gae_truncation_bootstraps_termination_does_not():
    gamma, lam = 0.9, 0.8
    rewards = jnp.array([1.0, 1.0, 1.0])
    values = jnp.array([0.5, 0.5, 0.5])
    # step 1 ends an episode; V(final obs of that episode) = 10, V(first obs of the next) = -3
    next_values = jnp.array([0.5, 10.0, 2.0])
    truncated_case, _ = generalized_advantage_estimation(
        rewards, values, next_values, terminated=jnp.zeros(3), done=jnp.array([0.0, 1.0, 0.0]), gamma=gamma, lambda_=lam
    )
    terminated_case, _ = generalized_advantage_estimation(
        rewards, values, next_values, terminated=jnp.array([0.0, 1.0, 0.0]), done=jnp.array([0.0, 1.0, 0.0]),
        gamma=gamma, lambda_=lam,
    )
    d2 = 1.0 + gamma * 2.0 - 0.5
    d1_trunc, d1_term = 1.0 + gamma * 10.0 - 0.5, 1.0 - 0.5
    d0 = 1.0 + gamma * 0.5 - 0.5
    np.testing.assert_allclose(truncated_case, [d0 + gamma * lam * d1_trunc, d1_trunc, d2], rtol=1e-6)
    np.testing.assert_allclose(terminated_case, [d0 + gamma * lam * d1_term, d1_term, d2], rtol=1e-6)


def test_gae_is_vmappable_time_major():
    rewards = jnp.ones((5, 3))
    adv, targets = jax.jit(generalized_advantage_estimation)(
        rewards, jnp.zeros((5, 3)), jnp.zeros((5, 3)), jnp.zeros((5, 3)), jnp.zeros((5, 3)), 1.0, 1.0
    )
    np.testing.assert_allclose(adv[:, 0], [5, 4, 3, 2, 1])
    np.testing.assert_allclose(targets, adv)
