"""Flax actor-critic networks: separate policy and value MLPs, optional observation normalization."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS: dict[str, Callable] = {"tanh": nn.tanh, "relu": nn.relu, "swish": nn.swish, "elu": nn.elu}


class MLP(nn.Module):
    hidden_sizes: Sequence[int]
    out_size: int
    activation: str = "tanh"
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = act(nn.Dense(size, kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x))
        return nn.Dense(self.out_size, kernel_init=nn.initializers.orthogonal(self.out_scale))(x)


class ActorCritic(nn.Module):
    """Policy head (logits, or mean + state-independent log-std) and a scalar value.

    Orthogonal init with a small policy output scale (0.01) follows Andrychowicz et al. 2021,
    "What Matters in On-Policy RL", which found it among the choices that matter most.
    """

    policy_hidden_sizes: Sequence[int]
    value_hidden_sizes: Sequence[int]
    head_size: int
    continuous: bool
    activation: str = "tanh"
    init_log_std: float = 0.0

    @nn.compact
    def __call__(self, obs):
        if self.continuous:
            action_dim = self.head_size // 2
            mean = MLP(self.policy_hidden_sizes, action_dim, self.activation, 0.01, name="policy")(obs)
            log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (action_dim,))
            head = jnp.concatenate([mean, jnp.broadcast_to(log_std, mean.shape)], axis=-1)
        else:
            head = MLP(self.policy_hidden_sizes, self.head_size, self.activation, 0.01, name="policy")(obs)
        value = MLP(self.value_hidden_sizes, 1, self.activation, 1.0, name="value")(obs)[..., 0]
        return head, value


def init_params(network: ActorCritic, key: jax.Array, observation_size: int):
    return network.init(key, jnp.zeros((1, observation_size)))
