"""What every learner shares: the config fields, the contract with the runner, and setup.

The contract. A learner is a module with a config class (a ``LearnerConfig``) and
``make(config, reward=None) -> Trainer``, registered with one line in ``jrew/algos/__init__.py``.
The runner drives the ``Trainer`` and relies on this, and only this (``check_contract`` verifies
it when a program is built):

* ``init(key, hparams=None, reward_hparams=None) -> state`` and ``update(state) -> (state,
  metrics)`` are pure and jittable; ``vmap`` over ``key`` / ``hparams`` / ``reward_hparams`` is the
  run axis (seeds x variants). ``hparams`` is the config with other numbers, ``reward_hparams``
  the reward pipeline's numbers.
* the state is a pytree holding everything a run needs to continue (checkpointed as is), with an
  integer ``update_step`` counting updates. Where it keeps the config's numbers in ``state.config``
  (as PPO and PG do), a numeric field added later keeps older checkpoints resumable: they take
  its value from config.json, its default;
* ``metrics`` is a flat dict of scalars per update. It holds ``true_return`` (the mean return
  on the task's true objective of the last finished episodes; NaN before any) and at least one
  loss: every metric whose name ends in ``loss`` is checked for NaN/inf after each chunk;
* ``num_updates`` updates of ``steps_per_update`` env steps each make the run;
* ``act(state, obs, key, deterministic=False)`` samples the policy's env action for one
  observation (its mode when ``deterministic``);
* its registered ``policy_of(config, saved) -> jrew.policy.InferencePolicy`` exports one run: from
  the state as a checkpoint saves it (nested dicts of arrays), the policy's parameters, its
  observation statistics, and a JSON spec naming a head kind (``jrew.policy.HEADS``) that rebuilds
  the network. ``jrew.policy.actor_critic_policy`` serves learners built on ``networks.ActorCritic``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple

import jax
import tyro
from flax import struct

import envs
from jrew import distributions, rewards
from jrew.config import finite, is_numeric, non_negative, positive, require, require_choice, static, unit_interval
from jrew.networks import ACTIVATIONS, INITS, STD_HEADS, TOKEN_NETWORKS, ActorCritic, TokenActorCritic
from jrew.rollout import PolicyFn
from jrew.types import EnvSpec

# fold_in data for the reward pipeline's init key: large, so it cannot equal split(key, n)[i]
# (with partitionable threefry, fold_in(key, i) == split(key, n)[i])
_REWARD_INIT_KEY = 0x72657764


@struct.dataclass
class LearnerConfig:
    """The fields every learner shares: env, budget, policy network, optimizer and policy loss.

    A learner's config subclasses this (``flax.struct.dataclass``), adds its own fields and may
    redeclare a shared one to change its default. Static fields fix the program; numeric fields
    are vmappable leaves. ``__post_init__`` validates the shared fields.
    """

    env: str = static("gymnax/CartPole-v1")
    """env name for envs.make (`jrew envs` lists them)"""
    env_kwargs: Annotated[tuple[tuple[str, str], ...], tyro.conf.arg(metavar="KEY=VALUE [KEY=VALUE ...]")] = static(())
    """env constructor kwargs as key=value pairs, e.g. --env-kwargs size=8 backend=mjx"""
    episode_length: int | None = static(None)
    """time limit in steps (truncation); None keeps the env's own"""
    total_steps: int = static(500_000)
    """env steps per seed"""
    network: str = static("mlp")
    """mlp, or a token network over a token buffer (the envs.seq tasks): transformer (causal) or gru"""
    policy_hidden_sizes: tuple[int, ...] = static((64, 64))
    """policy MLP hidden layer sizes"""
    token_width: int = static(64)
    """token networks: embedding and hidden width"""
    token_depth: int = static(2)
    """token networks: transformer blocks or GRU layers"""
    token_heads: int = static(4)
    """transformer: attention heads (must divide token_width)"""
    activation: str = static("tanh")
    """tanh, relu, swish or elu"""
    distribution: str = static("auto")
    """auto (categorical or normal), categorical, normal or tanh_normal"""
    std_head: str = static("state_independent")
    """continuous policies' std: state_independent (a learned log-std vector) or state_dependent
    (softplus of a second policy output + min_std, as the gymnax baselines)"""
    min_std: float = static(1e-3)
    """floor of the state-dependent std"""
    kernel_init: str = static("orthogonal")
    """kernel initialization: orthogonal (gain sqrt 2, policy output 0.01), lecun_uniform (Brax) or
    lecun_normal (flax's default, the gymnax baselines)"""
    bias_init_scale: float = static(0.0)
    """biases start uniform in [0, bias_init_scale); 0: zero biases (the gymnax baselines: 0.05)"""
    sft_steps: int = static(0)
    """sequence lab: supervised pretraining steps on the task's demonstrations before RL (the
    reference model; 0: none)"""
    sft_seed: int = static(0)
    """sequence lab: the reference model's seed (its initialization and demonstrations)"""
    sft_batch_size: int = static(64)
    """sequence lab: demonstrations per pretraining step"""
    sft_learning_rate: float = static(1e-3)
    """sequence lab: Adam step size of pretraining"""
    sft_noise: float = static(0.0)
    """sequence lab: probability that a demonstration's answer token is a random digit (sets the
    reference's competence)"""
    num_epochs: int = static(4)
    """passes over each batch"""
    num_minibatches: int = static(4)
    """minibatches per epoch"""
    learning_rate: float = 2.5e-4
    """Adam step size (vmappable)"""
    gamma: float = 0.99
    """discount (vmappable)"""
    clip_eps: float = 0.2
    """clip range of the surrogate's probability ratio (vmappable)"""
    ent_coef: float = 0.01
    """entropy bonus coefficient (vmappable)"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip (vmappable)"""

    def __post_init__(self):
        for name in ("total_steps", "num_epochs", "num_minibatches"):
            require(name, getattr(self, name), positive, "a positive integer")
        require_choice("activation", self.activation, ACTIVATIONS)
        require_choice("network", self.network, ("mlp", *TOKEN_NETWORKS))
        for name in ("token_width", "token_depth", "token_heads", "sft_batch_size"):
            require(name, getattr(self, name), positive, "a positive integer")
        require("sft_steps", self.sft_steps, non_negative, ">= 0")
        require("sft_learning_rate", self.sft_learning_rate, positive, "> 0")
        require("sft_noise", self.sft_noise, unit_interval, "in [0, 1]")
        if self.network == "transformer" and self.token_width % self.token_heads:
            raise ValueError(f"token_heads ({self.token_heads}) must divide token_width ({self.token_width})")
        require_choice("distribution", self.distribution, distributions.NAMES)
        require_choice("std_head", self.std_head, STD_HEADS)
        require("min_std", self.min_std, non_negative, ">= 0")
        require_choice("kernel_init", self.kernel_init, INITS)
        require("bias_init_scale", self.bias_init_scale, non_negative, ">= 0")
        if self.episode_length is not None:
            require("episode_length", self.episode_length, positive, "a positive integer or None")
        for field in dataclasses.fields(self):
            if is_numeric(field):
                require(field.name, getattr(self, field.name), finite, "finite")
        require("learning_rate", self.learning_rate, positive, "> 0")
        require("gamma", self.gamma, unit_interval, "in [0, 1]")
        require("clip_eps", self.clip_eps, positive, "> 0")
        require("max_grad_norm", self.max_grad_norm, positive, "> 0")
        require("ent_coef", self.ent_coef, non_negative, ">= 0")

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.steps_per_update

    @property
    def steps_per_update(self) -> int:
        raise NotImplementedError


def check_batch(config: LearnerConfig, minibatch_fields: tuple[str, ...], step_fields: tuple[str, ...]) -> None:
    """The batch-shape fields are positive integers, the minibatches split the batch (the product of
    ``minibatch_fields``) evenly, and the budget holds one batch of env steps (the product of ``step_fields``)."""
    for name in dict.fromkeys(minibatch_fields + step_fields):
        require(name, getattr(config, name), positive, "a positive integer")
    units = math.prod(getattr(config, f) for f in minibatch_fields)
    if units % config.num_minibatches:
        values = " * ".join(str(getattr(config, f)) for f in minibatch_fields)
        raise ValueError(
            f"{' * '.join(minibatch_fields)} ({values} = {units}) must be divisible by num_minibatches "
            f"({config.num_minibatches})"
        )
    steps = math.prod(getattr(config, f) for f in step_fields)
    if config.total_steps < steps:
        raise ValueError(f"total_steps ({config.total_steps}) is below one batch: {' * '.join(step_fields)} = {steps}")


class Trainer(NamedTuple):
    """An algorithm bound to a config: what the runner drives (see the module docstring)."""

    config: LearnerConfig
    env: envs.Env
    init: Callable[..., Any]  # (key, hparams=None, reward_hparams=None) -> state
    update: Callable[[Any], tuple[Any, dict]]  # state -> (state, metrics)
    num_updates: int
    steps_per_update: int
    act: Callable[..., jax.Array]  # (state, obs, key, deterministic=False) -> env action, one env


class TracedFieldError(RuntimeError):
    """A vmappable config field read from a learner's static config instead of the traced state."""


class StaticConfig:
    """A learner config's structure: its static fields and the properties derived from them.

    A program trains several config variants with variant 0's learner object, so any number the
    learner read from its own config would be variant 0's for every variant: a silent error. This
    view makes that read loud: a numeric (vmappable) field raises ``TracedFieldError`` naming where
    to read it, the traced state (``state.config.<field>``). ``defaults()`` is the config as given,
    for ``init``'s numbers when no variant's are passed.
    """

    __slots__ = ("_config",)

    def __init__(self, config: LearnerConfig):
        object.__setattr__(self, "_config", config)

    def defaults(self) -> LearnerConfig:
        return self._config

    def __getattr__(self, name: str):
        config = object.__getattribute__(self, "_config")
        field = next((f for f in dataclasses.fields(config) if f.name == name), None)
        if field is not None and is_numeric(field):
            raise TracedFieldError(
                f"{type(config).__name__}.{name} is a vmappable hyperparameter: each variant of a program has its "
                f"own, in the traced state (state.config.{name}). The learner's static config holds variant 0's "
                "value only, so it does not give it out.")
        attr = getattr(type(config), name, None)
        if isinstance(attr, property):  # derived values see this view, so they too read static fields only
            return attr.fget(self)
        return getattr(config, name)

    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __eq__(self, other) -> bool:
        return isinstance(other, StaticConfig) and self._config == other._config

    def __hash__(self) -> int:
        return hash(self._config)

    def __repr__(self) -> str:
        return f"StaticConfig({self._config!r})"


@dataclasses.dataclass(frozen=True)
class Learner:
    """A learner bound to the structure of a config: what its pure methods need besides their
    arguments (env, action distribution, env-batch spec, network, reward pipeline and its streams).
    Subclasses add the methods; the object holds static structure only: ``config`` is a
    ``StaticConfig``, whose numeric fields raise (read them from the traced state)."""

    config: StaticConfig
    env: envs.Env
    dist: distributions.Distribution
    spec: EnvSpec
    network: Any
    reward: rewards.RewardTransform
    streams: tuple[str, ...]

    def __post_init__(self):
        if not isinstance(self.config, StaticConfig):
            object.__setattr__(self, "config", StaticConfig(self.config))


def check_contract(name: str, state_shape: Any, metrics_shape: dict) -> None:
    """Raises ``TypeError`` where a learner's state or metrics (shapes and dtypes, per run) break the contract."""
    problems = []
    if not hasattr(state_shape, "update_step"):
        problems.append("its state has no update_step")
    if "true_return" not in metrics_shape:
        problems.append("its metrics have no 'true_return'")
    if not loss_metrics(metrics_shape):
        problems.append("its metrics have no loss (a name ending in 'loss')")
    not_scalar = sorted(k for k, v in metrics_shape.items() if getattr(v, "shape", None) != ())
    if not_scalar:
        problems.append(f"metrics {not_scalar} are not scalars")
    if problems:
        raise TypeError(f"learner {name!r} breaks the runner's contract (jrew/algos/base.py): {'; '.join(problems)}")


def loss_metrics(metrics: dict) -> list[str]:
    """The metric names the runner checks for NaN: every name ending in ``loss``."""
    return sorted(k for k in metrics if k.endswith("loss"))


def setup(config: LearnerConfig, num_envs: int) -> tuple[envs.Env, distributions.Distribution, EnvSpec]:
    """The env, the action distribution and the env-batch spec of ``num_envs`` envs for ``config``."""
    env = envs.make(config.env, episode_length=config.episode_length, **envs.parse_kwargs(config.env_kwargs))
    dist = distributions.for_action_space(env.action_space, config.distribution, config.env)
    return env, dist, EnvSpec.of(env, num_envs)


def supported_streams(reward: rewards.RewardTransform, learner: str, supported=(rewards.protocol.EXTRINSIC,)) -> tuple[str, ...]:
    """The pipeline's reward streams, or a ``ValueError`` if the learner cannot train on them."""
    streams = rewards.protocol.streams_of(reward)
    extra = [s for s in streams if s not in supported]
    if extra:
        raise ValueError(
            f"{learner} trains on the streams {list(supported)} only, but the reward pipeline "
            f"{rewards.protocol.describe(reward)} writes {extra}"
        )
    return streams


def pipeline(config: LearnerConfig, reward: rewards.RewardTransform | None, learner: str,
             supported=(rewards.protocol.EXTRINSIC,)) -> tuple[rewards.RewardTransform, tuple[str, ...]]:
    """The reward pipeline a learner trains on (``identity`` for None) and its streams, checked:
    the learner can train on its streams, and the named functions it uses (``envs.named``) read
    ``config.env``'s observations."""
    from jrew.rewards import spec

    reward = rewards.identity() if reward is None else rewards.base.check_transform(reward)
    streams = supported_streams(reward, learner, supported)
    spec.check_named_functions(reward, config.env)
    return reward, streams


def numeric_inputs(config, hparams, reward: rewards.RewardTransform, reward_hparams) -> tuple[Any, Any]:
    """The config and reward hparams a state starts from, as float32 leaves (vmappable data).

    ``hparams`` / ``reward_hparams`` (None: the trainer's own) may differ from the trainer's only
    in numbers; anything structural would need a different compiled program.
    """
    cfg = config if hparams is None else hparams
    if jax.tree_util.tree_structure(cfg) != jax.tree_util.tree_structure(config):
        raise ValueError("hparams must differ from the trainer's config only in numeric fields")
    reward_hparams = reward.hparams if reward_hparams is None else reward_hparams
    if jax.tree_util.tree_structure(reward_hparams) != jax.tree_util.tree_structure(reward.hparams):
        raise ValueError("reward_hparams must have the structure of the trainer's reward transform's hparams")
    return rewards.protocol.as_hparams(cfg), rewards.protocol.as_hparams(reward_hparams)


def reward_init_key(key: jax.Array) -> jax.Array:
    """The key a run's reward pipeline is initialized with, apart from every other use of ``key``."""
    return jax.random.fold_in(key, _REWARD_INIT_KEY)


def actor_critic(config: LearnerConfig, dist: distributions.Distribution,
                 value_hidden_sizes: tuple[int, ...] | None = None,
                 num_values: int = 1) -> ActorCritic | TokenActorCritic:
    """The policy (and, with ``value_hidden_sizes``, value) network ``config`` describes: MLPs, or
    a token network (``config.network``) whose critic, if any, is a token network too."""
    if config.network != "mlp":
        return token_actor_critic(config, dist, value_hidden_sizes is not None, num_values)
    return ActorCritic(
        policy_hidden_sizes=config.policy_hidden_sizes,
        value_hidden_sizes=value_hidden_sizes,
        head_size=dist.head_size,
        continuous=dist.name != "categorical",
        activation=config.activation,
        num_values=num_values,
        std_head=config.std_head,
        min_std=config.min_std,
        kernel_init=config.kernel_init,
        bias_init_scale=config.bias_init_scale,
    )


def initial_params(learner: Learner, key: jax.Array) -> Any:
    """The network's initial parameters: random from ``key``, or (``sft_steps`` > 0) the reference
    model: random from ``sft_seed``, then the policy pretrained on the sequence task's
    demonstrations (``jrew.algos.reference``). Every run of a program then starts from the same
    reference, as RL runs start from one base model, and since it does not depend on the run's
    key, ``vmap`` computes the pretraining once for all runs."""
    from jrew.algos import reference

    config = learner.config
    if not config.sft_steps:
        return learner.network.init(key, jax.numpy.zeros((1, learner.env.observation_size)))
    k_init, k_sft = jax.random.split(jax.random.PRNGKey(config.sft_seed))
    params = learner.network.init(k_init, jax.numpy.zeros((1, learner.env.observation_size)))
    params, _ = reference.pretrain(
        lambda p, obs: learner.network.apply(p, obs, method="policy"), params, reference.sequence_task(learner.env),
        k_sft, steps=config.sft_steps, batch_size=config.sft_batch_size, learning_rate=config.sft_learning_rate,
        noise=config.sft_noise)
    return params


def token_actor_critic(config, dist: distributions.Distribution, critic: bool = False,
                       num_values: int = 1) -> TokenActorCritic:
    """The token network of ``config`` over a token buffer whose ids are the actions + 1 (PAD = 0)."""
    if dist.name != "categorical":
        raise ValueError(f"network={config.network!r} emits tokens: it needs a categorical policy, but {config.env} "
                         f"has a {dist.name} one (token networks are for the envs.seq tasks)")
    return TokenActorCritic(config.network, dist.head_size + 1, dist.head_size, critic, num_values,
                            config.token_width, config.token_depth, config.token_heads)


def sampling_policy(dist: distributions.Distribution, head_fn: Callable[[jax.Array], jax.Array]) -> PolicyFn:
    """Acting in a rollout: sample from the policy head, keep the raw action and its log-prob."""

    def policy(obs, key):
        head = head_fn(obs)
        raw_action = dist.sample(key, head)
        return raw_action, dist.to_env_action(raw_action), dist.log_prob(head, raw_action)

    return policy


def acting(dist: distributions.Distribution, head_fn: Callable[[Any, jax.Array], jax.Array]):
    """``act(state, obs, key, deterministic=False)`` for one observation, from ``head_fn(state,
    obs_batch)``: a sample of the policy, or its mode when ``deterministic`` (for evaluation)."""

    def act(state, obs, key, deterministic: bool = False):
        head = head_fn(state, obs[None])
        raw = dist.mode(head) if deterministic else dist.sample(key, head)
        return dist.to_env_action(raw)[0]

    return act
