"""Reward models over completions: Bradley–Terry models ``r(prompt, completion)`` with a token
encoder, trained on gold-labelled comparisons of a reference policy's samples, as RLHF's reward
models are (Ouyang et al. 2022; Gao, Schulman & Hilton 2023 for the gold/proxy setup).

* ``completion_preferences``: ``num_pairs`` prompts, two completions of each sampled from a
  policy (the reference), labelled by a Boltzmann-rational labeller of the task's true reward
  (the gold): ``P(a > b) = sigma(beta (g_a - g_b))``, flipped with probability ``flip``
  (``jrew.rewards.preferences.synthetic_labels``). ``num_pairs`` and ``beta`` are the label
  count and noise of Gao et al.'s proxy models.
* ``completion_reward_model``: a reward transform that trains an ensemble of such models on a
  preference set (inside ``init``, per run), normalizes each member to mean 0 and std 1 on the
  set's completions (the reference's samples, as Gao et al. normalize their reward models on
  the initial policy), aggregates the members (``mean``, ``min`` or the lower confidence bound
  ``mean - lambda std``; Coste et al. 2024), optionally bounds the score (``par``: ``sigmoid(r / tau)``
  centred on the reference's mean, Fu et al. 2025; ``clip``: ``min(r, c)``), and pays it at each
  completion's last token, 0 at the others.

The model reads the token buffer ``prompt ++ completion`` (float token ids, PAD = 0 after the
end) with ``jrew.networks.TokenEncoder`` and a linear head at the buffer's last token (the EOS).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from envs.seq.env import sample_completions
from jrew.networks import TOKEN_NETWORKS, TokenEncoder, TokenHead
from jrew.rewards import learned
from jrew.rewards.base import RewardTransform, transform
from jrew.rewards.data import Data
from jrew.rewards.preferences import AGGREGATES, LABELS, aggregate, bradley_terry_loss, synthetic_labels
from jrew.rewards.registry import python_only

BOUNDS = ("none", "par", "clip")


class CompletionPreferences(NamedTuple):
    """Labelled comparisons of completions: ``tokens [2, P, N]`` (each side's ``prompt ++
    completion`` buffer), ``label [P]`` (``P(a > b)``) and ``gold [2, P]`` (each side's gold reward,
    for diagnostics: the reward model never sees it)."""

    tokens: jax.Array
    label: jax.Array
    gold: jax.Array

    @property
    def num_pairs(self) -> int:
        return int(self.label.shape[0])


def completion_tokens(prompts: jax.Array, completions: jax.Array) -> jax.Array:
    """``prompt ++ completion`` as the float token buffer a token network reads (the env's observation)."""
    return jnp.concatenate([prompts, completions], axis=-1).astype(jnp.float32)


def gold_rewards(task, prompts: jax.Array, completions: jax.Array) -> jax.Array:
    """The task's true reward of each completion ``[B]``: the gold a proxy is trained towards."""
    return jax.vmap(task.true_reward)(prompts, completions)


def completion_preferences(key: jax.Array, task, policy_logits, params, num_pairs: int, *, beta=1.0, flip=0.0,
                           labels: str = "sample", temperature: float = 1.0) -> CompletionPreferences:
    """``num_pairs`` comparisons of two completions of one prompt, each sampled from
    ``policy_logits(params, obs)`` (``envs.seq.sample_completions``) and labelled by
    the synthetic labeller of the task's true reward with rationality ``beta`` (``inf``: always
    the true order; equal gold: 1/2) and flip rate ``flip``."""
    if not isinstance(num_pairs, int) or num_pairs < 1:
        raise ValueError(f"completion_preferences: num_pairs must be an int >= 1, got {num_pairs!r}")
    if labels not in LABELS:
        raise ValueError(f"completion_preferences: labels must be one of {LABELS}, got {labels!r}")
    k_prompt, k_a, k_b, k_label = jax.random.split(key, 4)
    prompts = jax.vmap(task.sample_prompt)(jax.random.split(k_prompt, num_pairs)).astype(jnp.int32)
    sides = [sample_completions(policy_logits, params, task, prompts, k, temperature) for k in (k_a, k_b)]
    gold = jnp.stack([gold_rewards(task, prompts, c) for c in sides])
    tokens = jnp.stack([completion_tokens(prompts, c) for c in sides])
    return CompletionPreferences(tokens, synthetic_labels(k_label, gold[0], gold[1], beta, flip, labels), gold)


def reward_network(kind: str, num_tokens: int, width: int, depth: int, heads: int) -> TokenHead:
    """A scalar head on a token encoder: ``r(prompt ++ completion)`` read at the last token."""
    if kind not in TOKEN_NETWORKS:
        raise ValueError(f"reward network kind must be one of {TOKEN_NETWORKS}, got {kind!r}")
    return TokenHead(TokenEncoder(kind, num_tokens, width, depth, heads), 1, 1.0)


def ensemble_scores(net: TokenHead, params, tokens: jax.Array) -> jax.Array:
    """Every member's score of token buffers ``[..., N] -> [K, ...]``."""
    return jax.vmap(lambda p: net.apply(p, tokens)[..., 0])(params)


def proxy_scores(net: TokenHead, state, tokens: jax.Array, aggregate_by: str, conservative_lambda) -> tuple:
    """A trained ``completion_reward_model`` state's scores of token buffers ``[..., N]``: every
    member's, normalized on the reference's samples ``[K, ...]``, and their aggregate ``[...]``
    (before any bound)."""
    members = ensemble_scores(net, state["params"], tokens)
    shape = (-1,) + (1,) * (members.ndim - 1)
    members = (members - state["mean"].reshape(shape)) / state["std"].reshape(shape)
    return members, aggregate(members, aggregate_by, conservative_lambda)


def train_reward_model(net: TokenHead, trained: learned.Trained, tokens: jax.Array, label: jax.Array, key: jax.Array,
                       steps: int, learning_rate, minibatch_pairs: int) -> tuple[learned.Trained, jax.Array]:
    """``steps`` Adam steps of the Bradley–Terry loss (``bradley_terry_loss``) of each ensemble
    member on its own minibatches of ``minibatch_pairs`` pairs drawn uniformly with replacement
    from ``tokens [P, 2, N]``, ``label [P]``. Returns the model and the mean member loss before
    each step ``[steps]``."""
    num_pairs = label.shape[0]
    members = jax.tree.leaves(trained.params)[0].shape[0]

    def loss(params, k):
        idx = jax.random.randint(k, (members, minibatch_pairs), 0, num_pairs)

        def member(p, i):
            r = net.apply(p, tokens[i])[..., 0]  # [M, 2]
            return bradley_terry_loss(r[:, 0], r[:, 1], label[i]).mean()

        per_member = jax.vmap(member)(params, idx)
        return per_member.sum(), per_member.mean()

    def step(trained, k):
        trained, _, member_loss = learned.adam_step(trained, lambda p: loss(p, k), learning_rate)
        return trained, member_loss

    return jax.lax.scan(step, trained, jax.random.split(key, steps))


def preference_accuracy(scores_a: jax.Array, scores_b: jax.Array, gold_a: jax.Array, gold_b: jax.Array) -> jax.Array:
    """The share of pairs whose gold rewards differ that the scores order as the gold does
    (NaN when none differ)."""
    differ = gold_a != gold_b
    right = (scores_a > scores_b) == (gold_a > gold_b)
    return jnp.where(differ.any(), jnp.sum(differ & right) / jnp.maximum(differ.sum(), 1), jnp.nan)


@python_only("its preference set holds arrays of token buffers (completion_preferences)")
def completion_reward_model(
    preferences: CompletionPreferences,
    ensemble_size: int = 1,
    aggregate_by: str = "mean",
    conservative_lambda: float = 1.0,
    bound: str = "none",
    par_temperature: float = 1.0,
    clip_max: float = 1.0,
    learning_rate: float = 1e-3,
    pretrain_steps: int = 500,
    minibatch_pairs: int = 64,
    kind: str = "transformer",
    width: int = 32,
    depth: int = 1,
    heads: int = 2,
) -> RewardTransform:
    """A proxy reward over finished completions: an ensemble of ``ensemble_size`` Bradley–Terry
    models trained for ``pretrain_steps`` Adam steps on ``preferences`` when the run starts (each
    run, with its own initialization and minibatches), then frozen.

    Each member's score is normalized to mean 0 and std 1 over the preference set's completions
    (the reference's samples), so that ``r = 0`` is the reference's mean and scales compare across
    label counts. The members are aggregated (``aggregate_by``: mean, median, min, or
    ``mean_minus_std`` with ``conservative_lambda``, a lower confidence bound; Coste et al. 2024,
    "Reward Model Ensembles Help Mitigate Overoptimization", use ``min`` (worst case) and the mean
    minus ``lambda`` times the variance) and bounded (``bound``): ``none``; ``par``,
    ``sigmoid(r / par_temperature)`` (Fu et al. 2025, "Reward Shaping to Mitigate Reward Hacking
    in RLHF": bounded and centred on the reference's reward, here the mean over its samples rather
    than each prompt's own reference completion); ``clip``, ``min(r, clip_max)``. The result is paid
    at each completion's last token (``done``) and 0 elsewhere; steps a learner masks get 0.

    The observation must be the token buffer (``envs.seq`` envs); the vocabulary is the action
    count + 1 (PAD). The set is data (``jrew.rewards.data``), so it is part of the transform's
    identity; the numbers (``conservative_lambda``, ``par_temperature``, ``clip_max``,
    ``learning_rate``) are vmappable.

    Metrics: ``proxy_score`` (the members' mean normalized score, over finished completions),
    ``proxy_reward`` (what was paid, over finished completions), ``ensemble_std``, ``rm_loss``
    (the BT loss at the end of training).
    """
    if aggregate_by not in AGGREGATES:
        raise ValueError(f"completion_reward_model: aggregate_by must be one of {AGGREGATES}, got {aggregate_by!r}")
    if bound not in BOUNDS:
        raise ValueError(f"completion_reward_model: bound must be one of {BOUNDS}, got {bound!r}")
    for name, value, least in (("ensemble_size", ensemble_size, 1), ("pretrain_steps", pretrain_steps, 1),
                               ("minibatch_pairs", minibatch_pairs, 1), ("width", width, 1), ("depth", depth, 1),
                               ("heads", heads, 1)):
        if not isinstance(value, int) or value < least:
            raise ValueError(f"completion_reward_model: {name} must be an int >= {least}, got {value!r}")
    if not isinstance(preferences, CompletionPreferences):
        raise TypeError(f"completion_reward_model: preferences must be a CompletionPreferences "
                        f"(completion_preferences(...)), got {type(preferences).__name__}")
    if preferences.tokens.ndim != 3 or preferences.tokens.shape[0] != 2:
        raise ValueError(f"completion_reward_model: preferences.tokens must be [2, pairs, buffer], got shape "
                         f"{preferences.tokens.shape}")
    buffer_length = int(preferences.tokens.shape[-1])
    hparams = {
        "preferences": Data({"tokens": jnp.swapaxes(preferences.tokens, 0, 1), "label": preferences.label}, "pairs"),
        "conservative_lambda": conservative_lambda, "par_temperature": par_temperature, "clip_max": clip_max,
        "learning_rate": learning_rate,
    }

    def network(spec):
        if tuple(spec.observation_shape) != (buffer_length,):
            raise ValueError(f"completion_reward_model: the preference set's buffers have {buffer_length} tokens, the "
                             f"env's observations have shape {tuple(spec.observation_shape)}: a token-buffer env "
                             "(envs.seq) of the same task and sizes is needed")
        return reward_network(kind, int(spec.action_space.n) + 1, width, depth, heads)

    def init(hp, key, spec):
        net, data = network(spec), hp["preferences"]
        k_params, k_train = jax.random.split(key)
        params = jax.vmap(lambda k: net.init(k, jnp.zeros((1, buffer_length))))(
            jax.random.split(k_params, ensemble_size))
        trained, losses = train_reward_model(net, learned.Trained.create(params), data["tokens"], data["label"],
                                             k_train, pretrain_steps, hp["learning_rate"], minibatch_pairs)
        scores = ensemble_scores(net, trained.params, data["tokens"])  # [K, P, 2]: the reference's samples
        return {"params": trained.params, "mean": scores.mean((1, 2)), "std": scores.std((1, 2)) + 1e-6,
                "rm_loss": losses[-1]}

    def apply(hp, state, batch):
        rollout = batch.rollout
        net = network(learned.spec_of(batch))
        members, score = proxy_scores(net, state, rollout.next_obs, aggregate_by, hp["conservative_lambda"])  # [K, T, B]
        if bound == "par":
            score = jax.nn.sigmoid(score / hp["par_temperature"])
        elif bound == "clip":
            score = jnp.minimum(score, hp["clip_max"])
        finished = rollout.done > 0
        if batch.valid is not None:
            finished = finished & (batch.valid > 0)
        count = jnp.maximum(finished.sum(), 1)
        over_finished = lambda x: jnp.where(finished.any(), jnp.sum(jnp.where(finished, x, 0.0)) / count, jnp.nan)
        metrics = {"proxy_score": over_finished(members.mean(0)), "proxy_reward": over_finished(score),
                   "ensemble_std": over_finished(members.std(0)), "rm_loss": state["rm_loss"]}
        return jnp.where(finished, score, 0.0), state, metrics

    static = {"ensemble_size": ensemble_size, "aggregate_by": aggregate_by, "bound": bound,
              "pretrain_steps": pretrain_steps, "minibatch_pairs": minibatch_pairs, "kind": kind, "width": width,
              "depth": depth, "heads": heads}
    return transform("completion_reward_model", apply, init, hparams, static)
