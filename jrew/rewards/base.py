"""The reward-transform protocol: optax-style pure functions over time-major rollouts.

A ``RewardTransform`` is two pure functions and three kinds of data, each with one meaning:

* ``hparams``: the transform's numbers (coefficients, thresholds, learning rates), float32
  leaves. They are what a variant grid varies (``stack_hparams`` + ``jax.vmap``: one trace, one
  compile) and what ``describe`` prints. Arrays a transform is built from (demonstrations,
  preference sets) are hparams too, wrapped in ``data.Data``: per variant, printed as a content
  hash. Every array a transform computes with is in its hparams, its static settings or its state.
* ``static``: hashable settings that fix the program (mode flags, metric keys, which potential
  function; see ``settings.Fn``). Variants in one program must share them (``stack_hparams``
  checks), and ``describe`` prints them, so ``resume`` checks them too.
* state, made by ``init(hparams, key, spec)`` and threaded through ``apply``: per-env carries,
  running statistics, learned weights and their optimizer state. It is checkpointed with the run
  and never printed.

``apply(hparams, state, batch) -> (rewards, state, metrics)`` maps the named reward streams so far
(``batch.rewards``: stream -> ``[T, num_envs]``) to the new ones. A transform shapes the stream
``batch.stream`` (``extrinsic`` unless ``on_stream`` routes it elsewhere), which it reads as
``batch.rollout.reward``. Learners give each stream its own critic and discount; by default there
is one, ``extrinsic``. The batch also says which steps are real (``valid``; a learner may mask
steps) and which envs the learner started afresh (``reset``): carries restart there, and
statistics and learned parts must see only valid steps. The task's true reward is never changed.

Most transforms are written with ``transform`` / ``stateless`` / ``per_env_recurrence``, which
handle the stream plumbing; ``chain`` composes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jrew.config import concrete_values
from jrew.rewards.data import is_data
from jrew.rewards.registry import python_only, text_constructor
from jrew.rewards.settings import Settings, freeze, same_value
from jrew.types import EnvSpec, Transition, select_envs

EXTRINSIC = "extrinsic"
Rewards = dict[str, jax.Array]  # stream name -> [T, num_envs]
Metrics = dict[str, jax.Array]


class RewardBatch(NamedTuple):
    """What a transform sees: the rollout, the reward streams so far and the learner's context."""

    rollout: Transition  # time-major [T, num_envs, ...]; .reward is the stream being shaped
    rewards: Rewards  # every stream so far; rewards[stream] is rollout.reward
    gamma: jax.Array  # the learner's discount (potential-based shaping and return statistics need it)
    key: jax.Array  # randomness for stochastic transforms
    valid: jax.Array | None = None  # [T, num_envs], 1 for real steps; None: every step is real
    reset: jax.Array | None = None  # [num_envs] bool, envs started afresh before this rollout; None: none
    value_fn: Callable[[jax.Array], jax.Array] | None = None  # V(obs), gradients stopped
    stream: str = EXTRINSIC  # the stream this transform shapes
    spec: EnvSpec | None = None  # the env batch (observation and action spaces), as init saw it

    @classmethod
    def create(cls, rollout: Transition, streams: Sequence[str], gamma, key, *, valid=None, reset=None, value_fn=None,
               spec: EnvSpec | None = None):
        """The batch a learner hands its pipeline: ``extrinsic`` starts as the env reward, every
        other declared stream as zeros."""
        chex.assert_rank(rollout.reward, 2)
        chex.assert_equal_shape([rollout.reward, rollout.true_reward, rollout.terminated, rollout.truncated])
        if valid is not None:
            chex.assert_equal_shape([valid, rollout.reward])
        if reset is not None:
            chex.assert_shape(reset, rollout.reward.shape[1:])
        rewards = {s: rollout.reward if s == EXTRINSIC else jnp.zeros_like(rollout.reward) for s in streams}
        return cls(rollout, rewards, gamma, key, valid, reset, value_fn, EXTRINSIC, spec)

    def output(self, reward: jax.Array) -> Rewards:
        """The streams with ``reward`` as the new value of the one being shaped."""
        return {**self.rewards, self.stream: reward}

    def on(self, stream: str, key: jax.Array | None = None) -> RewardBatch:
        """This batch as seen by a transform that shapes ``stream``."""
        if stream not in self.rewards:
            raise ValueError(f"no reward stream {stream!r}; the learner provides {sorted(self.rewards)}")
        return self._replace(
            rollout=self.rollout.replace(reward=self.rewards[stream]), stream=stream,
            key=self.key if key is None else key,
        )


class RewardTransform(NamedTuple):
    init: Callable[[Any, jax.Array, EnvSpec], Any]  # (hparams, key, spec) -> state
    apply: Callable[[Any, Any, RewardBatch], tuple[Rewards, Any, Metrics]]  # (hparams, state, batch)
    hparams: Any = ()
    static: Settings = ()
    name: str = "transform"
    streams: tuple[str, ...] = ()  # named streams it writes besides the one it is given
    parts: tuple[RewardTransform, ...] = ()  # for combinators: what they combine
    episodic: bool | None = None  # bonuses: whether the bonus restarts each episode (None: not a bonus)


@python_only("a check of a transform, not a constructor")
def check_transform(t: Any) -> RewardTransform:
    """``t``, or a ``TypeError`` saying which field of a hand-built ``RewardTransform`` is malformed."""
    if not isinstance(t, RewardTransform):
        raise TypeError(f"expected a RewardTransform, got {type(t).__name__}: {t!r}")
    problems = []
    if not (callable(t.init) and callable(t.apply)):
        problems.append("init and apply must be functions")
    if not (isinstance(t.static, tuple) and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                                                 for p in t.static)):
        problems.append(f"static must be ((name, value), ...) pairs, got {t.static!r}")
    if not isinstance(t.name, str):
        problems.append(f"name must be a str, got {t.name!r}")
    if not (isinstance(t.streams, tuple) and all(isinstance(x, str) for x in t.streams)):
        problems.append(f"streams must be a tuple of names, got {t.streams!r}")
    if t.episodic not in (None, True, False):
        problems.append(f"episodic must be True, False or None, got {t.episodic!r}")
    if problems:
        raise TypeError(f"malformed RewardTransform {t.name!r}: {'; '.join(problems)} (fields: init, apply, hparams, "
                        "static, name, streams, parts, episodic; jrew.rewards.transform builds one from a one-stream apply)")
    for part in t.parts:
        check_transform(part)
    return t


def no_state(hparams, key, spec) -> tuple:
    return ()


@python_only("a building block for writing transforms in Python (jrew.rewards.protocol)")
def transform(
    name: str,
    apply: Callable[[Any, Any, RewardBatch], tuple[jax.Array, Any, Metrics]],
    init: Callable[[Any, jax.Array, EnvSpec], Any] = no_state,
    hparams: Any = (),
    static: Mapping[str, Any] | None = None,
) -> RewardTransform:
    """A transform that shapes one stream: ``apply(hparams, state, batch) -> (reward, state, metrics)``
    returns the new value of ``batch.rollout.reward`` (``[T, num_envs]``)."""

    def apply_streams(hp, state, batch):
        reward, state, metrics = apply(hp, state, batch)
        return batch.output(reward), state, metrics

    return RewardTransform(init, apply_streams, hparams, freeze(static), name)


@python_only("a building block for writing transforms in Python (jrew.rewards.protocol)")
def stateless(
    name: str, fn: Callable[[Any, jax.Array, RewardBatch], jax.Array], hparams: Any = (),
    static: Mapping[str, Any] | None = None,
) -> RewardTransform:
    """A transform whose new reward is ``fn(hparams, reward, batch)``, with no state."""
    return transform(name, lambda hp, state, batch: (fn(hp, batch.rollout.reward, batch), state, {}), no_state,
                     hparams, static)


@python_only("a building block for writing transforms in Python (jrew.rewards.protocol)")
def per_env_recurrence(
    name: str, step: Callable[[Any, jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]], hparams: Any = (),
    static: Mapping[str, Any] | None = None,
) -> RewardTransform:
    """A transform driven by a per-env recurrence over time, ``(carry, r_t, done_t) -> (carry, r'_t)``.

    The carry (``[num_envs]``, zeros at start) persists across rollouts, restarts where the learner
    reset an env, and holds still over invalid steps; ``step(hparams, carry, r, done)`` resets it
    at episode ends itself.
    """

    def init(hp, key, spec):
        return jnp.zeros((spec.num_envs,), jnp.float32)

    def apply(hp, carry, batch):
        rollout = batch.rollout
        carry, shaped = scan_time(lambda c, x: step(hp, c, *x), restart(carry, batch), (rollout.reward, rollout.done),
                                  batch.valid)
        return shaped, carry, {}

    return transform(name, apply, init, hparams, static)


@text_constructor
def identity() -> RewardTransform:
    """Leaves the reward as the env emits it."""
    return stateless("identity", lambda p, r, batch: r)


@text_constructor
def chain(*transforms: RewardTransform) -> RewardTransform:
    """Applies ``transforms`` in order, each to the streams the previous one produced.

    Metrics are prefixed ``<index>_<name>/`` so two transforms of one kind stay apart.
    """
    for t in transforms:
        if not isinstance(t, RewardTransform):
            raise TypeError(f"chain() takes RewardTransforms, got {type(t).__name__}: {t!r}")
        check_transform(t)
    prefixes = tuple(f"{i}_{t.name}" for i, t in enumerate(transforms))

    def init(hparams, key, spec):
        keys = jax.random.split(key, max(len(transforms), 1))
        return tuple(t.init(hp, k, spec) for t, hp, k in zip(transforms, hparams, keys))

    def apply(hparams, states, batch):
        keys = jax.random.split(batch.key, max(len(transforms), 1))
        rewards, new_states, metrics = batch.rewards, [], {}
        for t, hp, s, k, prefix in zip(transforms, hparams, states, keys, prefixes):
            rewards, s, m = apply_checked(t, hp, s, batch._replace(rewards=rewards).on(batch.stream, k))
            new_states.append(s)
            metrics.update({f"{prefix}/{name}": v for name, v in m.items()})
        return rewards, tuple(new_states), metrics

    return RewardTransform(
        init, apply, tuple(t.hparams for t in transforms), (), "chain", _union(t.streams for t in transforms),
        transforms,
    )


@text_constructor
def on_stream(stream: str, inner: RewardTransform) -> RewardTransform:
    """``inner`` applied to the reward stream ``stream`` (e.g. ``"intrinsic"``) instead of the one
    it is given: ``chain(bonus, on_stream("intrinsic", normalize_returns()))``."""
    if not isinstance(stream, str) or not stream:
        raise ValueError(f"on_stream: stream must be a non-empty name, got {stream!r}")
    check_transform(inner)

    def apply(hp, state, batch):
        rewards, state, metrics = apply_checked(inner, hp, state, batch.on(stream))
        return rewards, state, metrics

    return RewardTransform(
        inner.init, apply, inner.hparams, freeze({"stream": stream}), "on_stream", _union([(stream,), inner.streams]),
        (inner,),
    )


def _union(groups) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for group in groups for s in group))


def streams_of(transform: RewardTransform) -> tuple[str, ...]:
    """Every reward stream a learner must provide for ``transform``: ``extrinsic`` first."""
    return _union([(EXTRINSIC,), transform.streams])


def apply_checked(t: RewardTransform, hparams, state, batch: RewardBatch) -> tuple[Rewards, Any, Metrics]:
    """``t.apply``, with its output streams checked against the rollout's ``[T, num_envs]``."""
    rewards, state, metrics = t.apply(hparams, state, batch)
    if not isinstance(rewards, Mapping) or set(rewards) != set(batch.rewards):
        got = sorted(rewards) if isinstance(rewards, Mapping) else type(rewards).__name__
        raise ValueError(
            f"reward transform {t.name!r} must return every stream {sorted(batch.rewards)}, got {got} "
            "(write one-stream transforms with jrew.rewards.transform, which does this)"
        )
    expected = batch.rollout.true_reward.shape
    for stream, reward in rewards.items():
        if jnp.shape(reward) != expected:
            raise ValueError(
                f"reward transform {t.name!r} returned stream {stream!r} of shape {jnp.shape(reward)}, "
                f"expected the rollout's [T, num_envs] = {expected}"
            )
    return rewards, state, metrics


# ---------------------------------------------------------------- helpers for stateful transforms


def scan_time(step: Callable, carry: Any, xs: Any, valid: jax.Array | None = None) -> tuple[Any, Any]:
    """``lax.scan`` over the leading (time) axis of per-env carries; where ``valid`` is 0 the
    step is skipped: the carry keeps its value (the output at that step is left as computed)."""
    if valid is None:
        return jax.lax.scan(step, carry, xs)

    def held(c, x_and_valid):
        x, v = x_and_valid
        new, out = step(c, x)
        return select_envs(v > 0, new, c), out

    return jax.lax.scan(held, carry, (xs, valid))


def restart(carry: Any, batch: RewardBatch, fresh: Any = None) -> Any:
    """Per-env carries (leading axis ``num_envs``) back to ``fresh`` (default: zeros; any pytree
    that broadcasts against ``carry``) for the envs the learner reset."""
    if batch.reset is None:
        return carry
    if fresh is None:
        fresh = jax.tree.map(jnp.zeros_like, carry)
    else:
        fresh = jax.tree.map(lambda c, f: jnp.broadcast_to(jnp.asarray(f, c.dtype), c.shape), carry, fresh)
    return select_envs(batch.reset, fresh, carry)


def valid_mean(x: jax.Array, batch: RewardBatch) -> jax.Array:
    """Mean of ``x`` ``[T, num_envs]`` over the batch's valid steps."""
    if batch.valid is None:
        return x.mean()
    return jnp.sum(jnp.where(batch.valid > 0, x, 0)) / jnp.maximum(jnp.sum(batch.valid), 1.0)


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


# ---------------------------------------------------------------- variants, descriptions


def as_hparams(tree: Any) -> Any:
    """Hyperparameters as float32 leaves (vmappable data)."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)


def stack_hparams(variants: Sequence[RewardTransform]) -> Any:
    """Stacks the hparams of variants along a new leading axis, for one vmapped program.

    That program runs variant 0's functions with each variant's numbers, so the variants must be
    one transform: the same structure and static settings, hparams of the same shapes.
    """
    if not variants:
        raise ValueError("stack_hparams needs at least one variant")
    for variant in variants:
        check_transform(variant)
    for i, variant in enumerate(variants[1:], start=1):
        difference = _first_difference(variants[0], variant, "")
        if difference is not None:
            raise ValueError(
                f"variant {i} differs from variant 0 {difference}; variants in one program may differ only in "
                "hyperparameters (numbers). Train the others in separate runs, or give one transform a numeric "
                "switch (e.g. a weight per term)."
            )
    stack = lambda *xs: jnp.stack([jnp.asarray(x, jnp.float32) for x in xs])
    return jax.tree.map(stack, *[v.hparams for v in variants])


def _first_difference(a: RewardTransform, b: RewardTransform, path: str) -> str | None:
    where = f" at {path}" if path else ""
    if a.name != b.name or len(a.parts) != len(b.parts):
        return f"in its transform{where}: {describe(b)} vs {describe(a)}"
    for (name, value), (_, other) in zip(a.static, b.static):
        if not same_value(value, other):
            return f"in the static setting {name!r}{where}: {other!r} vs {value!r}"
    if [n for n, _ in a.static] != [n for n, _ in b.static]:
        return f"in its static settings{where}: {[n for n, _ in b.static]} vs {[n for n, _ in a.static]}"
    for i, (pa, pb) in enumerate(zip(a.parts, b.parts)):
        difference = _first_difference(pa, pb, f"{path}.{i}_{pa.name}" if path else f"{i}_{pa.name}")
        if difference is not None:
            return difference
    if a.parts:
        return None
    if jax.tree_util.tree_structure(a.hparams) != jax.tree_util.tree_structure(b.hparams):
        return f"in the structure of its hparams{where}: {_hparam_text(b)} vs {_hparam_text(a)}"
    for (key_path, x), y in zip(jax.tree_util.tree_leaves_with_path(a.hparams), jax.tree.leaves(b.hparams)):
        if np.shape(x) != np.shape(y):
            name = ".".join(_key_name(k) for k in key_path)
            data = " (data of different sizes cannot share a program)" if any(
                is_data(x) for x in jax.tree.leaves(a.hparams, is_leaf=is_data)) else ""
            return f"in the shape of hparam {name!r}{where}: {np.shape(y)} vs {np.shape(x)}{data}"
    return None


def _number(x) -> Any:
    """A number for descriptions: 7 significant digits, so ``1e-8`` stays ``1e-08``."""
    arr = np.asarray(x, np.float64)
    rounded = np.vectorize(lambda v: float(f"{v:.7g}"), otypes=[float])(arr) if arr.size else arr
    return float(rounded) if arr.ndim == 0 else rounded.tolist()


def _key_name(entry) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def _hparam_text(t: RewardTransform) -> str:
    leaves, _ = jax.tree_util.tree_flatten_with_path(t.hparams, is_leaf=is_data)
    value = lambda x: repr(x) if is_data(x) else _number(x)
    return ", ".join(f"{'.'.join(_key_name(k) for k in path)}={value(x)}" for path, x in leaves)


def describe(t: RewardTransform) -> str:
    """A transform's structure, static settings and numbers, e.g.
    ``chain(normalize_returns(clip=10.0, eps=0.0), pbrs(potential=my.phi, coef=0.5))``; state is
    never printed. config.json records it, and ``resume`` compares it."""
    settings = [f"{name}={value!r}" for name, value in t.static]
    inner = [describe(p) for p in t.parts] if t.parts else ([_hparam_text(t)] if jax.tree.leaves(t.hparams) else [])
    return f"{t.name}({', '.join(settings + inner)})"
