"""Proximal Policy Optimization (Schulman et al. 2017, arXiv:1707.06347) as one pure function.

``make(config)`` returns a ``Trainer``: ``init(key) -> PPOState`` and ``update(state) ->
(state, metrics)``, both pure; ``make_train(config)(key)`` runs every update in one ``lax.scan``.
The state carries the config, so numeric hyperparameters are data: ``jax.vmap`` over states
trains seeds and hyperparameter variants in one compiled program.

Loss per minibatch (PPO paper eq. 7 and 9; value clipping as in OpenAI baselines' PPO2):
  L = -E[min(rho A, clip(rho, 1-eps, 1+eps) A)] + c_v E[max((V-G)^2, (V_clip-G)^2)]/2 - c_e E[H]
with rho = pi(a|s)/pi_old(a|s), A from a truncation-correct estimator (GAE by default), G = A + V_old.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct

import envs
from jrew import distributions, normalization, rewards
from jrew.advantages import ESTIMATORS, estimate, normalize_advantages
from jrew.algos.base import Trainer, check_learner_fields, numeric_inputs
from jrew.algos.sgd import epochs_of_minibatches
from jrew.config import positive, require, static, unit_interval
from jrew.networks import ActorCritic
from jrew.rollout import rollout
from jrew.types import EpisodeStats


@struct.dataclass
class PPOConfig:
    """PPO hyperparameters. Static fields fix the program; numeric fields are vmappable leaves.

    Defaults learn gymnax CartPole-v1 (PureJaxRL's settings, with 16 envs x 32 steps).
    """

    env: str = static("gymnax/CartPole-v1")
    """env name for envs.make (`jrew envs` lists them)"""
    env_kwargs: tuple[tuple[str, str], ...] = static(())
    """extra env constructor kwargs as name value pairs, e.g. backend positional"""
    episode_length: int | None = static(None)
    """time limit in steps (truncation); None keeps the env's own"""
    total_steps: int = static(500_000)
    """env steps per seed"""
    num_envs: int = static(16)
    """parallel envs per seed"""
    num_steps: int = static(32)
    """rollout length per update (unroll length)"""
    num_epochs: int = static(4)
    """passes over each batch"""
    num_minibatches: int = static(4)
    """minibatches per epoch; must divide num_envs * num_steps"""
    policy_hidden_sizes: tuple[int, ...] = static((64, 64))
    """policy MLP hidden layer sizes"""
    value_hidden_sizes: tuple[int, ...] = static((64, 64))
    """value MLP hidden layer sizes"""
    activation: str = static("tanh")
    """tanh, relu, swish or elu"""
    distribution: str = static("auto")
    """auto (categorical or normal), categorical, normal or tanh_normal"""
    normalize_observations: bool = static(False)
    """running mean/std observation normalization"""
    normalize_advantages: bool = static(True)
    """whiten advantages per minibatch"""
    clip_value_loss: bool = static(True)
    """PPO2-style clipped value loss"""
    anneal_lr: bool = static(True)
    """decay the learning rate linearly to 0 over training"""
    advantage_estimator: str = static("gae")
    """gae, monte_carlo or n_step (all truncation-correct)"""
    n_step: int = static(5)
    """n for the n_step estimator"""
    learning_rate: float = 2.5e-4
    """Adam step size (vmappable)"""
    gamma: float = 0.99
    """discount (vmappable)"""
    gae_lambda: float = 0.95
    """GAE lambda (vmappable)"""
    clip_eps: float = 0.2
    """PPO ratio clip epsilon, also the value clip (vmappable)"""
    vf_coef: float = 0.5
    """value loss coefficient (vmappable)"""
    ent_coef: float = 0.01
    """entropy bonus coefficient (vmappable)"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip (vmappable)"""

    def __post_init__(self):
        for name in ("total_steps", "num_envs", "num_steps", "num_epochs", "num_minibatches"):
            require(name, getattr(self, name), positive, "a positive integer")
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_envs * num_steps ({self.num_envs} * {self.num_steps} = {self.batch_size}) "
                f"must be divisible by num_minibatches ({self.num_minibatches})"
            )
        if self.total_steps < self.batch_size:
            raise ValueError(
                f"total_steps ({self.total_steps}) is below one batch: num_envs * num_steps = {self.batch_size}"
            )
        if self.advantage_estimator not in ESTIMATORS:
            raise ValueError(f"advantage_estimator must be one of {ESTIMATORS}, got {self.advantage_estimator!r}")
        require("n_step", self.n_step, positive, "a positive integer")
        check_learner_fields(self, non_negative_fields=("vf_coef", "ent_coef"))
        require("gae_lambda", self.gae_lambda, unit_interval, "in [0, 1]")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size


class PPOState(struct.PyTreeNode):
    """Everything a run needs to continue: checkpoint this and nothing is lost."""

    params: Any
    opt_state: Any
    obs_stats: normalization.RunningStats
    env_state: envs.State
    episode_stats: EpisodeStats
    reward_params: Any  # the reward pipeline's numbers: vmap these to train reward variants
    reward_state: Any
    key: jax.Array
    update_step: jax.Array
    config: PPOConfig


def make(config: PPOConfig, reward: rewards.RewardTransform | None = None) -> Trainer:
    """Builds env, network and the pure ``init``/``update`` functions for ``config``'s structure.

    ``reward`` (default: identity) turns each rollout's env reward into the training reward,
    after the rollout and before GAE; the true reward is logged untouched beside it.
    """
    reward = rewards.identity() if reward is None else reward
    env = envs.make(config.env, episode_length=config.episode_length, **envs.parse_kwargs(config.env_kwargs))
    dist = distributions.for_action_space(env.action_space, config.distribution, config.env)
    network = ActorCritic(
        policy_hidden_sizes=config.policy_hidden_sizes,
        value_hidden_sizes=config.value_hidden_sizes,
        head_size=dist.head_size,
        continuous=dist.name != "categorical",
        activation=config.activation,
    )
    num_updates = config.num_updates
    steps_per_lr_decay = config.num_epochs * config.num_minibatches

    def learning_rate(cfg: PPOConfig, update_index):
        """Linear annealing to 0 over the run (if ``anneal_lr``), constant within an update."""
        if not config.anneal_lr:
            return cfg.learning_rate
        return cfg.learning_rate * (1.0 - update_index / num_updates)

    def optimizer(cfg: PPOConfig) -> optax.GradientTransformation:
        schedule = lambda count: learning_rate(cfg, count // steps_per_lr_decay)  # noqa: E731  (count: SGD steps)
        return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(schedule, eps=1e-5))

    def apply(params, obs_stats, obs, method=None):
        if config.normalize_observations:
            obs = normalization.normalize(obs_stats, obs)
        return network.apply(params, obs, method=method)

    def init(key: jax.Array, hparams: PPOConfig | None = None, reward_params: Any = None) -> PPOState:
        cfg, reward_params = numeric_inputs(config, hparams, reward, reward_params)
        k_params, k_env, k_state = jax.random.split(key, 3)
        params = network.init(k_params, jnp.zeros((1, env.observation_size)))
        return PPOState(
            params=params,
            opt_state=optimizer(cfg).init(params),
            obs_stats=normalization.RunningStats.create(env.observation_size),
            env_state=jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs)),
            episode_stats=EpisodeStats.zeros(config.num_envs),
            reward_params=reward_params,
            reward_state=reward.init(config.num_envs),
            key=k_state,
            update_step=jnp.zeros((), jnp.int32),
            config=cfg,
        )

    def loss_fn(params, obs_stats, cfg: PPOConfig, batch, key):
        obs, action, old_log_prob, old_value, advantage, target = batch
        head, value = apply(params, obs_stats, obs)
        log_prob = dist.log_prob(head, action)
        log_ratio = log_prob - old_log_prob
        ratio = jnp.exp(log_ratio)
        if config.normalize_advantages:
            advantage = normalize_advantages(advantage)
        clipped_ratio = jnp.clip(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps)
        policy_loss = -jnp.minimum(ratio * advantage, clipped_ratio * advantage).mean()
        value_error = (value - target) ** 2
        if config.clip_value_loss:
            value_clipped = old_value + jnp.clip(value - old_value, -cfg.clip_eps, cfg.clip_eps)
            value_error = jnp.maximum(value_error, (value_clipped - target) ** 2)
        value_loss = 0.5 * value_error.mean()
        entropy = dist.entropy(head, key).mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        return loss, {
            "loss": loss,
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            "approx_kl": ((ratio - 1.0) - log_ratio).mean(),  # Schulman's k3 estimator
            "clip_fraction": (jnp.abs(ratio - 1.0) > cfg.clip_eps).mean(),
        }

    def update(state: PPOState) -> tuple[PPOState, dict[str, jax.Array]]:
        cfg = state.config
        key, rollout_key, reward_key, epoch_key = jax.random.split(state.key, 4)

        def policy(obs, step_key):
            head = apply(state.params, state.obs_stats, obs, ActorCritic.policy)
            raw_action = dist.sample(step_key, head)
            return raw_action, dist.to_env_action(raw_action), dist.log_prob(head, raw_action)

        env_state, traj = rollout(env, policy, state.env_state, rollout_key, config.num_steps)
        # V(s_t) and V(s_{t+1}) (pre-reset, so truncations bootstrap) in one batched pass:
        # cheaper than evaluating the critic inside the rollout one step at a time.
        values, next_values = jnp.split(
            apply(state.params, state.obs_stats, jnp.concatenate([traj.obs, traj.next_obs]), ActorCritic.value), 2
        )
        env_reward = traj.reward
        train_reward, reward_state, reward_metrics = reward.apply(
            state.reward_params,
            state.reward_state,
            rewards.RewardBatch(
                rollout=traj.replace(value=values),
                gamma=cfg.gamma,
                key=reward_key,
                value_fn=lambda obs: apply(state.params, state.obs_stats, obs, ActorCritic.value),
            ),
        )
        traj = traj.replace(value=values, reward=train_reward)
        episode_stats = state.episode_stats.record_rollout(env_reward, train_reward, traj.true_reward, traj.done)
        advantages, targets = estimate(
            config.advantage_estimator, train_reward, values, next_values, traj.terminated, traj.truncated,
            cfg.gamma, cfg.gae_lambda, config.n_step,
        )
        obs_stats = state.obs_stats
        if config.normalize_observations:
            obs_stats = normalization.update(obs_stats, traj.obs)

        flat = jax.tree.map(
            lambda x: x.reshape((config.batch_size, *x.shape[2:])),
            (traj.obs, traj.action, traj.log_prob, traj.value, advantages, targets),
        )
        params, opt_state, metrics = epochs_of_minibatches(
            lambda p, batch, k: loss_fn(p, obs_stats, cfg, batch, k),
            optimizer(cfg), state.params, state.opt_state, flat, epoch_key, config.num_epochs, config.num_minibatches,
        )
        metrics.update(episode_stats.summary())
        metrics.update({f"reward/{k}": v for k, v in reward_metrics.items()})
        metrics.update({f"env/{k}": jnp.mean(v, dtype=jnp.float32) for k, v in traj.env_metrics.items()})
        metrics["learning_rate"] = learning_rate(cfg, state.update_step)
        new_state = state.replace(
            params=params,
            opt_state=opt_state,
            obs_stats=obs_stats,
            env_state=env_state,
            episode_stats=episode_stats,
            reward_state=reward_state,
            key=key,
            update_step=state.update_step + 1,
        )
        return new_state, metrics

    def act(state: PPOState, obs: jax.Array, key: jax.Array) -> jax.Array:
        """A sampled action of ``state``'s policy for one observation (e.g. to render an episode)."""
        head = apply(state.params, state.obs_stats, obs[None], ActorCritic.policy)
        return dist.to_env_action(dist.sample(key, head))[0]

    return Trainer(config, env, init, update, num_updates, config.batch_size, act)


def make_train(
    config: PPOConfig, reward: rewards.RewardTransform | None = None
) -> Callable[..., tuple[PPOState, dict]]:
    """``train(key, reward_params=None) -> (final_state, metrics[num_updates])``: one pure function.

    ``reward_params`` (default: the transform's own) can be batched: vmap it to train variants.
    """
    trainer = make(config, reward)

    def train(key, reward_params=None):
        state = trainer.init(key, None, reward_params)
        return jax.lax.scan(lambda s, _: trainer.update(s), state, None, trainer.num_updates)

    return train
