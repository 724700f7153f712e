"""Every reward transform against its formula on small hand-computed cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reward_cases import col, rollout, run

from jrew import rewards as R

R1 = col([-2.0, -0.5, 0.0, 0.7, 3.0])


@pytest.mark.parametrize(
    "transform,expected",
    [
        (R.affine(2.0, 1.0), 2 * R1 + 1),
        (R.scale(-3.0), -3 * R1),
        (R.clip(-1.0, 1.0), np.clip(R1, -1, 1)),
        (R.sign(), np.sign(R1)),
        (R.symlog(), np.sign(R1) * np.log1p(np.abs(R1))),
        (R.clip_mechanism(0.5), np.minimum(R1 - 0.5, 0)),
        (R.tiered([0.0, 1.0], [-1.0, 0.5, 2.0]), col([-1, -1, 0.5, 0.5, 2])),
        (R.par(reference=0.5, temperature=2.0), 1 / (1 + np.exp(-(R1 - 0.5) / 2))),
        (R.identity(), R1),
        (R.noisy(0.0), R1),
        (R.flip(0.0), R1),
        (R.flip(1.0), -R1),
    ],
)
def test_stateless_formulas(transform, expected):
    reward, _, _ = run(transform, rollout(R1))
    np.testing.assert_allclose(reward, expected, rtol=1e-6, atol=1e-7)


def test_noise_and_flip_statistics():
    r = jnp.ones((1000, 64))
    noisy, _, _ = run(R.noisy(0.5), rollout(r))
    assert abs(float(noisy.mean()) - 1.0) < 0.01 and abs(float(noisy.std()) - 0.5) < 0.01
    flipped, _, _ = run(R.flip(0.3), rollout(r))
    assert abs(float((flipped < 0).mean()) - 0.3) < 0.01


def test_par_running_reference_is_an_ema_from_before_the_batch():
    t = R.par(reference=0.0, running=True, decay=0.5)
    r = jnp.full((4, 2), 2.0)
    shaped, ref, _ = run(t, rollout(r))
    np.testing.assert_allclose(shaped, jax.nn.sigmoid(2.0), rtol=1e-6)  # reference 0 for batch 1
    np.testing.assert_allclose(ref, 1.0)  # 0.5 * 0 + 0.5 * 2
    shaped, ref, _ = run(t, rollout(r), state=ref)
    np.testing.assert_allclose(shaped, jax.nn.sigmoid(1.0), rtol=1e-6)
    np.testing.assert_allclose(ref, 1.5)


def test_delta_resets_at_episode_ends_and_carries_across_rollouts():
    t = R.delta()
    done = col([0, 0, 1, 0])
    shaped, prev, _ = run(t, rollout(col([1, 3, 4, 2]), terminated=done))
    np.testing.assert_allclose(shaped, col([1, 2, 1, 2]))  # new episode at t=3 starts from 0
    shaped, _, _ = run(t, rollout(col([5, 4])), state=prev)
    np.testing.assert_allclose(shaped, col([3, -1]))  # continues from r=2


def test_normalize_returns_uses_discounted_return_std_reset_at_done():
    gamma = 0.5
    r = np.asarray([[1.0, 2.0], [1.0, 0.0], [2.0, 1.0]], np.float32)
    done = np.asarray([[0, 0], [1, 0], [0, 0]], np.float32)
    shaped, state, metrics = run(R.normalize_returns(clip=100.0), rollout(r, truncated=done), gamma=gamma)
    returns = np.asarray([[1.0, 2.0], [1.5, 1.0], [2.0, 1.5]])  # env 0 resets after t=1
    std = np.sqrt(returns.var() + 1e-8)
    np.testing.assert_allclose(metrics["return_std"], std, rtol=1e-5)
    np.testing.assert_allclose(shaped, r / std, rtol=1e-5)
    np.testing.assert_allclose(state["returns"], [2.0, 1.5])


def test_hybrid_normalize_standardizes_each_component():
    rng = np.random.default_rng(0)
    process, outcome = rng.normal(5, 3, (50, 4)), (rng.uniform(size=(50, 4)) < 0.1) * 10.0
    t = R.hybrid_normalize(["process", "outcome"], weights=[0.5, 2.0])
    shaped, _, _ = run(t, rollout(np.zeros((50, 4)), metrics={"process": process, "outcome": outcome}))
    z = lambda x: (x - x.mean()) / np.sqrt(x.var() + 1e-8)
    np.testing.assert_allclose(shaped, 0.5 * z(process) + 2.0 * z(outcome), rtol=1e-4, atol=1e-4)


def test_pbrs_hand_case_terminated_vs_truncated():
    phi = lambda o: o[0]
    obs = np.asarray([[[1.0, 0]], [[2.0, 0]], [[3.0, 0]]])
    next_obs = np.asarray([[[2.0, 0]], [[5.0, 0]], [[7.0, 0]]])
    r = np.zeros((3, 1))
    gamma = 0.9
    # step 1 terminates (Phi(s') counts as 0); step 2 is truncated (Phi(s') kept)
    shaped, _, _ = run(
        R.pbrs(phi, coef=2.0), rollout(r, terminated=col([0, 1, 0]), truncated=col([0, 0, 1]), obs=obs, next_obs=next_obs),
        gamma=gamma,
    )
    np.testing.assert_allclose(shaped, 2 * col([gamma * 2 - 1, 0 - 2, gamma * 7 - 3]), rtol=1e-6)


def test_pbrs_shaped_return_telescopes_for_random_potentials():
    """Sum_t gamma^t r'_t = Sum_t gamma^t r_t + gamma^T Phi(s_T)(1 - d_T) - Phi(s_0), per episode."""
    rng = np.random.default_rng(0)
    for trial in range(20):
        T, dim, gamma = int(rng.integers(2, 40)), 3, float(rng.uniform(0.5, 1.0))
        w1, w2 = rng.normal(size=(dim, 8)), rng.normal(size=8)
        w1, w2 = jnp.asarray(w1), jnp.asarray(w2)
        phi = lambda o, w1=w1, w2=w2: jnp.tanh(o @ w1) @ w2  # bound now: each trial its own weights
        states = rng.normal(size=(T + 1, dim)).astype(np.float32)
        r = rng.normal(size=(T, 1)).astype(np.float32)
        d_T = float(trial % 2)  # the episode ends by termination or by truncation
        terminated = np.zeros((T, 1), np.float32)
        terminated[-1] = d_T
        truncated = np.zeros((T, 1), np.float32)
        truncated[-1] = 1.0 - d_T
        traj = rollout(r, terminated=terminated, truncated=truncated, obs=states[:-1, None], next_obs=states[1:, None])
        shaped, _, _ = run(R.pbrs(phi), traj, gamma=gamma)
        discounts = gamma ** np.arange(T)
        lhs = float(np.sum(discounts * np.asarray(shaped)[:, 0]))
        rhs = float(np.sum(discounts * r[:, 0]) + gamma**T * phi(states[-1]) * (1 - d_T) - phi(states[0]))
        np.testing.assert_allclose(lhs, rhs, rtol=1e-4, atol=1e-4)


def test_pbrs_potential_with_wrong_output_shape_is_refused():
    with pytest.raises(ValueError, match=r"potential must map one observation of shape \(2,\) to a scalar, got output shape \(2,\)"):
        run(R.pbrs(lambda o: o * 2), rollout(R1))


def test_pbrs_critic_reads_the_value_function():
    obs = np.asarray([[[1.0, 0]], [[2.0, 0]]])
    next_obs = np.asarray([[[2.0, 0]], [[4.0, 0]]])
    shaped, _, _ = run(R.pbrs_critic(), rollout(np.zeros((2, 1)), obs=obs, next_obs=next_obs), gamma=0.5,
                       value_fn=lambda o: 10 * o[..., 0])
    np.testing.assert_allclose(shaped, col([0.5 * 20 - 10, 0.5 * 40 - 20]))
    with pytest.raises(ValueError, match="needs a learner with a critic"):
        run(R.pbrs_critic(), rollout(R1))


def test_delayed_releases_at_episode_end_across_rollouts():
    t = R.delayed()
    released, pending, _ = run(t, rollout(col([1, 2, 3, 4]), truncated=col([0, 1, 0, 0])))
    np.testing.assert_allclose(released, col([0, 3, 0, 0]))  # truncation releases too
    released, _, _ = run(t, rollout(col([5, 6]), terminated=col([0, 1])), state=pending)
    np.testing.assert_allclose(released, col([0, 3 + 4 + 5 + 6]))


def test_subgoal_bonus_pays_once_per_episode():
    next_obs = np.asarray([[[0.0, 0]], [[1.0, 0]], [[1.0, 0]], [[1.0, 0]], [[1.0, 0]]])
    t = R.subgoal_bonus(lambda o: o[0] > 0.5, bonus=10.0)
    shaped, reached, _ = run(t, rollout(np.zeros((5, 1)), terminated=col([0, 0, 1, 0, 0]), next_obs=next_obs))
    np.testing.assert_allclose(shaped, col([0, 10, 0, 10, 0]))  # again in the next episode, once
    assert bool(reached[0])


def test_gated_releases_immediate_rewards_only_if_outcome_reaches_threshold():
    immediate = col([1, 1, 1, 1, 1, 1])
    outcome = col([0, 0, 1, 0, 0, 0])
    done = col([0, 0, 1, 0, 0, 1])
    r = immediate + outcome  # the env pays both
    shaped, _, _ = run(R.gated("immediate", "outcome", threshold=1.0),
                       rollout(r, terminated=done, metrics={"immediate": immediate, "outcome": outcome}))
    np.testing.assert_allclose(shaped, col([0, 0, 1 + 3, 0, 0, 0]))


def test_weighted_sum_and_unknown_metric_key():
    m = {"progress": col([1, 2]), "energy": col([0.5, 0.5])}
    shaped, _, metrics = run(R.weighted_sum({"progress": 1.0, "energy": -2.0}), rollout(np.zeros((2, 1)), metrics=m))
    np.testing.assert_allclose(shaped, col([0, 1]))
    np.testing.assert_allclose(metrics["energy_mean"], 0.5)
    with pytest.raises(ValueError, match=r"weighted_sum: unknown metric key 'speed'; the env reports \['energy', 'progress'\]"):
        run(R.weighted_sum({"speed": 1.0}), rollout(np.zeros((2, 1)), metrics=m))


def test_lagrangian_multiplier_ascends_and_projects_to_zero():
    cost = col([1, 0, 1, 0])  # cost rate 0.5
    t = R.lagrangian("cost", limit=0.2, lr=1.0)
    shaped, lam, _ = run(t, rollout(col([1, 1, 1, 1]), metrics={"cost": cost}))
    np.testing.assert_allclose(shaped, col([1, 1, 1, 1]))  # lambda was 0 for this rollout
    np.testing.assert_allclose(lam, 0.3, rtol=1e-6)
    shaped, lam, _ = run(t, rollout(col([1, 1, 1, 1]), metrics={"cost": cost}), state=lam)
    np.testing.assert_allclose(shaped, col([0.7, 1, 0.7, 1]), rtol=1e-6)
    _, lam, _ = run(t, rollout(col([1, 1]), metrics={"cost": col([0, 0])}), state=jnp.float32(0.1))
    assert float(lam) == 0.0  # max(0, 0.1 + (0 - 0.2))


def test_chain_applies_in_order_and_prefixes_metrics():
    t = R.chain(R.scale(2.0), R.affine(1.0, 1.0), R.par())
    shaped, state, metrics = run(t, rollout(R1))
    np.testing.assert_allclose(shaped, jax.nn.sigmoid(2 * R1 + 1), rtol=1e-6)
    assert set(metrics) == {"2_par/reference"} and len(state) == 3
    with pytest.raises(TypeError, match="chain\\(\\) takes RewardTransforms"):
        R.chain(R.scale(1.0), lambda r: r)


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: R.flip(1.5), r"flip: probability must be a probability in \[0, 1\], got 1.5"),
        (lambda: R.clip(2.0, 1.0), r"clip: low \(2.0\) must be <= high \(1.0\)"),
        (lambda: R.par(temperature=0.0), r"par: temperature must be > 0, got 0.0"),
        (lambda: R.noisy(-1.0), r"noisy: std must be >= 0, got -1.0"),
        (lambda: R.tiered([1.0, 0.0], [0, 1, 2]), r"tiered: thresholds must be ascending"),
        (lambda: R.lagrangian("c", 0.1, lr=-1.0), r"lagrangian: lr must be >= 0, got -1.0"),
        (lambda: R.protocol.stack_hparams([R.scale(1.0), R.clip(0.0, 1.0)]),
         r"variant 1 differs from variant 0 in its transform: clip\(high=1.0, low=0.0\) vs scale\(factor=1.0\)"),
        (lambda: R.protocol.stack_hparams([R.identity(), R.protocol.stateless("oracle", lambda p, r, b: b.rollout.true_reward)]),
         r"variant 1 differs from variant 0 in its transform: oracle\(\) vs identity\(\)"),
        (lambda: R.protocol.stack_hparams([R.weighted_sum({"a": 1.0}), R.weighted_sum({"a": 1.0, "b": 1.0})]),
         r"variant 1 differs from variant 0 in the static setting 'keys': \('a', 'b'\) vs \('a',\)"),
        (lambda: R.protocol.stack_hparams([R.tiered([0.0], [0, 1]), R.tiered([0.0, 1.0], [0, 1, 2])]),
         r"variant 1 differs from variant 0 in the shape of hparam 'thresholds': \(2,\) vs \(1,\)"),
    ],
)
def test_bad_input_is_refused_at_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_true_reward_replaces_the_visible_reward_by_the_objective():
    traj = rollout(col([1.0, 2.0, 3.0])).replace(true_reward=jnp.asarray(col([0.0, 5.0, -1.0])))
    shaped, _, _ = run(R.true_reward(), traj)
    np.testing.assert_array_equal(shaped, col([0.0, 5.0, -1.0]))
    assert R.protocol.describe(R.true_reward()) == "true_reward()"  # run directories recorded it under this name
