"""Preference reward models: the Bradley-Terry loss, ensemble aggregates, the synthetic labeller,
and the model trained online inside the loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrew import rewards as R
from jrew.algos import ppo
from jrew.types import first_episode_mask
from tests.reward_cases import assert_resume_is_bit_identical, rollout, run


def test_bradley_terry_loss_by_hand():
    sigma = lambda x: 1 / (1 + np.exp(-x))
    loss = R.preferences.bradley_terry_loss(jnp.array([1.0, 1.0, 1.0, 0.0]), jnp.array([0.0, 0.0, 0.0, 2.0]),
                                jnp.array([1.0, 0.0, 0.5, 0.0]))
    expected = [-np.log(sigma(1)), -np.log(sigma(-1)), -0.5 * (np.log(sigma(1)) + np.log(sigma(-1))), -np.log(sigma(2))]
    np.testing.assert_allclose(loss, expected, rtol=1e-6)


def test_ensemble_aggregates_by_hand():
    values = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])  # 3 members, 2 steps
    np.testing.assert_allclose(R.preferences.aggregate(values, "mean"), [3.0, 5.0])
    np.testing.assert_allclose(R.preferences.aggregate(values, "median"), [3.0, 4.0])
    np.testing.assert_allclose(R.preferences.aggregate(values, "min"), [1.0, 2.0])
    std = np.array([np.std([1, 3, 5]), np.std([2, 4, 9])])
    np.testing.assert_allclose(R.preferences.aggregate(values, "mean_minus_std", 0.5), np.array([3.0, 5.0]) - 0.5 * std, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown aggregate 'max'"):
        R.preferences.aggregate(values, "max")


def test_labeller_is_boltzmann_rational_and_flips_at_the_stated_rate():
    n = 20_000
    a, b = jnp.zeros(n), jnp.concatenate([jnp.full(n // 2, -0.5), jnp.full(n // 2, 0.0)])
    exact = R.synthetic_labels(jax.random.PRNGKey(0), a, b, jnp.inf, 0.0)
    np.testing.assert_array_equal(exact, np.concatenate([np.ones(n // 2), np.full(n // 2, 0.5)]))  # order; ties 1/2
    sampled = R.synthetic_labels(jax.random.PRNGKey(1), a, b, 2.0, 0.0)
    assert abs(float(sampled[: n // 2].mean()) - 1 / (1 + np.exp(-1.0))) < 0.015  # sigma(2 * 0.5)
    flipped = R.synthetic_labels(jax.random.PRNGKey(2), a[: n // 2], b[: n // 2], jnp.inf, 0.2)
    assert abs(float(1 - flipped.mean()) - 0.2) < 0.015
    graded = R.synthetic_labels(jax.random.PRNGKey(3), a[:1], b[:1], 2.0, 0.0, mode="probability")
    np.testing.assert_allclose(graded, [1 / (1 + np.exp(-1.0))], rtol=1e-6)


def test_segments_count_up_to_their_first_episode_end():
    done = jnp.array([0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(first_episode_mask(done, axis=-1), [1, 1, 0, 0])


def states_and_rewards(key, T=32, B=8):
    """A rollout whose true reward is obs[0] (the model must find it from preferences alone)."""
    obs = jax.random.normal(key, (T, B, 3))
    return rollout(np.zeros((T, B)), obs=obs).replace(true_reward=obs[..., 0])


def test_under_a_valid_mask_no_label_goes_to_a_pair_with_an_empty_segment():
    """A quarter-valid prefix (a critic-free learner's finished episodes): every labelled pair has
    two non-empty segments, and the labeller is asked about no other pair."""
    T, B = 32, 4
    valid = np.zeros((T, B), np.float32)
    valid[:8] = 1
    model = R.preference_model(segment_length=4, pairs_per_rollout=8, label_budget=100, buffer_size=16,
                               hidden_sizes=(4,))
    traj = rollout(np.zeros((T, B)), obs=jax.random.normal(jax.random.PRNGKey(0), (T, B, 3)))
    _, state, metrics = run(model, traj, valid=valid)
    count = int(metrics["labels"])
    segment_steps = np.asarray(state["buffer"].items["mask"][:count]).sum(-1)  # [pairs, 2]
    assert count == 8 and np.all(segment_steps > 0), segment_steps
    _, _, metrics = run(model, traj, valid=np.zeros((T, B), np.float32))
    assert int(metrics["labels"]) == 0  # no real step: nothing to label


@pytest.mark.slow  # a learning run (about a minute of CPU)
def test_the_model_learns_the_true_reward_from_preferences_within_the_label_budget():
    model = R.preference_model(segment_length=4, pairs_per_rollout=32, label_budget=300, beta=jnp.inf,
                               learning_rate=3e-3, updates_per_rollout=8, minibatch_pairs=32, hidden_sizes=(32,))
    state, accuracy = None, []
    for i in range(30):
        traj = states_and_rewards(jax.random.PRNGKey(i))
        reward, state, metrics = run(model, traj, state=state, key=jax.random.PRNGKey(100 + i))
        accuracy.append(float(metrics["preference_accuracy"]))
    assert int(state["labels"]) == 300 and int(metrics["labels"]) == 300  # the labeller stops at the budget
    assert np.mean(accuracy[-5:]) > 0.85 > accuracy[0], accuracy
    true = np.asarray(traj.true_reward).ravel()
    assert np.corrcoef(np.asarray(reward).ravel(), true)[0, 1] > 0.9


def test_an_ensemble_disagrees_and_its_conservative_aggregate_is_lower():
    traj = states_and_rewards(jax.random.PRNGKey(0))
    kwargs = dict(segment_length=4, ensemble_size=3, hidden_sizes=(16,))  # noqa: C408
    mean, state, metrics = run(R.preference_model(aggregate_by="mean", **kwargs), traj)
    low, _, _ = run(R.preference_model(aggregate_by="mean_minus_std", conservative_lambda=1.0, **kwargs), traj)
    assert float(metrics["ensemble_std"]) > 0
    assert np.all(np.asarray(low) <= np.asarray(mean) + 1e-6) and float(np.mean(mean - low)) > 0
    assert jax.tree.leaves(state["model"].params)[0].shape[0] == 3


def test_bad_preference_settings_are_named():
    with pytest.raises(ValueError, match="aggregate_by"):
        R.preference_model(aggregate_by="max")
    with pytest.raises(ValueError, match="segment_length"):
        R.preference_model(segment_length=0)
    with pytest.warns(UserWarning, match=r"label_budget \(8000\) exceeds buffer_size \(4096\)"):
        R.preference_model(label_budget=8000)
    with pytest.raises(ValueError, match=r"segment_length \(40\) is longer than the rollout \(32 steps\)"):
        run(R.preference_model(segment_length=40), states_and_rewards(jax.random.PRNGKey(0)))


SMALL = ppo.PPOConfig(total_steps=6 * 512)


@pytest.mark.slow  # about 32 s; the default suite keeps learned-reward variants and resume in test_reward_protocol
def test_label_budgets_are_one_program_and_resume_is_bit_identical(tmp_path):
    variants = [R.preference_model(label_budget=b, hidden_sizes=(16,)) for b in (16.0, 64.0)]
    whole = assert_resume_is_bit_identical(SMALL, variants, tmp_path / "run", ("loss", "reward/rm_loss", "true_return"))
    np.testing.assert_array_equal(whole.by_variant("reward/labels")[:, :, -1], [[16, 16], [64, 64]])


@pytest.mark.slow  # a learning run (about a minute of CPU)
def test_return_decomposition_recovers_a_known_per_step_reward():
    """Episodes of 4 steps pay their summed reward obs[0] at the end; r_hat must find obs[0]."""
    model = R.return_decomposition(learning_rate=3e-3, updates_per_rollout=8, hidden_sizes=(32,))
    done = np.tile((np.arange(16) % 4 == 3)[:, None], (1, 8)).astype(np.float32)
    state = None
    for i in range(60):
        obs = jax.random.normal(jax.random.PRNGKey(i), (16, 8, 3))
        per_step = np.asarray(obs[..., 0])
        delayed = np.where(done > 0, np.cumsum(per_step.reshape(4, 4, 8), axis=1).reshape(16, 8), 0.0) * done
        reward, state, metrics = run(model, rollout(delayed, terminated=done, obs=obs), state=state)
    np.testing.assert_allclose(delayed[done > 0], np.add.reduceat(per_step, [0, 4, 8, 12], axis=0).ravel(), rtol=1e-5)
    assert np.corrcoef(np.asarray(reward).ravel(), per_step.ravel())[0, 1] > 0.95
    assert float(metrics["decomposition_loss"]) < 0.05


def test_return_decomposition_carries_episodes_across_rollouts():
    model = R.return_decomposition(hidden_sizes=(8,))
    first = rollout(np.zeros((3, 1)), obs=np.ones((3, 1, 2)))  # an episode that has not ended yet
    _, state, _ = run(model, first)
    assert float(state["predicted_so_far"][0]) != 0.0 and float(state["return_so_far"][0]) == 0.0
    _, state, _ = run(model, rollout(np.array([[0.0], [2.0]]), terminated=np.array([[0.0], [1.0]]),
                                     obs=np.ones((2, 1, 2))), state=state)
    np.testing.assert_array_equal([state["predicted_so_far"][0], state["return_so_far"][0]], [0.0, 0.0])
