"""Learning from demonstrations and fixed feedback: GAIL's discriminator and reward, recorded
expert episodes (``jrew demos``), and reward models learned offline from a fixed preference set."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import render
from jrew import cli, demonstrations
from jrew import rewards as R
from jrew.algos import ppo
from jrew.rewards.adversarial import discriminator_loss, gradient_penalty
from jrew.rewards.learned import MaskedMLP
from tests.reward_cases import assert_resume_is_bit_identical, rollout, run


def demos_of(obs, action, episode_lengths=None):
    """Demonstrations from step arrays (one episode unless told); true reward obs[:, 0]."""
    obs, action = np.asarray(obs, np.float32), np.asarray(action)
    lengths = np.asarray([len(obs)] if episode_lengths is None else episode_lengths, np.int32)
    returns = np.add.reduceat(obs[:, 0], np.concatenate([[0], np.cumsum(lengths)[:-1]]))
    return demonstrations.Demonstrations(obs, action, obs, obs[:, 0], returns, lengths, "test")


def test_discriminator_loss_and_gradient_penalty_by_hand():
    sigma = lambda x: 1 / (1 + np.exp(-x))
    f_e, f_p = np.array([2.0, -1.0]), np.array([0.5, -3.0])
    expected = -np.mean(np.log(sigma(f_e))) - np.mean(np.log(1 - sigma(f_p)))
    np.testing.assert_allclose(discriminator_loss(jnp.array(f_e), jnp.array(f_p)), expected, rtol=1e-6)
    w = jnp.array([3.0, 4.0])  # a linear f has gradient w everywhere: penalty (|w| - 1)^2 = 16
    np.testing.assert_allclose(gradient_penalty(lambda x: x @ w, jnp.ones((5, 2))), 16.0, rtol=1e-5)


@pytest.mark.slow  # a component-learning run (about 50 s), like the preference model's and ICM's
def test_gail_learns_to_tell_expert_steps_and_pays_minus_log_one_minus_d():
    """Expert states have obs[0] > 0, the policy's obs[0] < 0: the discriminator must separate them,
    and the reward must be -log(1 - D) of the updated discriminator, higher on expert-like steps."""
    key = jax.random.PRNGKey(0)
    expert = jnp.abs(jax.random.normal(key, (256, 3)))
    gail = R.gail(demos_of(expert, np.zeros(256, np.int32)), learning_rate=3e-3, minibatch_size=64,
                  hidden_sizes=(32,))
    state, accuracies = None, []
    for i in range(25):
        obs = -jnp.abs(jax.random.normal(jax.random.PRNGKey(i + 1), (16, 4, 3)))
        obs = obs.at[:, 0].set(-obs[:, 0])  # env 0 behaves like the expert
        reward, state, metrics = run(gail, rollout(np.zeros((16, 4)), obs=obs), state=state)
        accuracies.append(float(metrics["discriminator_accuracy"]))
    assert accuracies[0] < 0.8 and np.mean(accuracies[-5:]) > 0.9, accuracies
    x = jnp.concatenate([obs, jax.nn.one_hot(jnp.zeros((16, 4), jnp.int32), 2)], axis=-1)
    d = jax.nn.sigmoid(MaskedMLP((32,), 1).apply(state["discriminator"].params, x)[..., 0])
    np.testing.assert_allclose(reward, -jnp.log1p(-d), rtol=1e-4, atol=1e-6)
    assert float(reward[:, 0].mean()) > 3 * float(reward[:, 1:].mean())


def test_gail_refuses_demonstrations_of_another_env_and_bad_settings():
    with pytest.raises(ValueError, match="inputs must be one of"):
        R.gail(demos_of(np.zeros((4, 3)), np.zeros(4)), inputs="state")
    with pytest.raises(ValueError, match="minibatch_size must be a positive int, got 0"):
        R.gail(demos_of(np.zeros((4, 3)), np.zeros(4)), minibatch_size=0)
    with pytest.raises(ValueError, match="demonstrations give 7 input features per step, the env 5"):
        run(R.gail(demos_of(np.zeros((4, 5)), np.zeros(4, np.int32))), rollout(np.zeros((4, 2)), obs=np.zeros((4, 2, 3))))
    with pytest.raises(ValueError, match="one row per step"):
        demonstrations.Demonstrations(np.zeros((4, 2)), np.zeros(3), np.zeros((4, 2)), np.zeros(4), np.zeros(1),
                                      np.array([4]))


SMALL = ppo.PPOConfig(total_steps=6 * 512)


@pytest.fixture(scope="module")
def expert_run(tmp_path_factory):
    import jrew

    run_dir = tmp_path_factory.mktemp("expert") / "run"
    jrew.train(SMALL, seeds=2, run_dir=run_dir, progress=False)
    return run_dir


def test_demonstrations_are_whole_episodes_of_the_run_and_round_trip(expert_run, tmp_path, capsys):
    demos = demonstrations.record(expert_run, 3, run=1, max_steps=500)
    assert demos.env == "gymnax/CartPole-v1" and len(demos.episode_lengths) == 3
    np.testing.assert_allclose(demos.episode_returns, demos.episode_lengths)  # CartPole pays 1 per step
    assert demos.obs.shape == (demos.num_steps, 4) and demos.action.shape == (demos.num_steps,)
    back = demonstrations.load(demonstrations.save(demos, tmp_path / "d.npz"))
    for name in ("obs", "action", "next_obs", "true_reward", "episode_returns", "episode_lengths"):
        np.testing.assert_array_equal(getattr(back, name), getattr(demos, name))
    assert back.env == demos.env
    assert cli.main(["demos", str(expert_run), "--episodes", "2", "--out", str(tmp_path / "cli.npz")]) == 0
    assert "2 episodes" in capsys.readouterr().out and demonstrations.load(tmp_path / "cli.npz").num_steps > 0


@pytest.mark.slow  # about 30 s; the default suite keeps learned-reward resume in test_reward_protocol
def test_gail_in_ppo_resumes_bit_identically(expert_run, tmp_path):
    demos = demonstrations.record(expert_run, 2, max_steps=500)
    assert_resume_is_bit_identical(SMALL, R.gail(demos, hidden_sizes=(16,), minibatch_size=32), tmp_path / "run",
                                   ("loss", "reward/discriminator_accuracy", "train_return", "true_return"))


@pytest.mark.slow  # about 25 s; test_core_math keeps an offline preference model in the default suite
def test_an_offline_preference_model_learns_from_a_fixed_set_and_stays_fixed_when_frozen():
    """Random CartPole episodes, labelled by true return: the model trained on them before RL must
    order held-out pairs (from other episodes) as their true returns do, and with 0 updates per
    rollout never change during RL."""
    env = envs.make("gymnax/CartPole-v1")
    play = lambda seed: demonstrations.play(env, render.random_actions(env), 64, seed=seed, max_steps=200,
                                            env_name="gymnax/CartPole-v1")
    prefs = R.preference_set(jax.random.PRNGKey(0), play(0), 512, segment_length=10, beta=jnp.inf)
    assert prefs.inputs.shape == (2, 512, 10, 6) and prefs.label.shape == (512,)
    model = R.preference_model(segment_length=10, preferences=prefs, pretrain_steps=300, updates_per_rollout=0,
                               learning_rate=3e-3, hidden_sizes=(32,))
    traj = rollout(np.zeros((20, 8)), obs=jax.random.normal(jax.random.PRNGKey(1), (20, 8, 4)))
    _, state, metrics = run(model, traj)
    assert int(metrics["labels"]) == 512 and "buffer" not in state  # the set lives in the hparams
    _, again, _ = run(model, traj, state=state, key=jax.random.PRNGKey(5))
    same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), state["model"].params, again["model"].params)
    assert all(jax.tree.leaves(same))

    held_out = R.preference_set(jax.random.PRNGKey(2), play(1), 512, segment_length=10, beta=jnp.inf)
    params = jax.tree.map(lambda p: p[0], state["model"].params)  # the one ensemble member
    r = (MaskedMLP((32,), 1).apply(params, held_out.inputs)[..., 0] * held_out.mask).sum(-1)
    differ = held_out.label != 0.5
    accuracy = float(jnp.mean(((r[0] > r[1]) == (held_out.label > 0.5))[differ]))
    assert accuracy > 0.8, accuracy
    with pytest.raises(ValueError, match="pretrain_steps needs a fixed preference set"):
        R.preference_model(pretrain_steps=10)
    with pytest.raises(ValueError, match="segments have 10 steps, segment_length is 25"):
        R.preference_model(preferences=prefs)


def test_a_state_next_state_reward_model_trains_online():
    model = R.preference_model(segment_length=4, inputs="state_next_state", hidden_sizes=(8,))
    obs = jax.random.normal(jax.random.PRNGKey(0), (16, 4, 3))
    _, state, metrics = run(model, rollout(np.zeros((16, 4)), obs=obs))
    assert state["buffer"].items["inputs"].shape[-1] == 6 and np.isfinite(float(metrics["rm_loss"]))
