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
reward pipeline nor the trainer that wrote it. What to take from that tree is the learner's part of
the contract (``jrew/algos/base.py``): its registered ``policy_of(config, saved) -> InferencePolicy``
names a head ``kind`` (``HEADS``: how to rebuild the network from the spec) and hands over its
parameters and observation statistics. A program checks it on the learner's own state before
training (``check_policy_of``), so a learner that cannot be exported is told before it trains.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

import envs
from jrew import config as config_lib
from jrew import distributions, normalization
from jrew import run_dir as files
from jrew.networks import ActorCritic, TokenActorCritic

FORMAT = "jrew-policy"
VERSION = 1
SPEC_FILE, PARAMS_FILE = "policy.json", "params.msgpack"
# The config fields that shape an actor-critic's policy network and its inputs.
NETWORK_FIELDS = ("policy_hidden_sizes", "activation", "distribution", "std_head", "min_std", "network",
                  "token_width", "token_depth", "token_heads")


class InferencePolicy(NamedTuple):
    """What a learner's ``policy_of(config, saved)`` hands over for one run."""

    spec: dict  # JSON: "kind" (a key of HEADS) and what that head needs to be rebuilt
    params: Any  # the policy's parameters (no value network, no optimizer state)
    obs_stats: Any = None  # observation-normalization statistics' fields, when the policy acts under them


# kind -> builder(spec, action_space, env_name) -> (apply(params, obs_batch) -> head, distribution)
HeadBuilder = Callable[[dict, Any, str], tuple[Callable[[Any, jax.Array], jax.Array], distributions.Distribution]]
HEADS: dict[str, HeadBuilder] = {}


def register_head(kind: str, builder: HeadBuilder) -> None:
    """Makes policies whose spec names ``kind`` loadable (a learner with its own policy network registers one)."""
    HEADS[kind] = builder


def _actor_critic_head(spec: dict, action_space, env_name: str):
    network, dist = _network(spec, action_space, env_name)
    return (lambda params, obs: network.apply({"params": params}, obs, method="policy")), dist


register_head("actor_critic", _actor_critic_head)


def actor_critic_policy(config, saved: Mapping[str, Any]) -> InferencePolicy:
    """``policy_of`` of the learners built on ``networks.ActorCritic`` (PPO, PG): the policy half
    of ``saved["params"]`` and, with ``normalize_observations``, ``saved["obs_stats"]``."""
    params = {k: v for k, v in saved["params"]["params"].items() if k != "value_net"}
    normalized = bool(getattr(config, "normalize_observations", False))
    network = {k: getattr(config, k) for k in NETWORK_FIELDS}
    return InferencePolicy({"kind": "actor_critic", "network": network}, params,
                           dict(saved["obs_stats"]) if normalized else None)


def check_policy_of(algo: str, policy_of: Callable, config, state: Any, env: envs.Env) -> None:
    """Raises ``TypeError`` where learner ``algo``'s ``policy_of`` cannot export a run of its own
    state (``state``: one run's shapes): it must read the state as checkpoints save it, name a
    registered head kind in a JSON spec, and give params that head maps observations through."""
    import orbax.checkpoint as ocp

    where = f"learner {algo!r}'s policy_of (the export part of the contract, jrew/algos/base.py)"
    try:
        exported = policy_of(config, ocp.tree.serialize_tree(state, keep_empty_nodes=True))
        kind = exported.spec["kind"]
        json.dumps(exported.spec)
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise TypeError(f"{where} failed on the learner's own saved state: {type(err).__name__}: {err}") from None
    if kind not in HEADS:
        raise TypeError(f"{where} names the head kind {kind!r}, which is not registered; known: {sorted(HEADS)} "
                        "(jrew.policy.register_head)")
    apply, dist = HEADS[kind](exported.spec, env.action_space, config.env)
    obs = jax.ShapeDtypeStruct((1, env.observation_size), jnp.float32)
    try:
        head = jax.eval_shape(apply, exported.params, obs)
    except Exception as err:  # noqa: BLE001  (any failure to apply is the learner's to fix; say which)
        raise TypeError(f"{where}: its {kind!r} head cannot apply its params to an observation: {err}") from None
    if head.shape != (1, dist.head_size):
        raise TypeError(f"{where}: its {kind!r} head maps an observation batch [1, {env.observation_size}] to "
                        f"{head.shape}, expected (1, {dist.head_size})")


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
    def _parts(self) -> tuple[Callable, distributions.Distribution]:
        kind = self.spec.get("kind", "actor_critic")  # exports from before the kind was recorded
        if kind not in HEADS:
            raise ValueError(f"this policy's head kind {kind!r} is not registered (known: {sorted(HEADS)}); import "
                             "the module of the learner that wrote it, which registers it (jrew.policy.register_head)")
        return HEADS[kind](self.spec, self.make_env(auto_reset=False).action_space, self.env_name)

    def head(self, obs: jax.Array) -> jax.Array:
        """Distribution parameters for a batch of observations ``[..., obs_size]``."""
        apply, _ = self._parts
        if self.obs_stats is not None:
            obs = normalization.normalize(self.obs_stats, obs)
        return apply(self.params, obs)

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


def _network(spec: dict, action_space, env_name: str) -> tuple[ActorCritic, distributions.Distribution]:
    net = spec["network"]
    dist = distributions.for_action_space(action_space, net.get("distribution", "auto"), env_name)
    if net.get("network", "mlp") != "mlp":  # exports from before token networks have no such key
        return TokenActorCritic(net["network"], dist.head_size + 1, dist.head_size, width=net["token_width"],
                                depth=net["token_depth"], heads=net["token_heads"]), dist
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
    from jrew import algos
    from jrew.checkpoints import Checkpoints

    run_dir = Path(run_dir)
    record = files.read_config(run_dir)
    algorithm = algos.by_name(record.algo)
    plan = files.read_plan(run_dir, algorithm.config_cls, pipelines=False)
    variant, seed = plan.run(run)
    config = config_lib.to_dict(plan.configs[variant])
    checkpoints = Checkpoints(run_dir)
    step = checkpoints.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {checkpoints.directory}")
    saved = jax.tree.map(lambda x: np.asarray(x[run]), checkpoints.restore_as_saved(step))
    exported = algorithm.policy_of(plan.configs[variant], saved)
    obs_stats = _running_stats(exported.obs_stats) if exported.obs_stats is not None else None
    spec = {
        "format": FORMAT, "version": VERSION, "algo": record.algo,
        "env": config["env"], "env_kwargs": [list(p) for p in config.get("env_kwargs") or ()],
        "episode_length": config.get("episode_length"),
        **json.loads(json.dumps(exported.spec)),  # as policy.json will hold it (tuples as lists)
        "normalize_observations": obs_stats is not None,
        "source": {"run_dir": str(run_dir), "run": run, "seed": seed, "update": int(step),
                   "variant": plan.labels[variant] if plan.named_variants else variant,
                   "reward": plan.descriptions[variant] if plan.descriptions else None},
    }
    params = exported.params
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
