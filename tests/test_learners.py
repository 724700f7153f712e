"""Learners plug into the runner through one contract (jrew/algos/base.py) and one registry line."""

import subprocess
import sys
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import struct

import envs
import jrew
from jrew import algos, cli, distributions, runner
from jrew import policy as policy_lib
from jrew import rewards as R
from jrew.algos import base, pg
from jrew.algos.collect import collect
from jrew.config import static
from jrew.types import EpisodeStats


@struct.dataclass
class GreedyConfig(base.LearnerConfig):
    """A third learner in one file: state-independent action preferences trained by the one-step
    policy gradient -E[log pi(a) r]. Tiny, but it learns CartPole's nothing-to-learn honestly."""

    num_envs: int = static(8)
    num_steps: int = static(16)
    learning_rate: float = 0.05

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps


class GreedyState(struct.PyTreeNode):
    logits: jax.Array
    opt_state: optax.OptState
    env_state: object
    episode_stats: EpisodeStats
    reward_hparams: object
    reward_state: object
    key: jax.Array
    update_step: jax.Array
    config: GreedyConfig


def make_greedy(config: GreedyConfig, reward=None) -> base.Trainer:
    reward = R.identity() if reward is None else reward
    env, dist, spec = base.setup(config, config.num_envs)
    streams = base.supported_streams(reward, "greedy")

    def heads(logits, obs):
        return jnp.broadcast_to(logits, (*obs.shape[:-1], dist.head_size))

    def init(key, hparams=None, reward_hparams=None):
        cfg, reward_hparams = base.numeric_inputs(config, hparams, reward, reward_hparams)
        k_env, k_state = jax.random.split(key)
        logits = jnp.zeros((dist.head_size,))
        return GreedyState(
            logits, optax.adam(1.0).init(logits), jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs)),
            EpisodeStats.zeros(config.num_envs, streams), reward_hparams,
            reward.init(reward_hparams, base.reward_init_key(key), spec), k_state, jnp.zeros((), jnp.int32), cfg,
        )

    def update(state):
        key, rollout_key, reward_key = jax.random.split(state.key, 3)
        data = collect(
            env, base.sampling_policy(dist, lambda obs: heads(state.logits, obs)), state.env_state,
            (rollout_key, reward_key), config.num_steps, pipeline=reward, reward_hparams=state.reward_hparams,
            reward_state=state.reward_state, episode_stats=state.episode_stats, gamma=state.config.gamma, spec=spec,
        )

        def loss_fn(logits):
            return -jnp.mean(dist.log_prob(heads(logits, data.traj.obs), data.traj.action) * data.traj.reward)

        loss, grads = jax.value_and_grad(loss_fn)(state.logits)
        updates, opt_state = optax.adam(state.config.learning_rate).update(grads, state.opt_state)
        new_state = state.replace(
            logits=optax.apply_updates(state.logits, updates), opt_state=opt_state, env_state=data.env_state,
            episode_stats=data.episode_stats, reward_state=data.reward_state, key=key,
            update_step=state.update_step + 1,
        )
        return new_state, {"loss": loss, **data.metrics}

    act = base.acting(dist, lambda state, obs: heads(state.logits, obs))
    return base.Trainer(config, env, init, update, config.num_updates, config.steps_per_update, act)


def greedy_policy_of(config: GreedyConfig, saved) -> policy_lib.InferencePolicy:
    """The export part of the contract: the logits are the whole policy."""
    return policy_lib.InferencePolicy({"kind": "constant_logits"}, {"logits": saved["logits"]})


def constant_logits_head(spec, action_space, env_name):
    dist = distributions.for_action_space(action_space, "auto", env_name)
    return (lambda params, obs: jnp.broadcast_to(params["logits"], (*obs.shape[:-1], dist.head_size))), dist


@pytest.fixture
def registered():
    """Registers learners for one test and removes them after it."""
    names = []

    def register(name, config_cls, make, policy_of=greedy_policy_of):
        algos.register(name, config_cls, make, policy_of)
        names.append(name)

    policy_lib.register_head("constant_logits", constant_logits_head)
    yield register
    for name in names:
        algos.ALGORITHMS.pop(name, None)
    policy_lib.HEADS.pop("constant_logits")


def test_a_third_learner_is_one_file_and_one_registry_line(registered, tmp_path, capsys):
    registered("greedy", GreedyConfig, make_greedy)
    config = GreedyConfig(total_steps=6 * 128)
    full = jrew.train(config, seeds=2, reward=R.scale(2.0), chunk_updates=2, progress=False)
    assert full.metrics["loss"].shape == (2, 6) and np.isfinite(full.metrics["true_return"][:, -1]).all()
    np.testing.assert_allclose(full.metrics["train_return"], 2 * full.metrics["env_return"])
    jrew.train(config, seeds=2, run_dir=tmp_path / "r", reward=R.scale(2.0), chunk_updates=2, until_update=4,
               progress=False)
    resumed = jrew.resume(tmp_path / "r", reward=R.scale(2.0), progress=False)
    np.testing.assert_array_equal(full.state.logits, resumed.state.logits)
    args = ["train", "--algo", "greedy", "--seeds", "2", "--total-steps", "256", "--run-dir", str(tmp_path / "cli")]
    assert cli.main(args) == 0
    assert "final true return over 2 seeds" in capsys.readouterr().out
    # exported through the contract's policy_of, and loaded back without the learner's code
    policy = jrew.load_policy(policy_lib.export(tmp_path / "r", run=1))
    assert policy.spec["kind"] == "constant_logits" and policy.spec["source"]["seed"] == 1
    np.testing.assert_array_equal(policy.params["logits"], resumed.state.logits[1])
    action = policy.act(jnp.zeros(4), deterministic=True)
    assert int(action) == int(jnp.argmax(resumed.state.logits[1]))
    assert cli.main(["export", str(tmp_path / "cli"), "--run", "0", "--episodes", "2"]) == 0
    assert "loaded back: true return" in capsys.readouterr().out


def test_a_learner_whose_policy_cannot_be_exported_is_told_before_it_trains(registered):
    registered("unexportable", GreedyConfig, make_greedy,
               lambda config, saved: policy_lib.InferencePolicy({"kind": "constant_logits"}, {"logits": saved["weights"]}))
    with pytest.raises(TypeError, match=r"learner 'unexportable'.s policy_of .* failed on the learner's own saved "
                                        r"state: KeyError: 'weights'"):
        jrew.train(GreedyConfig(total_steps=256), seeds=1, progress=False)
    algos.ALGORITHMS.pop("unexportable")  # GreedyConfig trains with one learner at a time
    registered("unknown_head", GreedyConfig, make_greedy,
               lambda config, saved: policy_lib.InferencePolicy({"kind": "transformer"}, {"logits": saved["logits"]}))
    with pytest.raises(TypeError, match=r"names the head kind 'transformer', which is not registered"):
        jrew.train(GreedyConfig(total_steps=256), seeds=1, progress=False)


def test_a_learner_that_breaks_the_contract_is_told_what_is_missing(registered):
    def without_true_return(config, reward=None):
        trainer = make_greedy(config, reward)

        def update(state):
            state, metrics = trainer.update(state)
            return state, {k: v for k, v in metrics.items() if k != "true_return"}

        return trainer._replace(update=update)

    @struct.dataclass
    class BrokenConfig(GreedyConfig):
        pass

    registered("broken", BrokenConfig, without_true_return)
    with pytest.raises(TypeError, match=r"learner 'broken' breaks the runner's contract \(jrew/algos/base.py\): "
                                        r"its metrics have no 'true_return'"):
        jrew.train(BrokenConfig(total_steps=256), seeds=1, progress=False)


def test_configs_choose_their_learner():
    result = jrew.train(pg.PGConfig(num_groups=2, group_size=2, num_minibatches=2, total_steps=2000), seeds=1,
                        progress=False)  # no algo= needed
    assert result.metrics["loss"].shape == (1, 1)

    @struct.dataclass
    class Unregistered(GreedyConfig):
        pass

    with pytest.raises(TypeError, match=r"no learner is registered for Unregistered; the registered configs are "
                                        r"PPOConfig \(ppo\), PGConfig \(pg\)"):
        runner.train(Unregistered(total_steps=256), seeds=1, progress=False)
    with pytest.raises(TypeError, match="must subclass LearnerConfig"):
        algos.register("bad", dict, make_greedy, greedy_policy_of)
    with pytest.raises(TypeError, match="policy_of must be a function"):
        algos.register("bad", GreedyConfig, make_greedy, None)


def test_reading_and_plotting_a_run_directory_imports_no_training_code():
    code = (
        "import sys, jrew.plotting, jrew.run_dir, jrew.stats\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'orbax', 'flax', 'optax', 'brax', "
        "'gymnax', 'rich') or m.startswith(('jrew.algos', 'jrew.runner', 'jrew.program', 'jrew.rewards')))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("streams", [1, 2])
def test_critic_values_from_t_plus_one_states_equal_valuing_every_next_state(streams):
    """The collect step values s_0..s_T and each env's truncation final observations; that must
    equal valuing s_t and s'_t directly wherever a next value is used (not after a termination)."""
    from jrew.algos.collect import critic_values, max_truncations
    from jrew.rollout import random_policy, rollout

    env = envs.make("gymnax/CartPole-v1", episode_length=15)  # random actions: some poles fall before the limit
    state = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 16))
    last, traj = rollout(env, random_policy(env.action_space), state, jax.random.PRNGKey(1), 40)
    weights = jax.random.normal(jax.random.PRNGKey(2), (4, streams))
    value_fn = (lambda obs: obs @ weights[:, 0]) if streams == 1 else (lambda obs: obs @ weights)
    assert max_truncations(env, 40) == 3 and max_truncations(SimpleNamespace(episode_limit=None), 40) is None
    assert traj.truncated.sum() > 0 and traj.terminated.sum() > 0

    values, next_values = critic_values(value_fn, traj, last.obs, None)
    fast_values, fast_next = critic_values(value_fn, traj, last.obs, 3)
    used = np.asarray(traj.terminated == 0).reshape(40, 16, *(1,) * (streams > 1))
    np.testing.assert_allclose(fast_values, values, rtol=1e-6)
    np.testing.assert_allclose(np.where(used, fast_next, 0), np.where(used, next_values, 0), rtol=1e-6)
    # at a truncation the value is the cut-off episode's final observation's, not the next episode's start
    truncated = np.asarray(traj.truncated > 0)
    next_episode_start = np.concatenate([np.asarray(values)[1:], np.asarray(value_fn(last.obs))[None]])
    np.testing.assert_allclose(np.asarray(fast_next)[truncated], np.asarray(value_fn(traj.next_obs))[truncated], rtol=1e-6)
    assert not np.allclose(np.asarray(fast_next)[truncated], next_episode_start[truncated])

    # an env truncating more often than its time limit allows is reported (NaN), not bootstrapped wrongly
    _, bounded = critic_values(value_fn, traj, last.obs, 1)
    extra = truncated & (np.cumsum(truncated, axis=0) > 1)
    assert extra.any() and np.isnan(np.asarray(bounded)[extra]).all()
    assert not np.isnan(np.asarray(bounded)[~extra]).any()
