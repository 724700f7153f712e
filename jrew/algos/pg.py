"""Critic-free policy gradients on grouped episodes: REINFORCE with baseline, RLOO and GRPO.

Each update resets ``num_groups x group_size`` envs, where the envs of a group share one reset
key and hence one start state (as G sampled completions share one prompt), runs one episode in
each (``num_steps`` >= the episode limit; steps after an episode's end are masked out, and the
reward pipeline sees them as invalid), and scores each episode by its return R. Advantages are
per episode and broadcast to its steps:

* ``reinforce``: R - mean over the batch (REINFORCE with a baseline; Williams 1992)
* ``rloo``:      R_i - mean of the other G-1 returns in the group (Kool et al. 2019; Ahmadian et al. 2024)
* ``grpo``:      (R_i - mean_g) / (std_g + eps), or without std (Shao et al. 2024, DeepSeekMath)

The loss is the clipped surrogate of PPO over ``num_epochs`` (one epoch on fresh samples is the
plain policy gradient), minus an entropy bonus, plus ``kl_coef`` times a k3 estimate of
KL(pi || pi_ref) to the initial policy (GRPO's reference-model penalty).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import einops
import jax
import jax.numpy as jnp
from flax import struct

import envs
from jrew import advantages as adv
from jrew import rewards
from jrew.algos import base
from jrew.algos.collect import collect
from jrew.algos.losses import adam, clipped_surrogate, k3_kl
from jrew.algos.sgd import epochs_of_minibatches
from jrew.config import non_negative, require, require_choice, static
from jrew.networks import ActorCritic
from jrew.types import EpisodeStats

ESTIMATORS = ("reinforce", "rloo", "grpo")


@struct.dataclass
class PGConfig(base.LearnerConfig):
    """Critic-free learner settings (and the shared ones of ``LearnerConfig``); numeric fields are
    vmappable leaves."""

    total_steps: int = static(2_000_000)
    """simulated env steps per seed (num_steps per episode slot, masked steps included)"""
    num_minibatches: int = static(2)
    """minibatches of episodes per epoch; must divide num_groups * group_size"""
    learning_rate: float = 1e-3
    """Adam step size (vmappable)"""
    gamma: float = 1.0
    """discount of the episode return (vmappable)"""
    ent_coef: float = 0.0
    """entropy bonus (vmappable)"""
    estimator: str = static("grpo")
    """reinforce, rloo or grpo"""
    num_groups: int = static(4)
    """start states per update"""
    group_size: int = static(8)
    """episodes per start state (G)"""
    num_steps: int = static(500)
    """steps simulated per episode slot: at least the env's episode limit"""
    normalize_std: bool = static(True)
    """grpo: divide by the group's std (False: Dr. GRPO)"""
    filter_zero_variance: bool = static(False)
    """drop groups whose returns are all equal from the loss"""
    kl_coef: float = 0.0
    """KL(pi || pi_ref) penalty to the initial policy (vmappable)"""

    def __post_init__(self):
        super().__post_init__()
        require_choice("estimator", self.estimator, ESTIMATORS)
        base.check_batch(self, ("num_groups", "group_size"), ("num_groups", "group_size", "num_steps"))
        if self.estimator == "rloo" and self.group_size < 2:
            raise ValueError(f"rloo needs group_size >= 2, got {self.group_size}")
        require("kl_coef", self.kl_coef, non_negative, ">= 0")

    @property
    def batch_episodes(self) -> int:
        return self.num_groups * self.group_size

    @property
    def steps_per_update(self) -> int:
        return self.batch_episodes * self.num_steps


class PGState(struct.PyTreeNode):
    params: Any
    reference_params: Any
    opt_state: Any
    episode_stats: EpisodeStats
    reward_hparams: Any
    reward_state: Any
    key: jax.Array
    update_step: jax.Array
    config: PGConfig


def reset_groups(env: envs.Env, key: jax.Array, num_groups: int, group_size: int) -> envs.State:
    """``num_groups * group_size`` env states, group-major; the envs of a group share a reset key,
    hence a start state (and, for stochastic envs, their dynamics' key)."""
    keys = einops.repeat(jax.random.split(key, num_groups), "g k -> (g n) k", n=group_size)
    return jax.vmap(env.reset)(keys)


def episode_returns(reward: jax.Array, mask: jax.Array, gamma) -> jax.Array:
    """Each env slot's discounted return from its first step, ``sum_t gamma^t mask_t r_t``: ``[T, B] -> [B]``."""
    discounts = gamma ** jnp.arange(reward.shape[0], dtype=jnp.float32)[:, None]
    return jnp.sum(mask * discounts * reward, axis=0)


def group_advantages(returns: jax.Array, config: PGConfig) -> jax.Array:
    """Per-episode advantages ``[B]`` from returns ``[B]`` ordered group-major."""
    grouped = einops.rearrange(returns, "(g n) -> g n", g=config.num_groups)
    if config.estimator == "reinforce":
        return returns - returns.mean()
    if config.estimator == "rloo":
        return adv.rloo_advantages(grouped).reshape(-1)
    return adv.grpo_advantages(grouped, config.normalize_std).reshape(-1)


def check_episode_limit(env: envs.Env, config: PGConfig) -> None:
    """Each env slot must hold a whole episode: refuse ``num_steps`` below the env's time limit."""
    limit = env.episode_limit
    if limit is None:
        raise ValueError(
            f"pg runs one whole episode per env slot, but {config.env} has no time limit; set episode_length"
        )
    if config.num_steps < limit:
        raise ValueError(
            f"num_steps ({config.num_steps}) is shorter than the episode limit of {config.env} ({limit}): "
            f"episodes would be cut. Set num_steps >= {limit}, or episode_length <= {config.num_steps}"
        )


@dataclasses.dataclass(frozen=True)
class PG(base.Learner):
    """The critic-free learner bound to the structure of a config; pure methods, static fields."""

    def policy_head(self, params, obs):
        return self.network.apply(params, obs, method=ActorCritic.policy)

    def init(self, key, hparams: PGConfig | None = None, reward_hparams=None) -> PGState:
        cfg, reward_hparams = base.numeric_inputs(self.config.defaults(), hparams, self.reward, reward_hparams)
        k_params, k_state = jax.random.split(key)
        params = self.network.init(k_params, jnp.zeros((1, self.env.observation_size)))
        return PGState(
            params=params,
            reference_params=params,
            opt_state=adam(cfg.max_grad_norm, cfg.learning_rate).init(params),
            episode_stats=EpisodeStats.zeros(self.config.batch_episodes, self.streams),
            reward_hparams=reward_hparams,
            reward_state=self.reward.init(reward_hparams, base.reward_init_key(key), self.spec),
            key=k_state,
            update_step=jnp.zeros((), jnp.int32),
            config=cfg,
        )

    def loss(self, params, cfg, batch, key):
        obs, action, old_log_prob, advantage, mask, ref_log_prob = batch
        head = self.policy_head(params, obs)
        log_prob = self.dist.log_prob(head, action)
        count = jnp.maximum(mask.sum(), 1.0)
        masked_mean = lambda x: jnp.sum(x * mask) / count
        surrogate, metrics = clipped_surrogate(log_prob, old_log_prob, advantage, cfg.clip_eps, masked_mean)
        log_ref_ratio = ref_log_prob - log_prob
        kl = masked_mean(k3_kl(log_ref_ratio))
        entropy = masked_mean(self.dist.entropy(head, key))
        loss = surrogate + cfg.kl_coef * kl - cfg.ent_coef * entropy
        return loss, {"loss": loss, "kl_to_reference": kl, "entropy": entropy, **metrics}

    def update(self, state: PGState):
        config, cfg = self.config, state.config
        B, T = config.batch_episodes, config.num_steps
        key, reset_key, rollout_key, reward_key, epoch_key = jax.random.split(state.key, 5)
        data = collect(
            self.env, base.sampling_policy(self.dist, lambda obs: self.policy_head(state.params, obs)),
            reset_groups(self.env, reset_key, config.num_groups, config.group_size), (rollout_key, reward_key), T,
            pipeline=self.reward, reward_hparams=state.reward_hparams, reward_state=state.reward_state,
            episode_stats=state.episode_stats, gamma=cfg.gamma, spec=self.spec, first_episode_only=True,
            reset=jnp.ones((B,), bool),
        )
        traj, mask = data.traj, data.valid
        returns = episode_returns(traj.reward, mask, cfg.gamma)  # [B]
        advantage = group_advantages(returns, config)
        informative = adv.nonzero_variance_groups(einops.rearrange(returns, "(g n) -> g n", g=config.num_groups))
        weight = einops.repeat(informative, "g -> (g n)", n=config.group_size) if config.filter_zero_variance else 1.0
        ref_log_prob = self.dist.log_prob(self.policy_head(state.reference_params, traj.obs), traj.action)
        # episodes are the unit of minibatching: [T, B] -> B episodes of T steps
        episodes = jax.tree.map(
            lambda x: einops.rearrange(x, "t b ... -> b t ..."),
            (traj.obs, traj.action, traj.log_prob, jnp.broadcast_to(advantage, (T, B)), mask * weight, ref_log_prob),
        )
        params, opt_state, metrics = epochs_of_minibatches(
            lambda p, batch, k: self.loss(p, cfg, batch, k), adam(cfg.max_grad_norm, cfg.learning_rate),
            state.params, state.opt_state, episodes, epoch_key, config.num_epochs, config.num_minibatches,
        )
        metrics.update(data.metrics)
        metrics["zero_variance_groups"] = 1.0 - informative.mean()
        new_state = state.replace(
            params=params, opt_state=opt_state, episode_stats=data.episode_stats, reward_state=data.reward_state,
            key=key, update_step=state.update_step + 1,
        )
        return new_state, metrics


def make(config: PGConfig, reward: rewards.RewardTransform | None = None) -> base.Trainer:
    """The ``Trainer`` of the critic-free learner for ``config``'s structure (``reward``: the pipeline)."""
    reward, streams = base.pipeline(config, reward, "pg")
    env, dist, spec = base.setup(config, config.batch_episodes)
    check_episode_limit(env, config)
    network = base.actor_critic(config, dist)
    learner = PG(config, env, dist, spec, network, reward, streams)
    act = base.acting(dist, lambda state, obs: learner.policy_head(state.params, obs))
    return base.Trainer(config, env, learner.init, learner.update, config.num_updates, config.steps_per_update, act)
