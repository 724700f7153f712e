"""The reward-transform interface: optax-style pairs of pure functions over time-major rollouts.

A ``RewardTransform`` is ``(init, apply, params)``:

* ``init(num_envs) -> state``: the transform's own state (accumulators, running statistics);
* ``apply(params, state, batch) -> (reward, state, metrics)``: the new training reward
  ``[T, num_envs]`` for the rollout in ``batch``; ``batch.rollout.reward`` is the reward so far
  in the chain. The task's true reward is never changed.
* ``params``: the transform's numbers (coefficients, thresholds), a pytree kept apart from the
  functions. Two variants built by the same constructor differ only in ``params``, so a grid of
  variants is ``stack_params`` + ``jax.vmap``: one trace, one compilation.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jrew.config import concrete_values
from jrew.types import Transition


class RewardBatch(NamedTuple):
    """What a transform sees: the rollout plus the learner's context."""

    rollout: Transition  # time-major [T, num_envs, ...]; .reward is the current training reward
    gamma: jax.Array  # the learner's discount (potential-based shaping needs it)
    key: jax.Array  # randomness for stochastic transforms
    value_fn: Callable[[jax.Array], jax.Array] | None = None  # V(obs), gradients stopped


Metrics = dict[str, jax.Array]


class RewardTransform(NamedTuple):
    init: Callable[[int], Any]
    apply: Callable[[Any, Any, RewardBatch], tuple[jax.Array, Any, Metrics]]
    params: Any = ()
    name: str = "transform"


def stateless(name: str, fn: Callable[[Any, jax.Array, RewardBatch], jax.Array], params: Any = ()) -> RewardTransform:
    """A transform whose new reward is ``fn(params, reward, batch)``, with no state."""

    def apply(p, state, batch):
        reward = fn(p, batch.rollout.reward, batch)
        return reward, state, {}

    return RewardTransform(lambda num_envs: (), apply, params, name)


def per_env_recurrence(
    name: str, step: Callable[[Any, jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]], params: Any = ()
) -> RewardTransform:
    """A transform driven by a per-env recurrence over time, ``(carry, r_t, done_t) -> (carry, r'_t)``.

    The carry (``[num_envs]``, zeros at start) persists across rollouts; ``step(params, carry,
    r, done)`` resets it at episode ends itself.
    """

    def init(num_envs):
        return jnp.zeros((num_envs,), jnp.float32)

    def apply(p, carry, batch):
        rollout = batch.rollout
        carry, shaped = scan_time(lambda c, x: step(p, c, *x), carry, (rollout.reward, rollout.done))
        return shaped, carry, {}

    return RewardTransform(init, apply, params, name)


def identity() -> RewardTransform:
    """Leaves the reward as the env emits it."""
    return stateless("identity", lambda p, r, batch: r)


def chain(*transforms: RewardTransform) -> RewardTransform:
    """Applies ``transforms`` in order, each to the reward the previous one produced.

    Metrics are prefixed ``<index>_<name>/`` so two transforms of one kind stay apart.
    """
    for t in transforms:
        if not isinstance(t, RewardTransform):
            raise TypeError(f"chain() takes RewardTransforms, got {type(t).__name__}: {t!r}")
    names = tuple(f"{i}_{t.name}" for i, t in enumerate(transforms))

    def init(num_envs):
        return tuple(t.init(num_envs) for t in transforms)

    def apply(params, states, batch):
        rollout = batch.rollout
        keys = jax.random.split(batch.key, max(len(transforms), 1))
        new_states, metrics = [], {}
        for t, p, s, k, prefix in zip(transforms, params, states, keys, names):
            reward, s, m = t.apply(p, s, batch._replace(rollout=rollout, key=k))
            rollout = rollout.replace(reward=reward)
            new_states.append(s)
            metrics.update({f"{prefix}/{name}": v for name, v in m.items()})
        return rollout.reward, tuple(new_states), metrics

    return RewardTransform(init, apply, tuple(t.params for t in transforms), f"chain({','.join(t.name for t in transforms)})")


def stack_params(variants: Sequence[RewardTransform]) -> Any:
    """Stacks the params of structurally identical transforms along a new leading axis.

    Variants share one compiled program, which runs variant 0's functions with each variant's
    numbers; so they must be the same transform (same name) with the same params structure.
    """
    if not variants:
        raise ValueError("stack_params needs at least one variant")
    structure = jax.tree_util.tree_structure(variants[0].params)
    for i, v in enumerate(variants):
        if v.name != variants[0].name:
            raise ValueError(
                f"variant {i} is the transform {v.name!r} but variant 0 is {variants[0].name!r}: variants in one "
                "program must be one transform with different numbers (train different transforms in separate runs, "
                "or give one transform a numeric switch, e.g. a weight per term)"
            )
        if jax.tree_util.tree_structure(v.params) != structure:
            raise ValueError(
                f"variant {i} differs in structure from variant 0 "
                f"({jax.tree_util.tree_structure(v.params)} vs {structure}); only numbers may differ"
            )
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x, jnp.float32) for x in xs]), *[v.params for v in variants])


def describe(transform: RewardTransform) -> str:
    """A short text of a transform's name and numbers, for config.json and logs."""
    leaves = [np.asarray(x).round(6).tolist() for x in jax.tree.leaves(transform.params)]
    return f"{transform.name}{leaves}"


# ---------------------------------------------------------------- validation helpers


def check_probability(name: str, value) -> float:
    arr = concrete_values(value)
    if arr is not None and not np.all((arr >= 0) & (arr <= 1)):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return value


def check_metric(rollout: Transition, key: str, transform: str) -> jax.Array:
    """``rollout.env_metrics[key]``, or an error that lists the metrics the env does report."""
    if key not in rollout.env_metrics:
        raise ValueError(
            f"{transform}: unknown metric key {key!r}; the env reports {sorted(rollout.env_metrics) or 'no metrics'}"
        )
    return rollout.env_metrics[key]


def scan_time(step: Callable, carry: Any, xs: Any) -> tuple[Any, Any]:
    """``lax.scan`` over the leading (time) axis: the per-env recurrences of stateful transforms."""
    return jax.lax.scan(step, carry, xs)
