"""Critic-free policy gradients on grouped episodes: REINFORCE with baseline, RLOO and GRPO.

Each update resets ``num_groups x group_size`` envs, where the envs of a group share one reset
key and hence one start state (as G sampled completions share one prompt), runs one episode in
each (``num_steps`` = the episode limit; steps after an episode's end are masked out), and scores
each episode by its return R. Advantages are per episode and broadcast to its steps:

* ``reinforce``: R - mean over the batch (REINFORCE with a baseline; Williams 1992)
* ``rloo``:      R_i - mean of the other G-1 returns in the group (Kool et al. 2019; Ahmadian et al. 2024)
* ``grpo``:      (R_i - mean_g) / (std_g + eps), or without std (Shao et al. 2024, DeepSeekMath)

The loss is the clipped surrogate of PPO over ``num_epochs`` (one epoch on fresh samples is the
plain policy gradient), minus an entropy bonus, plus ``kl_coef`` times a k3 estimate of
KL(pi || pi_ref) to the initial policy (GRPO's reference-model penalty).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

import envs
from jrew import advantages as adv
from jrew import distributions, rewards
from jrew.algos.base import Trainer, check_learner_fields, numeric_inputs
from jrew.algos.sgd import epochs_of_minibatches
from jrew.config import positive, require, static
from jrew.networks import ActorCritic
from jrew.rollout import rollout

ESTIMATORS = ("reinforce", "rloo", "grpo")


@struct.dataclass
class PGConfig:
    """Critic-free learner settings; numeric fields are vmappable leaves."""

    env: str = static("gymnax/CartPole-v1")
    """env name for envs.make"""
    env_kwargs: tuple[tuple[str, str], ...] = static(())
    """extra env constructor kwargs as name value pairs"""
    episode_length: int | None = static(None)
    """time limit in steps; None keeps the env's own"""
    estimator: str = static("grpo")
    """reinforce, rloo or grpo"""
    total_steps: int = static(2_000_000)
    """simulated env steps per seed (num_steps per episode slot, masked steps included)"""
    num_groups: int = static(4)
    """start states per update"""
    group_size: int = static(8)
    """episodes per start state (G)"""
    num_steps: int = static(500)
    """steps simulated per episode slot: at least the episode limit"""
    num_epochs: int = static(4)
    """passes over each batch (1 = plain policy gradient)"""
    num_minibatches: int = static(2)
    """minibatches of episodes per epoch; must divide num_groups * group_size"""
    normalize_std: bool = static(True)
    """grpo: divide by the group's std (False: Dr. GRPO)"""
    filter_zero_variance: bool = static(False)
    """drop groups whose returns are all equal from the loss"""
    policy_hidden_sizes: tuple[int, ...] = static((64, 64))
    """policy MLP hidden layer sizes"""
    activation: str = static("tanh")
    """tanh, relu, swish or elu"""
    distribution: str = static("auto")
    """auto, categorical, normal or tanh_normal"""
    learning_rate: float = 1e-3
    """Adam step size (vmappable)"""
    gamma: float = 1.0
    """discount of the episode return (vmappable)"""
    clip_eps: float = 0.2
    """surrogate ratio clip (vmappable)"""
    kl_coef: float = 0.0
    """KL(pi || pi_ref) penalty to the initial policy (vmappable)"""
    ent_coef: float = 0.0
    """entropy bonus (vmappable)"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip (vmappable)"""

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        for name in ("total_steps", "num_groups", "group_size", "num_steps", "num_epochs", "num_minibatches"):
            require(name, getattr(self, name), positive, "a positive integer")
        if self.estimator == "rloo" and self.group_size < 2:
            raise ValueError(f"rloo needs group_size >= 2, got {self.group_size}")
        if self.batch_episodes % self.num_minibatches:
            raise ValueError(
                f"num_groups * group_size ({self.num_groups} * {self.group_size} = {self.batch_episodes}) "
                f"must be divisible by num_minibatches ({self.num_minibatches})"
            )
        if self.total_steps < self.steps_per_update:
            raise ValueError(
                f"total_steps ({self.total_steps}) is below one batch: "
                f"num_groups * group_size * num_steps = {self.steps_per_update}"
            )
        check_learner_fields(self, non_negative_fields=("kl_coef", "ent_coef"))

    @property
    def batch_episodes(self) -> int:
        return self.num_groups * self.group_size

    @property
    def steps_per_update(self) -> int:
        return self.batch_episodes * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.steps_per_update


class PGState(struct.PyTreeNode):
    params: Any
    reference_params: Any
    opt_state: Any
    reward_params: Any
    reward_state: Any
    key: jax.Array
    update_step: jax.Array
    config: PGConfig


def episode_mask(done: jax.Array) -> jax.Array:
    """1 for the steps of each env's first episode (its last step included), 0 after. ``[T, B]``."""
    ended_before = jnp.cumsum(done, axis=0) - done
    return (ended_before == 0).astype(done.dtype)


def reset_groups(env: envs.Env, key: jax.Array, num_groups: int, group_size: int) -> envs.State:
    """``num_groups * group_size`` env states, group-major; the envs of a group share a reset key,
    hence a start state (and, for stochastic envs, their dynamics' key)."""
    keys = jnp.repeat(jax.random.split(key, num_groups), group_size, axis=0)
    return jax.vmap(env.reset)(keys)


def group_advantages(returns: jax.Array, config: PGConfig) -> jax.Array:
    """Per-episode advantages ``[B]`` from returns ``[B]`` ordered group-major."""
    grouped = returns.reshape(config.num_groups, config.group_size)
    if config.estimator == "reinforce":
        return returns - returns.mean()
    if config.estimator == "rloo":
        return adv.rloo_advantages(grouped).reshape(-1)
    return adv.grpo_advantages(grouped, config.normalize_std).reshape(-1)


def make(config: PGConfig, reward: rewards.RewardTransform | None = None) -> Trainer:
    reward = rewards.identity() if reward is None else reward
    env = envs.make(config.env, episode_length=config.episode_length, **envs.parse_kwargs(config.env_kwargs))
    dist = distributions.for_action_space(env.action_space, config.distribution, config.env)
    # critic-free: the value head (no hidden layers) is never read or trained
    network = ActorCritic(config.policy_hidden_sizes, (), dist.head_size, dist.name != "categorical", config.activation)
    B, T = config.batch_episodes, config.num_steps

    def optimizer(cfg):
        return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.learning_rate, eps=1e-5))

    def policy_head(params, obs):
        return network.apply(params, obs, method=ActorCritic.policy)

    def init(key, hparams: PGConfig | None = None, reward_params=None) -> PGState:
        cfg, reward_params = numeric_inputs(config, hparams, reward, reward_params)
        k_params, k_state = jax.random.split(key)
        params = network.init(k_params, jnp.zeros((1, env.observation_size)))
        return PGState(
            params=params,
            reference_params=params,
            opt_state=optimizer(cfg).init(params),
            reward_params=reward_params,
            reward_state=reward.init(B),
            key=k_state,
            update_step=jnp.zeros((), jnp.int32),
            config=cfg,
        )

    def loss_fn(params, cfg, batch, key):
        obs, action, old_log_prob, advantage, mask, ref_log_prob = batch
        head = policy_head(params, obs)
        log_prob = dist.log_prob(head, action)
        log_ratio = log_prob - old_log_prob
        ratio = jnp.exp(log_ratio)
        clipped = jnp.clip(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps)
        count = jnp.maximum(mask.sum(), 1.0)
        masked_mean = lambda x: jnp.sum(x * mask) / count  # noqa: E731
        surrogate = -masked_mean(jnp.minimum(ratio * advantage, clipped * advantage))
        log_ref_ratio = ref_log_prob - log_prob
        kl = masked_mean(jnp.exp(log_ref_ratio) - log_ref_ratio - 1.0)  # k3, Schulman 2020
        entropy = masked_mean(dist.entropy(head, key))
        loss = surrogate + cfg.kl_coef * kl - cfg.ent_coef * entropy
        return loss, {
            "loss": loss,
            "policy_loss": surrogate,
            "kl_to_reference": kl,
            "entropy": entropy,
            "approx_kl": masked_mean((ratio - 1.0) - log_ratio),
            "clip_fraction": masked_mean((jnp.abs(ratio - 1.0) > cfg.clip_eps).astype(jnp.float32)),
        }

    def update(state: PGState):
        cfg = state.config
        key, reset_key, rollout_key, reward_key, epoch_key = jax.random.split(state.key, 5)
        env_state = reset_groups(env, reset_key, config.num_groups, config.group_size)

        def policy(obs, step_key):
            head = policy_head(state.params, obs)
            raw = dist.sample(step_key, head)
            return raw, dist.to_env_action(raw), dist.log_prob(head, raw)

        _, traj = rollout(env, policy, env_state, rollout_key, T)
        train_reward, reward_state, reward_metrics = reward.apply(
            state.reward_params, state.reward_state, rewards.RewardBatch(traj, cfg.gamma, reward_key, None)
        )
        mask = episode_mask(traj.done)
        discounts = cfg.gamma ** jnp.arange(T, dtype=jnp.float32)[:, None]
        returns = jnp.sum(mask * discounts * train_reward, axis=0)  # [B]
        advantage = group_advantages(returns, config)
        weight = jnp.ones(B)
        if config.filter_zero_variance:
            weight = jnp.repeat(adv.nonzero_variance_groups(returns.reshape(config.num_groups, -1)), config.group_size)
        ref_log_prob = dist.log_prob(policy_head(state.reference_params, traj.obs), traj.action)

        # episodes are the unit of minibatching: [T, B] -> B episodes of T steps
        episodes = jax.tree.map(
            lambda x: jnp.swapaxes(x, 0, 1),
            (traj.obs, traj.action, traj.log_prob, jnp.broadcast_to(advantage, (T, B)), mask * weight, ref_log_prob),
        )
        params, opt_state, metrics = epochs_of_minibatches(
            lambda p, batch, k: loss_fn(p, cfg, batch, k),
            optimizer(cfg), state.params, state.opt_state, episodes, epoch_key, config.num_epochs, config.num_minibatches,
        )
        metrics.update({
            "true_return": jnp.sum(mask * traj.true_reward, axis=0).mean(),
            "env_return": jnp.sum(mask * traj.reward, axis=0).mean(),
            "train_return": returns.mean(),
            "episode_length": mask.sum(axis=0).mean(),
            "zero_variance_groups": 1.0 - adv.nonzero_variance_groups(returns.reshape(config.num_groups, -1)).mean(),
        })
        metrics.update({f"reward/{k}": v for k, v in reward_metrics.items()})
        steps_in_episodes = jnp.maximum(mask.sum(), 1.0)
        metrics.update({f"env/{k}": jnp.sum(mask * v) / steps_in_episodes for k, v in traj.env_metrics.items()})
        new_state = state.replace(
            params=params, opt_state=opt_state, reward_state=reward_state, key=key, update_step=state.update_step + 1
        )
        return new_state, metrics

    def act(state: PGState, obs: jax.Array, key: jax.Array) -> jax.Array:
        """A sampled action of ``state``'s policy for one observation (e.g. to render an episode)."""
        return dist.to_env_action(dist.sample(key, policy_head(state.params, obs[None])))[0]

    return Trainer(config, env, init, update, config.num_updates, config.steps_per_update, act)
