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

With several reward components per episode (``reward_components``: env metrics such as a task's
``components``, each summed over the episode's valid steps like the return), ``multi_reward``
replaces GRPO's scalar return (``multi_reward_advantages``; ``w`` = ``reward_weights``, vmappable):

* ``weighted_sum``:     GRPO on ``sum_k w_k R_k``
* ``group_normalized``: each component normalized within its group, weighted, summed, then
                        normalized over the batch (GDPO; Liu et al. 2026)
* ``pareto``:           ``weighted_sum``'s advantage on each group's non-dominated samples only; the
                        dominated ones leave the loss (Parrot's Pareto-optimal selection; Lee et al. 2024)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import einops
import jax
import jax.numpy as jnp
import numpy as np
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
from jrew.config import concrete_values, non_negative, positive, require, require_choice, static
from jrew.types import EpisodeStats

ESTIMATORS = ("reinforce", "rloo", "grpo", "tempo", "tp_grpo", "oprl")
KL_PENALTIES = ("loss", "reward")
MULTI_REWARDS = ("none", "weighted_sum", "group_normalized", "pareto")


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
    multi_reward: str = static("none")
    """none (the env's reward), or how grpo combines ``reward_components``: weighted_sum, group_normalized
    (GDPO) or pareto (Parrot's non-dominated selection)"""
    reward_components: tuple[str, ...] = static(())
    """multi_reward: the env metrics that are the reward components (larger is better), e.g. correctness format
    brevity on seq/addition_components"""
    reward_weights: tuple[float, ...] = ()
    """multi_reward: one weight >= 0 per component (vmappable); 0 leaves a component out"""

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
        check_multi_reward(self)

    @property
    def batch_episodes(self) -> int:
        return self.num_groups * self.group_size

    @property
    def steps_per_update(self) -> int:
        return self.batch_episodes * self.num_steps


def check_multi_reward(config: PGConfig) -> None:
    """``multi_reward``'s settings agree: components and one weight >= 0 each (some > 0), with grpo and
    the KL penalty in the loss; none of them without ``multi_reward``."""
    require_choice("multi_reward", config.multi_reward, MULTI_REWARDS)
    names, weights = config.reward_components, config.reward_weights
    # an empty reward_weights is a leaf to some tree walkers (Orbax's), which rebuild the config with
    # their own object there: only a tuple or a list is the user's
    given = isinstance(weights, (tuple, list)) and len(weights) > 0
    if config.multi_reward == "none":
        if names or given:
            raise ValueError(f"reward_components {names} and reward_weights {weights} are read only by multi_reward: "
                             f"set multi_reward to one of {MULTI_REWARDS[1:]}")
        return
    if not isinstance(names, tuple) or not names or len(set(names)) != len(names) or not all(
            isinstance(n, str) and n for n in names):
        raise ValueError(f"multi_reward={config.multi_reward!r} needs a tuple of distinct reward_components (env "
                         f"metric names), got {names!r}")
    if not isinstance(weights, tuple) or len(weights) != len(names):
        raise ValueError(f"reward_weights must be a tuple of one weight per reward component ({len(names)}: "
                         f"{', '.join(names)}), got {weights!r}")
    for name, w in zip(names, weights):
        require(f"reward_weights[{name}]", w, lambda a: np.isfinite(a) & (a >= 0), "finite and >= 0")
    values = [concrete_values(w) for w in weights]
    if all(v is not None for v in values) and not np.all(np.sum([v > 0 for v in values], axis=0) > 0):
        raise ValueError(f"reward_weights must have a weight > 0, got {weights}")
    if config.estimator != "grpo":
        raise ValueError(f"multi_reward={config.multi_reward!r} replaces grpo's group advantage: it needs "
                         f"estimator='grpo', got {config.estimator!r}")
    if config.kl_penalty == "reward":
        raise ValueError(f"multi_reward={config.multi_reward!r} combines the env's reward components, which a KL "
                         "penalty in the reward would not reach: use kl_penalty='loss'")


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


def component_returns(env_metrics: dict, names: tuple[str, ...], mask: jax.Array, gamma) -> jax.Array:
    """``R [B, K]``: each env slot's discounted return of each reward component ``names[k]`` (an env
    metric ``[T, B]``), counted over its valid steps like the reward's (``episode_returns``)."""
    return jnp.stack([episode_returns(env_metrics[name], mask, gamma) for name in names], axis=-1)


def multi_reward_advantages(components: jax.Array, weights, config: PGConfig) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Episode advantages ``[B]``, loss weights ``keep [B]`` and the groups with a signal ``[num_groups]``
    from ``K`` reward components ``R [B, K]`` (group-major) and their weights ``w [K]``, as
    ``config.multi_reward`` combines them (``A = grpo(x)`` is ``grpo_advantages`` within each group,
    its std division as ``normalize_std`` says):

    * ``weighted_sum``:     ``A_i = grpo(sum_k w_k R_ik)``, every sample kept
    * ``group_normalized``: ``A_i = whiten_B(sum_k w_k grpo(R_k)_i)``, every sample kept (GDPO, Liu et al.
      2026, arXiv:2601.05242; ``advantages.decoupled_normalized_advantages``)
    * ``pareto``:           ``weighted_sum``'s ``A_i`` and ``keep_i = 1`` for the samples no other sample of
      their group Pareto-dominates on ``w ⊙ R`` (Parrot, Lee et al. 2024, arXiv:2401.05675;
      ``advantages.non_dominated``), ``keep_i = 0`` for the dominated ones

    The selection runs per group, where samples share a prompt: samples of different prompts
    are not comparable (a hard prompt's best answer would be dominated by an easy prompt's).
    The group's statistics (mean, std) count all its samples, so a kept sample's advantage says
    how much better than the policy's average on its prompt it is; a group of one kept sample
    still learns from it. A weight of 0 leaves its component out of the selection too. A group
    has a signal when a weighted component (group_normalized) or the weighted sum (the others)
    varies in it (``advantages.nonzero_variance_groups``).
    """
    grouped = by_group(components, config.num_groups)  # [G, n, K]
    weighted = grouped * jnp.asarray(weights, components.dtype)
    keep = jnp.ones(grouped.shape[:2], components.dtype)
    if config.multi_reward == "group_normalized":
        advantage = adv.decoupled_normalized_advantages(grouped, weights, config.normalize_std)
        per_component = einops.rearrange(weighted, "g n k -> (k g) n")
        informative = einops.reduce(adv.nonzero_variance_groups(per_component), "(k g) -> g", "max", g=config.num_groups)
    else:
        score = weighted.sum(axis=-1)  # [G, n]
        advantage = adv.grpo_advantages(score, config.normalize_std)
        informative = adv.nonzero_variance_groups(score)
        if config.multi_reward == "pareto":
            keep = adv.non_dominated(weighted).astype(components.dtype)
    return advantage.reshape(-1), keep.reshape(-1), informative


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


def check_reward_components(env: envs.Env, config: PGConfig) -> None:
    """Each of ``reward_components`` is a metric the env reports."""
    if not config.reward_components:
        return
    reported = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).metrics
    missing = [name for name in config.reward_components if name not in reported]
    if missing:
        raise ValueError(f"reward_components {missing} are not metrics of {config.env}; it reports "
                         f"{', '.join(sorted(reported)) or 'none'}")


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
        elif config.multi_reward == "none":
            advantage = group_advantages(returns, config, by_episode(traj.action), by_episode(mask))  # [B, T]
        informative = adv.nonzero_variance_groups(by_group(returns, config.num_groups))
        keep = 1.0
        if config.multi_reward != "none":  # the components' combination replaces the return's advantage
            components = component_returns(traj.env_metrics, config.reward_components, mask, cfg.gamma)  # [B, K]
            advantage, keep, informative = multi_reward_advantages(components, cfg.reward_weights, config)
            advantage, keep = jnp.broadcast_to(advantage[:, None], (B, T)), keep[:, None]
        weight = einops.repeat(informative, "g -> (g n) 1", n=config.group_size) if config.filter_zero_variance else 1.0
        weight = weight * keep  # pareto: a dominated sample leaves the loss and all its statistics
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
        if config.multi_reward != "none":  # each component per episode (undiscounted), over all samples
            totals = component_returns(traj.env_metrics, config.reward_components, mask, 1.0).mean(axis=0)
            metrics.update({f"component/{name}": totals[k] for k, name in enumerate(config.reward_components)})
            metrics["kept_share"] = jnp.mean(keep)
        new_state = state.replace(
            params=params, opt_state=opt_state, episode_stats=data.episode_stats, reward_state=data.reward_state,
            key=key, update_step=state.update_step + 1,
        )
        if config.estimator == "oprl":
            new_state = new_state.replace(process_reward_model=model)
        return new_state, metrics


class ReferencePolicy(NamedTuple):
    """A sequence learner's reference model and how to run it: ``policy_logits(params, obs)``."""

    task: Any
    policy_logits: Callable
    params: Any
    spec: Any


def reference_policy(config: PGConfig) -> ReferencePolicy:
    """``config``'s reference model (its SFT steps run inside ``init``; the same for every seed, set
    by ``sft_seed``) with the env's task and batch spec: what samples the comparisons a reward
    model over completions trains on (``jrew.rewards.completions.completion_preferences``)."""
    trainer = make(config)
    learner = trainer.update.__self__
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    return ReferencePolicy(trainer.env.unwrapped.task, learner.policy_head, state.reference_params, learner.spec)


def make(config: PGConfig, reward: rewards.RewardTransform | None = None) -> base.Trainer:
    """The ``Trainer`` of the critic-free learner for ``config``'s structure (``reward``: the pipeline)."""
    if config.estimator == "tp_grpo" and reward is not None and reward.name != "identity":
        raise ValueError(f"tp_grpo scores each prefix by replaying it on the env's own reward; a reward pipeline "
                         f"({reward.name}) would be skipped there. Use another estimator with a pipeline")
    if config.multi_reward != "none" and reward is not None and reward.name != "identity":
        raise ValueError(f"multi_reward={config.multi_reward!r} reads the reward components from the env's metrics; "
                         f"a reward pipeline ({reward.name}) shapes only the env's reward and would be skipped. Shape "
                         "the components in the env, or combine them in the pipeline (weighted_sum) with multi_reward='none'")
    reward, streams = base.pipeline(config, reward, "pg")
    env, dist, spec = base.setup(config, config.batch_episodes)
    check_episode_limit(env, config)
    check_reward_components(env, config)
    network = base.actor_critic(config, dist)
    learner = PG(config, env, dist, spec, network, reward, streams)
    act = base.acting(dist, lambda state, obs: learner.policy_head(state.params, obs))
    return base.Trainer(config, env, learner.init, learner.update, config.num_updates, config.steps_per_update, act)
