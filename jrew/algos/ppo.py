"""Proximal Policy Optimization (Schulman et al. 2017, arXiv:1707.06347) as one pure function.

``make(config)`` returns a ``Trainer``: ``init(key) -> PPOState`` and ``update(state) ->
(state, metrics)``, both pure; ``make_train(config)(key)`` runs every update in one ``lax.scan``.
The state carries the config, so numeric hyperparameters are data: ``jax.vmap`` over states
trains seeds and hyperparameter variants in one compiled program.

Loss per minibatch (PPO paper eq. 7 and 9; value clipping as in OpenAI baselines' PPO2):
  L = -E[min(rho A, clip(rho, 1-eps, 1+eps) A)] + c_v E[max((V-G)^2, (V_clip-G)^2)]/2 - c_e E[H]
with rho = pi(a|s)/pi_old(a|s), A from a truncation-correct estimator (GAE by default), G = A + V_old.

Two critics. When the reward pipeline writes an ``intrinsic`` stream (``rewards.intrinsic(bonus)``),
the critic has a second head with its own discount ``intrinsic_gamma``, and
A = c_E A_E + c_I A_I (Burda et al. 2019, RND, Sec. 2.3); the value losses of the heads add up.
The intrinsic return follows its bonuses (``RewardTransform.episodic``): for global ones (RND,
counts, ICM) it runs on across episode ends, bootstrapping at an episode's end from the next
episode's first state as in RND's non-episodic stream; for episodic ones (E3B, episodic counts,
NGU's kNN, products with them) it is cut there, as in the E3B and global-vs-episodic references.
``episodic_intrinsic`` set to True or False overrides that.

With ``normalize_observations`` the rollout is acted on and learned from under the same
statistics (so the ratio is 1 at the first gradient step); they absorb the rollout's observations
after the epochs, as CleanRL's normalization wrapper has them do before the next rollout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from einops import rearrange
from flax import struct

import envs
from jrew import normalization, rewards
from jrew.advantages import ESTIMATORS, combine_advantages, estimate, normalize_advantages
from jrew.algos import base
from jrew.algos.collect import collect
from jrew.algos.losses import adam, clipped_surrogate, k3_kl
from jrew.algos.sgd import epochs_of_minibatches
from jrew.config import non_negative, positive, require, require_choice, static, unit_interval
from jrew.types import EpisodeStats


@struct.dataclass
class PPOConfig(base.LearnerConfig):
    """PPO hyperparameters (and the shared ones of ``LearnerConfig``). Static fields fix the
    program; numeric fields are vmappable leaves.

    Defaults learn gymnax CartPole-v1 (PureJaxRL's settings, with 16 envs x 32 steps).
    """

    num_envs: int = static(16)
    """parallel envs per seed"""
    num_steps: int = static(32)
    """rollout length per update (unroll length)"""
    num_minibatches: int = static(4)
    """minibatches per epoch; must divide num_envs * num_steps"""
    value_hidden_sizes: tuple[int, ...] = static((64, 64))
    """value MLP hidden layer sizes"""
    normalize_observations: bool = static(False)
    """running mean/std observation normalization"""
    normalize_advantages: bool = static(True)
    """whiten advantages per minibatch"""
    normalize_values: bool = static(False)
    """the critic learns value targets divided by their running root mean square (per critic), so
    the value loss and its clip range do not depend on the reward's units: Pendulum's returns of
    -1000 defeat the clipped critic in reward units (PPO2's, the default). Off by default: a slow
    critic in reward units starts optimistic, which sparse -1-per-step tasks such as Acrobot rely on"""
    clip_value_loss: bool = static(True)
    """PPO2-style clipped value loss"""
    anneal_lr: bool = static(True)
    """decay the learning rate linearly to 0 over training"""
    advantage_estimator: str = static("gae")
    """gae, monte_carlo or n_step (all truncation-correct)"""
    n_step: int = static(5)
    """n for the n_step estimator"""
    gae_lambda: float = 0.95
    """GAE lambda (vmappable)"""
    vf_coef: float = 0.5
    """value loss coefficient (vmappable)"""
    intrinsic_gamma: float = 0.99
    """discount of the intrinsic stream's critic, when the reward pipeline writes one (vmappable)"""
    extrinsic_coef: float = 2.0
    """weight of the extrinsic advantage with two critics (RND's c_E; vmappable)"""
    intrinsic_coef: float = 1.0
    """weight of the intrinsic advantage with two critics (RND's c_I; vmappable)"""
    episodic_intrinsic: bool | None = static(None)
    """cut the intrinsic return at episode ends (True) or let it run on across them (False, as in
    RND); None follows the bonuses: cut for episodic ones (E3B, episodic counts, kNN), run on for
    global ones (RND, counts, ICM); a stream mixing both needs True or False"""
    log_kl_from_init: bool = static(False)
    """log kl_from_init, KL(pi || pi_0) to the initial policy on each rollout's states (exact for
    a categorical policy, else a k3 estimate): the x-axis of over-optimization plots; keeps pi_0"""

    def __post_init__(self):
        super().__post_init__()
        base.check_batch(self, ("num_envs", "num_steps"), ("num_envs", "num_steps"))
        require_choice("advantage_estimator", self.advantage_estimator, ESTIMATORS)
        require("n_step", self.n_step, positive, "a positive integer")
        require("vf_coef", self.vf_coef, non_negative, ">= 0")
        require("gae_lambda", self.gae_lambda, unit_interval, "in [0, 1]")
        require("intrinsic_gamma", self.intrinsic_gamma, unit_interval, "in [0, 1]")
        require("extrinsic_coef", self.extrinsic_coef, non_negative, ">= 0")
        require("intrinsic_coef", self.intrinsic_coef, non_negative, ">= 0")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def steps_per_update(self) -> int:
        return self.batch_size


class PPOState(struct.PyTreeNode):
    """Everything a run needs to continue: checkpoint this and nothing is lost."""

    params: Any
    opt_state: Any
    obs_stats: normalization.RunningStats
    value_stats: normalization.RunningStats  # of the value targets, per critic (used with normalize_values)
    env_state: envs.State
    episode_stats: EpisodeStats
    reward_hparams: Any  # the reward pipeline's numbers: vmap these to train reward variants
    reward_state: Any  # its carries, statistics and learned parts
    key: jax.Array
    update_step: jax.Array
    config: PPOConfig
    initial_policy: Any = None  # (params, obs_stats) of pi_0, with log_kl_from_init


@dataclasses.dataclass(frozen=True)
class PPO(base.Learner):
    """PPO bound to the structure of a config: env, distribution, network and reward pipeline.

    Its methods are pure functions of their arguments (the object holds static structure only).
    """

    episodic_intrinsic: bool = False  # resolved from the config and the pipeline's bonuses

    def apply(self, params, obs_stats, obs, method=None):
        if self.config.normalize_observations:
            obs = normalization.normalize(obs_stats, obs)
        return self.network.apply(params, obs, method=method)

    def learning_rate(self, cfg: PPOConfig, update_index):
        """Linear annealing to 0 over the run (if ``anneal_lr``), constant within an update."""
        if not self.config.anneal_lr:
            return cfg.learning_rate
        return cfg.learning_rate * (1.0 - update_index / self.config.num_updates)

    def optimizer(self, cfg: PPOConfig):
        steps_per_update = self.config.num_epochs * self.config.num_minibatches  # count: SGD steps
        return adam(cfg.max_grad_norm, lambda count: self.learning_rate(cfg, count // steps_per_update))

    def init(self, key: jax.Array, hparams: PPOConfig | None = None, reward_hparams: Any = None) -> PPOState:
        config, env = self.config, self.env
        cfg, reward_hparams = base.numeric_inputs(config.defaults(), hparams, self.reward, reward_hparams)
        k_params, k_env, k_state = jax.random.split(key, 3)
        params = base.initial_params(self, k_params)
        obs_stats = normalization.RunningStats.create(env.observation_size)
        return PPOState(
            params=params,
            opt_state=self.optimizer(cfg).init(params),
            obs_stats=obs_stats,
            value_stats=normalization.RunningStats.create(len(self.streams)),
            env_state=jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs)),
            episode_stats=EpisodeStats.zeros(config.num_envs, self.streams),
            reward_hparams=reward_hparams,
            reward_state=self.reward.init(reward_hparams, base.reward_init_key(key), self.spec),
            key=k_state,
            update_step=jnp.zeros((), jnp.int32),
            config=cfg,
            initial_policy=(params, obs_stats) if config.log_kl_from_init else None,
        )

    def value(self, params, obs_stats, value_stats, obs) -> jax.Array:
        """The critic's value of ``obs`` in reward units (the raw output times the targets' running
        RMS with ``normalize_values``)."""
        value = self.apply(params, obs_stats, obs, "value")
        if not self.config.normalize_values:
            return value
        return value * normalization.root_mean_square(self._stream_stats(value_stats))

    def _stream_stats(self, value_stats):
        """``value_stats`` shaped like the critic's output: per stream, or scalar with one critic."""
        return value_stats if len(self.streams) > 1 else jax.tree.map(lambda x: x[..., 0] if x.ndim else x, value_stats)

    def loss(self, params, obs_stats, cfg: PPOConfig, batch, key):
        obs, action, old_log_prob, old_value, advantage, target = batch
        head, value = self.apply(params, obs_stats, obs)  # value: in units of the targets' RMS with normalize_values
        if self.config.normalize_advantages:
            advantage = normalize_advantages(advantage)
        log_prob = self.dist.log_prob(head, action)
        policy_loss, metrics = clipped_surrogate(log_prob, old_log_prob, advantage, cfg.clip_eps)
        value_error = (value - target) ** 2  # [N], or [N, streams] with two critics
        if self.config.clip_value_loss:
            value_clipped = old_value + jnp.clip(value - old_value, -cfg.clip_eps, cfg.clip_eps)
            value_error = jnp.maximum(value_error, (value_clipped - target) ** 2)
        value_loss = 0.5 * value_error.mean(axis=0).sum()
        entropy = self.dist.entropy(head, key).mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        return loss, {"loss": loss, "value_loss": value_loss, "entropy": entropy, **metrics}

    def update(self, state: PPOState) -> tuple[PPOState, dict[str, jax.Array]]:
        config, cfg = self.config, state.config
        key, rollout_key, reward_key, epoch_key = jax.random.split(state.key, 4)
        data = self.collect(state, (rollout_key, reward_key))
        traj = data.traj
        advantages, targets = self.advantages(state, data)
        old_values, value_stats = traj.value, state.value_stats
        if config.normalize_values:  # the critic regresses scaled targets, under stats that include them
            value_stats = normalization.update(value_stats, targets.reshape(-1, len(self.streams)))
            scale = normalization.root_mean_square(self._stream_stats(value_stats))
            old_values, targets = old_values / scale, targets / scale
        flat = jax.tree.map(
            lambda x: rearrange(x, "t b ... -> (t b) ..."),
            (traj.obs, traj.action, traj.log_prob, old_values, advantages, targets),
        )
        params, opt_state, metrics = epochs_of_minibatches(
            lambda p, batch, k: self.loss(p, state.obs_stats, cfg, batch, k), self.optimizer(cfg),
            state.params, state.opt_state, flat, epoch_key, config.num_epochs, config.num_minibatches,
        )
        obs_stats = state.obs_stats
        if config.normalize_observations:  # after the epochs: the loss saw the statistics the policy acted with
            obs_stats = normalization.update(obs_stats, traj.obs)
        metrics.update(data.metrics)
        metrics["learning_rate"] = self.learning_rate(cfg, state.update_step)
        if config.log_kl_from_init:
            metrics["kl_from_init"] = self.kl_from_init(state, traj)
        new_state = state.replace(
            params=params, opt_state=opt_state, obs_stats=obs_stats, value_stats=value_stats, env_state=data.env_state,
            episode_stats=data.episode_stats, reward_state=data.reward_state, key=key,
            update_step=state.update_step + 1,
        )
        return new_state, metrics

    def collect(self, state: PPOState, keys: tuple[jax.Array, jax.Array]):
        """One rollout of ``num_steps`` from ``state``'s envs with its policy, through the reward
        pipeline and valued by its critic (``jrew.algos.collect.collect``; ``keys``: rollout, reward)."""
        return collect(
            self.env, base.sampling_policy(self.dist, lambda obs: self.policy_head(state, obs)), state.env_state,
            keys, self.config.num_steps, pipeline=self.reward, reward_hparams=state.reward_hparams,
            reward_state=state.reward_state, episode_stats=state.episode_stats, gamma=state.config.gamma,
            spec=self.spec, value_fn=lambda obs: self.value(state.params, state.obs_stats, state.value_stats, obs),
        )

    def advantages(self, state: PPOState, data) -> tuple[jax.Array, jax.Array]:
        """``(A, value targets)``: one estimate per critic, combined as ``c_E A_E + c_I A_I``."""
        config, cfg, traj = self.config, state.config, data.traj
        if len(self.streams) == 1:
            return estimate(
                config.advantage_estimator, traj.reward, traj.value, data.next_values, traj.terminated,
                traj.truncated, cfg.gamma, cfg.gae_lambda, config.n_step,
            )
        (adv_e, target_e), (adv_i, target_i) = (
            self.stream_estimate(state, data, i, stream) for i, stream in enumerate(self.streams)
        )
        advantages = combine_advantages(adv_e, adv_i, cfg.extrinsic_coef, cfg.intrinsic_coef)
        return advantages, jnp.stack([target_e, target_i], axis=-1)

    def stream_estimate(self, state: PPOState, data, index: int, stream: str) -> tuple[jax.Array, jax.Array]:
        config, cfg, traj = self.config, state.config, data.traj
        values, next_values = traj.value[..., index], data.next_values[..., index]
        terminated, truncated, gamma = traj.terminated, traj.truncated, cfg.gamma
        if stream != rewards.protocol.EXTRINSIC:
            gamma = cfg.intrinsic_gamma
            if not self.episodic_intrinsic:
                # non-episodic: the return flows into the next episode, so bootstrap from the value of
                # the state the env reset to (the next row's s_t; after the last row, the env state's)
                last = self.value(state.params, state.obs_stats, state.value_stats, data.env_state.obs)[..., index]
                next_values = jnp.where(traj.done > 0, jnp.concatenate([values[1:], last[None]]), next_values)
                terminated = truncated = jnp.zeros_like(terminated)
        return estimate(
            config.advantage_estimator, data.rewards[stream], values, next_values, terminated, truncated, gamma,
            cfg.gae_lambda, config.n_step,
        )

    def kl_from_init(self, state: PPOState, traj) -> jax.Array:
        """KL(pi || pi_0) over the rollout's states: exact for a categorical policy, else the k3
        estimate on the rollout's actions (Schulman 2020)."""
        initial = self.apply(*state.initial_policy, traj.obs, "policy")
        if self.dist.name == "categorical":
            log_p = jax.nn.log_softmax(self.policy_head(state, traj.obs))
            return jnp.sum(jnp.exp(log_p) * (log_p - jax.nn.log_softmax(initial)), axis=-1).mean()
        return k3_kl(self.dist.log_prob(initial, traj.action) - traj.log_prob).mean()

    def policy_head(self, state: PPOState, obs: jax.Array) -> jax.Array:
        return self.apply(state.params, state.obs_stats, obs, "policy")


def make(config: PPOConfig, reward: rewards.RewardTransform | None = None) -> base.Trainer:
    """The ``Trainer`` of PPO for ``config``'s structure.

    ``reward`` (default: identity) turns each rollout's env reward into the training reward,
    after the rollout and before the advantages; the true reward is logged untouched beside it.
    """
    reward, streams = base.pipeline(config, reward, "ppo", (rewards.protocol.EXTRINSIC, rewards.protocol.INTRINSIC))
    env, dist, spec = base.setup(config, config.num_envs)
    if config.network != "mlp" and config.normalize_observations:
        raise ValueError(f"network={config.network!r} reads token ids, which must not be normalized: "
                         "set normalize_observations=False")
    network = base.actor_critic(config, dist, config.value_hidden_sizes, len(streams))
    ppo = PPO(config, env, dist, spec, network, reward, streams, intrinsic_is_episodic(config, reward))
    act = base.acting(dist, ppo.policy_head)
    return base.Trainer(config, env, ppo.init, ppo.update, config.num_updates, config.batch_size, act)


def intrinsic_is_episodic(config: PPOConfig, reward: rewards.RewardTransform) -> bool:
    """``episodic_intrinsic`` if set, else what the intrinsic stream's bonuses declare (episodic
    if they all are); a ``ValueError`` where they disagree and the config does not say."""
    if config.episodic_intrinsic is not None:
        return config.episodic_intrinsic
    bonuses = rewards.protocol.episodic_bonuses(reward, rewards.protocol.INTRINSIC)
    kinds = {episodic for _, episodic in bonuses}
    if len(kinds) > 1:
        named = {flag: [name for name, episodic in bonuses if episodic == flag] for flag in (True, False)}
        raise ValueError(
            f"the intrinsic stream mixes episodic bonuses {named[True]} and global ones {named[False]}; set "
            "episodic_intrinsic=True (cut the intrinsic return at episode ends) or False (let it run on)")
    return kinds == {True}


def make_train(
    config: PPOConfig, reward: rewards.RewardTransform | None = None
) -> Callable[..., tuple[PPOState, dict]]:
    """``train(key, reward_hparams=None) -> (final_state, metrics[num_updates])``: one pure function.

    ``reward_hparams`` (default: the transform's own) can be batched: vmap it to train variants.
    """
    trainer = make(config, reward)

    def train(key, reward_hparams=None):
        state = trainer.init(key, None, reward_hparams)
        return jax.lax.scan(lambda s, _: trainer.update(s), state, None, trainer.num_updates)

    return train
