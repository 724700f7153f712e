"""Distributions against closed forms and distrax; running statistics against numpy."""

import distrax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from jrew import distributions, normalization


def test_normal_log_prob_and_entropy_match_distrax(key):
    dist = distributions.normal(envs.Box((-1.0, -1.0), (1.0, 1.0)))
    head = jnp.array([[0.3, -0.2, -0.5, 0.1]])
    x = dist.sample(key, head)
    ref = distrax.MultivariateNormalDiag(head[:, :2], jnp.exp(head[:, 2:]))
    np.testing.assert_allclose(dist.log_prob(head, x), ref.log_prob(x), rtol=1e-5)
    np.testing.assert_allclose(dist.entropy(head), ref.entropy(), rtol=1e-5)


def test_tanh_normal_log_prob_is_change_of_variables(key):
    dist = distributions.tanh_normal(envs.Box((-1.0,), (1.0,)))
    head = jnp.array([[0.4, -0.3]])
    u = jnp.array([[0.7]])
    ref = distrax.Transformed(distrax.MultivariateNormalDiag(head[:, :1], jnp.exp(head[:, 1:])), distrax.Block(distrax.Tanh(), 1))
    np.testing.assert_allclose(dist.log_prob(head, u), ref.log_prob(jnp.tanh(u)), rtol=1e-5)
    assert -1 <= float(dist.to_env_action(jnp.array([5.0]))[0]) <= 1


def test_categorical(key):
    dist = distributions.categorical(3)
    logits = jnp.log(jnp.array([0.2, 0.3, 0.5]))
    np.testing.assert_allclose(dist.log_prob(logits, jnp.int32(2)), np.log(0.5), rtol=1e-6)
    np.testing.assert_allclose(dist.entropy(logits), -(0.2 * np.log(0.2) + 0.3 * np.log(0.3) + 0.5 * np.log(0.5)), rtol=1e-6)


def test_continuous_policy_on_discrete_env_is_refused():
    with pytest.raises(ValueError, match=r"'normal' is a continuous policy.*gymnax/CartPole-v1 has Discrete\(2\)"):
        distributions.for_action_space(envs.Discrete(2), "normal", "gymnax/CartPole-v1")


def test_running_stats_match_numpy():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)).astype(np.float32) for n in (5, 17, 64)]
    stats = normalization.RunningStats.create(4)
    for b in batches:
        stats = normalization.update(stats, jnp.asarray(b))
    data = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, data.var(0), rtol=1e-4)
    assert float(stats.count) == len(data)
