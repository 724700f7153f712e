"""Distributions against closed forms and distrax; running statistics against numpy; network
initializations against their definitions."""

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from jrew import distributions, normalization
from jrew.networks import ActorCritic


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


def _dense_layers(kernel_init, bias_init_scale=0.0):
    """{(net, layer index): (kernel, bias)} of a 2x256 actor-critic over 100 inputs, 6 actions."""
    net = ActorCritic((256, 256), (256, 256), head_size=6, continuous=False, kernel_init=kernel_init,
                      bias_init_scale=bias_init_scale)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 100)))["params"]
    return {(name, i): (np.asarray(params[name][f"Dense_{i}"]["kernel"]), np.asarray(params[name][f"Dense_{i}"]["bias"]))
            for name in ("policy_net", "value_net") for i in range(3)}


def test_orthogonal_init_has_gain_sqrt2_hidden_and_a_small_policy_output():
    layers = _dense_layers("orthogonal")
    kernel = layers["policy_net", 1][0]  # 256 x 256: orthogonal with gain sqrt(2)
    np.testing.assert_allclose(kernel.T @ kernel, 2.0 * np.eye(256), atol=1e-4)
    np.testing.assert_allclose(np.linalg.svd(layers["policy_net", 2][0], compute_uv=False), 0.01, rtol=1e-4)
    np.testing.assert_allclose(np.linalg.svd(layers["value_net", 2][0], compute_uv=False), 1.0, rtol=1e-4)
    assert all(not bias.any() for _, bias in layers.values())


@pytest.mark.parametrize("scheme", ["lecun_uniform", "lecun_normal"])
def test_lecun_inits_have_variance_one_over_fan_in_in_every_layer(scheme):
    for (name, i), (kernel, bias) in _dense_layers(scheme).items():
        fan_in = kernel.shape[0]
        assert abs(kernel.var() * fan_in - 1.0) < 0.15 if kernel.size > 1000 else kernel.var() * fan_in < 3, (name, i)
        if scheme == "lecun_uniform":  # U(-sqrt(3 / fan_in), sqrt(3 / fan_in))
            assert np.abs(kernel).max() <= np.sqrt(3 / fan_in) + 1e-6
        assert not bias.any()
    # the policy output is not scaled down, as Brax's and the gymnax baselines' networks
    out = _dense_layers(scheme)["policy_net", 2][0]
    assert out.std() * np.sqrt(256) > 0.8


def test_bias_init_scale_draws_biases_uniform_in_zero_to_scale():
    biases = np.concatenate([bias for _, bias in _dense_layers("lecun_normal", bias_init_scale=0.05).values()])
    assert biases.min() >= 0.0 and biases.max() < 0.05
    assert abs(biases.mean() - 0.025) < 0.002 and abs(biases.std() - 0.05 / np.sqrt(12)) < 0.002
