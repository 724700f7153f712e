"""Reward models learned from preferences between trajectory segments, inside the compiled loop.

``preference_model`` is a reward transform with learned state (Christiano et al. 2017, "Deep RL
from Human Preferences"). Each rollout it:

1. draws ``pairs_per_rollout`` pairs of segments of ``segment_length`` steps from the rollout;
2. labels them with a synthetic, Boltzmann-rational labeller on the task's *true* reward (no
   human in the loop; imitation's ``SyntheticGatherer`` does the same), until ``label_budget``
   labels have been given;
3. scores the model's preference accuracy on these new, not yet trained-on pairs (held out);
4. adds them to a FIFO ring buffer (``jrew.rewards.ring``: once full, each new pair replaces the
   oldest) and takes ``updates_per_rollout`` Adam steps of the Bradley-Terry
   loss on minibatches of the buffer, for each ensemble member;
5. replaces the stream's reward by the members' ``r_hat(s, a)``, aggregated (mean, median, min
   or the conservative ``mean - lambda * std``).

A segment counts up to its first episode end (the steps after it belong to another episode).
Every number (beta, flip rate, step size, label budget, lambda) is a hyperparameter.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jrew.config import concrete_values
from jrew.rewards import learned
from jrew.rewards.base import RewardTransform, restart, transform
from jrew.rewards.data import Data
from jrew.rewards.registry import text_constructor
from jrew.rewards.ring import Ring
from jrew.types import first_episode_mask

AGGREGATES = ("mean", "median", "min", "mean_minus_std")
LABELS = ("sample", "probability")


def bradley_terry_loss(return_a: jax.Array, return_b: jax.Array, label: jax.Array) -> jax.Array:
    """``-[y log sigma(R_a - R_b) + (1 - y) log sigma(R_b - R_a)]`` with ``y = P(a > b)`` in [0, 1]
    (Bradley & Terry 1952; Christiano et al. 2017, eq. 1)."""
    logit = return_a - return_b
    return -(label * jax.nn.log_sigmoid(logit) + (1.0 - label) * jax.nn.log_sigmoid(-logit))


def synthetic_labels(key: jax.Array, return_a: jax.Array, return_b: jax.Array, beta, flip,
                     mode: str = "sample") -> jax.Array:
    """Labels ``y = P(a > b)`` from a Boltzmann-rational labeller of the true returns:

      P(a > b) = sigma(beta * (R_a - R_b)),  then y flipped (1 - y) with probability ``flip``

    ``mode="sample"`` draws ``y ~ Bernoulli(P)`` (0 or 1; 1/2 for equal returns); ``"probability"``
    gives ``P`` itself, a graded label. ``beta = inf`` is the true ordering.
    """
    difference = return_a - return_b
    tie = difference == 0
    p = jnp.where(tie, 0.5, jax.nn.sigmoid(jnp.where(tie, 0.0, beta * difference)))
    k_sample, k_flip = jax.random.split(key)
    y = p
    if mode == "sample":  # equal returns: the labeller is indifferent (y = 1/2, as in Christiano et al.)
        y = jnp.where(tie, 0.5, (jax.random.uniform(k_sample, p.shape) < p).astype(jnp.float32))
    return jnp.where(jax.random.uniform(k_flip, p.shape) < flip, 1.0 - y, y)


def aggregate(values: jax.Array, how: str, lam=1.0) -> jax.Array:
    """Ensemble members' rewards ``[K, ...]`` as one: mean, median, min, or ``mean - lam * std``
    (a conservative reward against over-optimization: a lower confidence bound; Coste et al. 2024's
    uncertainty-weighted objective penalizes the variance instead, and their worst case is ``min``)."""
    if how == "mean":
        return values.mean(0)
    if how == "median":
        return jnp.median(values, axis=0)
    if how == "min":
        return values.min(0)
    if how == "mean_minus_std":
        return values.mean(0) - lam * values.std(0)
    raise ValueError(f"unknown aggregate {how!r}; expected one of {AGGREGATES}")


def sample_segment_pairs(key: jax.Array, inputs: jax.Array, true_reward: jax.Array, done: jax.Array, valid,
                         num_pairs: int, length: int):
    """``num_pairs`` pairs of segments of ``length`` steps from time-major step arrays ``[T, B,
    ...]``: the model inputs ``[2, P, L, F]``, their true rewards ``[2, P, L]`` and the step mask
    ``[2, P, L]`` (1 on the segment's first episode, where ``valid``).

    With a ``valid`` mask a segment starts only at a valid step (uniformly over them), so no
    segment is empty while the rollout has a valid step where one can start.
    """
    T, B = done.shape
    if length > T:
        raise ValueError(f"segment_length ({length}) is longer than the rollout ({T} steps)")
    k_env, k_start = jax.random.split(key)
    if valid is None:
        env = jax.random.randint(k_env, (2, num_pairs), 0, B)
        start = jax.random.randint(k_start, (2, num_pairs), 0, T - length + 1)
    else:
        can_start = (valid[: T - length + 1] > 0).reshape(-1)  # [starts * B], start-major
        weight = jnp.where(can_start.any(), can_start, True).astype(jnp.float32)
        start, env = jnp.divmod(jax.random.choice(k_start, can_start.size, (2, num_pairs), p=weight / weight.sum()),
                                B)

    def take(x):
        one = lambda e, s: jax.lax.dynamic_slice_in_dim(jnp.take(x, e, axis=1), s, length, axis=0)
        return jax.vmap(jax.vmap(one))(env, start)

    valid = jnp.ones((T, B)) if valid is None else valid
    mask = first_episode_mask(take(done), axis=-1) * take(valid)
    return take(inputs), take(true_reward), mask


class PreferenceSet(NamedTuple):
    """Labelled segment pairs: ``inputs [2, P, L, F]`` (what the model sees of each step),
    ``mask [2, P, L]`` (the steps that count) and ``label [P]`` (``P(a > b)``, 0 to 1)."""

    inputs: jax.Array
    mask: jax.Array
    label: jax.Array

    @property
    def num_pairs(self) -> int:
        return int(self.label.shape[0])


def preference_set(key: jax.Array, episodes, num_pairs: int, segment_length: int = 25, *, beta=1.0,
                   flip=0.0, labels: str = "sample", inputs: str = "state_action", action_space=None) -> PreferenceSet:
    """A fixed preference dataset for offline reward learning: ``num_pairs`` segment pairs drawn from
    recorded ``episodes`` (``jrew.demonstrations.Demonstrations``, of any policy) and labelled by
    the synthetic labeller on their true rewards. ``action_space`` defaults to the recorded env's."""
    learned.check_inputs("preference_set", inputs)
    if labels not in LABELS:
        raise ValueError(f"preference_set: labels must be one of {LABELS}, got {labels!r}")
    if action_space is None:
        import envs

        action_space = envs.make(episodes.env, **episodes.env_kwargs).action_space
    x = learned.model_inputs(inputs, episodes.obs, episodes.action, episodes.next_obs, action_space, num_leading=1)
    done = np.zeros(episodes.num_steps, np.float32)
    done[np.cumsum(episodes.episode_lengths) - 1] = 1.0
    k_pairs, k_label = jax.random.split(key)
    column = lambda a: jnp.asarray(a)[:, None]  # the episodes as one long env: [N, 1, ...]
    segments, true_reward, mask = sample_segment_pairs(
        k_pairs, column(x), column(episodes.true_reward), column(done), None, num_pairs, segment_length)
    true_returns = jnp.sum(true_reward * mask, axis=-1)
    return PreferenceSet(segments, mask, synthetic_labels(k_label, true_returns[0], true_returns[1], beta, flip, labels))


@text_constructor
def preference_model(
    segment_length: int = 25,
    pairs_per_rollout: int = 16,
    label_budget: float = 2000,
    buffer_size: int = 4096,
    ensemble_size: int = 1,
    aggregate_by: str = "mean",
    conservative_lambda: float = 1.0,
    beta: float = 1.0,
    flip: float = 0.0,
    labels: str = "sample",
    learning_rate: float = 1e-3,
    updates_per_rollout: int = 4,
    minibatch_pairs: int = 64,
    hidden_sizes=(64, 64),
    inputs: str = "state_action",
    preferences: PreferenceSet | None = None,
    pretrain_steps: int = 0,
) -> RewardTransform:
    """An ensemble of ``r_hat(s, a)`` (or ``r_hat(s, s')``, ``inputs="state_next_state"``) MLPs
    trained on segment preferences by the Bradley-Terry loss; the stream's reward becomes their
    aggregate (see the module docstring).

    Online (default): the synthetic labeller labels ``pairs_per_rollout`` pairs of each rollout
    until ``label_budget`` labels are spent (a hyperparameter: a grid of budgets is one compile);
    ``labels="probability"`` trains on graded labels ``P(a > b)`` instead of sampled 0/1 ones.
    Labelled pairs go to a FIFO ring of ``buffer_size`` pairs (the newest replace the oldest).
    Under a valid mask (critic-free learners) segments start at valid steps, and a pair with an
    empty segment is never labelled.

    Offline: ``preferences`` (a fixed ``PreferenceSet``, e.g. from ``preference_set``) is the
    buffer, the model takes ``pretrain_steps`` Adam steps on it before the first rollout, and no
    label is asked for during RL; ``updates_per_rollout=0`` freezes it (a fixed proxy reward). The
    set is data (``jrew.rewards.data``): a hyperparameter per variant, shown by its content hash.

    Metrics: ``rm_loss``, ``preference_accuracy`` (on pairs of each rollout before any training
    on them, against the true ordering, over pairs whose true returns differ; NaN when none
    differ: offline, the accuracy on the policy's current distribution), ``labels`` so far,
    ``ensemble_std``.
    """
    if aggregate_by not in AGGREGATES:
        raise ValueError(f"preference_model: aggregate_by must be one of {AGGREGATES}, got {aggregate_by!r}")
    if labels not in LABELS:
        raise ValueError(f"preference_model: labels must be one of {LABELS}, got {labels!r}")
    learned.check_inputs("preference_model", inputs)
    offline = preferences is not None
    for name, value, least in (("segment_length", segment_length, 1), ("pairs_per_rollout", pairs_per_rollout, 1),
                               ("buffer_size", buffer_size, 1), ("ensemble_size", ensemble_size, 1),
                               ("updates_per_rollout", updates_per_rollout, 0 if offline else 1),
                               ("minibatch_pairs", minibatch_pairs, 1), ("pretrain_steps", pretrain_steps, 0)):
        if not isinstance(value, int) or value < least:
            raise ValueError(f"preference_model: {name} must be an int >= {least}, got {value!r}")
    if offline:
        if preferences.inputs.shape[2] != segment_length:
            raise ValueError(f"preference_model: the preferences' segments have {preferences.inputs.shape[2]} steps, "
                             f"segment_length is {segment_length}")
        buffer_size = preferences.num_pairs
    elif pretrain_steps:
        raise ValueError("preference_model: pretrain_steps needs a fixed preference set (preferences=...)")
    budget = concrete_values(label_budget)
    if not offline and budget is not None and np.max(budget) > buffer_size:
        warnings.warn(f"preference_model: label_budget ({np.max(budget):g}) exceeds buffer_size ({buffer_size}); the "
                      "buffer is a FIFO ring, so once it is full each new pair replaces the oldest", stacklevel=2)
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    net = learned.MaskedMLP(hidden_sizes, 1)
    hparams = {"label_budget": label_budget, "conservative_lambda": conservative_lambda, "beta": beta, "flip": flip,
               "learning_rate": learning_rate}
    if offline:  # the pairs are data: per variant, and part of the transform's identity
        hparams["preferences"] = Data({"inputs": jnp.swapaxes(preferences.inputs, 0, 1),
                                       "mask": jnp.swapaxes(preferences.mask, 0, 1), "label": preferences.label}, "pairs")

    def segment_return(p, x, step_mask):  # one member's R_hat of segments [..., L, F]
        return jnp.sum(net.apply(p, x)[..., 0] * step_mask, axis=-1)

    def segment_returns(params, x, step_mask):  # every member's: [K, ...]
        return jax.vmap(segment_return, (0, None, None))(params, x, step_mask)

    def train(trained, buffer: Ring, key, steps, lr):
        """``steps`` Adam steps of the Bradley-Terry loss on minibatches of the buffer's pairs,
        each member its own; returns the model and the mean member loss (before each step; one
        evaluation, no step, for ``steps == 0``)."""
        pairs = buffer.items  # inputs [N, 2, L, F], mask [N, 2, L], label [N]

        def loss(params, key):
            idx = buffer.sample_indices(key, (ensemble_size, minibatch_pairs))

            def member(p, i):
                r = [segment_return(p, pairs["inputs"][i, s], pairs["mask"][i, s]) for s in (0, 1)]
                return bradley_terry_loss(r[0], r[1], pairs["label"][i]).mean()

            per_member = jax.vmap(member)(params, idx)
            return jnp.where(buffer.size > 0, per_member.sum(), 0.0), per_member.mean()

        if steps == 0:
            return trained, loss(trained.params, key)[1][None]

        def step(trained, k):
            trained, _, member_loss = learned.adam_step(trained, lambda p: loss(p, k), lr)
            return trained, member_loss

        return jax.lax.scan(step, trained, jax.random.split(key, steps))

    def fixed_pairs(hp) -> Ring:
        return Ring.full(dict(hp["preferences"].arrays))

    def init(hp, key, spec):
        k_params, k_pretrain = jax.random.split(key)
        x = jnp.zeros((1, learned.input_size(inputs, spec)))
        trained = learned.Trained.create(jax.vmap(lambda k: net.init(k, x))(jax.random.split(k_params, ensemble_size)))
        state = {"labels": jnp.asarray(buffer_size if offline else 0, jnp.int32)}  # labels given so far
        if offline:
            if pretrain_steps:
                trained, _ = train(trained, fixed_pairs(hp), k_pretrain, pretrain_steps, hp["learning_rate"])
        else:
            pair = (buffer_size, 2, segment_length)
            state["buffer"] = Ring.create({"inputs": jnp.zeros(pair + x.shape[-1:]), "mask": jnp.zeros(pair),
                                           "label": jnp.zeros((buffer_size,))})
        return {"model": trained, **state}

    def apply(hp, state, batch):
        rollout = batch.rollout
        x = learned.model_inputs(inputs, rollout.obs, rollout.env_action, rollout.next_obs,
                                 learned.spec_of(batch).action_space)
        k_pairs, k_label, k_train = jax.random.split(batch.key, 3)
        segments, true_reward, mask = sample_segment_pairs(
            k_pairs, x, rollout.true_reward, rollout.done, batch.valid, pairs_per_rollout, segment_length)
        true_returns = jnp.sum(true_reward * mask, axis=-1)  # [2, P]

        # held-out accuracy: the new pairs, before training on them, against the true ordering
        params = state["model"].params
        predicted = aggregate(segment_returns(params, segments[0], mask[0])
                              - segment_returns(params, segments[1], mask[1]), "mean")
        differ = true_returns[0] != true_returns[1]
        correct = (predicted > 0) == (true_returns[0] > true_returns[1])
        accuracy = jnp.where(differ.any(), jnp.sum(differ * correct) / jnp.maximum(differ.sum(), 1), jnp.nan)

        count, new_state = jnp.zeros((), jnp.int32), {}
        if offline:
            buffer = fixed_pairs(hp)
        else:  # the labeller answers until the budget is spent, about pairs of two non-empty segments
            label = synthetic_labels(k_label, true_returns[0], true_returns[1], hp["beta"], hp["flip"], labels)
            asked = state["labels"] + jnp.arange(pairs_per_rollout)
            answered = (asked < hp["label_budget"]) & jnp.all(mask.sum(-1) > 0, axis=0)
            new = {"inputs": jnp.swapaxes(segments, 0, 1), "mask": jnp.swapaxes(mask, 0, 1), "label": label}
            buffer = state["buffer"].push(new, answered)
            count = answered.sum(dtype=jnp.int32)
            new_state["buffer"] = buffer

        trained, losses = train(state["model"], buffer, k_train, updates_per_rollout, hp["learning_rate"])
        members = jax.vmap(lambda p: net.apply(p, x)[..., 0])(trained.params)  # [K, T, B]
        reward = aggregate(members, aggregate_by, hp["conservative_lambda"])
        metrics = {"rm_loss": losses[-1], "preference_accuracy": accuracy,
                   "labels": (state["labels"] + count).astype(jnp.float32), "ensemble_std": members.std(0).mean()}
        return reward, {**new_state, "model": trained, "labels": state["labels"] + count}, metrics

    static = {"segment_length": segment_length, "pairs_per_rollout": pairs_per_rollout, "buffer_size": buffer_size,
              "ensemble_size": ensemble_size, "aggregate_by": aggregate_by, "labels": labels,
              "updates_per_rollout": updates_per_rollout, "minibatch_pairs": minibatch_pairs,
              "hidden_sizes": hidden_sizes, "inputs": inputs, "pretrain_steps": pretrain_steps}
    return transform("preference_model", apply, init, hparams, static)


@text_constructor
def return_decomposition(learning_rate: float = 1e-3, updates_per_rollout: int = 4, hidden_sizes=(64, 64),
                         scale: float = 1.0) -> RewardTransform:
    """Redistributes a delayed return onto the steps that earned it (RUDDER, Arjona-Medina et al.
    2019; LaRe's regression form): an MLP ``r_hat(s, a)`` trained on

      L = mean over episodes that end in the rollout of (sum_t r_hat(s_t, a_t) - R_episode)^2

    with ``R_episode`` the episode's sum of the incoming reward (e.g. from ``delayed()``), and the
    stream's reward replaced by ``scale * r_hat``. Episodes that began in an earlier rollout carry
    their running sums over (the predictions of earlier steps with the parameters of their time,
    no gradient). ``updates_per_rollout`` Adam steps per rollout, on valid steps only.
    """
    if not isinstance(updates_per_rollout, int) or updates_per_rollout < 1:
        raise ValueError(
            f"return_decomposition: updates_per_rollout must be a positive int, got {updates_per_rollout!r}")
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    net = learned.MaskedMLP(hidden_sizes, 1)

    def init(hp, key, spec):
        size = int(np.prod(spec.observation_shape)) + learned.action_size(spec.action_space)
        zeros = jnp.zeros((spec.num_envs,), jnp.float32)
        return {"model": learned.Trained.create(net.init(key, jnp.zeros((1, size)))),
                "predicted_so_far": zeros, "return_so_far": zeros}

    def apply(hp, state, batch):
        rollout = batch.rollout
        x = learned.model_inputs("state_action", rollout.obs, rollout.env_action, rollout.next_obs,
                                 learned.spec_of(batch).action_space)
        valid = jnp.ones_like(rollout.reward) if batch.valid is None else batch.valid
        carry = restart((state["predicted_so_far"], state["return_so_far"]), batch)

        def episode_sums(r_hat):
            def step(c, xs):
                predicted, returned = c
                r_hat_t, r_t, done, v = xs
                predicted, returned = predicted + v * r_hat_t, returned + v * r_t
                ended = (done > 0) & (v > 0)
                new = (jnp.where(ended, 0.0, predicted), jnp.where(ended, 0.0, returned))
                return new, (ended, predicted - returned)

            return jax.lax.scan(step, carry, (r_hat, rollout.reward, rollout.done, valid))

        def loss(params):
            _, (ended, error) = episode_sums(net.apply(params, x)[..., 0])
            return jnp.sum(ended * error**2) / jnp.maximum(ended.sum(), 1), ()

        def train_step(trained, _):
            trained, value, _ = learned.adam_step(trained, loss, hp["learning_rate"])
            return trained, value

        trained, losses = jax.lax.scan(train_step, state["model"], None, updates_per_rollout)
        r_hat = net.apply(trained.params, x)[..., 0]
        (predicted, returned), _ = episode_sums(jax.lax.stop_gradient(r_hat))
        new_state = {"model": trained, "predicted_so_far": predicted, "return_so_far": returned}
        return hp["scale"] * r_hat, new_state, {"decomposition_loss": losses[0]}

    return transform("return_decomposition", apply, init, {"learning_rate": learning_rate, "scale": scale},
                     {"updates_per_rollout": updates_per_rollout, "hidden_sizes": hidden_sizes})
