"""Reward pipelines inside PPO: variants as data, the true reward untouched, resume."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrew
from jrew import rewards as R
from jrew import runner
from jrew.algos import ppo

# PPO's clipped objective has kinks where float reordering from batching can flip a sample to the
# other side (see test_ppo.py); a wide clip keeps it smooth so batched and alone agree tightly.
SMOOTH = ppo.PPOConfig(total_steps=3 * 512, clip_eps=10.0)
COEFS = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, -1.0, 8.0]


def counting_potential():
    calls = []

    def phi(obs):
        calls.append(1)  # runs once per trace, never per compiled step
        return -jnp.abs(obs[2])  # CartPole: pole angle near 0 is good

    return phi, calls


@pytest.mark.slow  # about 35 s; the default suite keeps variants-as-one-program in test_bench and test_exploration
def test_grid_of_8_shaping_coefficients_x_8_seeds_is_one_compile_and_matches_one_by_one():
    phi, grid_calls = counting_potential()
    grid = runner.train(SMOOTH, seeds=8, reward=[R.pbrs(phi, coef=c) for c in COEFS], progress=False)

    alone, alone_calls = {}, {}
    for i in (1, 6):  # a fresh potential per run, so no trace cache is shared between runs
        phi_i, alone_calls[i] = counting_potential()
        alone[i] = runner.train(SMOOTH, seeds=8, reward=R.pbrs(phi_i, coef=COEFS[i]), progress=False)
    # 64 runs of 8 variants traced the potential exactly as often as 8 runs of one variant: one
    # trace of the update, one compiled program, whatever the number of variants
    assert len(grid_calls) == len(alone_calls[1]) == len(alone_calls[6]) > 0

    assert grid.metrics["loss"].shape == (64, 3)
    np.testing.assert_array_equal(grid.variants, np.repeat(np.arange(8), 8))
    for i, result in alone.items():
        rows = slice(8 * i, 8 * (i + 1))
        np.testing.assert_allclose(grid.metrics["loss"][rows], result.metrics["loss"], rtol=1e-4, atol=1e-5)
        jax.tree.map(
            lambda g, a, rows=rows: np.testing.assert_allclose(g[rows], a, atol=1e-5, rtol=1e-5),
            grid.state.params, result.state.params,
        )
    # the coefficient matters: shaping changes what is learned (the policies, not only the shaped
    # train_return, which includes the shaping itself)
    policy = jax.tree.leaves(grid.state.params)
    assert max(float(np.abs(x[:8] - x[56:]).max()) for x in policy) > 1e-3


def test_true_reward_is_never_transformed():
    result = runner.train(ppo.PPOConfig(total_steps=4 * 512), seeds=2, reward=R.scale(0.0), progress=False)
    np.testing.assert_array_equal(result.metrics["train_return"], 0.0)
    assert (result.metrics["true_return"] > 5).all()
    np.testing.assert_array_equal(result.metrics["env_return"], result.metrics["true_return"])  # CartPole: same


def test_reward_metrics_are_logged_per_transform():
    reward = R.chain(R.normalize_returns(), R.pbrs(lambda o: -jnp.abs(o[2])), R.par(running=True), R.clip(0.0, 1.0))
    _, metrics = jax.jit(ppo.make_train(ppo.PPOConfig(total_steps=2 * 512), reward))(jax.random.PRNGKey(0))
    assert {"reward/0_normalize_returns/return_std", "reward/1_pbrs/mean_shaping", "reward/2_par/reference"} <= set(metrics)
    assert np.isfinite(metrics["reward/0_normalize_returns/return_std"]).all()


def test_resume_needs_the_same_reward(tmp_path):
    reward = R.chain(R.normalize_returns(), R.scale(0.5))
    cfg = ppo.PPOConfig(total_steps=6 * 512)
    full = runner.train(cfg, seeds=2, reward=reward, chunk_updates=2, progress=False)
    runner.train(cfg, seeds=2, run_dir=tmp_path / "r", reward=reward, chunk_updates=2, until_update=2, progress=False)
    with pytest.raises(ValueError, match=r"was trained with reward \['chain\(normalize_returns\(.*scale\(factor=0.5\)\)'\], but was given \['identity\(\)'\]"):
        runner.resume(tmp_path / "r", progress=False)
    resumed = runner.resume(tmp_path / "r", reward=reward, progress=False)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), full.state.params, resumed.state.params)
    np.testing.assert_array_equal(full.state.reward_state[0]["returns"], resumed.state.reward_state[0]["returns"])


def test_plot_draws_one_curve_per_variant(tmp_path):
    runner.train(ppo.PPOConfig(total_steps=2 * 512), seeds=2, run_dir=tmp_path / "v",
                 reward=[R.scale(c) for c in (1.0, 2.0)], progress=False)
    from jrew import plotting

    path = plotting.plot_run(tmp_path / "v", "train_return")
    assert path.stat().st_size > 5000
    metrics = jrew.load_metrics(tmp_path / "v")
    np.testing.assert_array_equal(metrics["variant"], [0, 0, 1, 1])
    np.testing.assert_array_equal(metrics["seed"], [0, 1, 0, 1])
