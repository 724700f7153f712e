"""Trained parts of reward transforms: small networks that learn inside ``apply``.

A bonus that learns (RND's predictor, E3B's and ICM's dynamics models) keeps its parameters and
its optimizer state in the transform's state and takes one Adam step per rollout, on the valid
steps only. The step size is a hyperparameter (data), and so is the width of every hidden layer:
``MaskedMLP`` allocates ``hidden`` units and zeroes those at or beyond ``width``, so a grid of
network widths x seeds is one compiled program (the cost is that of the widest).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jrew.networks import ACTIVATIONS

_ADAM = optax.scale_by_adam()


class MaskedMLP(nn.Module):
    """An MLP whose hidden units at index >= ``width`` and outputs at index >= ``out_width`` are 0.

    With ``width`` / ``out_width`` None (or at least the allocated sizes) it is a plain MLP.
    """

    hidden_sizes: Sequence[int]
    out_size: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x, width=None, out_width=None):
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = act(nn.Dense(size, kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x))
            if width is not None:
                x = x * (jnp.arange(size) < width)
        y = nn.Dense(self.out_size, kernel_init=nn.initializers.orthogonal(1.0))(x)
        if out_width is not None:
            y = y * (jnp.arange(self.out_size) < out_width)
        return y


class Trained(struct.PyTreeNode):
    """Parameters and their Adam state (the optimizer that ``adam_step`` applies)."""

    params: Any
    opt_state: Any

    @classmethod
    def create(cls, params) -> Trained:
        return cls(params, _ADAM.init(params))


def adam_step(
    trained: Trained, loss_fn: Callable[[Any], tuple[jax.Array, Any]], learning_rate
) -> tuple[Trained, jax.Array, Any]:
    """One Adam step (Kingma & Ba 2015) on ``loss_fn(params) -> (loss, aux)``; returns the new
    parameters with the loss and aux computed *before* the step."""
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(trained.params)
    updates, opt_state = _ADAM.update(grads, trained.opt_state)
    params = jax.tree.map(lambda p, u: p - learning_rate * u, trained.params, updates)
    return Trained(params, opt_state), loss, aux


def features(obs: jax.Array, num_leading: int = 2) -> jax.Array:
    """Observations as float32 feature vectors: ``[T, B, ...] -> [T, B, D]``."""
    return obs.reshape(obs.shape[:num_leading] + (-1,)).astype(jnp.float32)


def is_discrete(action_space) -> bool:
    return hasattr(action_space, "n")


def action_size(action_space) -> int:
    """The width of an encoded action: ``n`` for a discrete space, the flattened box size otherwise."""
    return int(action_space.n) if is_discrete(action_space) else int(np.prod(action_space.shape))


def encode_actions(action: jax.Array, action_space) -> jax.Array:
    """Actions ``[...]`` as vectors ``[..., action_size]``: one-hot for a discrete space, the raw
    (flattened) vector for a box; inputs to a forward model, targets of an inverse-dynamics model."""
    if is_discrete(action_space):
        return jax.nn.one_hot(action, action_space.n)
    return action.reshape(action.shape[: action.ndim - len(action_space.shape)] + (-1,)).astype(jnp.float32)


def inverse_dynamics_loss(prediction: jax.Array, action: jax.Array, encoded: jax.Array, discrete: bool) -> jax.Array:
    """Per-step loss of predicting ``a_t`` from ``(phi(s_t), phi(s_t+1))``: cross-entropy for a
    discrete action (Pathak et al. 2017, eq. 3), squared error for a continuous one."""
    if discrete:
        return optax.softmax_cross_entropy_with_integer_labels(prediction, action.astype(jnp.int32))
    return 0.5 * jnp.sum((prediction - encoded) ** 2, axis=-1)


INPUTS = ("state_action", "state_next_state")


def check_inputs(owner: str, kind: str) -> None:
    if kind not in INPUTS:
        raise ValueError(f"{owner}: inputs must be one of {INPUTS}, got {kind!r}")


def input_size(kind: str, spec) -> int:
    """The width of ``model_inputs(kind, ...)`` for an env batch's ``EnvSpec``."""
    obs_size = int(np.prod(spec.observation_shape))
    return obs_size + (action_size(spec.action_space) if kind == "state_action" else obs_size)


def model_inputs(kind: str, obs, action, next_obs, action_space, num_leading: int = 2) -> jax.Array:
    """What a learned reward ``r(s, a)`` (``"state_action"``) or ``r(s, s')`` (``"state_next_state"``,
    for demonstrations or feedback without actions) sees of each step: ``[*leading, F]``."""
    check_inputs("model_inputs", kind)
    second = (encode_actions(action, action_space) if kind == "state_action"
              else features(next_obs, num_leading))
    return jnp.concatenate([features(obs, num_leading), second], axis=-1)


def spec_of(batch) -> Any:
    """The batch's ``EnvSpec``, or an error saying who sets it (learned parts need the action space)."""
    if batch.spec is None:
        raise ValueError("this transform learns a model of actions and needs batch.spec (the env batch's EnvSpec; "
                         "learners set it, hand-built batches pass RewardBatch.create(..., spec=...))")
    return batch.spec
