"""The core math by hand: PPO's and PG's losses, each learner option's wiring, and the formulas of
the learned rewards, on tiny inputs whose answers are written out here. These are the tests the
mutants in ``benchmarks/mutants.py`` must fail (a sign, a min/max, a flag ignored, a mask dropped),
so each asserts a number, not just that something is finite."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from jrew import rewards as R
from jrew.algos import pg, ppo
from jrew.algos.losses import clipped_surrogate, k3_kl
from jrew.rewards import learned
from jrew.rewards.learned import MaskedMLP
from tests.reward_cases import rollout, run


def learner_of(trainer):
    """The learner object behind a Trainer (its update is a bound method)."""
    return trainer.update.__self__


# ---------------------------------------------------------------- PPO's and PG's losses


def test_clipped_surrogate_by_hand():
    """rho = (1.5, 0.5, 1.1, 0.7), A = (+1, +1, -2, -1), eps = 0.2:
    min(rho A, clip(rho) A) = (1.2, 0.5, -2.2, -0.8), loss = -mean = 0.325; two of four clipped."""
    ratio = jnp.array([1.5, 0.5, 1.1, 0.7])
    advantage = jnp.array([1.0, 1.0, -2.0, -1.0])
    loss, metrics = clipped_surrogate(jnp.log(ratio), jnp.zeros(4), advantage, 0.2)
    np.testing.assert_allclose(loss, -np.mean([1.2, 0.5, -2.2, -0.8]), rtol=1e-6)
    np.testing.assert_allclose(metrics["clip_fraction"], 0.75, rtol=1e-6)  # |rho - 1| > 0.2: 1.5, 0.5, 0.7
    np.testing.assert_allclose(metrics["approx_kl"], np.mean((ratio - 1) - np.log(ratio)), rtol=1e-6)
    # the gradient pushes up the likelihood of a positive-advantage action inside the clip range
    grad = jax.grad(lambda lp: clipped_surrogate(lp, jnp.zeros(1), jnp.ones(1), 0.2)[0])(jnp.zeros(1))
    assert float(grad[0]) < 0


def test_k3_kl_by_hand():
    x = np.array([-1.0, 0.0, 0.5])
    np.testing.assert_allclose(k3_kl(jnp.asarray(x)), np.exp(x) - x - 1, rtol=1e-6)
    assert float(k3_kl(jnp.float32(0.5))) == pytest.approx(0.14872, abs=1e-5)


@pytest.fixture(scope="module")
def cartpole_ppo():
    config = ppo.PPOConfig(env="gymnax/CartPole-v1", num_envs=2, num_steps=4, num_minibatches=1, total_steps=64)
    trainer = ppo.make(config)
    return learner_of(trainer), trainer.init(jax.random.PRNGKey(0))


def test_ppo_loss_by_hand_value_clip_and_entropy(cartpole_ppo):
    """Advantage 0 (no policy term); old value = V - 1, target = V + 1, eps = 0.2: the clipped
    value V - 0.8 is further from the target, so the loss takes max(1, 3.24) = 3.24."""
    learner, state = cartpole_ppo
    obs = jnp.array([[0.1, 0.0, -0.1, 0.2], [0.0, 0.3, 0.05, -0.2]])
    _, value = learner.apply(state.params, state.obs_stats, obs)
    action, zeros = jnp.array([0, 1]), jnp.zeros(2)
    cfg = state.config.replace(clip_eps=0.2, vf_coef=0.5, ent_coef=0.1)
    loss, metrics = learner.loss(state.params, state.obs_stats, cfg,
                                 (obs, action, zeros, value - 1.0, zeros, value + 1.0), jax.random.PRNGKey(0))
    np.testing.assert_allclose(metrics["value_loss"], 0.5 * 3.24, rtol=1e-5)
    assert float(metrics["entropy"]) > 0.6  # near log 2 at initialization
    np.testing.assert_allclose(loss, 0.5 * 0.5 * 3.24 - 0.1 * metrics["entropy"], rtol=1e-5)


def test_pg_loss_adds_the_kl_to_the_reference(cartpole_pg):
    """Advantage 0, ent_coef 0, log pi_ref - log pi = 0.5 everywhere: loss = kl_coef * k3(0.5)."""
    learner, state = cartpole_pg
    obs = jnp.zeros((2, 3, 4))
    action = jnp.zeros((2, 3), jnp.int32)
    log_prob = learner.dist.log_prob(learner.policy_head(state.params, obs), action)
    cfg = state.config.replace(kl_coef=0.1, ent_coef=0.0)
    batch = (obs, action, log_prob, jnp.zeros((2, 3)), jnp.ones((2, 3)), log_prob + 0.5)
    loss, metrics = learner.loss(state.params, cfg, batch, jax.random.PRNGKey(0))
    np.testing.assert_allclose(metrics["kl_to_reference"], np.exp(0.5) - 1.5, rtol=1e-5)
    np.testing.assert_allclose(loss, 0.1 * (np.exp(0.5) - 1.5), rtol=1e-5)


# ---------------------------------------------------------------- PPO's advantages: every option wired


def gae_by_hand(r, v, v_next, term, trunc, gamma, lam):
    """GAE for one env, written as a plain loop (Schulman et al. 2016, eq. 16)."""
    advantage, out = 0.0, []
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * (1 - term[t]) * v_next[t] - v[t]
        advantage = delta + gamma * lam * (1 - max(term[t], trunc[t])) * advantage
        out.append(advantage)
    return np.array(out[::-1])


def monte_carlo_by_hand(r, v, v_next, term, trunc, gamma):
    g, out = v_next[-1], []
    for t in reversed(range(len(r))):
        cut = trunc[t] or t == len(r) - 1
        g = r[t] + gamma * (1 - term[t]) * (v_next[t] if cut else g)
        out.append(g)
    return np.array(out[::-1]) - v


HAND_ROLLOUT = dict(  # one env, 5 steps: truncated after step 1, terminated after step 3  # noqa: C408
    r=np.array([1.0, 2.0, 0.5, -1.0, 3.0]), v=np.array([0.3, 0.6, -0.2, 0.4, 1.0]),
    v_next=np.array([0.6, 5.0, 0.4, 9.0, 0.7]), term=np.array([0, 0, 0, 1, 0.0]), trunc=np.array([0, 1, 0, 0, 0.0]))


def hand_data(streams=1):
    h = HAND_ROLLOUT
    extend = (lambda x: jnp.asarray(x, jnp.float32)[:, None]) if streams == 1 else (
        lambda x: jnp.stack([jnp.asarray(x, jnp.float32), 2 * jnp.asarray(x, jnp.float32)], -1)[:, None])
    term, trunc = jnp.asarray(h["term"])[:, None], jnp.asarray(h["trunc"])[:, None]
    traj = SimpleNamespace(reward=jnp.asarray(h["r"], jnp.float32)[:, None], value=extend(h["v"]),
                           terminated=term, truncated=trunc, done=jnp.maximum(term, trunc))
    return SimpleNamespace(traj=traj, next_values=extend(h["v_next"]),
                           rewards={R.protocol.EXTRINSIC: traj.reward, "intrinsic": 0.5 * traj.reward})


@pytest.mark.parametrize("estimator", ["gae", "monte_carlo"])
def test_ppo_advantages_on_a_hand_rollout_with_a_truncation_and_a_termination(estimator):
    """The truncation bootstraps from V(s') (5.0) and cuts the return; the termination does not
    bootstrap (9.0 is ignored). The estimator option is honoured."""
    h = HAND_ROLLOUT
    config = ppo.PPOConfig(env="gymnax/CartPole-v1", num_envs=1, num_steps=5, num_minibatches=1,
                           total_steps=5, advantage_estimator=estimator)
    learner = learner_of(ppo.make(config))
    state = SimpleNamespace(config=config.replace(gamma=0.9, gae_lambda=0.8))
    advantages, targets = learner.advantages(state, hand_data())
    expected = (gae_by_hand(h["r"], h["v"], h["v_next"], h["term"], h["trunc"], 0.9, 0.8) if estimator == "gae"
                else monte_carlo_by_hand(h["r"], h["v"], h["v_next"], h["term"], h["trunc"], 0.9))
    np.testing.assert_allclose(advantages[:, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(targets[:, 0], expected + h["v"], rtol=1e-5)


@pytest.mark.parametrize("episodic", [False, True])
def test_ppo_intrinsic_stream_has_its_own_discount_and_runs_on_across_episode_ends(episodic):
    """Two critics: the extrinsic stream is GAE with gamma; the intrinsic one uses intrinsic_gamma
    and, unless episodic, ignores episode ends and bootstraps an ended step from the next row's
    V_I (the state the env reset to), the last row from V_I of the env state's observation."""
    h = HAND_ROLLOUT
    config = ppo.PPOConfig(env="gymnax/CartPole-v1", num_envs=1, num_steps=5, num_minibatches=1, total_steps=5,
                           episodic_intrinsic=episodic)
    trainer = ppo.make(config, R.intrinsic(R.rnd()))
    learner = learner_of(trainer)
    state = trainer.init(jax.random.PRNGKey(0))
    state = state.replace(config=state.config.replace(gamma=0.9, intrinsic_gamma=0.5, gae_lambda=0.8,
                                                      extrinsic_coef=2.0, intrinsic_coef=1.0))
    data = hand_data(streams=2)
    data.env_state = SimpleNamespace(obs=jnp.full((1, 4), 0.1))
    advantages, targets = learner.advantages(state, data)
    adv_e = gae_by_hand(h["r"], h["v"], h["v_next"], h["term"], h["trunc"], 0.9, 0.8)
    v_i, v_i_next, zeros = 2 * h["v"], 2 * h["v_next"], np.zeros(5)
    if episodic:
        adv_i = gae_by_hand(0.5 * h["r"], v_i, v_i_next, h["term"], h["trunc"], 0.5, 0.8)
    else:
        last = float(learner.value(state.params, state.obs_stats, state.value_stats, data.env_state.obs)[0, 1])
        done = np.maximum(h["term"], h["trunc"]) > 0
        v_i_next = np.where(done, np.append(v_i[1:], last), v_i_next)
        adv_i = gae_by_hand(0.5 * h["r"], v_i, v_i_next, zeros, zeros, 0.5, 0.8)
    np.testing.assert_allclose(targets[:, 0, 0], adv_e + h["v"], rtol=1e-5)
    np.testing.assert_allclose(targets[:, 0, 1], adv_i + v_i, rtol=1e-5)
    np.testing.assert_allclose(advantages[:, 0], 2.0 * adv_e + adv_i, rtol=1e-5)


# ---------------------------------------------------------------- PG: every option wired


@pytest.fixture(scope="module")
def cartpole_pg():
    config = pg.PGConfig(env="gymnax/CartPole-v1", episode_length=20, num_steps=20, num_groups=2, group_size=3,
                         num_minibatches=1, total_steps=240)
    trainer = pg.make(config)
    return learner_of(trainer), trainer.init(jax.random.PRNGKey(0))


def test_pg_returns_are_discounted_from_each_slots_first_step():
    reward = jnp.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    mask = jnp.array([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(pg.episode_returns(reward, mask, 0.5), [1 + 0.5 + 0.25, 2 + 1.0], rtol=1e-6)


@pytest.mark.parametrize("estimator,normalize_std,expected", [
    ("grpo", True, [-1.224745, 0.0, 1.224745, 1.224745, -1.224745, 0.0]),  # / population std: sqrt(2/3), sqrt(8/3)
    ("grpo", False, [-1.0, 0.0, 1.0, 2.0, -2.0, 0.0]),  # Dr. GRPO: R - mean
    ("rloo", True, [-1.5, 0.0, 1.5, 3.0, -3.0, 0.0]),  # R - mean of the others
    ("reinforce", True, [-2.5, -1.5, -0.5, 3.5, -0.5, 1.5]),  # R - batch mean (3.5)
])
def test_pg_group_advantages_honour_the_estimator_and_normalize_std(estimator, normalize_std, expected):
    config = pg.PGConfig(env="gymnax/CartPole-v1", episode_length=20, num_steps=20, num_groups=2, group_size=3,
                         total_steps=120, estimator=estimator, normalize_std=normalize_std)
    returns = jnp.array([1.0, 2.0, 3.0, 7.0, 3.0, 5.0])
    tokens, mask = jnp.zeros((6, 4), jnp.int32), jnp.ones((6, 4))
    per_token = np.asarray(pg.group_advantages(returns, config, tokens, mask))  # [B, T]: one advantage per episode
    np.testing.assert_allclose(per_token, np.broadcast_to(np.asarray(expected)[:, None], (6, 4)), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("filter_zero_variance", [True, False])
def test_pg_filter_zero_variance_drops_groups_without_signal_from_the_loss(filter_zero_variance):
    """Every return is 0 (the reward scaled by 0): with the filter on, no step is in the loss, so
    one update leaves the policy as it was; without it, the entropy bonus still moves it."""
    config = pg.PGConfig(env="gymnax/CartPole-v1", episode_length=20, num_steps=20, num_groups=2, group_size=2,
                         num_minibatches=1, total_steps=80, ent_coef=0.1, filter_zero_variance=filter_zero_variance)
    trainer = pg.make(config, R.scale(0.0))
    state = trainer.init(jax.random.PRNGKey(0))
    new, metrics = jax.jit(trainer.update)(state)
    moved = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(new.params),
                                                            jax.tree.leaves(state.params), strict=True))
    assert float(metrics["zero_variance_groups"]) == 1.0
    assert (moved == 0.0) if filter_zero_variance else (moved > 1e-4), moved


# ---------------------------------------------------------------- learned rewards' formulas, fast


def test_a_reward_model_sees_the_state_and_the_action():
    obs, next_obs = jnp.array([[[1.0, 2.0]]]), jnp.array([[[3.0, 4.0]]])
    action = jnp.array([[1]])
    x = learned.model_inputs("state_action", obs, action, next_obs, envs.Discrete(3))
    np.testing.assert_array_equal(x, [[[1.0, 2.0, 0.0, 1.0, 0.0]]])
    x = learned.model_inputs("state_next_state", obs, action, next_obs, envs.Discrete(3))
    np.testing.assert_array_equal(x, [[[1.0, 2.0, 3.0, 4.0]]])


def test_gail_pays_minus_log_one_minus_d_of_the_updated_discriminator():
    from tests.test_imitation import demos_of

    expert = jnp.abs(jax.random.normal(jax.random.PRNGKey(0), (32, 3)))
    gail = R.gail(demos_of(expert, np.zeros(32, np.int32)), minibatch_size=8, hidden_sizes=(8,))
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 2, 3))
    reward, state, _ = run(gail, rollout(np.zeros((4, 2)), obs=obs))
    x = jnp.concatenate([obs, jax.nn.one_hot(jnp.zeros((4, 2), jnp.int32), 2)], axis=-1)
    d = jax.nn.sigmoid(MaskedMLP((8,), 1).apply(state["discriminator"].params, x)[..., 0])
    np.testing.assert_allclose(reward, -jnp.log1p(-d), rtol=1e-4, atol=1e-6)


def test_return_decomposition_descends_its_loss():
    """The same rollout four times (episodes of 4 steps, return 4 at their end): the regression
    loss of sum_t r_hat against the return falls."""
    reward = np.zeros((8, 2), np.float32)
    reward[3], reward[7] = 4.0, 4.0
    done = np.zeros((8, 2), np.float32)
    done[3], done[7] = 1.0, 1.0
    obs = jax.random.normal(jax.random.PRNGKey(0), (8, 2, 3))
    model, state, losses = R.return_decomposition(learning_rate=1e-2, updates_per_rollout=8, hidden_sizes=(8,)), None, []
    errors = []
    for i in range(4):
        r_hat, state, metrics = run(model, rollout(reward, terminated=done, obs=obs), state=state,
                                    key=jax.random.PRNGKey(i))
        losses.append(float(metrics["decomposition_loss"]))
        errors.append(float(np.abs(np.asarray(r_hat).reshape(2, 4, 2).sum(1) - 4.0).mean()))
    assert losses[0] > 0 and 0 <= losses[-1] < 0.5 * losses[0], losses  # a squared error, falling
    assert errors[-1] < 0.5 * errors[0], errors  # each episode's sum of r_hat nears its return, 4


def test_rnd_whitens_observations_so_its_first_bonus_ignores_their_scale():
    """Scored under statistics that include the rollout, RND of obs and of 100 obs + 5 agree: the
    target and predictor see the same whitened inputs."""
    obs = jax.random.normal(jax.random.PRNGKey(0), (8, 2, 3))
    traj = lambda o: rollout(np.zeros((8, 2)), next_obs=o)
    one, _, _ = run(R.rnd(), traj(obs))
    scaled, _, _ = run(R.rnd(), traj(100.0 * obs + 5.0))
    np.testing.assert_allclose(one, scaled, rtol=2e-3, atol=1e-5)
    raw, _, _ = run(R.rnd(normalize=False), traj(100.0 * obs + 5.0))
    assert not np.allclose(raw, scaled, rtol=0.1)



# ---------------------------------------------------------------- fast learning smoke tests (a sign flip fails here)


def test_ppo_learns_cartpole_a_little_in_twenty_thousand_steps():
    """PPO's defaults, 40 updates of 512 steps, 2 seeds: the true return at least doubles (about
    21 -> 118 today); a flipped surrogate or advantage sign drives it down instead."""
    import jrew

    result = jrew.train(ppo.PPOConfig(total_steps=40 * 512), seeds=2, progress=False)
    returns = result.metrics["true_return"]
    first, last = np.nanmean(returns[:, :5]), np.nanmean(returns[:, -5:])
    assert last > 2.5 * first and last > 60, (first, last)


def test_grpo_learns_cartpole_a_little_in_twenty_updates():
    """GRPO, 8 groups of 4 episodes capped at 100 steps, 20 updates: the return doubles (about
    25 -> 95 today)."""
    import jrew

    config = pg.PGConfig(env="gymnax/CartPole-v1", episode_length=100, num_steps=100, num_groups=8, group_size=4,
                         total_steps=20 * 3200, estimator="grpo")
    returns = jrew.train(config, seeds=2, progress=False).metrics["true_return"]
    first, last = np.nanmean(returns[:, :3]), np.nanmean(returns[:, -3:])
    assert last > 2 * first and last > 50, (first, last)


def test_an_offline_preference_model_learns_a_reward_that_varies_by_state():
    """64 labelled pairs of 4-step segments whose true reward is obs[0] (actions carry nothing):
    pretrained on them, the model's reward orders fresh states as obs[0] does. A model that
    ignored the state, or read the pairs the wrong way round, fails."""
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(2, 64, 4, 3)).astype(np.float32)
    inputs = np.concatenate([obs, np.tile([1.0, 0.0], (2, 64, 4, 1))], axis=-1).astype(np.float32)
    label = (obs[0, ..., 0].sum(-1) > obs[1, ..., 0].sum(-1)).astype(np.float32)
    preferences = R.PreferenceSet(inputs, np.ones((2, 64, 4), np.float32), label)
    model = R.preference_model(preferences=preferences, segment_length=4, pretrain_steps=200, learning_rate=1e-2,
                               updates_per_rollout=1, minibatch_pairs=32, hidden_sizes=(16,))
    fresh = jax.random.normal(jax.random.PRNGKey(3), (8, 4, 3))
    reward, _, _ = run(model, rollout(np.zeros((8, 4)), obs=fresh))
    correlation = np.corrcoef(np.asarray(reward).ravel(), np.asarray(fresh[..., 0]).ravel())[0, 1]
    assert correlation > 0.8, correlation
