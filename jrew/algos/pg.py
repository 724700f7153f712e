"""Critic-free policy gradients on grouped episodes: REINFORCE with baseline, RLOO and GRPO.

Each update resets ``num_groups x group_size`` envs, where the envs of a group share one reset
key and hence one start state (as G sampled completions share one prompt), runs one episode in
each (``num_steps`` >= the episode limit; steps after an episode's end are masked out, and the
reward pipeline sees them as invalid), and scores each episode by its return R. Advantages are
per episode and broadcast to its steps:

* ``reinforce``: R - mean over the batch (REINFORCE with a baseline; Williams 1992)
* ``rloo``:      R_i - mean of the other G-1 returns in the group (Kool et al. 2019; Ahmadian et al. 2024)
* ``grpo``:      (R_i - mean_g) / (std_g + eps), or without std (Shao et al. 2024, DeepSeekMath)
* ``tempo``:     per token: GRPO's plus the change of the prefix tree's value at the token
                 (TEMPO's prefix-to-tree credit; ``advantages.prefix_tree_advantages``)
* ``tp_grpo``:   per step: the episode's change over its greedy completion, plus the step's own
                 change at turning points (TP-GRPO; ``advantages.turning_point_advantages``).
                 The outcome after each prefix is measured by replaying the episode's first k
                 actions from its start state and completing it greedily (``prefix_returns``):
                 T + 1 extra episodes per sample, on the env's own reward
* ``oprl``:      per token: GRPO's plus ``process_reward_weight`` times the group-normalized implicit
                 step reward ``beta (log pi_phi - log pi_old)`` of a process reward model ``pi_phi``
                 (a token network, initialized as the policy), trained just before by trajectory-level
                 DPO on the batch's outcome preferences (OPRL / iStar; ``losses.trajectory_preference_loss``
                 and ``advantages.implicit_step_advantages``), alternately with the policy

The loss is the clipped surrogate of PPO over ``num_epochs`` (one epoch on fresh samples is the
plain policy gradient), minus an entropy bonus, aggregated over tokens as ``loss_aggregation``
says (``losses.aggregate``: DAPO's token mean, GRPO's sequence mean or Dr. GRPO's constant).
The reference policy pi_ref is the initial one (with ``sft_steps``, the pretrained reference
model), and ``kl_coef`` penalizes a ``kl_estimator`` estimate of KL(pi || pi_ref) either in the
loss (``kl_penalty="loss"``, GRPO's k3 term) or in the reward (``"reward"``: each sampled token's
estimate under the rollout policy is subtracted from its reward, as PPO-RLHF and TRL's RLOO do).
Dr. GRPO is ``normalize_std=False, loss_aggregation="constant"``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import einops
import jax
import jax.numpy as jnp
import optax
from flax import struct

import envs
from jrew import advantages as adv
from jrew import rewards
from jrew.algos import base
from jrew.algos.collect import collect
from jrew.algos.losses import (
    AGGREGATIONS,
    KL_ESTIMATORS,
    adam,
    aggregate,
    clipped_surrogate,
    k3_kl,
    kl_estimate,
    trajectory_preference_loss,
)
from jrew.algos.sgd import epochs_of_minibatches
from jrew.config import non_negative, positive, require, require_choice, static
from jrew.types import EpisodeStats

ESTIMATORS = ("reinforce", "rloo", "grpo", "tempo", "tp_grpo", "oprl")
KL_PENALTIES = ("loss", "reward")


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
    """reinforce, rloo, grpo, tempo (grpo plus prefix-tree token credit), tp_grpo (turning points) or oprl
    (grpo plus an implicit process reward model's step credit)"""
    num_groups: int = static(4)
    """start states per update"""
    group_size: int = static(8)
    """episodes per start state (G)"""
    num_steps: int = static(500)
    """steps simulated per episode slot: at least the env's episode limit"""
    normalize_std: bool = static(True)
    """grpo, tempo, tp_grpo, oprl: divide by the group's std (False: Dr. GRPO)"""
    loss_aggregation: str = static("token_mean")
    """token_mean (DAPO), sequence_mean (GRPO) or constant (Dr. GRPO)"""
    filter_zero_variance: bool = static(False)
    """drop groups whose returns are all equal from the loss"""
    kl_coef: float = 0.0
    """KL(pi || pi_ref) penalty to the initial (reference) policy (vmappable)"""
    kl_estimator: str = static("k3")
    """k1, k2 or k3 (Schulman 2020)"""
    kl_penalty: str = static("loss")
    """where the KL penalty goes: loss (GRPO) or reward (PPO-RLHF, RLOO)"""
    turning_point_eta: float = 1.0
    """tp_grpo: the weight η of a turning point's own change (vmappable)"""
    process_reward_beta: float = 0.05
    """oprl: β of the implicit step reward β (log π_φ − log π_old) (vmappable)"""
    process_reward_weight: float = 1.0
    """oprl: the weight of the step-level advantage added to the episode-level one (vmappable)"""
    process_reward_learning_rate: float = 1e-3
    """oprl: Adam step size of the process reward model (vmappable)"""
    process_reward_steps: int = static(1)
    """oprl: process reward model updates per policy update, on the whole batch"""

    def __post_init__(self):
        super().__post_init__()
        require_choice("estimator", self.estimator, ESTIMATORS)
        require_choice("loss_aggregation", self.loss_aggregation, AGGREGATIONS)
        require_choice("kl_estimator", self.kl_estimator, KL_ESTIMATORS)
        require_choice("kl_penalty", self.kl_penalty, KL_PENALTIES)
        base.check_batch(self, ("num_groups", "group_size"), ("num_groups", "group_size", "num_steps"))
        if self.estimator == "rloo" and self.group_size < 2:
            raise ValueError(f"rloo needs group_size >= 2, got {self.group_size}")
        require("kl_coef", self.kl_coef, non_negative, ">= 0")
        require("process_reward_beta", self.process_reward_beta, positive, "> 0")
        require("process_reward_learning_rate", self.process_reward_learning_rate, positive, "> 0")
        require("process_reward_steps", self.process_reward_steps, positive, "a positive integer")
        if self.estimator == "tp_grpo" and self.kl_penalty == "reward" and self.kl_coef > 0:
            raise ValueError("tp_grpo scores prefixes by replaying them on the env's reward, which a KL penalty in the "
                             "reward would not reach: use kl_penalty='loss'")

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


class ProcessRewardPGState(PGState):
    """``oprl``'s state: PG's plus the process reward model (a state class of its own, so that the
    other estimators' checkpoints keep their layout)."""

    process_reward_model: Any  # (params, optimizer state) of pi_phi


def reset_groups(env: envs.Env, key: jax.Array, num_groups: int, group_size: int) -> envs.State:
    """``num_groups * group_size`` env states, group-major; the envs of a group share a reset key,
    hence a start state (and, for stochastic envs, their dynamics' key)."""
    keys = einops.repeat(jax.random.split(key, num_groups), "g k -> (g n) k", n=group_size)
    return jax.vmap(env.reset)(keys)


def by_group(x: jax.Array, num_groups: int) -> jax.Array:
    """Episode-major ``[B, ...]`` (group-major, as ``reset_groups`` orders them) as ``[G, B / G, ...]``."""
    return einops.rearrange(x, "(g n) ... -> g n ...", g=num_groups)


def episode_returns(reward: jax.Array, mask: jax.Array, gamma) -> jax.Array:
    """Each env slot's discounted return from its first step, ``sum_t gamma^t mask_t r_t``: ``[T, B] -> [B]``."""
    discounts = gamma ** jnp.arange(reward.shape[0], dtype=jnp.float32)[:, None]
    return jnp.sum(mask * discounts * reward, axis=0)


def group_advantages(returns: jax.Array, config: PGConfig, tokens: jax.Array, mask: jax.Array) -> jax.Array:
    """Per-token advantages ``[B, T]`` from returns ``[B]`` ordered group-major, the episodes'
    actions ``tokens [B, T]`` and their valid-step ``mask [B, T]`` (only ``tempo`` reads them; the
    others give each episode one advantage for all its steps)."""
    grouped = by_group(returns, config.num_groups)
    per_token = lambda a: jnp.broadcast_to(a[:, None], tokens.shape[:2])
    if config.estimator == "reinforce":
        return per_token(returns - returns.mean())
    if config.estimator == "rloo":
        return per_token(adv.rloo_advantages(grouped).reshape(-1))
    if config.estimator == "tempo":
        tree = jax.vmap(adv.prefix_tree_advantages, in_axes=(0, 0, 0, None))
        groups = lambda x: by_group(x, config.num_groups)
        return einops.rearrange(tree(groups(tokens), groups(mask), grouped, config.normalize_std),
                                "g n t -> (g n) t")
    return per_token(adv.grpo_advantages(grouped, config.normalize_std).reshape(-1))


def prefix_returns(env: envs.Env, greedy_action, start: envs.State, actions: jax.Array, gamma) -> jax.Array:
    """``R [B, T + 1]``: for each prefix length ``k = 0 .. T``, the return of the episode that starts
    from ``start`` (batched ``[B]``), takes the recorded ``actions [T, B]`` (env actions) for its
    first ``k`` steps and ``greedy_action(obs [B, ...]) -> [B]`` after them, counted until its first
    episode ends (TP-GRPO's ``R_k``; ``R_T`` replays the sampled episode, ``R_0`` is the greedy one).
    The env must be deterministic given its start state (its dynamics' key lives in the state)."""
    step = jax.vmap(env.step)
    num_steps = actions.shape[0]

    def with_prefix(k):
        def body(carry, t_action):
            state, alive, total = carry
            t, recorded = t_action
            action = jnp.where(t < k, recorded, greedy_action(state.obs))
            state = step(state, action)
            total = total + alive * gamma**t * state.reward
            alive = alive * (1.0 - state.done)  # a termination or a truncation ends the first episode
            return (state, alive, total), None

        carry = (start, jnp.ones(actions.shape[1]), jnp.zeros(actions.shape[1]))
        (_, _, total), _ = jax.lax.scan(body, carry, (jnp.arange(num_steps), actions))
        return total

    return jax.vmap(with_prefix, out_axes=1)(jnp.arange(num_steps + 1))


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
        return self.network.apply(params, obs, method="policy")

    def init(self, key, hparams: PGConfig | None = None, reward_hparams=None) -> PGState:
        cfg, reward_hparams = base.numeric_inputs(self.config.defaults(), hparams, self.reward, reward_hparams)
        k_params, k_state = jax.random.split(key)
        params = base.initial_params(self, k_params)
        state = PGState(
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
        if self.config.estimator != "oprl":
            return state
        model = (params, self.process_reward_optimizer(cfg).init(params))  # pi_phi starts as the policy
        return ProcessRewardPGState(**vars(state), process_reward_model=model)

    @staticmethod
    def process_reward_optimizer(cfg: PGConfig):
        return adam(cfg.max_grad_norm, cfg.process_reward_learning_rate)

    def process_reward_advantages(self, state: PGState, cfg: PGConfig, obs, action, old_log_prob, mask, returns,
                                  outcomes):
        """OPRL's per-token advantages ``[B, T]``, from episode-major inputs ``[B, T, ...]``, the
        episodes' training ``returns [B]`` (the episode-level term's) and ``outcomes [B]`` (the
        preferences': undiscounted, without a KL penalty in the reward). Also returns the process
        reward model after its ``process_reward_steps`` updates on the batch's preferences (a
        batch without any leaves it as it was, Adam's state too), and its loss and pair accuracy
        before them with the batch's number of preference pairs (metrics)."""
        config = self.config
        groups = lambda x: by_group(x, config.num_groups)
        grouped_mask = groups(mask)

        def step_rewards(params):
            log_prob = self.dist.log_prob(self.policy_head(params, obs), action)
            return groups(cfg.process_reward_beta * (log_prob - old_log_prob))  # [g, n, T]

        def loss_fn(params):  # over all pairs of the batch
            loss, accuracy, pairs = trajectory_preference_loss(step_rewards(params), grouped_mask, groups(outcomes))
            return loss, (accuracy, pairs)

        optimizer = self.process_reward_optimizer(cfg)

        def prm_step(carry, _):
            params, opt_state = carry
            (loss, (accuracy, pairs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, new_opt_state = optimizer.update(grads, opt_state, params)
            stepped = (optax.apply_updates(params, updates), new_opt_state)
            return jax.tree.map(lambda new, old: jnp.where(pairs > 0, new, old), stepped, carry), (loss, accuracy, pairs)

        model, (loss, accuracy, pairs) = jax.lax.scan(prm_step, state.process_reward_model, None,
                                                      length=config.process_reward_steps)
        credit = jax.vmap(adv.implicit_step_advantages, in_axes=(0, 0, 0, None, None))
        advantage = credit(step_rewards(model[0]), grouped_mask, groups(returns), cfg.process_reward_weight,
                           config.normalize_std)
        return einops.rearrange(advantage, "g n t -> (g n) t"), model, {
            "process_reward_loss": loss[0], "process_reward_accuracy": accuracy[0], "process_reward_pairs": pairs[0]}

    def loss(self, params, cfg, batch, key):
        obs, action, old_log_prob, advantage, mask, ref_log_prob = batch  # [episodes, T, ...]
        head = self.policy_head(params, obs)
        log_prob = self.dist.log_prob(head, action)
        mean = lambda x: aggregate(x, mask, self.config.loss_aggregation)
        surrogate, metrics = clipped_surrogate(log_prob, old_log_prob, advantage, cfg.clip_eps, mean)
        kl = mean(kl_estimate(ref_log_prob - log_prob, self.config.kl_estimator))
        entropy = mean(self.dist.entropy(head, key))
        in_loss = 1.0 if self.config.kl_penalty == "loss" else 0.0
        loss = surrogate + in_loss * cfg.kl_coef * kl - cfg.ent_coef * entropy
        return loss, {"loss": loss, "kl_to_reference": kl, "entropy": entropy, **metrics}

    def turning_point_advantages(self, state: PGState, cfg: PGConfig, start: envs.State, env_actions):
        """TP-GRPO's per-step advantages ``[B, T]``, turning points ``[B, T]`` and each sample's replayed
        return ``[B]``: each episode's prefixes replayed from its group's start state and completed
        greedily (``prefix_returns``)."""
        config = self.config
        greedy = lambda obs: self.dist.to_env_action(self.dist.mode(self.policy_head(state.params, obs)))
        replays = prefix_returns(self.env, greedy, start, env_actions, cfg.gamma)  # [B, T + 1]
        tp = jax.vmap(adv.turning_point_advantages, in_axes=(0, None, None))
        advantage, turning = tp(by_group(replays, config.num_groups),
                                cfg.turning_point_eta, config.normalize_std)
        flat = lambda x: einops.rearrange(x, "g n t -> (g n) t")
        return flat(advantage), flat(turning), replays[:, -1]

    def update(self, state: PGState):
        config, cfg = self.config, state.config
        B, T = config.batch_episodes, config.num_steps
        key, reset_key, rollout_key, reward_key, epoch_key = jax.random.split(state.key, 5)
        start = reset_groups(self.env, reset_key, config.num_groups, config.group_size)  # tp_grpo replays from it too
        data = collect(
            self.env, base.sampling_policy(self.dist, lambda obs: self.policy_head(state.params, obs)),
            start, (rollout_key, reward_key), T,
            pipeline=self.reward, reward_hparams=state.reward_hparams, reward_state=state.reward_state,
            episode_stats=state.episode_stats, gamma=cfg.gamma, spec=self.spec, first_episode_only=True,
            reset=jnp.ones((B,), bool),
        )
        traj, mask = data.traj, data.valid
        ref_log_prob = self.dist.log_prob(self.policy_head(state.reference_params, traj.obs), traj.action)
        reward = traj.reward
        if config.kl_penalty == "reward":  # each sampled token pays its KL estimate under the rollout policy
            reward = reward - cfg.kl_coef * kl_estimate(ref_log_prob - traj.log_prob, config.kl_estimator)
        returns = episode_returns(reward, mask, cfg.gamma)  # [B]
        by_episode = lambda x: einops.rearrange(x, "t b ... -> b t ...")
        if config.estimator == "tp_grpo":
            advantage, turning, replayed = self.turning_point_advantages(state, cfg, start, traj.env_action)
        elif config.estimator == "oprl":
            outcomes = episode_returns(traj.reward, mask, 1.0)  # preferences: the reward itself, not its KL term
            advantage, model, prm_metrics = self.process_reward_advantages(
                state, cfg, *jax.tree.map(by_episode, (traj.obs, traj.action, traj.log_prob, mask)), returns, outcomes)
        else:
            advantage = group_advantages(returns, config, by_episode(traj.action), by_episode(mask))  # [B, T]
        informative = adv.nonzero_variance_groups(by_group(returns, config.num_groups))
        weight = einops.repeat(informative, "g -> (g n) 1", n=config.group_size) if config.filter_zero_variance else 1.0
        # episodes are the unit of minibatching: [T, B] -> B episodes of T steps
        episodes = (*jax.tree.map(by_episode, (traj.obs, traj.action, traj.log_prob)), advantage,
                    by_episode(mask) * weight,
                    by_episode(ref_log_prob))
        params, opt_state, metrics = epochs_of_minibatches(
            lambda p, batch, k: self.loss(p, cfg, batch, k), adam(cfg.max_grad_norm, cfg.learning_rate),
            state.params, state.opt_state, episodes, epoch_key, config.num_epochs, config.num_minibatches,
        )
        metrics.update(data.metrics)
        # KL(pi || pi_ref) of the sampling policy per completion (Gao et al.'s d^2): the per-token
        # conditional KLs' unbiased k3 estimates, summed over each completion's tokens
        metrics["kl_per_completion"] = jnp.mean(jnp.sum(k3_kl(ref_log_prob - traj.log_prob) * mask, axis=0))
        metrics["zero_variance_groups"] = 1.0 - informative.mean()
        if config.estimator == "tp_grpo":
            metrics["turning_points"] = jnp.sum(turning * by_episode(mask)) / B  # per episode
            # replaying a whole sample must give its own return: anything else is a broken replay
            metrics["replay_error"] = jnp.max(jnp.abs(replayed - returns))
        if config.estimator == "oprl":  # before this update's steps: how well pi_phi ranks fresh samples
            metrics.update(prm_metrics)
        new_state = state.replace(
            params=params, opt_state=opt_state, episode_stats=data.episode_stats, reward_state=data.reward_state,
            key=key, update_step=state.update_step + 1,
        )
        if config.estimator == "oprl":
            new_state = new_state.replace(process_reward_model=model)
        return new_state, metrics


def make(config: PGConfig, reward: rewards.RewardTransform | None = None) -> base.Trainer:
    """The ``Trainer`` of the critic-free learner for ``config``'s structure (``reward``: the pipeline)."""
    if config.estimator == "tp_grpo" and reward is not None and reward.name != "identity":
        raise ValueError(f"tp_grpo scores each prefix by replaying it on the env's own reward; a reward pipeline "
                         f"({reward.name}) would be skipped there. Use another estimator with a pipeline")
    reward, streams = base.pipeline(config, reward, "pg")
    env, dist, spec = base.setup(config, config.batch_episodes)
    check_episode_limit(env, config)
    network = base.actor_critic(config, dist)
    learner = PG(config, env, dist, spec, network, reward, streams)
    act = base.acting(dist, lambda state, obs: learner.policy_head(state.params, obs))
    return base.Trainer(config, env, learner.init, learner.update, config.num_updates, config.steps_per_update, act)
