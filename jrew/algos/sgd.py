"""The update loop that PPO-style learners share: epochs over shuffled minibatches, in ``lax.scan``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax
from einops import rearrange

LossFn = Callable[[Any, Any, jax.Array], tuple[jax.Array, dict]]


def minibatch_steps(
    loss_fn: LossFn, tx: optax.GradientTransformation, params: Any, opt_state: Any, minibatches: Any, keys: jax.Array,
) -> tuple[tuple[Any, Any], dict[str, jax.Array]]:
    """One optimizer step on ``loss_fn(params, minibatch, key) -> (loss, metrics)`` per minibatch
    (the leading axis of ``minibatches`` and ``keys``), in order. Returns ``((params, opt_state),
    metrics per step)``, with ``grad_norm``, the pre-clipping global gradient norm."""

    def step(carry, inputs):
        params, opt_state = carry
        batch, step_key = inputs
        grads, metrics = jax.grad(loss_fn, has_aux=True)(params, batch, step_key)
        updates, opt_state = tx.update(grads, opt_state, params)
        metrics["grad_norm"] = optax.tree.norm(grads)
        return (optax.apply_updates(params, updates), opt_state), metrics

    return jax.lax.scan(step, (params, opt_state), (minibatches, keys))


def epochs_of_minibatches(
    loss_fn: LossFn,
    tx: optax.GradientTransformation,
    params: Any,
    opt_state: Any,
    data: Any,
    key: jax.Array,
    num_epochs: int,
    num_minibatches: int,
) -> tuple[Any, Any, dict[str, jax.Array]]:
    """Each epoch shuffles ``data`` along its leading axis, splits it into ``num_minibatches`` and
    takes one optimizer step per minibatch (``minibatch_steps``).

    Returns the new params and optimizer state and the metrics averaged over all steps (plus
    ``grad_norm``, the pre-clipping global gradient norm).
    """
    size = jax.tree.leaves(data)[0].shape[0]

    def epoch(carry, epoch_key):
        perm_key, step_key = jax.random.split(epoch_key)
        perm = jax.random.permutation(perm_key, size)
        minibatches = jax.tree.map(lambda x: rearrange(x[perm], "(m n) ... -> m n ...", m=num_minibatches), data)
        return minibatch_steps(loss_fn, tx, *carry, minibatches, jax.random.split(step_key, num_minibatches))

    (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, num_epochs))
    return params, opt_state, {k: v.mean() for k, v in metrics.items()}
