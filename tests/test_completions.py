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


@pytest.mark.slow  # 17 s: the default suite is at its budget
def test_reward_model_learns_its_labels_normalizes_on_them_and_pays_at_the_end():
    prefs = hand_preferences()
    make = lambda **kw: completions.completion_reward_model(prefs, pretrain_steps=150, width=16, learning_rate=3e-3,
                                                            **kw)
    rm = make()
    state = rm.init(rm.hparams, jax.random.PRNGKey(0), SPEC)
    net = completions.reward_network("transformer", TASK.vocab_size, 16, 1, 2)
    scores = (completions.ensemble_scores(net, state["params"], prefs.tokens)[0] - state["mean"][0]) / state["std"][0]
    assert float(jnp.mean(scores[0] > scores[1])) > 0.95  # right above wrong
    assert abs(float(scores.mean())) < 1e-4 and abs(float(scores.std()) - 1) < 1e-3  # normalized on the set
    held_out = hand_preferences(seed=1)
    s = completions.ensemble_scores(net, state["params"], held_out.tokens)[0]
    assert float(completions.preference_accuracy(s[0], s[1], held_out.gold[0], held_out.gold[1])) > 0.9

    tokens, done = held_out.tokens[0, :4], jnp.array([1.0, 0.0, 1.0, 1.0])
    batch = R.protocol.RewardBatch.create(rollout_of(tokens, done), ("extrinsic",), 1.0, jax.random.PRNGKey(2),
                                          valid=jnp.array([[1.0, 1.0, 1.0, 0.0]]), spec=SPEC)
    paid, _, metrics = rm.apply(rm.hparams, state, batch)
    expected = (completions.ensemble_scores(net, state["params"], tokens)[0] - state["mean"][0]) / state["std"][0]
    np.testing.assert_allclose(paid["extrinsic"][0], expected * jnp.array([1, 0, 1, 0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["proxy_score"], expected[jnp.array([0, 2])].mean(), rtol=1e-5)
    for bound, number, fn in (("par", {"par_temperature": 0.5}, lambda r: jax.nn.sigmoid(r / 0.5)),
                              ("clip", {"clip_max": 0.2}, lambda r: jnp.minimum(r, 0.2))):
        bounded = make(bound=bound, **number)
        out, _, _ = bounded.apply(bounded.hparams, state, batch)
        np.testing.assert_allclose(out["extrinsic"][0], fn(expected) * jnp.array([1, 0, 1, 0]), rtol=1e-5, atol=1e-6)


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
