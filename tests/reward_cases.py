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
    return Transition(
        obs=obs,
        action=jnp.zeros((T, B), jnp.int32) if action is None else jnp.asarray(action, jnp.int32),
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


def run(transform, traj, state=None, gamma=0.9, key=jax.random.PRNGKey(0), value_fn=None, valid=None, reset=None,
        stream=R.EXTRINSIC):
    """``(reward, state, metrics)`` of one apply; ``reward`` is the stream ``stream``."""
    hparams = R.as_hparams(transform.hparams)
    state = transform.init(hparams, jax.random.PRNGKey(1), spec(traj)) if state is None else state
    batch = R.RewardBatch.create(traj, R.streams_of(transform), jnp.float32(gamma), key, valid=valid, reset=reset,
                                 value_fn=value_fn, spec=spec(traj))
    rewards, state, metrics = R.apply_checked(transform, hparams, state, batch)
    return rewards[stream], state, metrics


def col(values):
    """A [T, 1] column from a list (one env)."""
    return np.asarray(values, np.float32)[:, None]
