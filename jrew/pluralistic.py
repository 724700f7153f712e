"""Pluralistic reward models: rewards for a population of users whose preferences differ.

A single Bradley-Terry model trained on everybody's labels learns one ordering for all; where
users of different (hidden) types disagree it averages them, and it is near chance for a type
whose preferences the majority does not share (Siththaranjan, Laidlaw & Hadfield-Menell 2024,
"Distributional Preference Learning", ICLR, show that BT aggregates hidden context like a Borda
count). Two models condition the reward on the user instead:

* ``VPL`` (Poddar, Wan, Ivison, Gupta & Jaques 2024, "Personalizing Reinforcement Learning from
  Human Feedback with Variational Preference Learning", NeurIPS; arXiv:2408.10075): an encoder
  maps a user's few labelled pairs (the context) to a Gaussian posterior ``q(z | context)`` over
  a latent user vector, and the reward ``r(x, z)`` is conditioned on it; trained as a VAE whose
  "reconstruction" is the Bradley-Terry likelihood of the user's other pairs;
* ``PAL`` (Chen, Chen, Rege, Wang & Vinayak 2025, "PAL: Sample-Efficient Personalized Reward
  Modeling for Pluralistic Alignment", ICLR; first as "PAL: Pluralistic Alignment Framework for
  Learning from Heterogeneous Preferences", arXiv:2406.08469): the ideal-point model with mixture
  prototypes, ``r_u(x) = -||f(x) - a_u||^2`` with ``a_u = sum_k w_uk p_k`` (PAL-A); a new user's
  weights are fitted from their few pairs with ``f`` and the prototypes frozen.

Items are anything a ``features`` module maps to vectors ``[..., *item] -> [..., D]``: a token
buffer (prompt ++ completion, float token ids, PAD = 0) through ``jrew.networks.TokenEncoder``,
or a plain vector through an MLP. Everything is a pure function of explicit parameters
(jittable, vmappable over seeds):

* data: ``Pairs`` (``a``, ``b``, ``label = P(a > b)``, ``mask``), ``Population`` (each user's
  pairs, types and gold scores), ``balanced_types``, ``labeller_population`` (Boltzmann-rational
  labellers of latent types), ``split_context``;
* models: ``BradleyTerry``, ``VPL``, ``PAL``; losses ``bt_loss``, ``vpl_loss``, ``pal_loss``;
  training ``fit`` (Adam steps in one ``lax.scan``; ``pal_learning_rates``); a new PAL user:
  ``pal_fit_users``;
* evaluation: ``bt_margins``, ``vpl_margins``, ``pal_margins``, ``per_type_accuracy``,
  ``nearest_mean_accuracy`` (type recovery from VPL's posterior means) and
  ``assignment_accuracy`` (PAL's mixture weights against the types, up to permutation).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jrew.config import concrete_values
from jrew.rewards import learned
from jrew.rewards.preferences import LABELS, bradley_terry_loss, synthetic_labels

POOLINGS = ("attention", "mean")


# --------------------------------------------------------------------------- data


class Pairs(NamedTuple):
    """Labelled pairs with leading axes ``[..., P]``: items ``a`` and ``b`` ``[..., P, *item]``,
    ``label`` ``[..., P]`` (``P(a > b)``, 0 to 1) and ``mask`` ``[..., P]`` (1: a real pair, 0:
    padding that no loss, posterior or fit may see)."""

    a: jax.Array
    b: jax.Array
    label: jax.Array
    mask: jax.Array


class Population(NamedTuple):
    """Users and their labelled pairs: ``pairs`` ``[U, P, ...]``, ``types`` ``[U]`` (int) and the
    gold scores of each pair's items under its user's type, ``gold_a``, ``gold_b`` ``[U, P]``
    (for evaluation only: no model sees them)."""

    pairs: Pairs
    types: jax.Array
    gold_a: jax.Array
    gold_b: jax.Array

    @property
    def num_users(self) -> int:
        return int(self.types.shape[0])

    def take(self, users: jax.Array) -> Population:
        """The population of ``users`` (indices ``[V]``)."""
        return jax.tree.map(lambda x: x[users], self)

    def split(self, num_pairs: int) -> tuple[Population, Population]:
        """Each user's first ``num_pairs`` pairs and the rest (e.g. a new user's context and the
        pairs they are evaluated on), as two populations of the same users."""
        total = self.gold_a.shape[1]
        if not isinstance(num_pairs, int) or not 0 < num_pairs < total:
            raise ValueError(f"Population.split: num_pairs must be an int in 1..{total - 1}, got {num_pairs!r}")
        part = lambda s: Population(jax.tree.map(lambda x: x[:, s], self.pairs), self.types, self.gold_a[:, s],
                                    self.gold_b[:, s])
        return part(slice(None, num_pairs)), part(slice(num_pairs, None))


def balanced_types(num_types: int, users_per_type: int) -> jax.Array:
    """``[num_types * users_per_type]`` user types ``0 0 .. 1 1 .. T-1``."""
    for name, value in (("num_types", num_types), ("users_per_type", users_per_type)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"balanced_types: {name} must be an int >= 1, got {value!r}")
    return jnp.repeat(jnp.arange(num_types, dtype=jnp.int32), users_per_type)


def labeller_population(key: jax.Array, gold: Callable[[jax.Array], jax.Array], a: jax.Array, b: jax.Array,
                        types: jax.Array, beta=1.0, flip=0.0, mode: str = "sample",
                        mask: jax.Array | None = None) -> Population:
    """Each user ``u`` of type ``t_u`` labels their pairs Boltzmann-rationally on their type's gold
    score ``g_t`` (``synthetic_labels``; Christiano et al. 2017):

      P_u(a > b) = sigma(beta * (g_{t_u}(a) - g_{t_u}(b))),  flipped with probability ``flip``

    ``gold(x) -> [..., T]`` scores items ``[..., *item]`` under every type; ``a``, ``b``
    ``[U, P, *item]`` are each user's pairs and ``types`` ``[U]`` their types (``balanced_types``).
    ``mode`` is ``synthetic_labels``'s (``"sample"``: 0/1, 1/2 for equal gold; ``"probability"``).
    """
    if mode not in LABELS:
        raise ValueError(f"labeller_population: mode must be one of {LABELS}, got {mode!r}")
    if a.shape != b.shape:
        raise ValueError(f"labeller_population: a and b must have one shape, got {a.shape} and {b.shape}")
    if a.ndim < 2 or types.ndim != 1 or a.shape[0] != types.shape[0]:
        raise ValueError(f"labeller_population: a must be [users, pairs, ...] with users = len(types), got a "
                         f"{a.shape} and types {types.shape}")
    scores = gold(jnp.stack([a, b]))  # [2, U, P, T]
    if scores.shape[:3] != (2,) + a.shape[:2] or scores.ndim != 4:
        raise ValueError(f"labeller_population: gold must map items [..., *item] to scores [..., T], got "
                         f"{scores.shape} for items {(2,) + a.shape}")
    num_types = scores.shape[-1]
    known = concrete_values(types)
    if known is not None and (known.min() < 0 or known.max() >= num_types):
        raise ValueError(f"labeller_population: types must be in 0..{num_types - 1} (gold scores {num_types} "
                         f"types), got {known.min()}..{known.max()}")
    own = jnp.take_along_axis(scores, types[None, :, None, None], axis=-1)[..., 0]  # [2, U, P]
    label = synthetic_labels(key, own[0], own[1], beta, flip, mode)
    mask = jnp.ones(a.shape[:2], jnp.float32) if mask is None else jnp.asarray(mask, jnp.float32)
    return Population(Pairs(a, b, label, mask), types.astype(jnp.int32), own[0], own[1])


def split_context(key: jax.Array, pairs: Pairs, context_size: int) -> tuple[Pairs, Pairs]:
    """Each user's pairs ``[U, P, ...]`` split at random into a context of ``context_size`` pairs
    and the queries (the other ``P - context_size``), as VPL trains: the posterior from the
    context, the likelihood on the queries. A fresh split each step shows the encoder many
    contexts per user (VPL-LLM draws each example's context once, with the data; VPL's control
    code scores the context's own pairs)."""
    check_pairs("split_context", pairs)
    num_pairs = pairs.label.shape[-1]
    if pairs.label.ndim != 2:
        raise ValueError(f"split_context: pairs must be [users, P, ...], got label {pairs.label.shape}")
    if not isinstance(context_size, int) or not 1 <= context_size < num_pairs:
        raise ValueError(f"split_context: context_size must be an int in 1..{num_pairs - 1} (the users have "
                         f"{num_pairs} pairs), got {context_size!r}")
    order = jax.vmap(lambda k: jax.random.permutation(k, num_pairs))(jax.random.split(key, pairs.label.shape[0]))
    take = lambda idx: jax.tree.map(lambda x: jnp.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)),
                                                                   axis=1), pairs)
    return take(order[:, :context_size]), take(order[:, context_size:])


def masked_mean(values: jax.Array, mask: jax.Array, axis=None) -> jax.Array:
    """``sum(values * mask) / max(sum(mask), 1)`` (0 where nothing is unmasked)."""
    return jnp.sum(values * mask, axis=axis) / jnp.maximum(jnp.sum(mask, axis=axis), 1.0)


# --------------------------------------------------------------------------- models


def _leaky_relu(x):
    return nn.leaky_relu(x, 0.2)  # VPL's activation (vae_utils.py: nn.LeakyReLU(0.2))


class _MLP(nn.Module):
    hidden_sizes: Sequence[int]
    out_size: int

    @nn.compact
    def __call__(self, x):
        for size in self.hidden_sizes:
            x = _leaky_relu(nn.Dense(size)(x))
        return nn.Dense(self.out_size)(x)


class BradleyTerry(nn.Module):
    """One reward for everybody, ``r(x) = MLP(features(x))``, trained by the Bradley-Terry loss on
    all users' pairs pooled (``bt_loss``): the baseline that averages the types."""

    features: nn.Module
    hidden_sizes: Sequence[int] = (64,)

    @nn.compact
    def __call__(self, x):
        return _MLP(tuple(self.hidden_sizes), 1)(self.features(x))[..., 0]


def _masked_attention_pool(h: jax.Array, q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """Single-head self-attention over a context set ``[..., K, H]`` whose padding (``mask`` 0)
    is no key, then the mean over the real pairs (VPL's ``SequenceEncoder``). A padding pair gets
    weight exactly 0 (its score is the dtype's minimum), so padding never changes the output."""
    scores = jnp.einsum("...id,...jd->...ij", q, k) / np.sqrt(h.shape[-1])
    scores = jnp.where(mask[..., None, :] > 0, scores, jnp.finfo(scores.dtype).min)
    attended = jnp.einsum("...ij,...jd->...id", jax.nn.softmax(scores, axis=-1), v)
    return masked_mean(attended, mask[..., None], axis=-2)


class VPL(nn.Module):
    """Variational preference learning (Poddar et al. 2024), at this library's scale.

    * Pair encoder: each context pair as ``MLP([e_chosen, e_rejected])`` with ``e = features(x)``,
      ``e_chosen = y e_a + (1 - y) e_b`` and ``e_rejected = (1 - y) e_a + y e_b`` for the label
      ``y = P(a > b)`` (for 0/1 labels, VPL's ordered ``(chosen, rejected)`` pair; a tie gives
      the two their mean); two hidden LeakyReLU(0.2) layers of ``hidden_size`` as in VPL's
      ``PairEncoder``.
    * Set encoder: ``pooling="attention"``: single-head self-attention over the context's pairs,
      then their mean (VPL's ``SequenceEncoder``); ``"mean"``: the mean of the pair codes. Masked
      (padding) pairs are left out of both, so they never change the posterior.
    * Posterior ``q(z | context) = N(mean, diag(exp(log_var)))``, two linear heads.
    * Reward ``r(x, z) = MLP([features(x), z])`` (VPL's ``Decoder``: two hidden LeakyReLU(0.2)
      layers).

    Differences from the reference (github.com/WEIRDLabUW/vpl_llm, ``hidden_context/vae_utils.py``,
    and the control code github.com/WEIRDLabUW/vpl, ``pref_learn/models/vae.py``):

    * one ``features`` network, trained, is shared by the pair encoder and the reward (VPL-LLM
      embeds the contexts with a second, frozen LLM and trains the reward's LLM);
    * no clamping of the posterior (VPL-LLM clamps ``mean`` and ``log_var`` to [-1, 1]) and no
      projection of ``z`` onto the sphere of radius ``sqrt(latent_size)``: with a 512-d latent
      that keeps ``z``'s scale fixed, with the few latent dimensions used here it would only
      limit how sharp a posterior can be (VPL-LLM also evaluates at the unprojected mean);
    * the label enters the pair code as the weights above, so graded labels and ties work (the
      control code concatenates ``(s_a, s_b, y)`` and encodes the whole context with one MLP,
      which fixes the context size);
    * ``vpl_loss`` keeps ``kl_weight`` constant (VPL-LLM anneals it on a cyclical cosine
      schedule) and averages the NLL over query pairs and the KL over users as VPL-LLM does (the
      control code sums both).

    As in VPL-LLM, the posterior is sampled once per user in training and its mean is used at
    evaluation (``vpl_margins``).
    """

    features: nn.Module
    latent_size: int = 8
    hidden_size: int = 64
    pooling: str = "attention"

    def setup(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"VPL: pooling must be one of {POOLINGS}, got {self.pooling!r}")
        for name in ("latent_size", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"VPL: {name} must be >= 1, got {getattr(self, name)!r}")
        h = self.hidden_size
        self.pair_encoder = _MLP((h, h), h)
        self.q_proj = nn.Dense(h)
        self.k_proj = nn.Dense(h)
        self.v_proj = nn.Dense(h)
        self.mean_head = nn.Dense(self.latent_size)
        self.log_var_head = nn.Dense(self.latent_size)
        self.decoder = _MLP((h, h), 1)

    def posterior(self, context: Pairs) -> tuple[jax.Array, jax.Array]:
        """``q(z | context)``'s mean and log-variance ``[..., latent_size]`` from a context
        ``[..., K, ...]`` (its masked pairs left out)."""
        e = self.features(jnp.stack([context.a, context.b]))  # [2, ..., K, D]
        y = context.label[..., None]
        chosen, rejected = y * e[0] + (1 - y) * e[1], (1 - y) * e[0] + y * e[1]
        codes = self.pair_encoder(jnp.concatenate([chosen, rejected], axis=-1))  # [..., K, H]
        mask = jnp.asarray(context.mask, codes.dtype)
        if self.pooling == "attention":
            pooled = _masked_attention_pool(codes, self.q_proj(codes), self.k_proj(codes), self.v_proj(codes), mask)
        else:
            pooled = masked_mean(codes, mask[..., None], axis=-2)
        return self.mean_head(pooled), self.log_var_head(pooled)

    def reward(self, x: jax.Array, z: jax.Array) -> jax.Array:
        """``r(x, z)`` ``[...]`` for items ``[..., *item]`` and latents broadcastable to
        ``[..., latent_size]``."""
        e = self.features(x)
        z = jnp.broadcast_to(z, e.shape[:-1] + z.shape[-1:])
        return self.decoder(jnp.concatenate([e, z], axis=-1))[..., 0]

    def __call__(self, context: Pairs, x: jax.Array) -> jax.Array:
        """The reward of items ``[U, P, *item]`` at the posterior mean of each user's context."""
        mean, _ = self.posterior(context)
        return self.reward(x, mean[..., None, :])


def gaussian_kl(mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """``KL(N(mean, diag(exp(log_var))) || N(0, I))`` per row, summed over the last axis (Kingma &
    Welling 2014, appendix B): ``0.5 * sum(exp(log_var) + mean^2 - 1 - log_var)``."""
    return 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)


def _unit_rows(key, shape, dtype=jnp.float32):
    """Gaussian rows scaled to unit norm: PAL's prototype initialization
    (``tensor_initializer.py``, ``is_expectation_norm_init=False``)."""
    x = jax.random.normal(key, shape, dtype)
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


class PAL(nn.Module):
    """PAL-A, the ideal-point model with mixture prototypes (Chen et al. 2025):

      f(x) = W features(x) + c          (a linear projector onto the preference space)
      a_u  = sum_k softmax(theta_u)_k p_k
      r_u(x) = -||f(x) - a_u||^2

    ``num_prototypes`` prototypes ``p_k`` and one logit vector ``theta_u`` per training user
    (``num_users``) are parameters; a new user's ``theta`` is fitted from their pairs with ``f``
    and the prototypes frozen (``pal_fit_users``). The BT logit of a pair,
    ``r_u(a) - r_u(b) = ||f(b)||^2 - ||f(a)||^2 + 2 a_u . (f(a) - f(b))``, is affine in ``a_u``.

    Differences from the reference (github.com/RamyaLab/pluralistic-alignment,
    ``src/pal_rm_a/{learner,userLearner}.py``, ``src/loss_function.py``, configs ``a-*.yaml``):

    * the squared distance of the paper's PAL-A formula (the code's ``"dist"`` learner uses the
      unsquared norm ``||f(x) - a_u||``);
    * the ideal point mixes prototypes that live in the preference space (the code's ``"Pw"``
      user learner; its configs use ``"f(Pw)"``, prototypes in the LLM's hidden space mapped by
      the shared projector);
    * one score per item, from the features network's output (the code scores every token from
      the divergence point on and weights the per-token losses ``mean``/``cumulative``/``only_last``);
    * the Bradley-Terry (logistic) loss, as the other models here (PAL-A's configs use the hinge
      ``max(0, 1 - y (d_a - d_b))``; its prototype-norm bound is computed but not added there);
    * Adam step sizes by parameter group through ``fit``'s tree of step sizes
      (``pal_learning_rates``: one for the prototypes and user logits, one for the networks;
      the code: 5e-3 and 1e-4, and its LLM's 9.65e-6); a new user's logits start at 0 (a uniform
      mixture) rather than ``randn``, and are fitted by Adam rather than AdamW.

    PAL-B (``src/pal_rm_b``: prompt-conditioned ideal points ``sum_k w_k g_k(prompt)`` and a
    cosine-similarity reward) is not implemented.
    """

    features: nn.Module
    num_users: int
    num_prototypes: int = 2
    embed_size: int = 16

    def setup(self):
        for name in ("num_users", "num_prototypes", "embed_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"PAL: {name} must be >= 1, got {getattr(self, name)!r}")
        self.projector = nn.Dense(self.embed_size)
        self.prototypes = self.param("prototypes", _unit_rows, (self.num_prototypes, self.embed_size))
        self.user_logits = self.param("user_logits", nn.initializers.normal(1.0), (self.num_users, self.num_prototypes))

    def embed(self, x: jax.Array) -> jax.Array:
        """``f(x)`` ``[..., embed_size]``."""
        return self.projector(self.features(x))

    def ideal_point(self, logits: jax.Array) -> jax.Array:
        """``a = softmax(logits) @ prototypes``: ``[..., num_prototypes] -> [..., embed_size]``."""
        return jax.nn.softmax(logits, axis=-1) @ self.prototypes

    def reward(self, x: jax.Array, logits: jax.Array) -> jax.Array:
        """``-||f(x) - a||^2`` ``[...]`` for items ``[..., *item]`` and mixture logits broadcastable
        to ``[..., num_prototypes]``."""
        return ideal_point_reward(self.embed(x), self.ideal_point(logits))

    def __call__(self, x: jax.Array, users: jax.Array) -> jax.Array:
        """Training users' rewards: ``users`` (indices) broadcastable to ``x``'s batch shape."""
        return self.reward(x, self.user_logits[users])


def ideal_point_reward(embedding: jax.Array, ideal_point: jax.Array) -> jax.Array:
    """PAL-A's reward, the negative squared distance to the user's ideal point (Chen et al. 2025),
    ``r = -||f(x) - a_u||^2``: ``[..., E]`` and ``[..., E]`` (broadcast) ``-> [...]``."""
    return -jnp.sum((embedding - ideal_point) ** 2, axis=-1)


# --------------------------------------------------------------------------- losses and training


def check_pairs(owner: str, pairs: Pairs, users: int | None = None) -> None:
    """A ``ValueError`` naming ``owner`` unless ``a`` and ``b`` have one shape whose leading axes
    are ``label``'s and ``mask``'s (and, given ``users``, that many users on the first axis)."""
    lead = pairs.label.shape
    if pairs.a.shape != pairs.b.shape or pairs.a.shape[:len(lead)] != lead or pairs.mask.shape != lead:
        raise ValueError(f"{owner}: pairs need a and b of one shape [..., P, *item] with label and mask [..., P], "
                         f"got a {pairs.a.shape}, b {pairs.b.shape}, label {lead}, mask {pairs.mask.shape}")
    if users is not None and (len(lead) < 1 or lead[0] != users):
        raise ValueError(f"{owner}: expected pairs of {users} users [users, P, ...], got label {lead}")


def _pair_nll(margin: jax.Array, pairs: Pairs) -> jax.Array:
    return masked_mean(bradley_terry_loss(margin, 0.0, pairs.label), pairs.mask)


def bt_margins(model: BradleyTerry, params, pairs: Pairs) -> jax.Array:
    """``r(a) - r(b)`` ``[..., P]``."""
    check_pairs("bt_margins", pairs)
    r = model.apply(params, jnp.stack([pairs.a, pairs.b]))
    return r[0] - r[1]


def bt_loss(model: BradleyTerry, params, pairs: Pairs) -> jax.Array:
    """The Bradley-Terry NLL (``preferences.bradley_terry_loss``) averaged over every real pair of
    every user: one ordering for the whole population."""
    return _pair_nll(bt_margins(model, params, pairs), pairs)


def vpl_margins(model: VPL, params, context: Pairs, pairs: Pairs, z: jax.Array | None = None) -> jax.Array:
    """``r(a, z_u) - r(b, z_u)`` ``[U, P]`` for each user's pairs, at the posterior mean of the
    user's ``context`` ``[U, K, ...]`` (as VPL evaluates), or at given latents ``z`` ``[U, L]``."""
    check_pairs("vpl_margins", pairs)
    if z is None:
        check_pairs("vpl_margins (context)", context, pairs.label.shape[0])
        z, _ = model.apply(params, context, method=VPL.posterior)
    if z.shape[:1] != pairs.label.shape[:1]:
        raise ValueError(f"vpl_margins: one latent per user, got z {z.shape} for pairs of {pairs.label.shape[0]} users")
    r = model.apply(params, jnp.stack([pairs.a, pairs.b]), z[None, :, None, :], method=VPL.reward)
    return r[0] - r[1]


def vpl_loss(model: VPL, params, key: jax.Array, context: Pairs, query: Pairs, kl_weight) -> tuple[jax.Array, dict]:
    """VPL's negative ELBO (Poddar et al. 2024), per user ``u`` with context ``C_u`` and queries
    ``Q_u``:

      L = mean over query pairs of BT-NLL(r(a, z_u) - r(b, z_u), y)
          + kl_weight * mean_u KL(q(z | C_u) || N(0, I)),   z_u = mean_u + std_u * eps

    (one reparameterized sample per user; VPL-LLM's ``VAETrainer.compute_loss``, without its
    cyclical KL annealing: ``kl_weight`` is a hyperparameter). Returns ``(loss, {"nll", "kl"})``.
    """
    mean, log_var = model.apply(params, context, method=VPL.posterior)
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape)
    nll = _pair_nll(vpl_margins(model, params, context, query, z), query)
    kl = jnp.mean(gaussian_kl(mean, log_var))
    return nll + kl_weight * kl, {"nll": nll, "kl": kl}


def pal_margins(model: PAL, params, pairs: Pairs, logits: jax.Array) -> jax.Array:
    """``r_u(a) - r_u(b)`` ``[U, P]`` with each user's mixture logits ``[U, num_prototypes]``."""
    check_pairs("pal_margins", pairs, logits.shape[0])
    r = model.apply(params, jnp.stack([pairs.a, pairs.b]), logits[None, :, None, :], method=PAL.reward)
    return r[0] - r[1]


def pal_loss(model: PAL, params, pairs: Pairs, users: jax.Array) -> jax.Array:
    """The Bradley-Terry NLL of training users ``users`` ``[U]`` (indices into the model's user
    logits) on their pairs ``[U, P, ...]``, each with their own ideal point."""
    check_pairs("pal_loss", pairs, users.shape[0])
    logits = params["params"]["user_logits"][users]
    return _pair_nll(pal_margins(model, params, pairs, logits), pairs)


def pal_fit_users(model: PAL, params, context: Pairs, steps: int, learning_rate=0.1) -> jax.Array:
    """New users' mixture logits ``[U, num_prototypes]``, fitted on their contexts ``[U, K, ...]``
    by ``steps`` Adam steps on the Bradley-Terry NLL with ``f`` and the prototypes frozen (PAL's
    unseen-user mode, ``main_pal_a_unseen.py``: only ``W`` is trained). Each user's loss is the
    mean over their real pairs; a user with none keeps the uniform mixture (logits 0)."""
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"pal_fit_users: steps must be an int >= 0, got {steps!r}")
    check_pairs("pal_fit_users", context)
    e = jax.lax.stop_gradient(model.apply(params, jnp.stack([context.a, context.b]), method=PAL.embed))
    prototypes = jax.lax.stop_gradient(params["params"]["prototypes"])

    def loss(logits):  # [U, k]
        a = (jax.nn.softmax(logits, axis=-1) @ prototypes)[None, :, None, :]
        r = ideal_point_reward(e, a)
        per_user = masked_mean(bradley_terry_loss(r[0] - r[1], 0.0, context.label), context.mask, axis=-1)
        return per_user.sum(), ()

    def step(trained, _):
        trained, value, _ = learned.adam_step(trained, loss, learning_rate)
        return trained, value

    logits = jnp.zeros(context.label.shape[:1] + (model.num_prototypes,), jnp.float32)
    trained, _ = jax.lax.scan(step, learned.Trained.create(logits), None, steps)
    return trained.params


def fit(params, loss_fn: Callable[[Any, jax.Array], tuple[jax.Array, Any]], key: jax.Array, steps: int,
        learning_rate) -> tuple[Any, jax.Array]:
    """``steps`` Adam steps (``learned.adam_step``) of ``loss_fn(params, key) -> (loss, aux)`` from
    ``params``, a fresh key each step, in one ``lax.scan``; returns the trained parameters and the
    loss before each step ``[steps]``. ``learning_rate`` is one step size, or a tree of them over
    ``params``' subtrees (parameter groups: ``{"bt": 1e-3, "pal": pal_learning_rates(...)}``).

    Adam works on the parameters raveled into one vector (``jax.flatten_util.ravel_pytree``): its
    update is elementwise, so the result is the same, and the program has a few large update
    kernels instead of a few per leaf (about a quarter less to compile for VPL's many layers).
    Independent models can train as one program on the sum of their losses: each one's gradient
    is its own loss's, so each trains as it would alone, with one compile for all."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"fit: steps must be an int >= 1, got {steps!r}")
    flat, unravel = ravel_pytree(params)
    try:  # one step size per parameter: each number of the tree over its subtree of params
        per_leaf = jax.tree.map(lambda lr, sub: jax.tree.map(lambda p: jnp.full(p.shape, lr, p.dtype), sub),
                                learning_rate, params)
    except ValueError as err:
        raise ValueError(f"fit: learning_rate must be a number or a tree of numbers over params' subtrees "
                         f"(a prefix of its structure): {err}") from None
    learning_rate = ravel_pytree(per_leaf)[0]

    def step(trained, k):
        trained, value, _ = learned.adam_step(trained, lambda v: loss_fn(unravel(v), k), learning_rate)
        return trained, value

    trained, losses = jax.lax.scan(step, learned.Trained.create(flat), jax.random.split(key, steps))
    return unravel(trained.params), losses


def pal_learning_rates(params, learning_rate, mixture_learning_rate):
    """PAL's parameter groups as a learning-rate tree for ``fit``: ``mixture_learning_rate`` for the
    prototypes and the users' logits, ``learning_rate`` for the networks. The reference trains
    them at 5e-3 against 1e-4 for the projector (``config/optim_config/vanilla*.yaml``): a user's
    logits move only when the user is in a minibatch."""
    mixture = ("prototypes", "user_logits")
    return jax.tree_util.tree_map_with_path(
        lambda path, _: mixture_learning_rate if getattr(path[-1], "key", None) in mixture else learning_rate, params)


# --------------------------------------------------------------------------- evaluation


def per_type_accuracy(margin: jax.Array, gold_a: jax.Array, gold_b: jax.Array, types: jax.Array, num_types: int,
                      mask: jax.Array | None = None) -> jax.Array:
    """``[num_types]``: for each type, the share of its users' pairs whose predicted preference
    (``margin > 0``: ``a``) matches the type's true ordering (``gold_a > gold_b``), over the pairs
    whose gold scores differ (as ``preference_model``'s held-out accuracy); NaN for a type with
    none. ``margin``, ``gold_*`` and ``mask`` are ``[U, P]``, ``types`` ``[U]``."""
    if margin.shape != gold_a.shape or gold_a.shape != gold_b.shape or margin.ndim != 2:
        raise ValueError(f"per_type_accuracy: margin and gold scores must be [users, pairs] alike, got "
                         f"{margin.shape}, {gold_a.shape}, {gold_b.shape}")
    if types.shape != margin.shape[:1]:
        raise ValueError(f"per_type_accuracy: types must be [users] = {margin.shape[:1]}, got {types.shape}")
    counted = (gold_a != gold_b) * (1.0 if mask is None else mask)
    correct = ((margin > 0) == (gold_a > gold_b)) * counted
    of_type = jax.nn.one_hot(types, num_types)  # [U, T]
    hits, total = of_type.T @ correct.sum(-1), of_type.T @ counted.sum(-1)
    return jnp.where(total > 0, hits / jnp.maximum(total, 1.0), jnp.nan)


def nearest_mean_accuracy(train_z: jax.Array, train_types: jax.Array, test_z: jax.Array, test_types: jax.Array,
                          num_types: int) -> jax.Array:
    """Type recovery from user codes (e.g. VPL's posterior means): the share of test users whose
    nearest class mean (the mean code of the training users of each type) is their own type's."""
    of_type = jax.nn.one_hot(train_types, num_types)  # [U, T]
    means = (of_type.T @ train_z) / jnp.maximum(of_type.sum(0), 1.0)[:, None]
    distance = jnp.sum((test_z[:, None, :] - means[None]) ** 2, axis=-1)
    return jnp.mean(jnp.argmin(distance, axis=-1) == test_types)


def assignment_accuracy(weights: jax.Array, types: jax.Array, num_types: int) -> jax.Array:
    """The share of users whose largest mixture weight (``weights`` ``[U, k]``) is on their type's
    prototype, under the best one-to-one map from types to prototypes (so up to permutation;
    ``num_types <= k``)."""
    k = weights.shape[-1]
    if num_types > k:
        raise ValueError(f"assignment_accuracy: num_types ({num_types}) must be <= the number of prototypes ({k})")
    confusion = jax.nn.one_hot(types, num_types).T @ jax.nn.one_hot(jnp.argmax(weights, -1), k)  # [T, k]
    maps = jnp.asarray(list(itertools.permutations(range(k), num_types)), jnp.int32)  # [M, T]
    return jnp.max(confusion[jnp.arange(num_types), maps].sum(-1)) / weights.shape[0]
