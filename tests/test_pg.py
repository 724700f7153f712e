"""Critic-free learners (REINFORCE, RLOO, GRPO) and PPO's estimator choice."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import jrew
from jrew import cli, runner
from jrew import rewards as R
from jrew.algos import pg, ppo
from jrew.algos.collect import first_episode_mask

SMALL = pg.PGConfig(num_groups=2, group_size=4, num_steps=100, episode_length=100, total_steps=3 * 800,
                    num_minibatches=2)


def test_episode_mask_keeps_each_envs_first_episode():
    done = jnp.array([[0, 0], [1, 0], [0, 0], [1, 1]], jnp.float32)
    np.testing.assert_array_equal(first_episode_mask(done), [[1, 1], [1, 1], [0, 1], [0, 1]])


def test_groups_share_a_start_state_and_groups_differ():
    env = envs.make("gymnax/CartPole-v1")
    state = pg.reset_groups(env, jax.random.PRNGKey(0), num_groups=3, group_size=4)
    obs = np.asarray(state.obs).reshape(3, 4, -1)
    for g in range(3):
        np.testing.assert_array_equal(obs[g], np.broadcast_to(obs[g, 0], obs[g].shape))
    assert not np.allclose(obs[0, 0], obs[1, 0])


@pytest.mark.parametrize(
    "estimator,expected",
    [
        ("reinforce", [1 - 1.5, 0 - 1.5, 2 - 1.5, 3 - 1.5]),
        ("rloo", [1 - 0, 0 - 1, 2 - 3, 3 - 2]),
        ("grpo", [1.0 / (1.0 + 1e-6), -1.0 / (1.0 + 1e-6), -1.0 / (1.0 + 1e-6), 1.0 / (1.0 + 1e-6)]),
    ],
)
def test_group_advantages(estimator, expected):
    config = pg.PGConfig(estimator=estimator, num_groups=2, group_size=2, num_minibatches=1)
    tokens, mask = jnp.zeros((4, 3), jnp.int32), jnp.ones((4, 3))  # one advantage per episode, on all its steps
    advantages = pg.group_advantages(jnp.array([1.0, 0.0, 2.0, 3.0]), config, tokens, mask)
    np.testing.assert_allclose(advantages, np.broadcast_to(np.array(expected)[:, None], (4, 3)), rtol=1e-5)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"estimator": "ppo"}, r"estimator must be one of \('reinforce', 'rloo', 'grpo', 'tempo', 'tp_grpo', 'oprl'\), got 'ppo'"),
        ({"estimator": "rloo", "group_size": 1, "num_minibatches": 1}, r"rloo needs group_size >= 2, got 1"),
        ({"num_groups": 3, "group_size": 3}, r"num_groups \* group_size \(3 \* 3 = 9\) must be divisible by num_minibatches \(2\)"),
        ({"kl_coef": -0.1}, r"kl_coef must be >= 0, got -0.1"),
        ({"total_steps": 10}, r"total_steps \(10\) is below one batch"),
        ({"distribution": "beta"}, r"distribution must be one of \('auto', 'categorical', 'normal', 'tanh_normal'\), got 'beta'"),
        ({"episode_length": 0}, r"episode_length must be a positive integer or None, got 0"),
        ({"gamma": float("nan")}, r"gamma must be finite, got nan"),
    ],
)
def test_pg_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        pg.PGConfig(**changes)


@pytest.mark.parametrize("estimator", [  # the estimator is not in the checkpoint path: one in the default suite
    pytest.param("reinforce", marks=pytest.mark.slow), pytest.param("rloo", marks=pytest.mark.slow), "grpo"])
def test_pg_trains_with_runner_and_resumes_identically(estimator, tmp_path):
    cfg = SMALL.replace(estimator=estimator, kl_coef=0.1, filter_zero_variance=True)
    full = runner.train(cfg, seeds=2, chunk_updates=2, progress=False)
    assert np.isfinite(full.metrics["loss"]).all() and full.metrics["true_return"].shape == (2, 3)
    runner.train(cfg, seeds=2, run_dir=tmp_path / "r", chunk_updates=2, until_update=2, progress=False)
    resumed = runner.resume(tmp_path / "r", progress=False)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), full.state.params, resumed.state.params)


def test_cli_trains_pg(tmp_path, capsys):
    run = tmp_path / "pg"
    args = ["train", "--algo", "pg", "--estimator", "rloo", "--seeds", "2", "--num-groups", "2", "--group-size", "4",
            "--num-steps", "50", "--episode-length", "50", "--total-steps", "800", "--run-dir", str(run)]
    assert cli.main(args) == 0
    assert "final true return over 2 seeds" in capsys.readouterr().out
    assert jrew.load_metrics(run)["loss"].shape == (2, 2)


def test_the_reward_pipeline_restarts_with_the_envs_and_sees_only_real_steps():
    """PG re-creates its envs every update. The pipeline's carries used to survive (delayed() paid
    the unscored tail of the last update's junk episodes into the next: train_return 35-42 against
    env_return 18-26 here, gamma 1) and its statistics counted masked steps (16,000 vs 916)."""
    config = pg.PGConfig(num_groups=2, group_size=4, num_minibatches=2, total_steps=4 * 8 * 500)
    delayed = runner.train(config, seeds=2, reward=R.delayed(), progress=False)
    np.testing.assert_allclose(delayed.metrics["train_return"], delayed.metrics["env_return"])
    normalized = runner.train(config, seeds=1, reward=R.normalize_returns(), progress=False)
    real_steps = normalized.metrics["episode_length"].sum() * config.batch_episodes
    np.testing.assert_allclose(normalized.state.reward_state["stats"].count[0], real_steps)


def test_pg_refuses_rollouts_shorter_than_an_episode():
    short = pg.PGConfig(num_groups=2, group_size=4, num_minibatches=2, num_steps=100, total_steps=4 * 800)
    with pytest.raises(ValueError, match=r"num_steps \(100\) is shorter than the episode limit of gymnax/CartPole-v1 "
                                         r"\(500\): episodes would be cut. Set num_steps >= 500, or episode_length <= 100"):
        runner.train(short, seeds=1, progress=False)
    pg.make(short.replace(episode_length=100))  # a time limit that fits is fine


@functools.cache
def first_value_losses(estimator: str) -> np.ndarray:
    cfg = ppo.PPOConfig(total_steps=2 * 512, advantage_estimator=estimator, n_step=3)
    _, metrics = jax.jit(ppo.make_train(cfg))(jax.random.PRNGKey(0))
    return np.asarray(metrics["value_loss"])


@pytest.mark.parametrize("estimator", ["monte_carlo", "n_step"])
def test_ppo_can_choose_its_estimator(estimator):
    """Same seed, other estimator: other value targets, so another value loss from the first update
    (the hand-computed wiring test is tests/test_core_math.py)."""
    losses = first_value_losses(estimator)
    assert np.isfinite(losses).all() and not np.isclose(losses[0], first_value_losses("gae")[0], rtol=1e-4)
    with pytest.raises(ValueError, match="advantage_estimator must be one of"):
        ppo.PPOConfig(advantage_estimator="vtrace")
