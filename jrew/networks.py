"""Flax actor-critic networks: separate policy and value MLPs, optional observation normalization."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

ACTIVATIONS: dict[str, Callable] = {"tanh": nn.tanh, "relu": nn.relu, "swish": nn.swish, "elu": nn.elu}


# Kernel initializations: (hidden layers' kernel init, output layer's kernel init given its gain).
INITS: dict[str, tuple[Callable, Callable[[float], Callable]]] = {
    # Orthogonal, gain sqrt(2) in hidden layers and a chosen output gain: the PPO implementation
    # details of Engstrom et al. 2020 and Huang et al. 2022 (CleanRL, PureJaxRL).
    "orthogonal": (nn.initializers.orthogonal(np.sqrt(2)), nn.initializers.orthogonal),
    # LeCun uniform in every layer, output gain unused: Brax's MLP (brax/training/networks.py).
    "lecun_uniform": (nn.initializers.lecun_uniform(), lambda gain: nn.initializers.lecun_uniform()),
    # LeCun normal in every layer: flax's Dense default, as the gymnax baselines' networks.
    "lecun_normal": (nn.initializers.lecun_normal(), lambda gain: nn.initializers.lecun_normal()),
}


class MLP(nn.Module):
    hidden_sizes: Sequence[int]
    out_size: int
    activation: str = "tanh"
    out_scale: float = 1.0
    kernel_init: str = "orthogonal"
    bias_init_scale: float = 0.0

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        hidden_init, output_init = INITS[self.kernel_init]
        # uniform(0) would draw zeros too, but zeros keeps the zero-bias default free of randomness.
        bias_init = nn.initializers.uniform(self.bias_init_scale) if self.bias_init_scale else nn.initializers.zeros
        for size in self.hidden_sizes:
            x = act(nn.Dense(size, kernel_init=hidden_init, bias_init=bias_init)(x))
        return nn.Dense(self.out_size, kernel_init=output_init(self.out_scale), bias_init=bias_init)(x)


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

    Initialization (``kernel_init``, one of ``INITS``):

    * ``orthogonal`` (default): hidden layers orthogonal with gain sqrt(2), the policy output
      orthogonal with gain 0.01 (actions start near uniform / near zero mean), the value output
      gain 1. Andrychowicz et al. 2021, "What Matters in On-Policy RL", found the small policy
      output scale among the choices that matter most.
    * ``lecun_uniform``: every layer LeCun uniform, as Brax's PPO networks.
    * ``lecun_normal``: every layer LeCun normal (flax's default), as the gymnax baselines'.

    Biases start at zero, or uniform in [0, ``bias_init_scale``) (the gymnax baselines: 0.05).
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
    kernel_init: str = "orthogonal"
    bias_init_scale: float = 0.0

    def setup(self):
        if self.std_head not in STD_HEADS:
            raise ValueError(f"std_head must be one of {STD_HEADS}, got {self.std_head!r}")
        if self.kernel_init not in INITS:
            raise ValueError(f"kernel_init must be one of {tuple(INITS)}, got {self.kernel_init!r}")
        state_dependent = self.continuous and self.std_head == "state_dependent"
        out = self.head_size // 2 if self.continuous else self.head_size
        mlp = {"activation": self.activation, "kernel_init": self.kernel_init, "bias_init_scale": self.bias_init_scale}
        self.policy_net = MLP(self.policy_hidden_sizes, 2 * out if state_dependent else out, out_scale=0.01, **mlp)
        if self.value_hidden_sizes is not None:
            self.value_net = MLP(self.value_hidden_sizes, self.num_values, out_scale=1.0, **mlp)
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
