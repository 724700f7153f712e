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


STD_HEADS = ("state_independent", "state_dependent")


class ActorCritic(nn.Module):
    """Policy head (logits, or a Gaussian's mean and log-std) and a scalar value.

    ``value_hidden_sizes=None`` leaves the critic out (critic-free learners). With
    ``num_values`` > 1 the critic has one output per reward stream (``[..., num_values]``).

    Continuous policies have one of two standard-deviation heads:

    * ``state_independent``: a learned log-std vector, initialized to ``init_log_std`` (0: std 1),
      shared by all states (PPO's original choice; Brax-free PureJaxRL and CleanRL use it).
    * ``state_dependent``: a second linear output of the policy MLP, ``std = softplus(s) +
      min_std`` (the gymnax baselines' ``GaussianSeparateMLP``, min_std 0.001; Brax's own PPO
      uses softplus with a floor too). It starts near softplus(0) = 0.69 and can shrink per state.

    Initialization: hidden layers orthogonal with gain sqrt(2), the policy output orthogonal with
    gain 0.01 (actions start near uniform / near zero mean), the value output gain 1, zero
    biases. Andrychowicz et al. 2021, "What Matters in On-Policy RL", found the small policy
    output scale among the choices that matter most.
    """

    policy_hidden_sizes: Sequence[int]
    value_hidden_sizes: Sequence[int] | None
    head_size: int
    continuous: bool
    activation: str = "tanh"
    init_log_std: float = 0.0
    num_values: int = 1
    std_head: str = "state_independent"
    min_std: float = 1e-3

    def setup(self):
        if self.std_head not in STD_HEADS:
            raise ValueError(f"std_head must be one of {STD_HEADS}, got {self.std_head!r}")
        state_dependent = self.continuous and self.std_head == "state_dependent"
        out = self.head_size // 2 if self.continuous else self.head_size
        self.policy_net = MLP(self.policy_hidden_sizes, 2 * out if state_dependent else out, self.activation, 0.01)
        if self.value_hidden_sizes is not None:
            self.value_net = MLP(self.value_hidden_sizes, self.num_values, self.activation, 1.0)
        if self.continuous and not state_dependent:
            self.log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (out,))

    def policy(self, obs):
        """Distribution parameters: logits, or concat(mean, log_std)."""
        head = self.policy_net(obs)
        if not self.continuous:
            return head
        if self.std_head == "state_dependent":
            mean, scale = jnp.split(head, 2, axis=-1)
            return jnp.concatenate([mean, jnp.log(nn.softplus(scale) + self.min_std)], axis=-1)
        return jnp.concatenate([head, jnp.broadcast_to(self.log_std, head.shape)], axis=-1)

    def value(self, obs):
        values = self.value_net(obs)
        return values[..., 0] if self.num_values == 1 else values

    def __call__(self, obs):
        if self.value_hidden_sizes is None:
            return self.policy(obs)
        return self.policy(obs), self.value(obs)
