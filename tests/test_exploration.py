"""Exploration bonuses against their formulas (and rlax), and trained inside PPO with two critics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

import jrew
from jrew import rewards as R
from jrew.algos import ppo
from jrew.rewards import learned
from tests.reward_cases import assert_resume_is_bit_identical, col, rollout, run, spec


def one_hot_states(states, size):
    """[T, B] state indices -> one-hot observations [T, B, size]."""
    return np.eye(size, dtype=np.float32)[np.asarray(states, int)]


def test_global_counts_equal_coef_over_sqrt_n_after_the_rollout():
    states = np.array([[0, 1], [2, 1], [0, 1], [0, 3]])  # [T=4, B=2]
    traj = rollout(np.zeros((4, 2)), next_obs=one_hot_states(states, 5))
    bonus, state, _ = run(R.counts(5, coef=0.5), traj)
    n = {0: 3, 1: 3, 2: 1, 3: 1}
    np.testing.assert_allclose(bonus, 0.5 / np.sqrt(np.vectorize(n.get)(states)), rtol=1e-6)
    np.testing.assert_array_equal(state["counts"], [3, 3, 1, 1, 0])
    bonus, _, _ = run(R.counts(5, coef=0.5), traj, state=state)  # counts persist across rollouts
    np.testing.assert_allclose(bonus, 0.5 / np.sqrt(2 * np.vectorize(n.get)(states)), rtol=1e-6)


def test_episodic_counts_restart_each_episode_and_skip_invalid_steps():
    states = col([0, 0, 1, 0, 0, 0])
    done = col([0, 0, 1, 0, 0, 0])  # episode ends after step 2
    valid = col([1, 1, 1, 1, 0, 1])
    traj = rollout(np.zeros((6, 1)), terminated=done, next_obs=one_hot_states(states, 3))
    bonus, _, _ = run(R.counts(3, coef=1.0, episodic=True), traj, valid=valid)
    expected = 1 / np.sqrt(col([1, 2, 1, 1, 1, 2])) * valid  # step 4 is invalid: not counted, bonus 0
    np.testing.assert_allclose(bonus, expected, rtol=1e-6)


def test_simhash_counts_identical_observations_share_a_code():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=6), rng.normal(size=6)
    obs = np.stack([a, b, a, a])[:, None, :]  # [T=4, B=1, 6]
    bonus, state, _ = run(R.simhash_counts(bits=16, coef=1.0), rollout(np.zeros((4, 1)), next_obs=obs))
    np.testing.assert_allclose(bonus[:, 0], 1 / np.sqrt([3, 1, 3, 3]), rtol=1e-6)
    codes = (obs[:, 0] @ np.asarray(state["code"]) > 0) @ (2 ** np.arange(16))
    assert int(state["counts"][codes[0]]) == 3 and int(state["counts"][codes[1]]) == 1


def test_e3b_bonus_equals_phi_c_inverse_phi_with_c_reinverted():
    T, B, D = 7, 2, 5
    rng = np.random.default_rng(1)
    obs, next_obs = rng.normal(size=(T, B, D)), rng.normal(size=(T, B, D))
    done = np.zeros((T, B))
    done[3, 0] = 1  # env 0's episode ends at step 3: C restarts
    traj = rollout(np.zeros((T, B)), terminated=done, obs=obs, next_obs=next_obs, action=rng.integers(0, 2, (T, B)))
    ridge, embed = 0.5, 4
    transform = R.e3b(coef=1.0, ridge=ridge, hidden_sizes=(16,), embed_size=embed)
    hp = R.as_hparams(transform.hparams)
    state = transform.init(hp, jax.random.PRNGKey(1), spec(traj))
    bonus, new_state, _ = run(transform, traj, state=state)
    encoder = learned.MaskedMLP((16,), embed)
    phi = np.asarray(encoder.apply(state["model"].params["encoder"], jnp.asarray(next_obs, jnp.float32)), np.float64)
    for b in range(B):
        cov = ridge * np.eye(embed)
        for t in range(T):
            u = phi[t, b]
            np.testing.assert_allclose(bonus[t, b], u @ np.linalg.inv(cov) @ u, rtol=2e-4)
            cov = ridge * np.eye(embed) if done[t, b] else cov + np.outer(u, u)
        np.testing.assert_allclose(new_state["cov_inverse"][b], np.linalg.inv(cov), rtol=1e-3, atol=1e-4)
    assert not np.array_equal(jax.tree.leaves(new_state["model"].params)[0], jax.tree.leaves(state["model"].params)[0])


def test_episodic_knn_agrees_with_rlax():
    T, D, k, capacity = 12, 3, 4, 16
    embeddings = np.random.default_rng(2).normal(size=(T, 1, D)).astype(np.float32)
    traj = rollout(np.zeros((T, 1)), next_obs=embeddings)
    # constant=0: rlax 0.1.9 divides negated distances by (-d_m^2 + c), ours by (d_m^2 + c); equal at c=0
    settings = {"num_neighbors": k, "constant": 0.0, "epsilon": 1e-4, "cluster_distance": 8e-3, "max_similarity": 8.0}
    bonus, _, _ = run(R.episodic_knn(coef=1.0, capacity=capacity, **settings), traj)
    reference, memory_state = [], None
    for t in range(T):
        r, memory_state = rlax.episodic_memory_intrinsic_rewards(
            jnp.asarray(embeddings[t]), k, 1.0, memory_state, max_memory_size=capacity,
            **{n: v for n, v in settings.items() if n != "num_neighbors"},
        )
        reference.append(float(r[0]))
    np.testing.assert_allclose(bonus[:, 0], reference, rtol=1e-5)


def test_episodic_knn_memory_restarts_at_episode_end():
    same = np.ones((4, 1, 2), np.float32)
    done = col([0, 1, 0, 0])
    bonus, _, _ = run(R.episodic_knn(num_neighbors=1, capacity=8), rollout(np.zeros((4, 1)), terminated=done,
                                                                            next_obs=same))
    assert bonus[1, 0] < bonus[0, 0]  # a repeated embedding in the same episode is less novel
    assert bonus[2, 0] > bonus[3, 0]  # after the episode ended, it is new again


def test_rnd_predictor_loss_falls_on_repeated_observations_and_novel_ones_stay_high():
    rng = np.random.default_rng(3)
    seen = rng.normal(size=(8, 4, 6)).astype(np.float32)
    traj = rollout(np.zeros((8, 4)), next_obs=seen)
    transform = R.rnd(learning_rate=1e-3, hidden_sizes=(64,), feature_size=16, normalize=False)
    state, losses = None, []
    for _ in range(150):
        _, state, metrics = run(transform, traj, state=state)
        losses.append(float(metrics["predictor_loss"]))
    assert losses[-1] < 0.1 * losses[0], losses[::30]
    repeated, _, _ = run(transform, traj, state=state)
    novel, _, _ = run(transform, rollout(np.zeros((8, 4)), next_obs=5 * rng.normal(size=(8, 4, 6))), state=state)
    assert float(np.mean(novel)) > 10 * float(np.mean(repeated))


def test_rnd_normalizes_by_the_running_std_of_the_nonepisodic_intrinsic_return():
    traj = rollout(np.zeros((5, 2)), terminated=np.eye(5, 2), next_obs=np.random.default_rng(4).normal(size=(5, 2, 3)))
    bonus, state, metrics = run(R.rnd(hidden_sizes=(8,), feature_size=4), traj, gamma=0.5)
    std = float(metrics["intrinsic_return_std"])
    raw = np.asarray(bonus) * std  # the predictor's error
    g, returns = np.zeros(2), []
    for t in range(5):  # RND's own gamma (0.99), not the learner's; no cut at env 0's episode end (t=0)
        g = raw[t] + 0.99 * g
        returns.append(g)
    np.testing.assert_allclose(state["returns"], g, rtol=1e-5)
    np.testing.assert_allclose(std, np.sqrt(np.var(returns) + 1e-8), rtol=1e-4)


@pytest.mark.slow  # a learning run (about a minute of CPU)
def test_icm_forward_error_falls_on_predictable_transitions():
    obs = np.tile(np.eye(4, dtype=np.float32)[[0, 1, 2, 3]][:, None], (1, 2, 1))
    next_obs = np.roll(obs, -1, axis=0)
    traj = rollout(np.zeros((4, 2)), obs=obs, next_obs=next_obs, action=np.ones((4, 2)))
    state, first = None, None
    for _ in range(100):
        bonus, state, metrics = run(R.icm(learning_rate=3e-3, hidden_sizes=(32,), embed_size=8), traj, state=state)
        first = float(np.mean(bonus)) if first is None else first
    assert float(np.mean(bonus)) < 0.2 * first and "model_loss" in metrics


def test_masked_width_ignores_the_weights_of_masked_units():
    net = learned.MaskedMLP((8,), 3)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 4))
    kernel = params["params"]["Dense_0"]["kernel"]
    perturbed = jax.tree.map(lambda p: p, params)
    perturbed["params"]["Dense_0"]["kernel"] = kernel.at[:, 5:].add(3.0)
    np.testing.assert_array_equal(net.apply(params, x, 5.0), net.apply(perturbed, x, 5.0))
    assert not np.array_equal(net.apply(params, x, 8.0), net.apply(perturbed, x, 8.0))


@pytest.mark.parametrize("mode", ["product", "sum"])
def test_global_episodic_combines_the_parts(mode):
    states = col([0, 0, 1, 0])
    traj = rollout(np.zeros((4, 1)), terminated=col([0, 1, 0, 0]), next_obs=one_hot_states(states, 2))
    g, _, _ = run(R.counts(2, coef=2.0), traj)
    e, _, _ = run(R.counts(2, coef=1.0, episodic=True), traj)
    both, _, metrics = run(R.global_episodic(R.counts(2, coef=2.0), R.counts(2, episodic=True), mode), traj)
    np.testing.assert_allclose(both, g * e if mode == "product" else g + e, rtol=1e-6)
    assert "global/bonus_mean" in metrics and "episodic/bonus_mean" in metrics


def test_novelty_search_scores_finished_episodes_against_the_archive():
    next_obs = np.array([[[0.0, 0.0]], [[3.0, 4.0]], [[6.0, 8.0]], [[0.0, 1.0]]], np.float32)  # [T=4, B=1, 2]
    done = col([1, 1, 0, 1])
    transform = R.novelty_search(lambda o: o, num_neighbors=2, archive_size=8)
    bonus, state, _ = run(transform, rollout(np.zeros((4, 1)), terminated=done, next_obs=next_obs))
    np.testing.assert_array_equal(bonus, np.zeros((4, 1)))  # the archive was empty: nothing to be novel against
    assert int(state["archive"].size) == 3
    bonus, _, _ = run(transform, rollout(np.zeros((1, 1)), terminated=col([1]), next_obs=[[[0.0, 4.0]]]), state=state)
    nearest = sorted(np.linalg.norm(np.array([[0, 0], [3, 4], [0, 1]]) - [0, 4], axis=1))[:2]
    np.testing.assert_allclose(bonus[0, 0], np.mean(nearest), rtol=1e-6)


def test_bonus_is_zero_on_invalid_steps_and_reported():
    traj = rollout(np.zeros((3, 1)), next_obs=one_hot_states(col([0, 1, 2]), 3))
    bonus, _, metrics = run(R.counts(3), traj, valid=col([1, 0, 1]))
    np.testing.assert_allclose(bonus[:, 0], [1.0, 0.0, 1.0])
    assert float(metrics["bonus_mean"]) == pytest.approx(1.0) and float(metrics["bonus_max"]) == 1.0


def test_bad_bonus_settings_are_named():
    with pytest.raises(ValueError, match="num_states"):
        R.counts(0)
    with pytest.raises(ValueError, match="ridge"):
        R.e3b(ridge=0.0)
    with pytest.raises(ValueError, match="bits"):
        R.simhash_counts(bits=40)
    with pytest.raises(ValueError, match="intrinsic"):
        R.global_episodic(R.intrinsic(R.rnd()), R.counts(4, episodic=True))
    with pytest.raises(ValueError, match="spec"):
        t = R.e3b()
        traj = rollout(np.zeros((2, 1)))
        hp = R.as_hparams(t.hparams)
        batch = R.RewardBatch.create(traj, ("extrinsic",), 0.9, jax.random.PRNGKey(0))
        t.apply(hp, t.init(hp, jax.random.PRNGKey(0), spec(traj)), batch)


DEEP_SEA = ppo.PPOConfig(env="lab/deep_sea", env_kwargs=(("size", "6"),), total_steps=6 * 512)


def test_ppo_trains_two_critics_on_an_intrinsic_stream():
    result = jrew.train(DEEP_SEA, reward=R.intrinsic(R.counts(36)), seeds=2, progress=False)
    value_kernel = result.state.params["params"]["value_net"]["Dense_2"]["kernel"]
    assert value_kernel.shape[-1] == 2  # one value head per stream
    for name in ("intrinsic_return", "reward/bonus_mean", "value_loss"):
        assert name in result.metrics, sorted(result.metrics)
    assert np.all(result.metrics["intrinsic_return"][:, -1] > 0)
    assert np.all(np.isfinite(result.metrics["loss"]))


def test_a_grid_of_bonus_numbers_is_one_program():
    variants = [R.intrinsic(R.rnd(coef=c, width=w, hidden_sizes=(32,), feature_size=8))
                for c, w in [(0.5, 8), (2.0, 32)]]
    result = jrew.train(DEEP_SEA, reward=variants, seeds=1, progress=False)
    intrinsic_returns = result.by_variant("intrinsic_return")[:, 0, -1]
    assert intrinsic_returns.shape == (2,) and intrinsic_returns[1] > 2 * intrinsic_returns[0]


def test_resume_is_bit_identical_with_a_learned_bonus(tmp_path):
    reward = R.intrinsic(R.rnd(hidden_sizes=(32,), feature_size=8))
    assert_resume_is_bit_identical(DEEP_SEA, reward, tmp_path / "run", ("loss", "reward/predictor_loss",
                                                                       "intrinsic_return"))
