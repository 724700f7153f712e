"""Inference policies: a trained run's policy network alone, exported and loaded without training code.

    jrew export runs/x --run 3                 (-> runs/x/policy-run3/{policy.json, params.msgpack})
    policy = jrew.load_policy("runs/x/policy-run3")
    env = policy.make_env()
    action = policy.act(obs, key)              (or deterministic=True: the distribution's mode)

An export holds the policy network's parameters, the observation-normalization statistics it
acts under, and what it needs to be rebuilt (env name and kwargs, network sizes, activation,
action distribution, std head), as ``policy.json`` plus flax msgpack. It holds no optimizer
state, value network, env state or reward pipeline: a run trained with any reward pipeline, a
Python-built one included, exports and loads with no reward code.

The export reads the checkpoint as saved (Orbax restores the raw tree), so it needs neither the
reward pipeline nor the trainer that wrote it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

import envs
from jrew import distributions, normalization
from jrew import run_dir as files
from jrew.networks import ActorCritic

FORMAT = "jrew-policy"
VERSION = 1
SPEC_FILE, PARAMS_FILE = "policy.json", "params.msgpack"
# The config fields that shape the policy network and its inputs.
NETWORK_FIELDS = ("policy_hidden_sizes", "activation", "distribution", "std_head", "min_std")


@dataclasses.dataclass(frozen=True)
class Policy:
    """A trained policy for inference: ``act(obs, key, deterministic=False)`` on one observation."""

    spec: dict  # policy.json: env, env_kwargs, episode_length, network, normalize_observations, source
    params: Any  # the policy network's flax params (no value network)
    obs_stats: normalization.RunningStats | None

    @property
    def env_name(self) -> str:
        return self.spec["env"]

    def make_env(self, auto_reset: bool = True) -> envs.Env:
        """The env the policy was trained in (same kwargs and time limit)."""
        kwargs = envs.parse_kwargs(self.spec.get("env_kwargs") or ())
        return envs.make(self.env_name, episode_length=self.spec.get("episode_length"), auto_reset=auto_reset, **kwargs)

    @functools.cached_property
    def _parts(self) -> tuple[ActorCritic, distributions.Distribution]:
        return _network(self.spec, self.make_env(auto_reset=False).action_space)

    def head(self, obs: jax.Array) -> jax.Array:
        """Distribution parameters for a batch of observations ``[..., obs_size]``."""
        network, _ = self._parts
        if self.obs_stats is not None:
            obs = normalization.normalize(self.obs_stats, obs)
        return network.apply({"params": self.params}, obs, method=ActorCritic.policy)

    def act(self, obs: jax.Array, key: jax.Array | None = None, deterministic: bool = False) -> jax.Array:
        """The env action for one observation: sampled with ``key``, or the mode when deterministic."""
        _, dist = self._parts
        head = self.head(obs[None])
        if not deterministic and key is None:
            raise ValueError("act needs a key to sample; pass deterministic=True for the policy's mode")
        raw = dist.mode(head) if deterministic else dist.sample(key, head)
        return dist.to_env_action(raw)[0]

    def evaluate(self, episodes: int = 16, deterministic: bool = True, seed: int = 0,
                 max_steps: int | None = None) -> dict[str, float]:
        """Mean true return, visible return and finished share over ``episodes`` episodes, as
        ``jrew.evaluation`` scores runs during training (same keys for the same ``seed``)."""
        from jrew.evaluation import Evaluation, policy_returns

        evaluation = Evaluation(every=1, episodes=episodes, deterministic=deterministic, seed=seed, max_steps=max_steps)
        act = lambda obs, k: self.act(obs, k, deterministic)
        run = jax.jit(lambda key: policy_returns(self.make_env(), act, key, evaluation))
        return {k: float(v) for k, v in run(jax.random.PRNGKey(seed)).items()}


def _network(spec: dict, action_space) -> tuple[ActorCritic, distributions.Distribution]:
    net = spec["network"]
    dist = distributions.for_action_space(action_space, net["distribution"], spec["env"])
    network = ActorCritic(
        policy_hidden_sizes=tuple(net["policy_hidden_sizes"]), value_hidden_sizes=None, head_size=dist.head_size,
        continuous=dist.name != "categorical", activation=net["activation"],
        std_head=net.get("std_head", "state_independent"), min_std=net.get("min_std", 1e-3),
    )
    return network, dist


def _running_stats(fields: dict) -> normalization.RunningStats:
    """Observation statistics from their saved fields (a checkpoint's or an export's)."""
    return normalization.RunningStats(**{k: jnp.asarray(v) for k, v in fields.items()})


def from_run(run_dir: str | Path, run: int = 0, step: int | None = None) -> Policy:
    """Run ``run``'s policy (runs numbered as in the metrics, variant-major) at checkpoint ``step``
    (default: the latest), read from the checkpoint as saved."""
    from jrew.checkpoints import Checkpoints

    run_dir = Path(run_dir)
    record = files.read_config(run_dir)
    num_variants = max(len(record.rewards), len(record.config_variants or ()), 1)
    num_runs = num_variants * len(record.seeds)
    if not isinstance(run, int) or not 0 <= run < num_runs:
        raise ValueError(f"run must be an int in [0, {num_runs}) for {run_dir} ({num_variants} variant(s) x "
                         f"{len(record.seeds)} seed(s)), got {run!r}")
    variant, seed = divmod(run, len(record.seeds))
    config = (record.config_variants or [record.config] * num_variants)[variant]
    checkpoints = Checkpoints(run_dir)
    step = checkpoints.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {checkpoints.directory}")
    raw = checkpoints.restore_as_saved(step)
    params = jax.tree.map(lambda x: np.asarray(x[run]), raw["params"]["params"])
    params.pop("value_net", None)
    normalized = bool(config.get("normalize_observations", False))
    obs_stats = None
    if normalized:
        obs_stats = _running_stats({k: np.asarray(v)[run] for k, v in raw["obs_stats"].items()})
    labels = record.variant_labels or []
    spec = {
        "format": FORMAT, "version": VERSION, "algo": record.algo,
        "env": config["env"], "env_kwargs": [list(p) for p in config.get("env_kwargs") or ()],
        "episode_length": config.get("episode_length"),
        "network": {k: config[k] for k in NETWORK_FIELDS if k in config},
        "normalize_observations": normalized,
        "source": {"run_dir": str(run_dir), "run": run, "seed": record.seeds[seed], "update": int(step),
                   "variant": labels[variant] if labels else variant,
                   "reward": record.rewards[variant] if record.rewards else None},
    }
    spec["network"].setdefault("distribution", "auto")
    return Policy(spec, jax.tree.map(jnp.asarray, params), obs_stats)


def export(run_dir: str | Path, run: int = 0, out: str | Path | None = None, step: int | None = None) -> Path:
    """Writes run ``run``'s inference policy to ``out`` (default ``<run_dir>/policy-run<run>``)."""
    policy = from_run(run_dir, run, step)
    out = Path(out) if out is not None else Path(run_dir) / f"policy-run{run}"
    out.mkdir(parents=True, exist_ok=True)
    (out / SPEC_FILE).write_text(json.dumps(policy.spec, indent=2) + "\n")
    state = {"params": policy.params}
    if policy.obs_stats is not None:
        state["obs_stats"] = flax.serialization.to_state_dict(policy.obs_stats)
    (out / PARAMS_FILE).write_bytes(flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, state)))
    return out


def load_policy(path: str | Path) -> Policy:
    """The policy ``export`` wrote to ``path`` (a folder holding policy.json and params.msgpack)."""
    path = Path(path)
    if not (path / SPEC_FILE).exists():
        hint = " (a run directory: export it first with `jrew export`)" if files.has_run(path) else ""
        raise FileNotFoundError(f"no {SPEC_FILE} in {path}{hint}")
    spec = json.loads((path / SPEC_FILE).read_text())
    if spec.get("format") != FORMAT or spec.get("version") != VERSION:
        raise ValueError(f"{path / SPEC_FILE} is not a {FORMAT} v{VERSION} file "
                         f"(format {spec.get('format')!r}, version {spec.get('version')!r})")
    state = flax.serialization.msgpack_restore((path / PARAMS_FILE).read_bytes())
    obs_stats = None
    if "obs_stats" in state:
        obs_stats = _running_stats(state["obs_stats"])
    return Policy(spec, jax.tree.map(jnp.asarray, state["params"]), obs_stats)
