"""Flax actor-critic networks: separate policy and value MLPs, optional observation normalization."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
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

    ``value_hidden_sizes=None`` leaves the critic out (critic-free learners). With
    ``num_values`` > 1 the critic has one output per reward stream (``[..., num_values]``).

    Orthogonal init with a small policy output scale (0.01) follows Andrychowicz et al. 2021,
    "What Matters in On-Policy RL", which found it among the choices that matter most.
    """

    policy_hidden_sizes: Sequence[int]
    value_hidden_sizes: Sequence[int] | None
    head_size: int
    continuous: bool
    activation: str = "tanh"
    init_log_std: float = 0.0
    num_values: int = 1

    def setup(self):
        out = self.head_size // 2 if self.continuous else self.head_size
        self.policy_net = MLP(self.policy_hidden_sizes, out, self.activation, 0.01)
        if self.value_hidden_sizes is not None:
            self.value_net = MLP(self.value_hidden_sizes, self.num_values, self.activation, 1.0)
        if self.continuous:
            self.log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (out,))

    def policy(self, obs):
        """Distribution parameters: logits, or concat(mean, log_std)."""
        head = self.policy_net(obs)
        if self.continuous:
            head = jnp.concatenate([head, jnp.broadcast_to(self.log_std, head.shape)], axis=-1)
        return head

    def value(self, obs):
        values = self.value_net(obs)
        return values[..., 0] if self.num_values == 1 else values

    def __call__(self, obs):
        if self.value_hidden_sizes is None:
            return self.policy(obs)
        return self.policy(obs), self.value(obs)
