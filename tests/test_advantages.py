"""GAE against rlax and against hand cases for terminations and truncations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
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


from jrew import advantages as A


def random_trajectory(rng, T=23, zero_discount_p=0.2):
    r = jnp.asarray(rng.normal(size=T), jnp.float32)
    discount = jnp.asarray(0.97 * (rng.uniform(size=T) > zero_discount_p), jnp.float32)  # zeros at episode ends
    v = jnp.asarray(rng.normal(size=T), jnp.float32)
    return r, discount, v


def test_returns_match_rlax_on_random_inputs():
    rng = np.random.default_rng(1)
    for trial in range(10):
        r, d, v = random_trajectory(rng)
        lam = float(rng.uniform())
        lam_t = jnp.asarray(rng.uniform(size=r.shape), jnp.float32)
        np.testing.assert_allclose(A.lambda_returns(r, d, v, lam), rlax.lambda_returns(r, d, v, lam), atol=1e-5)
        np.testing.assert_allclose(A.lambda_returns(r, d, v, lam_t), rlax.lambda_returns(r, d, v, lam_t), atol=1e-5)
        np.testing.assert_allclose(A.discounted_returns(r, d, v), rlax.discounted_returns(r, d, v), atol=1e-5)
        np.testing.assert_allclose(A.discounted_returns(r, d, 0.5), rlax.discounted_returns(r, d, jnp.float32(0.5)), atol=1e-5)
        for n in (1, 3, 7, 40):
            np.testing.assert_allclose(
                A.n_step_bootstrapped_returns(r, d, v, n), rlax.n_step_bootstrapped_returns(r, d, v, n), atol=1e-5
            )
        np.testing.assert_allclose(
            A.n_step_bootstrapped_returns(r, d, v, 4, lam), rlax.n_step_bootstrapped_returns(r, d, v, 4, lam), atol=1e-5
        )
        values = jnp.concatenate([v, jnp.asarray(rng.normal(size=1), jnp.float32)])
        np.testing.assert_allclose(
            A.truncated_generalized_advantage_estimation(r, d, lam, values),
            rlax.truncated_generalized_advantage_estimation(r, d, lam, values), atol=1e-5,
        )
        v_tm1 = jnp.asarray(rng.normal(size=r.shape), jnp.float32)
        rho = jnp.asarray(np.exp(rng.normal(size=r.shape)), jnp.float32)
        for clip in (1.0, 2.0):
            np.testing.assert_allclose(
                A.vtrace(v_tm1, v, r, d, rho, lam, clip), rlax.vtrace(v_tm1, v, r, d, rho, lam, clip), atol=1e-5
            )


def test_returns_vmap_over_batches():
    rng = np.random.default_rng(2)
    r, d, v = (jnp.stack(x, axis=1) for x in zip(*[random_trajectory(rng) for _ in range(5)]))  # [T, B]
    batched = jax.vmap(A.lambda_returns, in_axes=(1, 1, 1, None), out_axes=1)(r, d, v, 0.9)
    for b in range(5):
        np.testing.assert_allclose(batched[:, b], rlax.lambda_returns(r[:, b], d[:, b], v[:, b], 0.9), atol=1e-5)


def test_grpo_and_rloo_hand_cases():
    returns = jnp.array([[1.0, 0.0, 0.0, 1.0], [3.0, 1.0, 2.0, 2.0]])
    np.testing.assert_allclose(A.grpo_advantages(returns, eps=0.0), [[1, -1, -1, 1], [np.sqrt(2), -np.sqrt(2), 0, 0]], rtol=1e-6)
    np.testing.assert_allclose(A.grpo_advantages(returns, normalize_std=False), [[0.5, -0.5, -0.5, 0.5], [1, -1, 0, 0]])
    # RLOO: R_i - mean of the others
    np.testing.assert_allclose(A.rloo_advantages(returns), [[1 - 1 / 3, -2 / 3, -2 / 3, 1 - 1 / 3], [3 - 5 / 3, 1 - 7 / 3, 0, 0]], rtol=1e-6)


def test_zero_variance_group_gives_zero_advantage_and_no_nan():
    returns = jnp.array([[1.0, 1.0, 1.0], [0.0, 2.0, 4.0]])
    for adv in (A.grpo_advantages(returns), A.grpo_advantages(returns, False), A.rloo_advantages(returns)):
        assert np.isfinite(adv).all()
        np.testing.assert_array_equal(adv[0], 0.0)
    np.testing.assert_array_equal(A.nonzero_variance_groups(returns), [0.0, 1.0])
    with pytest.raises(ValueError, match="RLOO needs groups of at least 2 rollouts, got group size 1"):
        A.rloo_advantages(jnp.ones((3, 1)))


def test_grpo_gives_groups_of_equal_float32_returns_exactly_zero_advantage():
    """The float32 mean of G equal values is often one ulp off; (R - mean) / (std + eps) blew that
    up to about +-0.9 for every member (eight returns of 86.6 got +0.884 each)."""
    np.testing.assert_array_equal(A.grpo_advantages(jnp.full((8,), 86.6, jnp.float32)), 0.0)
    np.testing.assert_array_equal(A.grpo_advantages(jnp.full((6,), 77.7, jnp.float32)), 0.0)
    rng = np.random.default_rng(0)
    constant = jnp.asarray(np.repeat(rng.uniform(0.5, 100, 1000).astype(np.float32)[:, None], 8, axis=1))
    np.testing.assert_array_equal(A.grpo_advantages(constant), 0.0)  # 43% of these got |A| > 0.1
    np.testing.assert_array_equal(A.grpo_advantages(constant, normalize_std=False), 0.0)
    np.testing.assert_array_equal(A.nonzero_variance_groups(constant), 0.0)
    # groups whose returns differ keep the formula, even by one part in 10^4
    differing = rng.uniform(0.5, 100, (500, 8))
    differing[:50] = 50.0 + rng.integers(0, 2, (50, 8)) * 5e-3
    differing = differing.astype(np.float32)
    as64 = differing.astype(np.float64)
    expected = (as64 - as64.mean(-1, keepdims=True)) / (as64.std(-1, keepdims=True) + 1e-6)
    informative = as64.std(-1) > 0
    np.testing.assert_array_equal(A.nonzero_variance_groups(jnp.asarray(differing)), informative.astype(np.float32))
    np.testing.assert_allclose(A.grpo_advantages(jnp.asarray(differing))[informative], expected[informative],
                               rtol=2e-3, atol=2e-3)


def test_combine_advantages():
    np.testing.assert_allclose(A.combine_advantages(jnp.array([1.0]), jnp.array([3.0])), [5.0])


def test_estimators_agree_where_the_math_says_they_must():
    """MC returns = GAE(lambda=1) targets; n-step with n >= T = MC; all cut at truncations."""
    rng = np.random.default_rng(3)
    T, B, gamma = 19, 6, 0.95
    rewards = jnp.asarray(rng.normal(size=(T, B)), jnp.float32)
    values = jnp.asarray(rng.normal(size=(T, B)), jnp.float32)
    ends = rng.uniform(size=(T, B))
    terminated = jnp.asarray(ends < 0.1, jnp.float32)
    truncated = jnp.asarray((ends >= 0.1) & (ends < 0.2), jnp.float32)
    # as in a real rollout: V(s_{t+1}) is the next step's value unless the episode ended at t
    final_obs_values = rng.normal(size=(T, B))
    shifted = np.concatenate([np.asarray(values)[1:], rng.normal(size=(1, B))])
    next_values = jnp.asarray(np.where(ends < 0.2, final_obs_values, shifted), jnp.float32)
    _, gae_targets = A.estimate("gae", rewards, values, next_values, terminated, truncated, gamma, 1.0)
    mc_adv, mc_targets = A.estimate("monte_carlo", rewards, values, next_values, terminated, truncated, gamma)
    np.testing.assert_allclose(mc_targets, gae_targets, atol=1e-4)
    np.testing.assert_allclose(mc_adv, mc_targets - values, atol=1e-6)
    _, nstep_targets = A.estimate("n_step", rewards, values, next_values, terminated, truncated, gamma, n=T)
    np.testing.assert_allclose(nstep_targets, mc_targets, atol=1e-4)
    _, one_step = A.estimate("n_step", rewards, values, next_values, terminated, truncated, gamma, n=1)
    np.testing.assert_allclose(one_step, rewards + gamma * (1 - terminated) * next_values, atol=1e-5)
    with pytest.raises(ValueError, match="unknown advantage estimator 'td'"):
        A.estimate("td", rewards, values, next_values, terminated, truncated, gamma)
