"""The sequence-task lab: token tasks, token networks, the reference model, the GRPO family's
options and TEMPO's prefix-tree credit."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import envs
import jrew
from envs import seq
from envs.seq.tasks import EOS, EQUALS, FIRST_DIGIT, MINUS, PLUS
from jrew import advantages as adv
from jrew import runner
from jrew.algos import base, losses, pg, reference

D = lambda *ds: [FIRST_DIGIT + d for d in ds]  # digit tokens


def completion(task, tokens):
    out = np.zeros(task.completion_length, np.int32)
    out[: len(tokens)] = tokens
    return jnp.asarray(out)


@pytest.mark.parametrize("reverse,answer", [(True, D(1, 0, 1)), (False, D(1, 0, 1))])
def test_addition_verifier_on_hand_cases(reverse, answer):
    task = seq.Addition(digits=2, reverse=reverse)
    prompt = jnp.array(D(5, 7) + [PLUS] + D(4, 4) + [EQUALS])  # 57 + 44 = 101
    assert task.decode(prompt) == "57+44="
    assert float(task.verify(prompt, completion(task, answer + [EOS]))) == 1.0
    assert float(task.verify(prompt, completion(task, answer))) == 0.0  # no EOS: cut at the budget
    wrong = D(1, 0, 2) if reverse else D(1, 0, 0)
    assert float(task.verify(prompt, completion(task, wrong + [EOS]))) == 0.0
    np.testing.assert_array_equal(task.process(prompt, completion(task, wrong + [EOS])), [1, 1, 0, 1])
    reversed_sum = task.decode(task.solution(jnp.array(D(1, 9) + [PLUS] + D(0, 3) + [EQUALS])))
    assert reversed_sum == ("220" if reverse else "022")  # 19 + 3 = 22


def test_sort_and_chain_verifiers_on_hand_cases():
    sort = seq.Sort(length=4)
    prompt = jnp.array(D(3, 1, 3, 0) + [EQUALS])
    assert float(sort.verify(prompt, completion(sort, D(0, 1, 3, 3) + [EOS]))) == 1.0
    np.testing.assert_array_equal(sort.process(prompt, completion(sort, D(0, 3, 1, 3) + [EOS])), [1, 0, 0, 1, 1])

    chain = seq.Chain(steps=3)
    prompt = jnp.array(D(7) + [PLUS] + D(5) + [MINUS] + D(9) + [PLUS] + D(4) + [EQUALS])  # 7 -> 2 -> 3 -> 7
    assert chain.decode(chain.solution(prompt)) == "237"
    assert float(chain.verify(prompt, completion(chain, D(2, 3, 7) + [EOS]))) == 1.0
    # a wrong first step, then steps right relative to what was written: process 0, 1, 1; outcome wrong
    np.testing.assert_array_equal(chain.process(prompt, completion(chain, D(1, 2, 6) + [EOS])), [0, 1, 1, 1])
    assert float(chain.verify(prompt, completion(chain, D(1, 2, 6) + [EOS]))) == 0.0
    # the outcome reads only the last value: a lucky final digit after a wrong step still counts
    assert float(chain.verify(prompt, completion(chain, D(1, 2, 7) + [EOS]))) == 1.0
    assert float(chain.verify(prompt, completion(chain, D(2, 3) + [EOS]))) == 0.0  # too short


def test_length_proxy_pays_for_babble_that_the_true_reward_scores_zero():
    task = seq.LengthProxyAddition(digits=1)  # answer 2 digits, budget 6
    prompt = jnp.array(D(8) + [PLUS] + D(5) + [EQUALS])  # 13 -> "31"
    right, babble = completion(task, D(3, 1) + [EOS]), completion(task, D(3, 1, 1, 1, 1, 1))
    one_more, wrong_babble = completion(task, D(3, 1, 7) + [EOS]), completion(task, D(1, 3, 1, 1, 1, 1))
    visible = [float(task.visible_reward(prompt, c)) for c in (right, one_more, babble, wrong_babble)]
    # each babbled token after a right answer pays 3 / 6 more; the lenient verifier ignores it
    assert visible == pytest.approx([1.0 + 3.0 * 2 / 6, 1.0 + 3.0 * 3 / 6, 1.0 + 3.0, 3.0])
    true = [float(task.true_reward(prompt, c)) for c in (right, one_more, babble, wrong_babble)]
    assert true == [1.0, 0.0, 0.0, 0.0]
    assert [float(task.unsafe(prompt, c)) for c in (right, one_more, babble)] == [0.0, 1.0, 1.0]


def test_an_episode_emits_tokens_until_eos_and_reports_the_verifier_at_the_end():
    env = envs.make("seq/chain", steps=2, auto_reset=False)
    state = env.reset(jax.random.PRNGKey(3))
    answer = env.unwrapped.task.solution(state.pipeline_state.prompt)
    rewards, dones = [], []
    for token in [*answer, EOS]:
        state = env.step(state, token - 1)  # action a emits token a + 1
        rewards.append(float(state.reward)), dones.append(float(state.done))
    assert rewards == [0, 0, 1] and dones == [0, 0, 1]
    assert float(state.info["true_reward"]) == 1.0 and float(envs.truncated(state)) == 0.0  # a finished answer
    assert env.render_text(state).endswith("$") and env.episode_limit == 3
    obs = np.asarray(state.obs, np.int32)
    np.testing.assert_array_equal(obs[-3:], [*np.asarray(answer), EOS])


def test_a_completion_cut_at_the_budget_terminates():
    env = envs.make("seq/addition", digits=1, auto_reset=False)
    state = env.reset(jax.random.PRNGKey(0))
    for _ in range(env.episode_limit):
        state = env.step(state, FIRST_DIGIT - 1)  # digit 0, never EOS
    assert float(state.done) == 1.0 and float(envs.truncated(state)) == 0.0


def test_group_members_share_their_prompt_and_groups_differ():
    env = envs.make("seq/addition", digits=3)
    state = pg.reset_groups(env, jax.random.PRNGKey(0), num_groups=4, group_size=8)
    prompts = np.asarray(state.pipeline_state.prompt).reshape(4, 8, -1)
    for g in range(4):
        np.testing.assert_array_equal(prompts[g], np.broadcast_to(prompts[g, 0], prompts[g].shape))
    assert len({tuple(p[0]) for p in prompts}) == 4


def test_task_kwargs_and_their_errors():
    assert envs.make("seq/addition", digits=3, base=7).action_space.n == 6 + 7 - 1
    with pytest.raises(ValueError, match=r"max_length \(2\) must hold the answer and its EOS \(>= 4\)"):
        envs.make("seq/addition", max_length=2)
    with pytest.raises(ValueError, match="set its max_length kwarg instead of episode_length=9"):
        envs.make("seq/sort", episode_length=9)
    with pytest.raises(TypeError, match="seq/sort has no kwarg 'digits'"):
        envs.make("seq/sort", digits=3)


def test_prefix_tree_credit_equals_a_hand_built_tree():
    # responses 0-2 share token 1; 0 and 1 share "1 2"; 3 goes its own way. Returns 1, 0, 1, 0 (mean 0.5)
    tokens = jnp.array([[1, 2, 3], [1, 2, 4], [1, 5, 6], [7, 8, 9]])
    returns = jnp.array([1.0, 0.0, 1.0, 0.0])
    # node values: root 1/2; "1" 2/3; "1 2" 1/2; "7" 0; leaves their own return
    a = lambda r, *changes: r - 0.5 + sum(changes)
    hand = [
        [a(1, 2 / 3 - 1 / 2), a(1, 1 / 2 - 2 / 3), a(1, 1 - 1 / 2)],
        [a(0, 2 / 3 - 1 / 2), a(0, 1 / 2 - 2 / 3), a(0, 0 - 1 / 2)],
        [a(1, 2 / 3 - 1 / 2), a(1, 1 - 2 / 3), a(1, 0)],
        [a(0, 0 - 1 / 2), a(0, 0), a(0, 0)],
    ]
    raw = adv.prefix_tree_advantages(tokens, jnp.ones((4, 3)), returns, normalize_std=False)
    np.testing.assert_allclose(raw, hand, atol=1e-6)
    normalized = adv.prefix_tree_advantages(tokens, jnp.ones((4, 3)), returns)
    np.testing.assert_allclose(normalized, np.array(hand) / (0.5 + 1e-6), atol=1e-5)
    # all branch at the root: the first token's credit doubles, then each is alone: GRPO's advantage
    alone = adv.prefix_tree_advantages(jnp.arange(12).reshape(4, 3), jnp.ones((4, 3)), returns)
    grpo = np.asarray(adv.grpo_advantages(returns))
    np.testing.assert_allclose(alone[:, 0], 2 * grpo, atol=1e-5)
    np.testing.assert_allclose(alone[:, 1:], np.broadcast_to(grpo[:, None], (4, 2)), atol=1e-6)
    # tokens past a response's end are no shared prefix: response 1 ended after one token
    valid = jnp.array([[1, 1, 1], [1, 0, 0], [1, 1, 1], [1, 1, 1]])
    same = jnp.array([[1, 2, 3], [1, 2, 3], [1, 5, 6], [7, 8, 9]])
    ended = adv.prefix_tree_advantages(same, valid, returns, normalize_std=False)
    assert float(ended[0, 1]) == pytest.approx(1 - 0.5 + (1 - 2 / 3))  # "1 2" is response 0's alone



def test_turning_points_and_their_advantages_on_a_hand_case():
    # R_0 .. R_3 of three samples of one prompt
    prefix = jnp.array([[0.0, 1.0, 0.0, 1.0],  # d = 1, -1, 1; Δ = 1; s = +, -, +: turning at 1 (s_1 > 0) and 3
                        [0.0, 0.0, 1.0, 0.0],  # Δ = 0: s = 0 everywhere, no turning point
                        [0.0, -1.0, -1.0, -1.0]])  # d = -1, 0, 0; Δ = -1; s_1 = + : turning at 1
    eta = 0.5
    reward = np.array([[1 + eta * 1, 1, 1 + eta * 1],  # r_k = Δ + η 1[turning] d_k
                       [0, 0, 0],
                       [-1 + eta * -1, -1, -1]])
    advantage, turning = adv.turning_point_advantages(prefix, eta)
    np.testing.assert_array_equal(turning, [[True, False, True], [False, False, False], [True, False, False]])
    np.testing.assert_allclose(advantage, (reward - reward.mean(0)) / (reward.std(0) + 1e-4), rtol=1e-5)
    raw, _ = adv.turning_point_advantages(prefix, eta, normalize_std=False)
    np.testing.assert_allclose(raw, reward - reward.mean(0), rtol=1e-6)
    # a trend that turns twice: + - + - +, Δ > 0: turning at 1, 3, 5
    zigzag = jnp.array([[0.0, 1, 0, 1, 0, 1], [0.0, 0, 0, 0, 0, 0]])
    assert adv.turning_point_advantages(zigzag)[1][0].tolist() == [True, False, True, False, True]


def test_implicit_process_rewards_preferences_and_advantages_on_a_hand_case():
    # three samples of one prompt; sample 1 ended after two steps
    step_rewards = jnp.array([[0.2, 0.4, 0.0], [-0.3, 0.1, 9.0], [0.5, -0.5, 0.3]])
    valid = jnp.array([[1, 1, 1], [1, 1, 0], [1, 1, 1]], jnp.float32)
    returns = jnp.array([1.0, 0.0, 0.5])
    q = np.array([0.6 / 3, -0.2 / 2, 0.3 / 3])  # Q_i: mean implicit reward over the sample's own steps
    pairs = [(0, 1), (0, 2), (2, 1)]  # (preferred, rejected): R_i > R_j
    hand = np.mean([np.log1p(np.exp(-(q[i] - q[j]))) for i, j in pairs])
    loss, accuracy, pairs = losses.trajectory_preference_loss(step_rewards, valid, returns)
    assert float(loss) == pytest.approx(hand, rel=1e-5) and float(pairs) == 3
    assert float(accuracy) == pytest.approx(3 / 3)  # q orders all three pairs as the outcomes do
    swapped, wrong, _ = losses.trajectory_preference_loss(step_rewards, valid, -returns)
    assert float(wrong) == 0.0 and float(swapped) > float(loss)
    tied, none, no_pairs = losses.trajectory_preference_loss(step_rewards, valid, jnp.ones(3))
    assert float(tied) == 0.0 and float(none) == 0.0 and float(no_pairs) == 0  # equal outcomes: no preference
    # outcomes a last digit apart are a tie (as the sum of the same rewards in another order leaves them)
    assert float(losses.trajectory_preference_loss(step_rewards, valid, jnp.array([1.0, 1.0 + 1e-7, 0.0]))[2]) == 2
    masked = step_rewards.at[1, 2].set(jnp.nan)  # a step past a sample's end, whatever it holds, counts for nothing
    assert float(losses.trajectory_preference_loss(masked, valid, returns)[0]) == pytest.approx(hand, rel=1e-5)
    # over groups, the mean runs over all pairs: a group of ties adds none
    two = losses.trajectory_preference_loss(jnp.stack([step_rewards] * 2), jnp.stack([valid] * 2),
                                            jnp.stack([returns, jnp.ones(3)]))
    assert float(two[0]) == pytest.approx(hand, rel=1e-5) and float(two[1]) == 1.0 and float(two[2]) == 3
    # A = A^E (GRPO) + w A^S (step rewards normalized over the group's valid steps)
    own = np.asarray(step_rewards)[np.asarray(valid) > 0]
    steps = (np.asarray(step_rewards) - own.mean()) / (own.std() + 1e-6)
    episode = (np.asarray(returns) - 0.5) / (np.asarray(returns).std() + 1e-6)
    advantage = adv.implicit_step_advantages(step_rewards, valid, returns, weight=0.5)
    np.testing.assert_allclose(np.asarray(advantage)[np.asarray(valid) > 0],
                               (episode[:, None] + 0.5 * steps)[np.asarray(valid) > 0], rtol=1e-5)
    np.testing.assert_array_equal(adv.implicit_step_advantages(masked, valid, returns, weight=0.5)[np.asarray(valid) > 0],
                                  np.asarray(advantage)[np.asarray(valid) > 0])
    raw = adv.implicit_step_advantages(step_rewards, valid, returns, weight=2.0, normalize_std=False)
    np.testing.assert_allclose(raw[0], np.asarray(returns)[0] - 0.5 + 2.0 * (np.asarray(step_rewards)[0] - own.mean()),
                               rtol=1e-5)


def test_oprl_advantages_come_from_the_process_reward_model_after_its_steps_on_the_batch():
    config = SEQ.replace(estimator="oprl", process_reward_steps=4, process_reward_learning_rate=3e-2,
                         process_reward_weight=0.5, sft_steps=0)  # synthetic episodes: no reference needed
    trainer = pg.make(config)
    learner, state = trainer.update.__self__, jax.jit(trainer.init)(jax.random.PRNGKey(0))
    B, T, vocabulary = config.batch_episodes, config.num_steps, learner.dist.head_size
    k_obs, k_action = jax.random.split(jax.random.PRNGKey(1))
    obs = jax.random.randint(k_obs, (B, T, learner.env.observation_size), 0, vocabulary + 1).astype(jnp.float32)
    action = jax.random.randint(k_action, (B, T), 0, vocabulary)
    old_log_prob = learner.dist.log_prob(learner.policy_head(state.params, obs), action)  # sampled by pi = pi_phi
    mask = jnp.ones((B, T)).at[1, 2].set(0.0).at[6, 1:].set(0.0)
    # group 0: 0/1 outcomes; group 1: graded and 10x larger; groups 2, 3: ties (no pairs)
    outcomes = jnp.array([1.0, 0, 0, 1, 10, 0, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0])
    returns = outcomes - 0.1  # the episode-level term reads the training returns
    cfg = state.config
    credit = jax.jit(learner.process_reward_advantages)
    advantage, model, metrics = credit(state, cfg, obs, action, old_log_prob, mask, returns, outcomes)
    # before its steps pi_phi = pi_old: Q ties
    assert float(metrics["process_reward_loss"]) == pytest.approx(np.log(2.0), rel=1e-5)
    assert float(metrics["process_reward_pairs"]) == 4 + 5
    by_group = lambda x: x.reshape(config.num_groups, config.group_size, *x.shape[1:])
    rewards = lambda params: cfg.process_reward_beta * (
        learner.dist.log_prob(learner.policy_head(params, obs), action) - old_log_prob)
    expected = jax.vmap(adv.implicit_step_advantages, in_axes=(0, 0, 0, None))(
        by_group(rewards(model[0])), by_group(mask), by_group(returns), 0.5)
    np.testing.assert_allclose(by_group(advantage), expected, rtol=1e-5, atol=1e-6)  # the model after its steps
    # its steps lowered the loss on this batch, and Adam's state counts them
    after, ordered, pairs = losses.trajectory_preference_loss(by_group(rewards(model[0])), by_group(mask), by_group(outcomes))
    assert float(pairs) == 4 + 5 and float(after) < np.log(2.0) and float(ordered) > 0.5
    assert int(optax.tree_utils.tree_get(model[1], "count")) == 4
    # the step term is normalized per group: mean 0 and std 1 over a group's valid tokens
    steps = (by_group(advantage) - by_group(adv.grpo_advantages(by_group(returns)).reshape(-1)[:, None] * mask)) / 0.5
    for g in range(config.num_groups):
        own = np.asarray(steps[g])[np.asarray(by_group(mask)[g]) > 0]
        assert abs(own.mean()) < 1e-4 and own.std() == pytest.approx(1.0, rel=1e-3)
    # a batch without a preference leaves the model (and Adam's state) as it was
    _, same, _ = credit(state, cfg, obs, action, old_log_prob, mask, returns, jnp.ones(B))
    jax.tree.map(np.testing.assert_array_equal, same, state.process_reward_model)


@pytest.mark.slow  # the default suite's time budget: the hand case, the wiring test and the KL test cover OPRL there
def test_oprl_trains_its_process_reward_model_beside_the_policy_and_resumes_bit_identically(tmp_path):
    # a binary reference that is right about 90% of the time: some groups' outcomes differ
    # KL in the reward: preferences must still come from the outcomes, where it would break their ties
    config = SEQ.replace(estimator="oprl", env_kwargs=(("digits", "1"), ("base", "2")), sft_steps=100,
                         sft_learning_rate=3e-3, process_reward_steps=3, process_reward_learning_rate=1e-2,
                         kl_coef=0.1, kl_penalty="reward", kl_estimator="k1")
    full = runner.train(config, seeds=2, chunk_updates=2, progress=False)
    loss, accuracy = full.metrics["process_reward_loss"], full.metrics["process_reward_accuracy"]
    pairs = full.metrics["process_reward_pairs"]
    # 0/1 outcomes in groups of 4: at most 2 x 2 pairs a group (returns broken by the KL term: up to 6)
    assert (pairs <= 4 * config.num_groups).all()
    has_pairs = pairs > 0
    assert has_pairs[0, 0] and np.isfinite(loss).all()
    # pi_phi starts as the policy: every implicit reward is 0, Q ties: the loss is log 2 (0 without pairs),
    # and no pair is ordered yet
    np.testing.assert_allclose(loss[:, 0], np.where(has_pairs[:, 0], np.log(2.0), 0.0), rtol=1e-4)
    np.testing.assert_array_equal(accuracy[:, 0], 0.0)
    trained = has_pairs & (np.cumsum(has_pairs, axis=1) > 1)  # pairs now, and the model has trained on some before
    assert trained.any() and accuracy[trained].mean() > 0.5  # it orders fresh pairs as their outcomes do
    gap = lambda x, y: max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y)))
    model = full.state.process_reward_model[0]
    assert gap(model, full.state.reference_params) > 1e-3  # it trained from its start, the reference
    assert gap(model, full.state.params) > 1e-3  # a model of its own, not the policy
    assert not hasattr(pg.make(SEQ).init(jax.random.PRNGKey(0)), "process_reward_model")  # the others carry none
    # the checkpoint holds the process reward model: a paused run resumes bit-identically, and exports
    runner.train(config, seeds=2, run_dir=tmp_path / "r", chunk_updates=2, until_update=2, progress=False)
    resumed = runner.resume(tmp_path / "r", progress=False)
    jax.tree.map(np.testing.assert_array_equal, full.state.params, resumed.state.params)
    jax.tree.map(np.testing.assert_array_equal, full.state.process_reward_model, resumed.state.process_reward_model)
    policy = jrew.policy.from_run(tmp_path / "r", run=1)
    obs = policy.make_env().reset(jax.random.PRNGKey(0)).obs
    loaded = jrew.load_policy(jrew.policy.export(tmp_path / "r", run=1))
    np.testing.assert_array_equal(policy.head(obs[None]), loaded.head(obs[None]))


def test_prefix_returns_replay_the_recorded_steps_then_complete_greedily():
    env = envs.make("seq/sort", length=2, base=4)
    start = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(3), 2))
    task = env.task
    right = jax.vmap(task.demonstration)(start.pipeline_state.prompt) - 1  # digits, digits, EOS as actions
    wrong = right.at[:, 0].set(jnp.where(right[:, 0] == FIRST_DIGIT - 1, FIRST_DIGIT, FIRST_DIGIT - 1))
    recorded = jnp.stack([right[0], wrong[1]]).T  # [T, B]: episode 0 right, episode 1 wrong at its first digit
    stop = lambda obs: jnp.full(obs.shape[:1], EOS - 1)  # the "greedy" policy emits EOS at once
    returns = pg.prefix_returns(env, stop, start, recorded, 1.0)
    # episode 0: EOS after 0 or 1 digits is wrong, after both it is right; the whole sample is right
    np.testing.assert_array_equal(returns, [[0, 0, 1, 1], [0, 0, 0, 0]])
    copy = lambda obs: jnp.asarray(recorded[jnp.sum(obs[:, task.prompt_length:] > 0, axis=1), jnp.arange(2)])
    np.testing.assert_array_equal(pg.prefix_returns(env, copy, start, recorded, 1.0), [[1] * 4, [0] * 4])


def test_tp_grpo_refuses_what_its_replays_would_miss():
    with pytest.raises(ValueError, match="tp_grpo scores each prefix by replaying it on the env's own reward"):
        pg.make(SEQ.replace(estimator="tp_grpo"), jrew.rewards.scale(factor=2.0))
    with pytest.raises(ValueError, match="use kl_penalty='loss'"):
        SEQ.replace(estimator="tp_grpo", kl_coef=0.1, kl_penalty="reward")


def test_kl_estimators_match_the_exact_kl_on_small_categoricals():
    key = jax.random.PRNGKey(0)
    logits_p, logits_q = jax.random.normal(key, (2, 6)) * jnp.array([[1.5], [0.8]])
    log_p, log_q = jax.nn.log_softmax(logits_p), jax.nn.log_softmax(logits_q)
    exact = float(jnp.sum(jnp.exp(log_p) * (log_p - log_q)))
    # the expectation under p, exactly (a sum over the 6 outcomes), and from 400k samples
    expected = {k: float(jnp.sum(jnp.exp(log_p) * losses.kl_estimate(log_q - log_p, k))) for k in losses.KL_ESTIMATORS}
    assert expected["k1"] == pytest.approx(exact, rel=1e-5) and expected["k3"] == pytest.approx(exact, rel=1e-5)
    assert expected["k2"] != pytest.approx(exact, rel=1e-3)  # k2 is biased
    samples = jax.random.categorical(jax.random.PRNGKey(1), logits_p, shape=(400_000,))
    for k in ("k1", "k3"):
        estimate = float(jnp.mean(losses.kl_estimate(log_q[samples] - log_p[samples], k)))
        assert estimate == pytest.approx(exact, rel=0.02)


def test_loss_aggregations_follow_their_formulas():
    x = jnp.array([[1.0, 2.0, 3.0, 0.0], [4.0, 0.0, 0.0, 0.0]])
    mask = jnp.array([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    assert float(losses.aggregate(x, mask, "token_mean")) == pytest.approx(10 / 4)
    assert float(losses.aggregate(x, mask, "sequence_mean")) == pytest.approx((6 / 3 + 4 / 1) / 2)
    assert float(losses.aggregate(x, mask, "constant")) == pytest.approx(10 / 8)
    filtered = mask.at[1].set(0.0)  # a filtered-out sequence counts in no mean
    assert float(losses.aggregate(x, filtered, "sequence_mean")) == pytest.approx(2.0)


@pytest.mark.parametrize("kind", ["transformer", "gru"])
def test_token_networks_read_the_last_token_of_the_buffer(kind):
    config = pg.PGConfig(env="seq/addition", network=kind, token_width=16, token_heads=2, num_steps=4)
    network = base.token_actor_critic(config, jrew.distributions.for_action_space(envs.Discrete(15)), critic=True)
    obs = jnp.array([[5.0, 7.0, 2.0, 9.0, 0.0, 0.0], [5.0, 7.0, 2.0, 9.0, 3.0, 0.0], [5.0, 7.0, 2.0, 9.0, 3.0, 0.0]])
    np.testing.assert_array_equal(jrew.networks.last_token_index(obs), [3, 4, 4])
    params = network.init(jax.random.PRNGKey(0), obs)
    logits, value = network.apply(params, obs)
    assert logits.shape == (3, 15) and value.shape == (3,)
    assert not np.allclose(logits[0], logits[1])  # the next token depends on the one just written
    np.testing.assert_allclose(logits[1], logits[2], atol=1e-6)
    batched = network.apply(params, obs.reshape(3, 1, 6), method="policy")  # any leading batch shape
    np.testing.assert_allclose(batched[:, 0], logits, atol=1e-6)


def test_token_networks_need_a_token_env():
    with pytest.raises(ValueError, match="network='transformer' emits tokens: it needs a categorical policy"):
        pg.make(pg.PGConfig(env="brax/inverted_pendulum", network="transformer", num_steps=1000))
    with pytest.raises(ValueError, match=r"token_heads \(3\) must divide token_width \(64\)"):
        pg.PGConfig(network="transformer", token_heads=3)
    with pytest.raises(TypeError, match="sft_steps > 0 pretrains on a task generator's demonstrations"):
        jax.eval_shape(pg.make(pg.PGConfig(sft_steps=2)).init, jax.random.PRNGKey(0))


SEQ = pg.PGConfig(env="seq/addition", env_kwargs=(("digits", "1"),), network="transformer", token_width=32,
                  token_depth=1, token_heads=2, num_steps=3, num_groups=4, group_size=4, num_minibatches=2,
                  total_steps=3 * 16 * 4, sft_steps=20, sft_batch_size=16)


def test_the_reference_model_is_shared_by_every_run_and_set_by_its_seed():
    trainer = pg.make(SEQ)
    states = jax.jit(jax.vmap(trainer.init))(jax.random.split(jax.random.PRNGKey(0), 2))
    jax.tree.map(lambda x: np.testing.assert_array_equal(x[0], x[1]), states.params)
    jax.tree.map(np.testing.assert_array_equal, states.params, states.reference_params)
    other = jax.jit(pg.make(SEQ.replace(sft_seed=1)).init)(jax.random.PRNGKey(0))
    assert not np.allclose(other.params["params"]["policy_net"]["Dense_0"]["kernel"],
                           states.params["params"]["policy_net"]["Dense_0"]["kernel"][0])


@pytest.mark.parametrize("options", [
    pytest.param({"estimator": "tempo", "kl_penalty": "reward", "kl_estimator": "k1", "loss_aggregation": "sequence_mean"},
                 marks=pytest.mark.slow),
    pytest.param({"estimator": "grpo", "normalize_std": False, "loss_aggregation": "constant", "network": "gru"},
                 marks=pytest.mark.slow),  # about 30 s; the default suite resumes PG in test_pg (GRPO on CartPole)
    pytest.param({"estimator": "tp_grpo", "turning_point_eta": 2.0}, marks=pytest.mark.slow),
])
def test_a_sequence_policy_trains_and_resumes_bit_identically(options, tmp_path):
    config = SEQ.replace(kl_coef=0.1, **options)
    full = runner.train(config, seeds=2, chunk_updates=2, progress=False)
    assert np.isfinite(full.metrics["loss"]).all() and np.isfinite(full.metrics["kl_to_reference"]).all()
    if config.estimator == "tp_grpo":  # each sample's full replay is the sample
        np.testing.assert_array_equal(full.metrics["replay_error"], 0.0)
    runner.train(config, seeds=2, run_dir=tmp_path / "r", chunk_updates=2, until_update=2, progress=False)
    resumed = runner.resume(tmp_path / "r", progress=False)
    jax.tree.map(np.testing.assert_array_equal, full.state.params, resumed.state.params)
    policy = jrew.policy.from_run(tmp_path / "r", run=1)
    assert policy.spec["network"]["network"] == config.network
    loaded = jrew.load_policy(jrew.policy.export(tmp_path / "r", run=1))
    obs = policy.make_env().reset(jax.random.PRNGKey(0)).obs
    np.testing.assert_array_equal(policy.head(obs[None]), loaded.head(obs[None]))
    int(loaded.act(obs, deterministic=True))


def test_the_kl_penalty_goes_into_the_reward_or_the_loss():
    base_config = SEQ.replace(total_steps=3 * 16, sft_steps=0)

    def first_update(**changes):
        trainer = pg.make(base_config.replace(**changes))
        state = trainer.init(jax.random.PRNGKey(0))  # the state holds kl_coef: a variant's own number
        noise = lambda x: x + jax.random.normal(jax.random.PRNGKey(1), x.shape)  # a reference far from the policy
        return trainer.update(state.replace(reference_params=jax.tree.map(noise, state.params)))[1]

    plain = first_update(kl_coef=0.0)
    assert float(plain["zero_variance_groups"]) == 1.0 and float(plain["loss"]) == 0.0  # nothing right yet: no signal
    assert float(plain["kl_to_reference"]) > 0.05
    in_reward = first_update(kl_coef=2.0, kl_penalty="reward", kl_estimator="k1")
    # each completion paid its tokens' KL: returns now differ within groups, and the policy loss sees it
    assert float(in_reward["zero_variance_groups"]) == 0.0 and float(in_reward["policy_loss"]) != 0.0
    assert float(in_reward["true_return"]) == float(plain["true_return"])  # the true reward never sees it
    # oprl's preferences come from the outcomes, which the KL term must not order: none is right, no pair
    oprl = first_update(kl_coef=2.0, kl_penalty="reward", kl_estimator="k1", estimator="oprl")
    assert float(oprl["zero_variance_groups"]) == 0.0 and float(oprl["process_reward_pairs"]) == 0.0
    in_loss = first_update(kl_coef=2.0, kl_penalty="loss")
    assert float(in_loss["policy_loss"]) == 0.0
    assert float(in_loss["loss"]) == pytest.approx(2.0 * float(in_loss["kl_to_reference"]), rel=1e-5)


@functools.cache
def pretrained_sort():
    config = pg.PGConfig(env="seq/sort", env_kwargs=(("length", "2"), ("base", "4")), network="transformer",
                         token_width=32, token_depth=1, token_heads=2, num_steps=3, num_groups=2, group_size=2,
                         num_minibatches=1, total_steps=12, sft_steps=1500, sft_batch_size=32, sft_noise=0.3,
                         sft_learning_rate=3e-3)
    trainer = pg.make(config)
    return config, trainer, jax.jit(trainer.init)(jax.random.PRNGKey(0))


@pytest.mark.slow  # the default suite's time budget (compile and pretraining)
def test_sft_reaches_the_competence_its_noise_sets():
    config, trainer, state = pretrained_sort()
    task = trainer.env.unwrapped.task
    prompts = jax.vmap(task.sample_prompt)(jax.random.split(jax.random.PRNGKey(7), 512))
    network = base.token_actor_critic(config, jrew.distributions.for_action_space(trainer.env.action_space))
    logits = lambda p, obs: network.apply(p, obs, method="policy")
    accuracy = float(jnp.mean(reference.exact_match_probability(logits, state.params, task, prompts)))
    target = reference.expected_accuracy(task, 0.3)  # (0.7 + 0.3 / 4)^2 = 0.60
    assert accuracy == pytest.approx(target, abs=0.05), (accuracy, target)


@pytest.mark.slow  # the default suite's time budget (compile and pretraining)
def test_ppo_trains_a_token_policy_with_a_token_critic_from_the_reference(tmp_path):
    from jrew.algos import ppo

    config = ppo.PPOConfig(env="seq/addition", env_kwargs=(("digits", "1"),), network="transformer", token_width=32,
                           token_depth=1, token_heads=2, num_envs=8, num_steps=6, num_minibatches=2, num_epochs=1,
                           total_steps=3 * 48, sft_steps=20, sft_batch_size=16, log_kl_from_init=True)
    full = runner.train(config, seeds=2, chunk_updates=2, progress=False)
    assert np.isfinite(full.metrics["value_loss"]).all() and np.isfinite(full.metrics["kl_from_init"]).all()
    critic = full.state.params["params"]["value_net"]  # the critic is a token network too
    assert critic["encoder"]["Embed_0"]["embedding"].shape[-1] == 32
    runner.train(config, seeds=2, run_dir=tmp_path / "r", chunk_updates=2, until_update=2, progress=False)
    resumed = runner.resume(tmp_path / "r", progress=False)
    jax.tree.map(np.testing.assert_array_equal, full.state.params, resumed.state.params)


@pytest.mark.slow  # the default suite's time budget (compile and pretraining)
def test_cli_trains_grpo_from_a_reference_on_addition(tmp_path, capsys):
    from jrew import cli

    run = tmp_path / "run"
    assert cli.main(["train", "--algo", "pg", "--env", "seq/addition", "--env-kwargs", "digits=1", "--network",
                     "transformer", "--estimator", "grpo", "--token-width", "32", "--token-depth", "1",
                     "--token-heads", "2", "--sft-steps", "30", "--sft-noise", "0.3", "--num-steps", "3",
                     "--num-groups", "4", "--group-size", "4", "--num-minibatches", "1", "--kl-coef", "0.05",
                     "--kl-estimator", "k1", "--kl-penalty", "reward", "--loss-aggregation", "constant",
                     "--total-steps", "144", "--seeds", "2", "--run-dir", str(run)]) == 0
    assert "final true return over 2 seeds" in capsys.readouterr().out
    saved = (run / "config.json").read_text()
    for field in ('"sft_steps": 30', '"kl_penalty": "reward"', '"loss_aggregation": "constant"'):
        assert field in saved, field


def test_the_bench_suite_runs_the_experiment_scripts_methods():
    """benchmarks/suites/seq-lab.toml and experiments/seq_lab.py compare the same configs."""
    import sys
    from pathlib import Path

    from jrew import bench

    root = Path(__file__).parents[1]
    sys.path.insert(0, str(root / "experiments"))
    import seq_lab

    suite = bench.load(root / "benchmarks" / "suites" / "seq-lab.toml")
    args = type("Args", (), {"num_groups": 8, "group_size": 8, "learning_rate": 3e-4, "sft_steps": None,
                             "sft_noise": 0.3})
    variants = {(g.task.key, v.name): v.config for g in suite.groups for v in g.variants}
    assert {name for _, name in variants} == {*seq_lab.METHODS, seq_lab.PPO}
    assert len(suite.groups) == len(variants)  # the methods differ in static options: a program each
    for task in ("addition", "chain"):
        lab = seq_lab.method_configs(seq_lab.lab_config(task, 150, args), [*seq_lab.METHODS, seq_lab.PPO], [0.0])
        for method, config in lab.items():
            ours = variants[(task, method)]
            assert type(ours) is type(config), method
            for field in dataclasses.fields(config):
                if field.name not in ("seed",):
                    assert getattr(ours, field.name) == getattr(config, field.name), (task, method, field.name)


@pytest.mark.slow
@pytest.mark.parametrize("estimator,numbers", [
    ("tp_grpo", {"turning_point_eta": 5.0}),
    ("oprl", {"process_reward_beta": 0.5, "process_reward_weight": 3.0, "process_reward_learning_rate": 1e-2}),
])
def test_credit_variants_in_one_program_equal_their_runs_alone(estimator, numbers):
    # a binary reference right about 90% of the time: outcomes differ, so the credit's numbers matter
    config = SEQ.replace(estimator=estimator, total_steps=2 * 48, env_kwargs=(("digits", "1"), ("base", "2")),
                         sft_steps=100, sft_learning_rate=3e-3)
    other = config.replace(**numbers)
    batched = runner.train([config, other], seeds=1, progress=False).state.params
    alone = runner.train(other, seeds=1, progress=False).state.params
    pick = lambda tree, i: jax.tree.map(lambda x: np.asarray(x[i]), tree)
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(pick(batched, 1)), jax.tree.leaves(pick(alone, 0))))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(pick(batched, 1)), jax.tree.leaves(pick(batched, 0))))
    assert gap < 2e-5 and moved > 100 * gap, (gap, moved)  # its own numbers, and they changed the run
