"""Reward models over completions (jrew.rewards.completions) and their sampler."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.seq.tasks import EOS, FIRST_DIGIT, Addition
from jrew import overoptimization as overopt
from jrew import rewards as R
from jrew.rewards import completions
from jrew.types import EnvSpec

TASK = Addition(digits=1, base=4)  # answer 2 digits + EOS: buffers of 4 + 3 tokens


def scripted_logits(tokens):
    """A policy that emits ``tokens`` in order, whatever the prompt: logits from the step index."""
    target = jnp.asarray(tokens) - 1  # actions

    def logits(params, obs):
        step = jnp.sum(obs[:, TASK.prompt_length:] > 0, axis=-1)
        return jnp.where(jax.nn.one_hot(target[jnp.minimum(step, len(tokens) - 1)], TASK.vocab_size - 1) > 0, 0.0, -1e9)

    return logits


def test_sampled_completions_end_at_eos_with_pad_after_it():
    prompts = jax.vmap(TASK.sample_prompt)(jax.random.split(jax.random.PRNGKey(0), 5))
    early = envs.seq.sample_completions(scripted_logits([FIRST_DIGIT + 1, EOS, FIRST_DIGIT]), None, TASK, prompts,
                                        jax.random.PRNGKey(1))
    assert early.tolist() == [[FIRST_DIGIT + 1, EOS, 0]] * 5
    full = envs.seq.sample_completions(scripted_logits([FIRST_DIGIT, FIRST_DIGIT + 2, FIRST_DIGIT + 3]), None, TASK,
                                       prompts, jax.random.PRNGKey(1))
    assert full.tolist() == [[FIRST_DIGIT, FIRST_DIGIT + 2, FIRST_DIGIT + 3]] * 5  # cut at the budget


def test_preferences_are_labelled_by_the_gold_order():
    uniform = lambda params, obs: jnp.zeros((obs.shape[0], TASK.vocab_size - 1))
    prefs = completions.completion_preferences(jax.random.PRNGKey(0), TASK, uniform, None, 400, beta=jnp.inf)
    prompts = prefs.tokens[0, :, :TASK.prompt_length].astype(jnp.int32)
    for side in (0, 1):
        gold = completions.gold_rewards(TASK, prompts, prefs.tokens[side, :, TASK.prompt_length:].astype(jnp.int32))
        np.testing.assert_array_equal(gold, prefs.gold[side])
    expected = np.where(prefs.gold[0] > prefs.gold[1], 1.0, np.where(prefs.gold[0] < prefs.gold[1], 0.0, 0.5))
    np.testing.assert_array_equal(prefs.label, expected)


def hand_preferences(n=64, seed=0):
    """The demonstration (gold 1) against a completion with its first digit wrong (gold 0)."""
    prompts = jax.vmap(TASK.sample_prompt)(jax.random.split(jax.random.PRNGKey(seed), n))
    right = jax.vmap(TASK.demonstration)(prompts)
    wrong = right.at[:, 0].set(FIRST_DIGIT + (right[:, 0] - FIRST_DIGIT + 1) % TASK.base)
    tokens = jnp.stack([completions.completion_tokens(prompts, c) for c in (right, wrong)])
    return completions.CompletionPreferences(tokens, jnp.ones((n,)), jnp.stack([jnp.ones(n), jnp.zeros(n)]))


def rollout_of(tokens, done):
    """A [T=1, B] rollout whose next observations are ``tokens [B, N]``."""
    B = tokens.shape[0]
    z = jnp.zeros((1, B))
    from jrew.types import Transition
    return Transition(obs=tokens[None], action=jnp.zeros((1, B), jnp.int32), env_action=jnp.zeros((1, B), jnp.int32),
                      log_prob=z, value=z, reward=z, true_reward=z, terminated=done[None], truncated=z,
                      next_obs=tokens[None], env_metrics={})


SPEC = EnvSpec((TASK.prompt_length + TASK.completion_length,), np.dtype(np.float32),
               envs.make("seq/addition", digits=1, base=4).action_space, 4)


def scores_of(state, tokens, width=16):
    net = completions.reward_network("transformer", TASK.vocab_size, width, 1, 2)
    return (completions.ensemble_scores(net, state["params"], tokens) - state["mean"][:, None]) / state["std"][:, None]


def test_the_model_is_normalized_on_its_set_pays_at_the_end_and_bounds_by_the_formulas():
    prefs = hand_preferences()
    make = lambda **kw: completions.completion_reward_model(prefs, pretrain_steps=2, width=16, ensemble_size=2, **kw)
    rm = make(aggregate_by="mean_minus_std", conservative_lambda=0.5)
    state = rm.init(rm.hparams, jax.random.PRNGKey(0), SPEC)
    on_set = scores_of(state, prefs.tokens.reshape(-1, prefs.tokens.shape[-1]))  # [members, 2P]
    np.testing.assert_allclose(on_set.mean(-1), 0.0, atol=1e-4)  # each member on the reference's samples
    np.testing.assert_allclose(on_set.std(-1), 1.0, atol=1e-3)
    assert float(jnp.max(jnp.abs(on_set[0] - on_set[1]))) > 1e-3  # the members differ

    tokens, done = hand_preferences(seed=1).tokens[0, :4], jnp.array([1.0, 0.0, 1.0, 1.0])
    batch = R.protocol.RewardBatch.create(rollout_of(tokens, done), ("extrinsic",), 1.0, jax.random.PRNGKey(2),
                                          valid=jnp.array([[1.0, 1.0, 1.0, 0.0]]), spec=SPEC)
    members = scores_of(state, tokens)
    expected = members.mean(0) - 0.5 * members.std(0)  # Coste et al.'s conservative aggregate
    paid_at = jnp.array([1, 0, 1, 0])  # finished and valid
    paid, _, metrics = rm.apply(rm.hparams, state, batch)
    np.testing.assert_allclose(paid["extrinsic"][0], expected * paid_at, rtol=1e-5, atol=1e-6)
    finished = jnp.array([0, 2])
    np.testing.assert_allclose(metrics["proxy_score"], members.mean(0)[finished].mean(), rtol=1e-5)  # before lambda
    np.testing.assert_allclose(metrics["proxy_reward"], expected[finished].mean(), rtol=1e-5)  # what was paid
    np.testing.assert_allclose(metrics["ensemble_std"], members.std(0)[finished].mean(), rtol=1e-5)
    for bound, number, fn in (("par", {"par_temperature": 0.5}, lambda r: jax.nn.sigmoid(r / 0.5)),
                              ("clip", {"clip_max": 0.2}, lambda r: jnp.minimum(r, 0.2))):
        bounded = make(bound=bound, **number)
        out, _, _ = bounded.apply(bounded.hparams, state, batch)
        np.testing.assert_allclose(out["extrinsic"][0], fn(members.mean(0)) * paid_at, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # 17 s of training
def test_reward_model_learns_its_labels():
    prefs = hand_preferences()
    rm = completions.completion_reward_model(prefs, pretrain_steps=150, width=16, learning_rate=3e-3)
    state = rm.init(rm.hparams, jax.random.PRNGKey(0), SPEC)
    scores = scores_of(state, prefs.tokens)[0]
    assert float(jnp.mean(scores[0] > scores[1])) > 0.95  # right above wrong
    held_out = hand_preferences(seed=1)
    s = scores_of(state, held_out.tokens)[0]
    assert float(completions.preference_accuracy(s[0], s[1], held_out.gold[0], held_out.gold[1])) > 0.9


def test_the_preference_set_is_the_models_identity_and_bad_settings_are_refused():
    describe = lambda p: R.protocol.describe(completions.completion_reward_model(p))
    assert describe(hand_preferences(seed=0)) != describe(hand_preferences(seed=1))
    assert describe(hand_preferences(seed=0)) == describe(hand_preferences(seed=0))
    with pytest.raises(ValueError, match="bound must be one of"):
        completions.completion_reward_model(hand_preferences(), bound="tanh")
    with pytest.raises(ValueError, match="ensemble_size must be an int >= 1, got 0"):
        completions.completion_reward_model(hand_preferences(), ensemble_size=0)
    rm = completions.completion_reward_model(hand_preferences(), pretrain_steps=1)
    with pytest.raises(ValueError, match="buffers have 7 tokens"):
        rm.init(rm.hparams, jax.random.PRNGKey(0), SPEC._replace(observation_shape=(9,)))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_best_of_n_estimate_equals_the_mean_over_every_subset(n):
    rng = np.random.default_rng(n)
    proxy, values = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    for pool_proxy, pool_values, estimate in zip(proxy, values, overopt.best_of_n_estimate(proxy, values, n)):
        subsets = itertools.combinations(range(6), n)
        brute = np.mean([pool_values[max(s, key=lambda j: pool_proxy[j])] for s in subsets])
        assert estimate == pytest.approx(brute, rel=1e-10)
    with pytest.raises(ValueError, match="n in 1..6"):
        overopt.best_of_n_estimate(proxy, values, 7)


@pytest.mark.slow  # a checkpointed GRPO run on the proxy and its resume (about 70 s)
def test_grpo_on_the_proxy_resumes_bit_identically_with_the_model_in_its_state(tmp_path):
    from jrew import runner
    from jrew.algos import pg

    config = pg.PGConfig(env="seq/addition", env_kwargs=(("digits", "1"), ("base", "4")), network="transformer",
                         token_width=16, token_depth=1, token_heads=2, num_steps=3, num_groups=4, group_size=4,
                         num_minibatches=2, total_steps=4 * 3 * 16, sft_steps=20, sft_batch_size=16)
    rm = completions.completion_reward_model(hand_preferences(), ensemble_size=2, pretrain_steps=20, width=16)
    full = runner.train(config, seeds=2, reward=rm, chunk_updates=2, progress=False)
    # pg.reference_policy: the runs' reference model, with what runs it (what samples the comparisons)
    reference = pg.reference_policy(config)
    jax.tree.map(lambda r, x: np.testing.assert_array_equal(r, x[0]), reference.params, full.state.reference_params)
    assert reference.task.vocab_size == TASK.vocab_size and reference.spec.observation_shape == SPEC.observation_shape
    obs = jnp.zeros((1,) + SPEC.observation_shape)
    assert reference.policy_logits(reference.params, obs).shape == (1, TASK.vocab_size - 1)
    assert np.isfinite(full.metrics["reward/proxy_score"]).all()
    runner.train(config, seeds=2, reward=rm, run_dir=tmp_path / "r", chunk_updates=2, until_update=2, progress=False)
    resumed = runner.resume(tmp_path / "r", reward=rm, progress=False)
    jax.tree.map(np.testing.assert_array_equal, full.state.params, resumed.state.params)
    jax.tree.map(np.testing.assert_array_equal, full.state.reward_state, resumed.state.reward_state)
    np.testing.assert_array_equal(full.metrics["reward/proxy_score"], resumed.metrics["reward/proxy_score"])
    # each seed trained a proxy of its own, and the run left it frozen
    model = full.state.reward_state[0] if isinstance(full.state.reward_state, (list, tuple)) else full.state.reward_state
    seed_gap = max(float(jnp.max(jnp.abs(x[0] - x[1]))) for x in jax.tree.leaves(model["params"]))
    assert seed_gap > 1e-3
    fresh = rm.init(rm.hparams, jax.random.PRNGKey(0), SPEC)  # the shapes of one run's state
    assert jax.tree.structure(fresh) == jax.tree.structure(jax.tree.map(lambda x: x[0], model))
