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


def e3b_case(T=7, B=2, D=5, seed=1):
    rng = np.random.default_rng(seed)
    obs, next_obs = rng.normal(size=(T, B, D)), rng.normal(size=(T, B, D))
    done = np.zeros((T, B))
    done[3, 0] = 1  # env 0's episode ends at step 3: C restarts
    return rollout(np.zeros((T, B)), terminated=done, obs=obs, next_obs=next_obs, action=rng.integers(0, 2, (T, B)))


def e3b_reference(phi, done, ridge, start=None):
    """The reference's actor loop (facebookresearch/e3b, e3b_minihack/src/utils.py, ``act``), per
    env: the encoder's output for the observation acted on, a rank-1 update, ``b = 0`` at ``step == 0``."""
    T, B, D = phi.shape
    bonus = np.zeros((T, B))
    for b in range(B):
        cov_inverse, step = np.eye(D) / ridge, 0 if start is None or start[b] else 1
        for t in range(T):
            h = phi[t, b]
            u = cov_inverse @ h
            bonus[t, b] = h @ u
            cov_inverse = cov_inverse - np.outer(u, u) / (1.0 + bonus[t, b])
            if step == 0:
                bonus[t, b] = 0
            step += 1
            if done[t, b]:
                step, cov_inverse = 0, np.eye(D) / ridge
    return bonus


def encoder_phi(state, x, embed):
    encoder = learned.MaskedMLP((16,), embed)
    return np.asarray(encoder.apply(state["model"].params["encoder"], jnp.asarray(x, jnp.float32)), np.float64)


def test_e3b_matches_the_reference_loop_within_and_across_rollouts():
    """Default E3B equals the reference's loop: phi(s_t) scored against C of the episode's earlier
    states, the first state of each episode joins C and scores 0. Split into two rollouts, the
    second continues the first's episodes (its first step is not an episode start)."""
    traj, ridge, embed = e3b_case(), 0.5, 4
    # learning_rate 0 keeps the encoder fixed, so both halves below see the same phi
    transform = R.e3b(coef=1.0, ridge=ridge, hidden_sizes=(16,), embed_size=embed, learning_rate=0.0)
    hp = R.protocol.as_hparams(transform.hparams)
    state = transform.init(hp, jax.random.PRNGKey(1), spec(traj))
    bonus, _, _ = run(transform, traj, state=state)
    phi = encoder_phi(state, traj.obs, embed)
    expected = e3b_reference(phi, np.asarray(traj.terminated), ridge)
    np.testing.assert_allclose(bonus, expected, rtol=2e-4, atol=1e-6)
    assert np.all(bonus[0] == 0) and bonus[4, 0] == 0  # episode starts: t=0 for both envs, t=4 for env 0
    first = jax.tree.map(lambda x: x[:3], traj)
    _, mid, _ = run(transform, first, state=state)
    second, _, _ = run(transform, jax.tree.map(lambda x: x[3:], traj), state=mid)
    np.testing.assert_allclose(second, expected[3:], rtol=2e-4, atol=1e-6)
    restarted, _, _ = run(transform, jax.tree.map(lambda x: x[3:], traj), state=mid, reset=jnp.array([True, False]))
    assert restarted[0, 0] == 0 and restarted[0, 1] == second[0, 1]  # a learner reset starts a new episode


def test_e3b_next_state_form_equals_phi_next_c_inverse_phi_next_with_c_reinverted():
    """``score="next"``, the form before 2026-12: phi(s_t+1), C restarting at episode ends, s_0 never in C."""
    traj, ridge, embed = e3b_case(), 0.5, 4
    done = np.asarray(traj.terminated)
    transform = R.e3b(coef=1.0, ridge=ridge, hidden_sizes=(16,), embed_size=embed, score="next")
    hp = R.protocol.as_hparams(transform.hparams)
    state = transform.init(hp, jax.random.PRNGKey(1), spec(traj))
    bonus, new_state, _ = run(transform, traj, state=state)
    phi = encoder_phi(state, traj.next_obs, embed)
    for b in range(2):
        cov = ridge * np.eye(embed)
        for t in range(7):
            u = phi[t, b]
            np.testing.assert_allclose(bonus[t, b], u @ np.linalg.inv(cov) @ u, rtol=2e-4)
            cov = ridge * np.eye(embed) if done[t, b] else cov + np.outer(u, u)
        np.testing.assert_allclose(new_state["cov_inverse"][b], np.linalg.inv(cov), rtol=1e-3, atol=1e-4)
    assert not np.array_equal(jax.tree.leaves(new_state["model"].params)[0], jax.tree.leaves(state["model"].params)[0])


def test_e3b_normalize_divides_by_the_running_std_of_its_bonuses():
    traj = e3b_case()
    plain = R.e3b(hidden_sizes=(16,), embed_size=4)
    scaled = R.e3b(hidden_sizes=(16,), embed_size=4, normalize=True)
    raw, _, _ = run(plain, traj)
    bonus, _, metrics = run(scaled, traj)
    np.testing.assert_allclose(float(metrics["bonus_std"]), np.std(raw), rtol=1e-4)
    np.testing.assert_allclose(bonus, raw / np.std(raw), rtol=1e-4)


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


def test_episodic_knn_ignores_an_episode_end_at_an_invalid_step():
    """Carries hold over invalid steps: a done flag there must not empty the memory."""
    same = np.ones((4, 1, 2), np.float32)
    valid = col([1, 0, 1, 1])
    knn = R.episodic_knn(num_neighbors=1, capacity=8)
    masked_end, _, _ = run(knn, rollout(np.zeros((4, 1)), terminated=col([0, 1, 0, 0]), next_obs=same), valid=valid)
    no_end, _, _ = run(knn, rollout(np.zeros((4, 1)), next_obs=same), valid=valid)
    np.testing.assert_allclose(masked_end, no_end)


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


def test_rnd_scores_a_rollout_under_statistics_that_include_it():
    """The documented order (the reference scores under the previous statistics, after a warm-up):
    the rollout joins the observation statistics first, then is whitened by them and scored."""
    obs = 3.0 + 2.0 * np.random.default_rng(5).normal(size=(6, 2, 3)).astype(np.float32)
    transform = R.rnd(hidden_sizes=(8,), feature_size=4)
    hp = R.protocol.as_hparams(transform.hparams)
    state = transform.init(hp, jax.random.PRNGKey(1), spec(rollout(np.zeros((6, 2)), next_obs=obs)))
    bonus, new, metrics = run(transform, rollout(np.zeros((6, 2)), next_obs=obs), state=state)
    np.testing.assert_allclose(new["obs_stats"].mean, obs.reshape(-1, 3).mean(0), rtol=1e-5)
    x = np.clip((obs - obs.reshape(-1, 3).mean(0)) / np.sqrt(obs.reshape(-1, 3).var(0) + 1e-8), -5, 5)
    net = learned.MaskedMLP((8,), 4)
    error = np.mean((net.apply(state["predictor"].params, x) - net.apply(state["target"], x)) ** 2, axis=-1)
    np.testing.assert_allclose(bonus, error / float(metrics["intrinsic_return_std"]), rtol=1e-4)


def test_an_intrinsic_stream_follows_whether_its_bonuses_are_episodic():
    """E3B, episodic counts and kNN restart each episode, so PPO cuts their intrinsic return at
    episode ends; RND, global counts and ICM run on; a mix needs the config to choose."""
    def episodic(reward, **config):
        return ppo.make(DEEP_SEA.replace(**config), reward).update.__self__.episodic_intrinsic

    assert episodic(R.intrinsic(R.e3b())) is True
    assert episodic(R.intrinsic(R.counts(36, episodic=True))) is True
    assert episodic(R.intrinsic(R.episodic_knn())) is True
    assert episodic(R.intrinsic(R.global_episodic(R.rnd(), R.e3b()))) is True
    assert episodic(R.intrinsic(R.rnd())) is False and episodic(R.intrinsic(R.counts(36))) is False
    assert episodic(R.e3b()) is False  # on the extrinsic stream: no intrinsic critic to cut
    assert episodic(R.intrinsic(R.e3b()), episodic_intrinsic=False) is False  # the override
    mixed = R.chain(R.intrinsic(R.rnd()), R.intrinsic(R.e3b()))
    with pytest.raises(ValueError, match=r"mixes episodic bonuses \['e3b.*and global ones \['rnd.*episodic_intrinsic"):
        episodic(mixed)
    assert episodic(mixed, episodic_intrinsic=True) is True


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
        hp = R.protocol.as_hparams(t.hparams)
        batch = R.protocol.RewardBatch.create(traj, ("extrinsic",), 0.9, jax.random.PRNGKey(0))
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


@pytest.mark.slow  # about 27 s; the default suite resumes a learned reward in test_reward_protocol
def test_resume_is_bit_identical_with_a_learned_bonus(tmp_path):
    reward = R.intrinsic(R.rnd(hidden_sizes=(32,), feature_size=8))
    assert_resume_is_bit_identical(DEEP_SEA, reward, tmp_path / "run", ("loss", "reward/predictor_loss",
                                                                       "intrinsic_return"))
