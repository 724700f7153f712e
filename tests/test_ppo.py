"""PPO: config validation, determinism, seeds and hyperparameters as vmapped data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrew.algos import ppo
from jrew.runner import seed_keys

SMALL = ppo.PPOConfig(total_steps=3 * 512)  # 3 updates of 16 envs x 32 steps


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"learning_rate": -0.1}, r"learning_rate must be > 0, got -0.1"),
        ({"num_envs": 3, "num_steps": 5}, r"num_envs \* num_steps \(3 \* 5 = 15\) must be divisible by num_minibatches \(4\)"),
        ({"total_steps": 100}, r"total_steps \(100\) is below one batch: num_envs \* num_steps = 512"),
        ({"gamma": 1.5}, r"gamma must be in \[0, 1\], got 1.5"),
        ({"num_envs": 0}, r"num_envs must be a positive integer, got 0"),
        ({"activation": "sigmoid"}, r"activation must be one of .*got 'sigmoid'"),
        ({"ent_coef": float("nan")}, r"ent_coef must be finite, got nan"),
        ({"std_head": "learned"}, r"std_head must be one of .*got 'learned'"),
        ({"kernel_init": "xavier"}, r"kernel_init must be one of \('orthogonal', 'lecun_uniform', 'lecun_normal'\), got 'xavier'"),
        ({"bias_init_scale": -0.05}, r"bias_init_scale must be >= 0, got -0.05"),
    ],
)
def test_config_validation_names_the_bad_value(changes, message):
    with pytest.raises(ValueError, match=message):
        ppo.PPOConfig(**changes)


def test_structural_errors_at_make():
    with pytest.raises(ValueError, match=r"'normal' is a continuous policy.*gymnax/CartPole-v1 has Discrete\(2\)"):
        ppo.make(ppo.PPOConfig(distribution="normal"))
    with pytest.raises(ValueError, match=r"unknown env 'gymnax/Cartpole'"):
        ppo.make(ppo.PPOConfig(env="gymnax/Cartpole"))


def test_same_key_twice_gives_identical_metrics():
    train = jax.jit(ppo.make_train(SMALL))
    _, a = train(jax.random.PRNGKey(3))
    _, b = train(jax.random.PRNGKey(3))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    _, c = train(jax.random.PRNGKey(4))
    assert not np.array_equal(a["loss"], c["loss"])


def test_vmapped_seeds_match_seeds_run_alone():
    """Tolerance 1e-5 (abs) on params after 3 updates: batching changes XLA's op order only."""
    train = ppo.make_train(SMALL)
    keys = seed_keys([0, 1, 2])
    batched_state, batched_metrics = jax.jit(jax.vmap(train))(keys)
    for i in range(3):
        state, metrics = jax.jit(train)(keys[i])
        jax.tree.map(
            lambda a, b, i=i: np.testing.assert_allclose(a[i], b, atol=1e-5, rtol=1e-5), batched_state.params, state.params
        )
        np.testing.assert_allclose(batched_metrics["loss"][i], metrics["loss"], atol=1e-5, rtol=1e-4)


def test_hyperparameters_are_vmappable_data():
    # PPO's clipped objective has kinks at ratio = 1 +- eps; a sample sitting on one can land on
    # either side under batching's float reordering (seen at lr=1e-3: 3e-4 param drift). A wide
    # clip keeps the objective smooth, so batched and alone must agree to float tolerance.
    smooth = SMALL.replace(clip_eps=10.0)
    trainer = ppo.make(smooth)
    lrs = [1e-4, 1e-3, 1e-2]
    stacked = jax.tree.map(lambda *x: jnp.asarray(x, jnp.float32), *[smooth.replace(learning_rate=lr) for lr in lrs])
    traces = []

    def train(key, cfg):
        traces.append(1)
        state = trainer.init(key, cfg)
        return jax.lax.scan(lambda s, _: trainer.update(s), state, None, trainer.num_updates)[0].params

    key = jax.random.PRNGKey(0)
    batched = jax.jit(jax.vmap(train, in_axes=(None, 0)))(key, stacked)
    assert len(traces) == 1  # one trace, one compile for all variants
    for i, lr in enumerate(lrs):
        alone = jax.jit(train)(key, jax.tree.map(jnp.asarray, smooth.replace(learning_rate=lr)))
        jax.tree.map(lambda a, b, i=i: np.testing.assert_allclose(a[i], b, atol=1e-5, rtol=1e-5), batched, alone)
    kernel = batched["params"]["policy_net"]["Dense_0"]["kernel"]
    assert not np.allclose(kernel[0], kernel[2])


def test_hparams_must_share_structure():
    trainer = ppo.make(SMALL)
    with pytest.raises(ValueError, match="differ from the trainer's config only in numeric fields"):
        trainer.init(jax.random.PRNGKey(0), SMALL.replace(num_epochs=2))


def test_continuous_ppo_runs_on_pendulum():  # on Brax: tests/test_policy.py trains and renders a Brax run
    cfg = ppo.PPOConfig(env="gymnax/Pendulum-v1", total_steps=2 * 512, distribution="tanh_normal", normalize_observations=True)
    state, metrics = jax.jit(ppo.make_train(cfg))(jax.random.PRNGKey(0))
    assert np.isfinite(metrics["loss"]).all()
    assert int(state.update_step) == 2


def test_observation_normalization_is_the_same_for_acting_and_learning():
    """With one epoch of one minibatch, the only gradient step is taken at the parameters that
    acted, so the probability ratio must be exactly 1. The statistics used to absorb the rollout
    between acting and the loss (approx_kl 1.6e-6 here), and the value clip was anchored to values
    computed under other statistics."""
    cfg = ppo.PPOConfig(env="gymnax/Pendulum-v1", total_steps=4 * 512, normalize_observations=True, num_epochs=1,
                        num_minibatches=1, learning_rate=3e-3)
    state, metrics = jax.jit(ppo.make_train(cfg))(jax.random.PRNGKey(0))
    assert np.max(metrics["approx_kl"]) < 1e-12 and np.max(metrics["clip_fraction"]) == 0.0
    assert float(state.obs_stats.count) == 4 * 512  # every rollout still reaches the statistics


def test_kl_from_the_initial_policy_starts_at_zero_and_grows():
    cfg = ppo.PPOConfig(total_steps=8 * 512, log_kl_from_init=True)
    _, metrics = jax.jit(ppo.make_train(cfg))(jax.random.PRNGKey(0))
    kl = np.asarray(metrics["kl_from_init"])
    assert kl[0] == 0.0 and np.all(kl[1:] > 0) and kl[-1] > kl[1], kl
    assert "kl_from_init" not in jax.eval_shape(ppo.make_train(ppo.PPOConfig(total_steps=512)), jax.random.PRNGKey(0))[1]


def test_state_dependent_std_head_is_softplus_with_a_floor_and_varies_by_state():
    import flax.linen as nn

    from jrew.networks import ActorCritic

    net = ActorCritic((16,), None, head_size=4, continuous=True, std_head="state_dependent", min_std=0.05)
    obs = jax.random.normal(jax.random.PRNGKey(0), (6, 3)) * 5
    params = net.init(jax.random.PRNGKey(1), obs)
    params = jax.tree.map(lambda x: x * 300, params)  # large outputs: the floor must hold
    head = net.apply(params, obs, method=ActorCritic.policy)
    mean, log_std = np.split(np.asarray(head), 2, axis=-1)
    raw = net.apply(params, obs, method=lambda m, o: m.policy_net(o))
    np.testing.assert_allclose(mean, raw[:, :2], rtol=1e-6)
    np.testing.assert_allclose(np.exp(log_std), nn.softplus(raw[:, 2:]) + 0.05, rtol=1e-5)
    assert np.exp(log_std).min() >= 0.05 - 1e-6 and np.ptp(log_std[:, 0]) > 0.1
    assert "log_std" not in params["params"]  # no state-independent parameter beside it


def test_presets_set_the_published_fields_and_refuse_uncovered_envs():
    from jrew import presets

    pendulum = presets.apply("auto", ppo.PPOConfig(env="gymnax/Pendulum-v1"))
    assert (pendulum.std_head, pendulum.num_envs, pendulum.num_steps, pendulum.activation) == (
        "state_dependent", 32, 16, "relu")
    assert pendulum.total_steps == 1_000_000 and pendulum.anneal_lr is False
    ant = presets.apply("brax", ppo.PPOConfig(env="brax/ant"))
    assert (ant.distribution, ant.gamma, ant.num_envs * ant.num_steps // ant.num_minibatches) == ("tanh_normal", 0.97, 10240)
    assert ant.kernel_init == "lecun_uniform"  # Brax's networks' initialization
    with pytest.raises(ValueError, match="preset 'brax' has no settings for 'gymnax/CartPole-v1'"):
        presets.apply("brax", ppo.PPOConfig())
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        presets.apply("fast", ppo.PPOConfig())


def test_normalize_values_makes_an_update_invariant_to_the_reward_scale():
    """With standardized value targets (and whitened advantages) a PPO update does the same thing in
    any reward units: the same state in rewards x1000 (its value statistics x1000) gets the same new
    parameters. Without it the critic regresses targets 1000 times larger."""
    from jrew import rewards as R

    def one_update_in_both_units(normalize_values):
        trainer = ppo.make(SMALL.replace(normalize_values=normalize_values), R.scale(1.0))
        update = jax.jit(trainer.update)
        state = trainer.init(jax.random.PRNGKey(0))
        for _ in range(2):  # statistics exist after the first update
            state = update(state)[0]
        stats = state.value_stats
        in_thousands = state.replace(
            reward_hparams={"factor": jnp.float32(1000.0)},
            value_stats=stats.replace(mean=stats.mean * 1000, var=stats.var * 1e6),
        )
        return update(state)[0], update(in_thousands)[0]

    units, thousands = one_update_in_both_units(True)
    for a, b in zip(jax.tree.leaves(units.params), jax.tree.leaves(thousands.params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(thousands.value_stats.mean, 1000 * units.value_stats.mean, rtol=1e-4)
    assert int(units.value_stats.count) == 3 * SMALL.batch_size
    plain_units, plain_thousands = one_update_in_both_units(False)  # the control: units matter there
    assert not all(np.allclose(a, b, rtol=1e-4, atol=1e-6)
                   for a, b in zip(jax.tree.leaves(plain_units.params), jax.tree.leaves(plain_thousands.params)))
