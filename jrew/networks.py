"""Flax actor-critic networks: separate policy and value MLPs, or token networks (a causal
transformer or a GRU) over a token buffer for the sequence lab."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
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


TOKEN_NETWORKS = ("transformer", "gru")


def last_token_index(tokens: jax.Array) -> jax.Array:
    """Index of the last non-PAD (nonzero) token of each buffer ``[..., N] -> [...]``: where a
    token network reads its output (the position whose next token is being chosen)."""
    filled = tokens != 0
    return tokens.shape[-1] - 1 - jnp.argmax(filled[..., ::-1], axis=-1)


class TokenEncoder(nn.Module):
    """A token buffer (float token ids ``[B, N]``, PAD = 0 after the last token) to the hidden
    state at its last token ``[B, width]``.

    ``transformer``: token and learned position embeddings, ``depth`` pre-LayerNorm blocks of
    causal multi-head self-attention and a 4x-wide GELU MLP, a final LayerNorm (GPT-2's block;
    Radford et al. 2019). ``gru``: ``depth`` stacked GRU layers over the buffer. Both are causal,
    so the PAD after the last token never reaches its output. Each step recomputes the whole
    buffer, O(depth · N · width²) for the MLPs and O(depth · N² · width) for attention: at the lab's
    sizes (N ≤ 32) a KV cache would save little next to the rollout's other work.
    """

    kind: str
    num_tokens: int
    width: int = 64
    depth: int = 2
    heads: int = 4

    @nn.compact
    def __call__(self, obs):
        tokens = obs.astype(jnp.int32)
        batch_shape, n = tokens.shape[:-1], tokens.shape[-1]
        tokens = tokens.reshape(-1, n)
        x = nn.Embed(self.num_tokens, self.width, embedding_init=nn.initializers.normal(0.02))(tokens)
        if self.kind == "transformer":
            x = x + self.param("positions", nn.initializers.normal(0.02), (n, self.width))
            mask = nn.make_causal_mask(tokens)
            for _ in range(self.depth):
                x = x + nn.MultiHeadDotProductAttention(self.heads, qkv_features=self.width)(nn.LayerNorm()(x),
                                                                                              mask=mask)
                h = nn.gelu(nn.Dense(4 * self.width)(nn.LayerNorm()(x)))
                x = x + nn.Dense(self.width)(h)
            x = nn.LayerNorm()(x)
        elif self.kind == "gru":
            for _ in range(self.depth):
                x = nn.RNN(nn.GRUCell(self.width))(x)
        else:
            raise ValueError(f"kind must be one of {TOKEN_NETWORKS}, got {self.kind!r}")
        last = jnp.take_along_axis(x, last_token_index(tokens)[:, None, None], axis=1)[:, 0]
        return last.reshape(*batch_shape, self.width)


class TokenHead(nn.Module):
    """A ``TokenEncoder`` and a linear output (``out_scale``: orthogonal gain, small for logits)."""

    encoder: TokenEncoder
    out_size: int
    out_scale: float

    @nn.compact
    def __call__(self, obs):
        return nn.Dense(self.out_size, kernel_init=nn.initializers.orthogonal(self.out_scale))(self.encoder(obs))


class TokenActorCritic(nn.Module):
    """``ActorCritic``'s interface over token buffers: next-token logits and, with ``critic``, a
    token-level value (the value of the prefix so far), each from its own ``TokenEncoder``."""

    kind: str
    num_tokens: int
    head_size: int
    critic: bool = False
    num_values: int = 1
    width: int = 64
    depth: int = 2
    heads: int = 4

    def setup(self):
        encoder = lambda: TokenEncoder(self.kind, self.num_tokens, self.width, self.depth, self.heads)
        self.policy_net = TokenHead(encoder(), self.head_size, 0.01)
        if self.critic:
            self.value_net = TokenHead(encoder(), self.num_values, 1.0)

    def policy(self, obs):
        return self.policy_net(obs)

    def value(self, obs):
        values = self.value_net(obs)
        return values[..., 0] if self.num_values == 1 else values

    def __call__(self, obs):
        if not self.critic:
            return self.policy(obs)
        return self.policy(obs), self.value(obs)
