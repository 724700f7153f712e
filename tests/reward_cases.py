"""Hand-made rollouts and one-call transform application, for tests of reward transforms."""

import jax
import jax.numpy as jnp
import numpy as np

import envs
from jrew import rewards as R
from jrew.types import EnvSpec, Transition


def rollout(reward, terminated=None, truncated=None, obs=None, next_obs=None, metrics=None, action=None):
    reward = jnp.asarray(reward, jnp.float32)
    T, B = reward.shape
    zeros = jnp.zeros((T, B))
    if obs is None:
        obs = jnp.zeros((T, B, 2)) if next_obs is None else jnp.zeros(np.shape(next_obs), jnp.float32)
    obs = jnp.asarray(obs, jnp.float32)
    action = jnp.zeros((T, B), jnp.int32) if action is None else jnp.asarray(action, jnp.int32)
    return Transition(
        obs=obs,
        action=action,
        env_action=action,
        log_prob=zeros,
        value=zeros,
        reward=reward,
        true_reward=reward,
        terminated=zeros if terminated is None else jnp.asarray(terminated, jnp.float32),
        truncated=zeros if truncated is None else jnp.asarray(truncated, jnp.float32),
        next_obs=obs if next_obs is None else jnp.asarray(next_obs, jnp.float32),
        env_metrics={} if metrics is None else {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()},
    )


def spec(traj, num_actions=2):
    return EnvSpec(traj.obs.shape[2:], np.dtype(np.float32), envs.Discrete(num_actions), traj.reward.shape[1])


def run(transform, traj, state=None, gamma=0.9, key=None, value_fn=None, valid=None, reset=None,
        stream=R.protocol.EXTRINSIC):
    """``(reward, state, metrics)`` of one apply; ``reward`` is the stream ``stream`` (``key``: PRNGKey(0) by default)."""
    key = jax.random.PRNGKey(0) if key is None else key
    hparams = R.protocol.as_hparams(transform.hparams)
    state = transform.init(hparams, jax.random.PRNGKey(1), spec(traj)) if state is None else state
    batch = R.protocol.RewardBatch.create(traj, R.protocol.streams_of(transform), jnp.float32(gamma), key, valid=valid, reset=reset,
                                 value_fn=value_fn, spec=spec(traj))
    rewards, state, metrics = R.protocol.apply_checked(transform, hparams, state, batch)
    return rewards[stream], state, metrics


def col(values):
    """A [T, 1] column from a list (one env)."""
    return np.asarray(values, np.float32)[:, None]


def assert_resume_is_bit_identical(config, reward, run_dir, metric_names, seeds=2):
    """Trains ``reward`` uninterrupted and paused at update 3 then resumed; the reward state and
    ``metric_names`` must match bit for bit. Returns the uninterrupted result."""
    from jrew import runner

    whole = runner.train(config, seeds=seeds, reward=reward, chunk_updates=2, progress=False)
    runner.train(config, seeds=seeds, reward=reward, run_dir=run_dir, chunk_updates=2, until_update=3, progress=False)
    resumed = runner.resume(run_dir, reward=reward, progress=False)
    same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), whole.state.reward_state, resumed.state.reward_state)
    assert all(jax.tree.leaves(same))
    for name in metric_names:
        np.testing.assert_array_equal(whole.metrics[name], resumed.metrics[name])
    return whole
