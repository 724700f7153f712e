"""Multi-reward combination in PG: a token task with reward components, the weighted sum, GDPO's
group-decoupled normalization and Parrot's Pareto selection (docs/parrot.md)."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import seq
from envs.seq.tasks import EOS, EQUALS, FIRST_DIGIT, PLUS
from jrew import advantages as adv
from jrew import rewards as R
from jrew import runner
from jrew.algos import pg

D = lambda *ds: [FIRST_DIGIT + d for d in ds]  # digit tokens
NAMES = ("correctness", "format", "brevity")
TASK = pg.PGConfig(env="seq/addition_components", env_kwargs=(("digits", "1"),), network="mlp",
                   policy_hidden_sizes=(16,), num_steps=4, num_groups=4, group_size=4, num_minibatches=1,
                   total_steps=2 * 16 * 4, learning_rate=3e-2, multi_reward="pareto", reward_components=NAMES,
                   reward_weights=(1.0, 1.0, 1.0))


def completion(task, tokens):
    out = np.zeros(task.completion_length, np.int32)
    out[: len(tokens)] = tokens
    return jnp.asarray(out)


# --------------------------------------------------------------------------- the task


def test_addition_components_on_hand_cases():
    task = seq.AdditionComponents(digits=2)  # answer 3 digits, budget 5
    prompt = jnp.array(D(5, 7) + [PLUS] + D(4, 4) + [EQUALS])  # 57 + 44 = 101, written "101"
    cases = {  # completion: (correctness, format, brevity), exact match
        "right": (D(1, 0, 1) + [EOS], (1.0, 1.0, 1 - 3 / 5), 1.0),
        "babble": (D(1, 0, 1, 1) + [EOS], (1.0, 1.0, 1 - 4 / 5), 0.0),
        "short": (D(1) + [EOS], (1 / 3, 1.0, 1 - 1 / 5), 0.0),
        "empty": ([EOS], (0.0, 0.0, 1.0), 0.0),
        "no_eos": (D(1, 0, 1, 1, 1), (1.0, 0.0, 0.0), 0.0),  # cut at the budget: not well formed
        "operator": (D(1) + [PLUS] + D(1) + [EOS], (2 / 3, 0.0, 1 - 3 / 5), 0.0),
    }
    score = jax.jit(lambda c: (task.components(prompt, c), task.true_reward(prompt, c), task.visible_reward(prompt, c)))
    for name, (tokens, expected, exact) in cases.items():
        got, true, visible = score(completion(task, tokens))
        np.testing.assert_allclose([float(got[k]) for k in NAMES], expected, rtol=1e-6, err_msg=name)
        assert float(true) == exact, name
        assert float(visible) == pytest.approx(sum(expected), rel=1e-6), name
    assert set(seq.Addition(digits=2).components(prompt, completion(task, [EOS])[:4])) == {"verify"}  # the default


def test_the_env_reports_each_component_at_the_final_step_and_refuses_a_clash():
    env = envs.make("seq/addition_components", digits=1, auto_reset=False)
    task = env.unwrapped.task

    @jax.jit
    def episode(key):  # the right answer, then EOS
        start = env.reset(key)
        tokens = jnp.concatenate([task.solution(start.pipeline_state.prompt), jnp.array([EOS])])
        step = lambda state, token: (env.step(state, token - 1),) * 2
        end, states = jax.lax.scan(step, start, tokens)
        return end, states.metrics, task.components(end.pipeline_state.prompt, end.pipeline_state.completion)

    end, metrics, final = episode(jax.random.PRNGKey(0))
    for name in NAMES:  # 0 before the final step, the completion's value at it
        np.testing.assert_array_equal(metrics[name], [0.0, 0.0, float(final[name])])
    assert float(final["correctness"]) == 1.0 and float(end.info["true_reward"]) == 1.0

    class Clash(seq.Addition):
        def components(self, prompt, completion):
            return {"length": jnp.zeros(())}

    with pytest.raises(ValueError, match=r"Clash.components must return scalars named other than the env's own"):
        seq.SequenceEnv(Clash())


# --------------------------------------------------------------------------- the combinations, on hand batches

# 3 groups of 4 samples, K = 3 (correctness, format, brevity); ties are common
HAND = np.array([
    [[1, 1, 0.4], [1, 1, 0.2], [1 / 3, 1, 0.8], [0, 0, 1]],  # sample 1 is dominated by sample 0
    [[0.5, 1, 0.4], [0.5, 1, 0.4], [0, 1, 0.4], [0.5, 0, 0.4]],  # equal samples keep each other
    [[0, 0, 0.2], [0, 0, 0.4], [0, 0, 0], [1 / 3, 0, 0]],  # all dominated by group 0's: kept within their group
], np.float32)


def brute_force_non_dominated(scores: np.ndarray) -> np.ndarray:
    keep = np.ones(len(scores), bool)
    for i, j in itertools.product(range(len(scores)), repeat=2):
        if np.all(scores[j] >= scores[i]) and np.any(scores[j] > scores[i]):
            keep[i] = False
    return keep


def combine(method, weights, components=HAND, normalize_std=True):
    config = pg.PGConfig(env="seq/addition_components", num_groups=components.shape[0], group_size=components.shape[1],
                         num_minibatches=1, multi_reward=method, reward_components=NAMES[: components.shape[2]],
                         reward_weights=tuple(weights), normalize_std=normalize_std)
    flat = jnp.asarray(components.reshape(-1, components.shape[-1]))
    return [np.asarray(x) for x in jax.jit(pg.multi_reward_advantages, static_argnums=2)(flat, jnp.asarray(weights),
                                                                                       config)]


def grpo(x, normalize_std=True, eps=1e-6):  # per row of [groups, G]; a constant row gets 0
    centred = x - x.mean(axis=1, keepdims=True)
    scaled = centred / (x.std(axis=1, keepdims=True) + eps) if normalize_std else centred
    return np.where(np.ptp(x, axis=1, keepdims=True) > 0, scaled, 0.0)


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (2.0, 0.5, 1.0), (1.0, 1.0, 0.0)])
def test_pareto_keeps_each_groups_brute_force_non_dominated_set_with_the_weighted_sums_advantage(weights):
    advantage, keep, informative = combine("pareto", weights)
    weighted = HAND * np.array(weights, np.float32)  # a weight of 0 leaves its component out of the selection
    expected = np.concatenate([brute_force_non_dominated(group) for group in weighted])
    np.testing.assert_array_equal(keep, expected.astype(np.float32))
    assert not np.array_equal(expected, brute_force_non_dominated(weighted.reshape(-1, 3)))  # per group, not batch
    # the advantage of every sample is GRPO's on the weighted sum, over the whole group
    np.testing.assert_allclose(advantage, grpo(weighted.sum(-1)).reshape(-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(informative, [1, 1, 1])
    if weights[2] == 0.0:  # without brevity, group 0's two right answers dominate the rest
        np.testing.assert_array_equal(keep[:4], [1, 1, 0, 0])


def test_group_normalized_advantage_equals_its_formula():
    components = np.array([[[1, 0.2], [0, 0.4], [1, 0.6], [0, 0.8]],
                           [[1, 0.5], [1, 0.1], [1, 0.3], [1, 0.9]]], np.float32)  # group 1: component 0 constant
    weights = np.array([2.0, 0.5], np.float32)
    for normalize_std in (True, False):
        advantage, keep, informative = combine("group_normalized", weights, components, normalize_std)
        per = np.stack([grpo(components[..., k], normalize_std) for k in range(2)], axis=-1)  # [groups, G, K]
        assert np.all(per[1, :, 0] == 0.0)  # a constant component contributes nothing in its group
        summed = (per * weights).sum(-1)
        np.testing.assert_allclose(advantage, ((summed - summed.mean()) / (summed.std() + 1e-6)).reshape(-1),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(keep, 1.0)
    np.testing.assert_array_equal(informative, [1, 1])  # group 1's second component varies
    # not GRPO on the weighted sum: the components' own scales no longer decide
    assert not np.allclose(advantage, combine("weighted_sum", weights, components)[0])


def test_a_one_hot_weighted_sum_is_grpo_on_that_component():
    for k, normalize_std in itertools.product(range(3), (True, False)):
        weights = np.eye(3, dtype=np.float32)[k]
        advantage, keep, _ = combine("weighted_sum", weights, normalize_std=normalize_std)
        config = pg.PGConfig(estimator="grpo", num_groups=3, group_size=4, num_minibatches=1,
                             normalize_std=normalize_std)
        single = jax.jit(pg.group_advantages, static_argnums=1)(jnp.asarray(HAND[..., k].reshape(-1)), config,
                                                                 jnp.zeros((12, 2), jnp.int32), jnp.ones((12, 2)))
        np.testing.assert_allclose(advantage, np.asarray(single)[:, 0], rtol=1e-6, atol=1e-7)  # two programs: an ulp
        np.testing.assert_array_equal(keep, 1.0)


def test_component_returns_count_each_episodes_own_steps_only():
    # env 0 ends at step 0 (0.5), and its next episode at step 2 (1.0, past its first: masked); env 1 at step 2
    metrics = {"a": jnp.array([[0.5, 0.0], [0.0, 0.0], [1.0, 0.25]]), "b": jnp.array([[1.0, 0.0], [0.0, 0.0], [1.0, 2.0]])}
    mask = jnp.array([[1.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    returns = jax.jit(pg.component_returns, static_argnums=1)(metrics, ("b", "a"), mask, 0.5)
    np.testing.assert_allclose(returns, [[1.0, 0.5], [2.0 * 0.25, 0.25 * 0.25]])  # [B, K], discounted from step 0


# --------------------------------------------------------------------------- in the learner


def trainer_and_state(config=TASK, reward=None):
    """The trainer and its initial state (seed 0); TASK's, once per session."""
    if config == TASK and reward is None:
        return task_trainer_and_state()
    trainer = pg.make(config, reward)
    return trainer, jax.jit(trainer.init)(jax.random.PRNGKey(0))


@functools.cache
def task_trainer_and_state():
    trainer = pg.make(TASK)
    return trainer, jax.jit(trainer.init)(jax.random.PRNGKey(0))


def test_dominated_samples_get_zero_loss_weight():
    """The loss on a batch weighted by the Pareto mask has the gradient of the kept samples alone:
    whatever a dominated sample holds, it changes nothing."""
    trainer, state = trainer_and_state()
    learner = trainer.update.__self__
    cfg, B, T = state.config, TASK.batch_episodes, TASK.num_steps
    rng = np.random.default_rng(0)
    components = jnp.asarray(rng.integers(0, 3, (B, 3)) / 2, jnp.float32)  # ties and dominance
    advantage, keep, _ = jax.jit(pg.multi_reward_advantages, static_argnums=2)(components, cfg.reward_weights, TASK)
    assert 0 < float(keep.sum()) < B
    vocabulary = learner.dist.head_size
    batch = lambda: (rng.integers(0, vocabulary, (B, T, learner.env.observation_size)).astype(np.float32),
                     rng.integers(0, vocabulary, (B, T)))

    @jax.jit
    def grad(obs, action, advantage, weight):  # sampled by the current policy: old log-probs are its own
        old = jax.lax.stop_gradient(learner.dist.log_prob(learner.policy_head(state.params, obs), action))
        episodes = (obs, action, old, jnp.broadcast_to(advantage[:, None], (B, T)), jnp.ones((B, T)) * weight[:, None],
                    old)
        return jax.grad(lambda p: learner.loss(p, cfg, episodes, jax.random.PRNGKey(0))[0])(state.params)

    (obs, action), (other_obs, other_action) = batch(), batch()
    kept = grad(obs, action, advantage, keep)
    dominated = np.asarray(keep) == 0
    garbled = grad(np.where(dominated[:, None, None], other_obs, obs), np.where(dominated[:, None], other_action, action),
                   jnp.where(keep > 0, advantage, 100.0), keep)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), kept, garbled)
    everyone = grad(obs, action, advantage, jnp.ones(B))  # the test can fail: keeping all changes it
    assert gap(kept, everyone) > 1e-4


def first_update(config, reward=None, keep=None, monkeypatch=None):
    """The initial and updated params and the metrics of one update from seed 0; ``keep(scores)``
    replaces Parrot's selection."""
    trainer, initial = trainer_and_state(config, reward)
    if keep is not None:
        monkeypatch.setattr(adv, "non_dominated", keep)
    state, metrics = jax.jit(lambda s: trainer.update(s))(initial)  # traced now: a fresh cache entry
    return initial.params, state.params, {k: float(v) for k, v in metrics.items()}


def gap(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_the_update_leaves_dominated_samples_out_of_the_loss(monkeypatch):
    """A selection that keeps no sample leaves nothing to learn from: no loss, no step (Adam's first
    step of a zero gradient is 0). With every sample dropped, any leak of a dominated one shows."""
    initial, params, metrics = first_update(TASK, keep=lambda scores: jnp.zeros(scores.shape[:-1], bool),
                                            monkeypatch=monkeypatch)
    assert metrics["kept_share"] == 0.0 and metrics["loss"] == 0.0 and metrics["zero_variance_groups"] < 1
    assert gap(initial, params) == 0.0
    # each component per episode, over all samples (the env reports it per step, at the final one)
    for name in NAMES:
        assert metrics[f"component/{name}"] == pytest.approx(metrics[f"env/{name}"] * metrics["episode_length"],
                                                             rel=1e-5)
    assert metrics["component/correctness"] > 0 and metrics["component/brevity"] > 0


@pytest.mark.slow  # three programs (about 25 s)
def test_pareto_is_the_weighted_sum_on_the_kept_samples(monkeypatch):
    _, pareto, metrics = first_update(TASK)
    _, summed, summed_metrics = first_update(TASK.replace(multi_reward="weighted_sum"))
    assert 0 < metrics["kept_share"] < 1 and summed_metrics["kept_share"] == 1.0
    assert gap(pareto, summed) > 1e-3  # dropping the dominated samples changes the update
    _, kept_all, _ = first_update(TASK, keep=lambda scores: jnp.ones(scores.shape[:-1], bool), monkeypatch=monkeypatch)
    assert gap(kept_all, summed) < 1e-6
    for name in NAMES:
        assert metrics[f"component/{name}"] == summed_metrics[f"component/{name}"]  # the same samples


@pytest.mark.slow  # three programs (about 25 s)
def test_a_one_hot_weighted_sum_trains_as_grpo_on_that_component_through_the_pipeline():
    """The components reach the learner from the env's metrics: weight 1 on brevity is GRPO on
    the reward ``weighted_sum({"brevity": 1})`` makes of the same metric."""
    _, ours, _ = first_update(TASK.replace(multi_reward="weighted_sum", reward_weights=(0.0, 0.0, 1.0)))
    plain = TASK.replace(multi_reward="none", reward_components=(), reward_weights=())
    _, theirs, _ = first_update(plain, R.weighted_sum({"brevity": 1.0}))
    assert gap(ours, theirs) < 1e-6
    assert gap(ours, first_update(plain)[1]) > 1e-3  # the env's reward is another signal


@pytest.mark.slow  # a vmapped program and its variant alone (about 30 s)
def test_weight_variants_in_one_program_equal_their_runs_alone():
    other = TASK.replace(reward_weights=(0.2, 3.0, 0.5), total_steps=3 * 64)
    config = TASK.replace(total_steps=3 * 64)
    batched = runner.train([config, other], seeds=[0], progress=False).state.params
    alone = runner.train(other, seeds=[0], progress=False).state.params
    pick = lambda tree, i: jax.tree.map(lambda x: np.asarray(x[i]), tree)
    assert gap(pick(batched, 1), pick(alone, 0)) < 2e-5 < gap(pick(batched, 1), pick(batched, 0)) / 50


@pytest.mark.slow  # a checkpointed run and its resume (about 25 s)
def test_a_pareto_run_resumes_bit_identically(tmp_path):
    config = TASK.replace(total_steps=4 * 64)
    full = runner.train(config, seeds=2, chunk_updates=2, progress=False)
    assert np.isfinite(full.metrics["loss"]).all() and (full.metrics["kept_share"] < 1).any()
    runner.train(config, seeds=2, run_dir=tmp_path / "r", chunk_updates=2, until_update=2, progress=False)
    resumed = runner.resume(tmp_path / "r", progress=False)
    jax.tree.map(np.testing.assert_array_equal, full.state.params, resumed.state.params)
    np.testing.assert_array_equal(resumed.state.config.reward_weights, np.ones((3, 2)))


def test_the_experiment_trains_each_combination_from_the_labs_addition_reference():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
    import parrot
    import seq_lab

    args = type("Args", (), {"num_groups": 8, "group_size": 8, "learning_rate": 3e-4, "sft_steps": None,
                             "sft_noise": 0.3})
    configs = parrot.method_configs(parrot.parrot_config(80, args), list(parrot.COMBINATIONS), (1.0, 1.0, 1.0))
    lab = seq_lab.method_configs(seq_lab.lab_config("addition", 80, args), ["grpo"], [0.0])["grpo"]
    for method, config in configs.items():
        assert config.multi_reward == method and config.reward_components == NAMES
        assert config.env == "seq/addition_components" and config.num_steps == 5 and config.num_updates == 80
        same = ("env_kwargs", "network", "token_width", "sft_steps", "sft_noise", "sft_seed", "num_groups", "group_size",
                "learning_rate", "estimator", "loss_aggregation", "kl_coef")
        assert {f: getattr(config, f) for f in same} == {f: getattr(lab, f) for f in same}


# --------------------------------------------------------------------------- validation


NO_MULTI_REWARD = r"reward_components \('correctness', 'format', 'brevity'\) and reward_weights \(1.0, 1.0, 1.0\) are read"
WEIGHTS_PER_COMPONENT = r"reward_weights must be a tuple of one weight per reward component \(3: correctness, format, brevity\)"


@pytest.mark.parametrize("changes,message", [
    ({"multi_reward": "sum"}, r"multi_reward must be one of \('none', 'weighted_sum', 'group_normalized', 'pareto'\)"),
    ({"multi_reward": "none"}, NO_MULTI_REWARD + " only by multi_reward"),
    ({"reward_components": ()}, r"needs a tuple of distinct reward_components \(env metric names\), got \(\)"),
    ({"reward_components": ("format", "format", "brevity")}, "needs a tuple of distinct reward_components"),
    ({"reward_weights": (1.0, 1.0)}, WEIGHTS_PER_COMPONENT + r", got \(1.0, 1.0\)"),
    ({"reward_weights": (1.0, -1.0, 1.0)}, r"reward_weights\[format\] must be finite and >= 0, got -1.0"),
    ({"reward_weights": (0.0, 0.0, 0.0)}, r"reward_weights must have a weight > 0, got \(0.0, 0.0, 0.0\)"),
    ({"reward_weights": [1.0, 1.0, 1.0]}, WEIGHTS_PER_COMPONENT + r", got \[1.0, 1.0, 1.0\]"),
    ({"multi_reward": "none", "reward_components": (), "reward_weights": [1.0]}, "are read only by multi_reward"),
    ({"estimator": "rloo"}, r"replaces grpo's group advantage: it needs estimator='grpo', got 'rloo'"),
    ({"kl_penalty": "reward"}, "a KL penalty in the reward would not reach: use kl_penalty='loss'"),
])
def test_multi_reward_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        TASK.replace(**changes)


def test_the_learner_refuses_components_the_env_lacks_and_a_pipeline_it_would_skip():
    with pytest.raises(ValueError, match=r"reward_components \['brevity'\] are not metrics of seq/addition; it reports "
                                         r"length, process, unsafe, verify"):
        pg.make(TASK.replace(env="seq/addition", reward_components=("verify", "brevity"), reward_weights=(1.0, 1.0)))
    with pytest.raises(ValueError, match=r"a reward pipeline \(scale\) shapes only the env's reward and would be skipped"):
        pg.make(TASK, R.scale(factor=2.0))
