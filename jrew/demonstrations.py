"""Expert demonstrations: episodes of a trained run's policy, recorded to a file for imitation.

  jrew demos runs/cartpole --episodes 10 --out demos/cartpole.npz

``record(run_dir, num_episodes)`` plays ``num_episodes`` episodes of one run's policy (at its
latest checkpoint) in one compiled, vmapped program and returns them as flat step arrays; ``save``
and ``load`` write and read them as ``.npz``. GAIL (``jrew.rewards.gail``) trains on them.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from envs.episodes import scan_episode
from jrew.types import first_episode_mask

STEP_ARRAYS = ("obs", "action", "next_obs", "true_reward")


@dataclasses.dataclass(frozen=True)
class Demonstrations:
    """The steps of ``len(episode_returns)`` episodes, concatenated: ``obs``, ``action`` and
    ``next_obs`` have one row per step. ``episode_returns`` are *true* returns (the task's
    objective), the number imitation is scored against."""

    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    true_reward: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    env: str = ""
    env_kwargs: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n = len(self.obs)
        if n == 0:
            raise ValueError("demonstrations must hold at least one step")
        rows = [len(getattr(self, k)) for k in STEP_ARRAYS]
        if len(set(rows)) != 1:
            raise ValueError(f"{', '.join(STEP_ARRAYS)} need one row per step each, got {rows} rows")
        if int(np.sum(self.episode_lengths)) != n:
            raise ValueError(f"episode_lengths sum to {int(np.sum(self.episode_lengths))}, but there are {n} steps")

    @property
    def num_steps(self) -> int:
        return len(self.obs)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.episode_returns))


def record(run_dir: str | Path, num_episodes: int, *, run: int = 0, seed: int = 0, max_steps: int = 1000
           ) -> Demonstrations:
    """``num_episodes`` episodes of run ``run``'s policy at the latest checkpoint of ``run_dir``
    (sampled actions, as it was trained), from reset keys derived from ``seed``."""
    from jrew import run_dir as run_files
    from jrew import runner

    env, act = runner.trained_policy(run_dir, run)
    config = run_files.read_config(run_dir).config
    return play(env, act, num_episodes, seed=seed, max_steps=max_steps, env_name=config.get("env", ""),
                env_kwargs=dict(config.get("env_kwargs") or ()))


def play(env, act, num_episodes: int, *, seed: int = 0, max_steps: int = 1000, env_name: str = "",
         env_kwargs: dict | None = None) -> Demonstrations:
    """``num_episodes`` episodes of ``act(obs, key) -> action`` in ``env``, in one vmapped program;
    each runs until it ends or ``max_steps`` (e.g. ``envs.render.random_actions(env)`` for a
    random policy's episodes)."""
    if not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be a positive int, got {num_episodes!r}")

    def record(state, action, nxt):
        return state.obs, action, nxt.obs, nxt.info["true_reward"], nxt.done

    episode = jax.jit(jax.vmap(lambda key: scan_episode(env, act, key, max_steps, record)[1]))
    obs, action, next_obs, true_reward, done = jax.device_get(
        episode(jax.random.split(jax.random.PRNGKey(seed), num_episodes)))
    mask = np.asarray(first_episode_mask(jnp.asarray(done), axis=1)) > 0  # [episodes, steps]
    unfinished = int(np.sum(~(np.asarray(done) > 0).any(axis=1)))
    if unfinished:
        warnings.warn(f"{unfinished} of {num_episodes} episodes had not ended after max_steps={max_steps}; "
                      "they are recorded cut there", stacklevel=2)
    return Demonstrations(
        obs=obs[mask], action=action[mask], next_obs=next_obs[mask], true_reward=true_reward[mask],
        episode_returns=np.sum(np.where(mask, true_reward, 0.0), axis=1).astype(np.float32),
        episode_lengths=mask.sum(axis=1).astype(np.int32), env=env_name, env_kwargs=dict(env_kwargs or {}),
    )


def concatenate(parts: list[Demonstrations]) -> Demonstrations:
    """The episodes of several recordings of one env as one (e.g. an expert's and a random policy's)."""
    envs_seen = {p.env for p in parts}
    if len(envs_seen) > 1:
        raise ValueError(f"cannot concatenate demonstrations of different envs: {sorted(envs_seen)}")
    arrays = {k: np.concatenate([getattr(p, k) for p in parts])
              for k in (*STEP_ARRAYS, "episode_returns", "episode_lengths")}
    return Demonstrations(**arrays, env=parts[0].env, env_kwargs=parts[0].env_kwargs)


def save(demos: Demonstrations, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: getattr(demos, k) for k in (*STEP_ARRAYS, "episode_returns", "episode_lengths")}
    meta = json.dumps({"env": demos.env, "env_kwargs": demos.env_kwargs})
    with path.open("wb") as f:
        np.savez_compressed(f, meta=np.asarray(meta), **arrays)
    return path


def load(path: str | Path) -> Demonstrations:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no demonstrations file {path}")
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        return Demonstrations(**{k: data[k] for k in data.files if k != "meta"}, **meta)
