"""Exploration bonuses as reward transforms, learned parts included.

Each bonus ``b_t`` (``[T, num_envs]``, a function of the transition ``s_t, a_t, s_t+1``) is added
as ``coef * b_t`` to the stream the transform shapes. That is ``extrinsic`` by default (one
critic, any learner); ``intrinsic(rnd())`` puts it on the ``intrinsic`` stream, which PPO gives
its own value head and discount (Burda et al. 2019, Sec. 2.3). The state (counts, memories,
networks with their Adam state) is checkpointed with the run; learned parts take one step per
rollout on the valid steps only, after the bonus of that rollout is computed. Every number
(``coef``, step sizes, widths, ridge, ...) is a hyperparameter: a grid of them is one compile.

Formulas and sources are in each constructor's docstring and in ``shared/REWARDS.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jrew import normalization
from jrew.rewards import learned
from jrew.rewards.base import (
    EXTRINSIC,
    RewardBatch,
    RewardTransform,
    apply_checked,
    check_transform,
    on_stream,
    restart,
    scan_time,
    transform,
    valid_mean,
)
from jrew.rewards.normalize import running_return_std
from jrew.rewards.registry import python_only, text_constructor
from jrew.rewards.ring import Ring
from jrew.types import select_envs

INTRINSIC = "intrinsic"
Compute = Callable[[Any, Any, RewardBatch], tuple[jax.Array, Any, dict]]  # (hp, state, batch) -> (b, state, metrics)


@text_constructor
def intrinsic(bonus: RewardTransform) -> RewardTransform:
    """``bonus`` on the ``intrinsic`` stream: a second critic with its own discount (PPO)."""
    return on_stream(INTRINSIC, bonus)


def episodic_bonuses(transform: RewardTransform, stream: str) -> list[tuple[str, bool]]:
    """``(name, episodic)`` of each bonus of a pipeline that writes to ``stream``
    (``RewardTransform.episodic``); transforms that declare nothing are left out."""
    found: list[tuple[str, bool]] = []

    def walk(t: RewardTransform, current: str) -> None:
        if t.episodic is not None:  # a bonus (or a combination of bonuses): its output lands on `current`
            if current == stream:
                found.append((t.name, t.episodic))
            return
        if t.name == "on_stream":
            current = dict(t.static)["stream"]
        for part in t.parts:
            walk(part, current)

    walk(transform, EXTRINSIC)
    return found


@python_only("a building block for writing bonuses in Python (jrew.rewards.protocol)")
def bonus_transform(name: str, compute: Compute, init, hparams: dict, static: dict | None = None, *,
                    episodic: bool) -> RewardTransform:
    """The transform adding ``coef * b`` to its stream, with ``b`` from ``compute`` (zero on
    invalid steps); its metrics gain ``bonus_mean`` and ``bonus_max`` over the valid steps.

    ``episodic`` declares whether ``b`` restarts each episode (E3B, episodic counts, NGU's
    memory) or pools everything seen (RND, global counts): on the ``intrinsic`` stream, PPO then
    cuts the intrinsic return at episode ends or lets it run on (``PPOConfig.episodic_intrinsic``).
    """

    def apply(hp, state, batch):
        b, state, metrics = compute(hp, state, batch)
        if batch.valid is not None:
            b = jnp.where(batch.valid > 0, b, 0.0)
        b = jax.lax.stop_gradient(b)
        stats = {"bonus_mean": valid_mean(b, batch), "bonus_max": jnp.max(b)}
        return batch.rollout.reward + hp["coef"] * b, state, {**stats, **metrics}

    return transform(name, apply, init, hparams, static)._replace(episodic=episodic)


def _check_positive(name: str, value) -> None:
    if not np.all(np.asarray(value) > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")


# ---------------------------------------------------------------- counts


def _count_bonus(name: str, code: Callable, table_size: int, init_code, hparams: dict, static: dict,
                 episodic: bool) -> RewardTransform:
    """``b = 1 / sqrt(N(code(s')))``; global counts (updated with the rollout first, as in Tang et
    al. 2017, Alg. 1) or per-env episodic counts (updated step by step, reset at episode ends)."""

    def init(hp, key, spec):
        shape = (spec.num_envs, table_size) if episodic else (table_size,)
        return {"code": init_code(key, spec), "counts": jnp.zeros(shape, jnp.int32)}

    def compute(hp, state, batch):
        idx = code(hp, state["code"], learned.features(batch.rollout.next_obs))
        ones = jnp.ones_like(idx) if batch.valid is None else (batch.valid > 0).astype(jnp.int32)
        if episodic:
            counts, n = _episodic_counts(state["counts"], idx, ones, batch)
        else:
            counts = state["counts"].at[idx.reshape(-1)].add(ones.reshape(-1))
            n = counts[idx]
        b = 1.0 / jnp.sqrt(jnp.maximum(n, 1).astype(jnp.float32))
        seen = {} if episodic else {"states_seen": jnp.sum(counts > 0, dtype=jnp.float32)}
        return b, {**state, "counts": counts}, seen

    return bonus_transform(name, compute, init, hparams, {**static, "episodic": episodic}, episodic=episodic)


def _episodic_counts(table, idx, ones, batch):
    envs = jnp.arange(table.shape[0])

    def step(t, x):
        i, one, done = x
        t = t.at[envs, i].add(one)
        n = t[envs, i]
        return jnp.where(done[:, None] > 0, 0, t), n

    return scan_time(step, restart(table, batch), (idx, ones, batch.rollout.done), batch.valid)


def flatten(obs: jax.Array) -> jax.Array:
    """A batch of observations ``[N, ...]`` as vectors ``[N, D]``."""
    return obs.reshape(obs.shape[:1] + (-1,))


def one_hot_index(obs: jax.Array) -> jax.Array:
    """The index of the largest entry: the cell of a one-hot (grid) observation."""
    return jnp.argmax(obs, axis=-1)


@text_constructor
def counts(num_states: int, coef: float = 1.0, index: Callable | None = None,
           episodic: bool = False) -> RewardTransform:
    """Count-based bonus on exact tabular counts: ``b(s') = 1 / sqrt(N(s'))``, added as ``coef * b``.

    ``index(obs) -> int in [0, num_states)`` names the state (default: the argmax, the cell of a
    one-hot grid observation). Global counts pool every valid step seen so far (Strehl & Littman
    2008's MBIE-EB form ``beta / sqrt(N)``, as in Tang et al. 2017); ``episodic=True`` counts
    within each env's current episode only (the episodic-count bonus of Henaff et al. 2023).
    """
    if not isinstance(num_states, int) or num_states < 1:
        raise ValueError(f"counts: num_states must be a positive int, got {num_states!r}")
    index = index or one_hot_index

    def code(hp, _, obs):
        return jnp.clip(index(obs).astype(jnp.int32), 0, num_states - 1)

    return _count_bonus("counts", code, num_states, lambda key, spec: (), {"coef": coef},
                        {"num_states": num_states, "index": index}, episodic)


@text_constructor
def simhash_counts(bits: int = 16, coef: float = 1.0, episodic: bool = False) -> RewardTransform:
    """Count-based bonus on SimHash codes (Tang et al. 2017, "#Exploration", eq. 2):

      phi(s) = sgn(A g(s)) in {-1, 1}^k,  A_ij ~ N(0, 1) fixed,  b(s') = 1 / sqrt(N(phi(s')))

    for continuous observations (``g`` = the flattened observation). ``bits`` = k; the counts are
    exact over the ``2^k`` codes. ``episodic`` as in ``counts``.
    """
    if not isinstance(bits, int) or not 1 <= bits <= 24:
        raise ValueError(f"simhash_counts: bits must be an int in [1, 24], got {bits!r}")

    def init_code(key, spec):
        return jax.random.normal(key, (int(np.prod(spec.observation_shape)), bits))

    def code(hp, projection, obs):
        return jnp.sum((obs @ projection > 0) * (2 ** jnp.arange(bits)), axis=-1).astype(jnp.int32)

    return _count_bonus("simhash_counts", code, 2**bits, init_code, {"coef": coef}, {"bits": bits}, episodic)


# ---------------------------------------------------------------- RND


@text_constructor
def rnd(coef: float = 1.0, learning_rate: float = 1e-3, hidden_sizes=(256, 256), feature_size: int = 64,
        width: float | None = None, gamma: float = 0.99, obs_clip: float = 5.0, normalize: bool = True,
        eps: float = 1e-8) -> RewardTransform:
    """Random Network Distillation (Burda et al. 2019, arXiv:1810.12894):

      b_t = ||f_hat(x_t+1) - f(x_t+1)||^2 / dim,  x = clip((s - mu) / sigma, -5, 5)

    ``f`` is a fixed random network, ``f_hat`` a predictor trained to match it (one Adam step per
    rollout on its valid steps), so the error falls on states seen often. As in the paper, the
    observations are whitened by running statistics, and (``normalize``) the bonus is divided by
    the running std of the non-episodic intrinsic return ``sum_k gamma^k b_t+k`` (``gamma``: RND's
    intrinsic discount, 0.99). ``width`` (<= max ``hidden_sizes``) masks hidden units: a hyperparameter.
    The paper trains the predictor for 4 epochs x 4 minibatches at 1e-4 per rollout; one step
    per rollout at 1e-3 is the default here (on DeepSea 20 it solved 4/4 seeds where 1e-4 solved 0/4).

    One order differs from the reference code (OpenAI's ``random-network-distillation`` and CleanRL's
    ``ppo_rnd_envpool.py``): there a rollout is scored under the observation statistics of the
    rollouts *before* it, which first absorb random-agent steps (a warm-up), and the statistics
    take in the rollout afterwards, before the predictor trains. Here the rollout joins the
    statistics *first*, and is scored and trained on under them: the first rollout stands in for
    the warm-up, with no extra env steps. Later rollouts differ from the reference only by their
    own weight in the statistics, which shrinks as they accumulate.
    """
    _check_positive("rnd: learning_rate", learning_rate)
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    net = learned.MaskedMLP(hidden_sizes, feature_size)
    hparams = {"coef": coef, "learning_rate": learning_rate, "width": max(hidden_sizes) if width is None else width,
               "gamma": gamma, "obs_clip": obs_clip, "eps": eps}

    def init(hp, key, spec):
        size = int(np.prod(spec.observation_shape))
        k_target, k_predictor = jax.random.split(key)
        x = jnp.zeros((1, size))
        return {
            "target": net.init(k_target, x),
            "predictor": learned.Trained.create(net.init(k_predictor, x)),
            "obs_stats": normalization.RunningStats.create(size),
            "returns": jnp.zeros((spec.num_envs,), jnp.float32),
            "return_stats": normalization.RunningStats.create(1),
        }

    def compute(hp, state, batch):
        obs = learned.features(batch.rollout.next_obs)
        obs_stats = normalization.update(state["obs_stats"], obs, batch.valid) if normalize else state["obs_stats"]
        x = normalization.normalize(obs_stats, obs, hp["obs_clip"]) if normalize else obs
        target = net.apply(state["target"], x, hp["width"])

        def loss(params):
            error = jnp.mean((net.apply(params, x, hp["width"]) - target) ** 2, axis=-1)
            return valid_mean(error, batch), error

        predictor, predictor_loss, error = learned.adam_step(state["predictor"], loss, hp["learning_rate"])
        new = {**state, "predictor": predictor, "obs_stats": obs_stats}
        metrics = {"predictor_loss": predictor_loss}
        if normalize:
            new["returns"], new["return_stats"], std = running_return_std(
                state["returns"], state["return_stats"], error, batch, hp["eps"], hp["gamma"], episodic=False
            )
            metrics["intrinsic_return_std"] = std
            error = error / std
        return error, new, metrics

    return bonus_transform("rnd", compute, init, hparams,
                           {"hidden_sizes": hidden_sizes, "feature_size": feature_size, "normalize": normalize},
                           episodic=False)


# ---------------------------------------------------------------- dynamics-model features (E3B, ICM)


@dataclasses.dataclass(frozen=True)
class DynamicsModel:
    """An encoder ``phi`` with an inverse-dynamics head ``p(a_t | phi(s_t), phi(s_t+1))`` and,
    for ICM, a forward head ``f(phi(s_t), a_t) -> phi(s_t+1)`` (Pathak et al. 2017, Sec. 2.2).
    Static structure only; the parameters live in the transform's state."""

    action_space: Any
    hidden_sizes: tuple[int, ...]
    embed_size: int
    with_forward: bool

    @property
    def nets(self) -> dict[str, learned.MaskedMLP]:
        nets = {"encoder": learned.MaskedMLP(self.hidden_sizes, self.embed_size),
                "inverse": learned.MaskedMLP(self.hidden_sizes, learned.action_size(self.action_space))}
        if self.with_forward:
            nets["forward"] = learned.MaskedMLP(self.hidden_sizes, self.embed_size)
        return nets

    def init(self, key, spec) -> learned.Trained:
        inputs = {"encoder": int(np.prod(spec.observation_shape)), "inverse": 2 * self.embed_size,
                  "forward": self.embed_size + learned.action_size(self.action_space)}
        keys = dict(zip(self.nets, jax.random.split(key, len(self.nets))))
        return learned.Trained.create(
            {name: net.init(keys[name], jnp.zeros((1, inputs[name]))) for name, net in self.nets.items()})

    def embed(self, params, hp, obs):
        return self.nets["encoder"].apply(params["encoder"], obs, hp["width"], hp["embed_dims"])

    def losses(self, params, hp, rollout) -> tuple[jax.Array, jax.Array | None, tuple[jax.Array, jax.Array]]:
        """Per step: the inverse-dynamics loss, the forward error ``1/2 ||f(phi(s), a) - phi(s')||^2``
        (target held fixed; None without a forward head) and the embeddings ``(phi(s), phi(s'))``."""
        phi, phi_next = (self.embed(params, hp, learned.features(o)) for o in (rollout.obs, rollout.next_obs))
        encoded = learned.encode_actions(rollout.action, self.action_space)
        pair = jnp.concatenate([phi, phi_next], -1)
        prediction = self.nets["inverse"].apply(params["inverse"], pair, hp["width"])
        inverse = learned.inverse_dynamics_loss(prediction, rollout.action, encoded,
                                                learned.is_discrete(self.action_space))
        forward_error = None
        if self.with_forward:
            predicted = self.nets["forward"].apply(params["forward"], jnp.concatenate([phi, encoded], -1),
                                                   hp["width"], hp["embed_dims"])
            forward_error = 0.5 * jnp.sum((predicted - jax.lax.stop_gradient(phi_next)) ** 2, axis=-1)
        return inverse, forward_error, (phi, phi_next)


def _dynamics_hparams(hidden_sizes, embed_size, width, embed_dims) -> dict:
    return {"width": max(hidden_sizes) if width is None else width,
            "embed_dims": embed_size if embed_dims is None else embed_dims}


E3B_SCORES = ("current", "next")


@text_constructor
def e3b(coef: float = 1.0, ridge: float = 0.1, learning_rate: float = 3e-4, hidden_sizes=(256,), embed_size: int = 32,
        width: float | None = None, embed_dims: float | None = None, score: str = "current",
        normalize: bool = False) -> RewardTransform:
    """Exploration via Elliptical Episodic Bonuses (Henaff et al. 2022, arXiv:2210.05805, eq. 2-3),
    as the reference code computes it (facebookresearch/e3b, ``e3b_minihack/src/utils.py``, ``act``):

      b_t = phi(s_t)^T C_{t-1}^-1 phi(s_t),   C_t = ridge * I + sum_{i <= t} phi(s_i) phi(s_i)^T

    over the episode so far, and ``b = 0`` at its first step, whose state still joins ``C``. So
    the transition ``s_t -> s_t+1`` is paid for the novelty of the state the agent acted in.
    ``C`` restarts each episode (per env); its inverse is updated by Sherman-Morrison,
    ``C^-1 <- C^-1 - (C^-1 u)(C^-1 u)^T / (1 + u^T C^-1 u)``. ``phi`` is the encoder of an
    inverse-dynamics model ``p(a_t | phi(s_t), phi(s_t+1))`` trained alongside (one Adam step per
    rollout; the bonus uses the encoder before the step, as the reference's actors do).

    ``score="next"`` is the form jrew used before 2026-12: ``b_t = phi(s_t+1)^T C^-1 phi(s_t+1)``
    with ``C`` over ``s_1 .. s_t+1`` (``s_0`` never joins it), so an episode's first step is paid
    ``||phi(s_1)||^2 / ridge``. ``normalize=True`` divides the bonus by the running std of all
    bonuses so far (the reference's ``--reward_norm int``; off there by default).

    The bonus is episodic (``episodic=True`` in its settings): PPO's ``intrinsic()`` critic then
    cuts the intrinsic return at episode ends, as the reference's single episodic return does.
    ``embed_size`` dims are allocated; the hparam ``embed_dims`` (default all) masks the rest (a
    masked dim stays at ``C^-1 = I / ridge`` and adds nothing), and ``width`` the hidden units.
    """
    _check_positive("e3b: ridge", ridge)
    if score not in E3B_SCORES:
        raise ValueError(f"e3b: score must be one of {E3B_SCORES}, got {score!r}")
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    hparams = {"coef": coef, "ridge": ridge, "learning_rate": learning_rate,
               **_dynamics_hparams(hidden_sizes, embed_size, width, embed_dims)}

    def model_of(spec):
        return DynamicsModel(spec.action_space, hidden_sizes, embed_size, with_forward=False)

    def init(hp, key, spec):
        cov_inverse = jnp.broadcast_to(jnp.eye(embed_size) / hp["ridge"], (spec.num_envs, embed_size, embed_size))
        state = {"model": model_of(spec).init(key, spec), "cov_inverse": cov_inverse}
        if score == "current":  # whether each env's next step is its episode's first
            state["episode_start"] = jnp.ones((spec.num_envs,), bool)
        if normalize:
            state["bonus_stats"] = normalization.RunningStats.create(1)
        return state

    def compute(hp, state, batch):
        model, rollout = model_of(learned.spec_of(batch)), batch.rollout
        fresh = jnp.eye(embed_size) / hp["ridge"]

        def loss(params):
            inverse, _, embeddings = model.losses(params, hp, rollout)
            return valid_mean(inverse, batch), embeddings

        trained, inverse_loss, (phi, phi_next) = learned.adam_step(state["model"], loss, hp["learning_rate"])
        new = {**state, "model": trained}
        if score == "current":
            carry = restart((state["cov_inverse"], state["episode_start"]), batch, (fresh, True))

            def step(c, x):
                cov_inverse, start = c
                u, done = x
                cov_inverse, b = elliptical_step(cov_inverse, u, done, fresh)
                return (cov_inverse, done > 0), jnp.where(start, 0.0, b)

            (new["cov_inverse"], new["episode_start"]), b = scan_time(
                step, carry, (jax.lax.stop_gradient(phi), rollout.done), batch.valid)
        else:
            cov_inverse = restart(state["cov_inverse"], batch, fresh)
            new["cov_inverse"], b = scan_time(lambda c, x: elliptical_step(c, *x, fresh), cov_inverse,
                                              (jax.lax.stop_gradient(phi_next), rollout.done), batch.valid)
        metrics = {"inverse_loss": inverse_loss}
        if normalize:
            new["bonus_stats"] = normalization.update(state["bonus_stats"], b[..., None], batch.valid)
            std = jnp.sqrt(new["bonus_stats"].var[0])
            b = b / jnp.where(std > 0, std, 1.0)
            metrics["bonus_std"] = std
        return b, new, metrics

    return bonus_transform("e3b", compute, init, hparams, {"hidden_sizes": hidden_sizes, "embed_size": embed_size,
                                                           "score": score, "normalize": normalize}, episodic=True)


def elliptical_step(cov_inverse: jax.Array, u: jax.Array, done: jax.Array, fresh: jax.Array):
    """One E3B step for a batch of envs: the bonus ``u^T C^-1 u`` and the Sherman-Morrison update
    of ``C^-1`` (``[B, d, d]``) by ``u``, which restarts at ``fresh`` where the episode ended."""
    cu = jnp.einsum("bij,bj->bi", cov_inverse, u)
    b = jnp.sum(u * cu, axis=-1)
    cov_inverse = cov_inverse - jnp.einsum("bi,bj->bij", cu, cu) / (1.0 + b)[:, None, None]
    return jnp.where(done[:, None, None] > 0, fresh, cov_inverse), b


@text_constructor
def icm(coef: float = 1.0, learning_rate: float = 1e-3, forward_weight: float = 0.2, hidden_sizes=(256,),
        embed_size: int = 32, width: float | None = None, embed_dims: float | None = None) -> RewardTransform:
    """Intrinsic Curiosity Module (Pathak et al. 2017, arXiv:1705.05363, eq. 5-7):

      b_t = 1/2 ||f(phi(s_t), a_t) - phi(s_t+1)||^2

    ``phi`` is trained by inverse dynamics, ``f`` is the forward model; one Adam step per rollout
    on ``(1 - beta) L_inverse + beta L_forward`` (``beta`` = ``forward_weight``; the forward target
    ``phi(s_t+1)`` is held fixed). ``width`` and ``embed_dims`` mask units as in ``e3b``.
    Observation noise the agent's actions cannot explain keeps the forward error high: the
    noisy-TV problem (see ``experiments/noisy_tv.py``).
    """
    hidden_sizes = tuple(int(h) for h in hidden_sizes)
    hparams = {"coef": coef, "learning_rate": learning_rate, "forward_weight": forward_weight,
               **_dynamics_hparams(hidden_sizes, embed_size, width, embed_dims)}

    def model_of(spec):
        return DynamicsModel(spec.action_space, hidden_sizes, embed_size, with_forward=True)

    def init(hp, key, spec):
        return model_of(spec).init(key, spec)

    def compute(hp, trained, batch):
        model = model_of(learned.spec_of(batch))

        def loss(params):
            inverse, forward_error, _ = model.losses(params, hp, batch.rollout)
            forward_loss = valid_mean(forward_error, batch)
            w = hp["forward_weight"]
            total = (1 - w) * valid_mean(inverse, batch) + w * forward_loss
            return total, (forward_error, forward_loss)

        trained, total, (forward_error, forward_loss) = learned.adam_step(trained, loss, hp["learning_rate"])
        return forward_error, trained, {"model_loss": total, "forward_loss": forward_loss}

    return bonus_transform("icm", compute, init, hparams, {"hidden_sizes": hidden_sizes, "embed_size": embed_size},
                           episodic=False)


# ---------------------------------------------------------------- episodic memory (NGU)


@text_constructor
def episodic_knn(coef: float = 1.0, num_neighbors: int = 10, capacity: int = 256, embed: Callable | None = None,
                 constant: float = 1e-3, epsilon: float = 1e-4, cluster_distance: float = 8e-3,
                 max_similarity: float = 8.0) -> RewardTransform:
    """NGU's episodic novelty (Badia et al. 2020, arXiv:2003.13350, Alg. 1), per env and episode:

      d_k^2 = squared distances from e = embed(s_t+1) to its k nearest embeddings in the memory
      K_k = epsilon / (max(d_k^2 / (d_m^2 + c) - xi, 0) + epsilon)
      b = 1 / (sqrt(sum_k K_k) + c), and 0 where sqrt(sum_k K_k) + c > s_max

    ``d_m^2`` is the running mean of all kNN distances so far; the memory (``capacity`` slots, a
    FIFO ring) restarts each episode, and ``e`` joins it after its query; invalid steps neither
    join nor end an episode. As in rlax's
    ``episodic_memory_intrinsic_rewards`` (tested against it), an empty memory holds
    ``num_neighbors`` zero vectors. One difference: rlax 0.1.9 divides the *negated* distances by
    ``-d_m^2 + c``, i.e. ``d^2 / (d_m^2 - c)``; this uses the paper's ``d_m^2 + c``.
    ``embed`` (default: the flattened observation) maps an observation to its embedding.
    """
    if not (isinstance(num_neighbors, int) and isinstance(capacity, int) and 1 <= num_neighbors <= capacity):
        raise ValueError(f"episodic_knn: need ints 1 <= num_neighbors <= capacity, got {num_neighbors}, {capacity}")
    embed = embed or flatten
    hparams = {"coef": coef, "constant": constant, "epsilon": epsilon, "cluster_distance": cluster_distance,
               "max_similarity": max_similarity}

    def empty_memory(num_envs, dim):  # per env, a ring whose first num_neighbors slots hold zero vectors
        memory = jnp.full((num_envs, capacity, dim), jnp.inf)
        return jax.vmap(Ring.create)(memory.at[:, :num_neighbors].set(0.0))

    def init(hp, key, spec):
        dim = jax.eval_shape(embed, jnp.zeros((1,) + spec.observation_shape, jnp.float32)).shape[-1]
        return {"memory": empty_memory(spec.num_envs, dim), "distance_sum": jnp.zeros(()),
                "distance_count": jnp.zeros(())}

    def compute(hp, state, batch):
        T, B = batch.rollout.done.shape
        e = embed(learned.features(batch.rollout.next_obs).reshape(T * B, -1)).reshape(T, B, -1)
        valid = jnp.ones((T, B)) if batch.valid is None else batch.valid
        fresh = empty_memory(B, e.shape[-1])
        memory = restart(state["memory"], batch, fresh)

        def step(carry, x):
            memory, total, count = carry
            e_t, done, v = x
            d2 = -jax.lax.top_k(-jnp.sum((memory.items - e_t[:, None]) ** 2, -1), num_neighbors)[0]  # [B, k]
            total, count = total + jnp.sum(v[:, None] * d2), count + num_neighbors * jnp.sum(v)
            b = ngu_kernel_reward(d2, total / count, hp)
            memory = jax.vmap(lambda ring, item, keep: ring.push(item[None], keep[None]))(memory, e_t, v > 0)
            ended = (done > 0) & (v > 0)  # an invalid step is no step: its done does not end the episode
            return (select_envs(ended, fresh, memory), total, count), b

        carry = (memory, state["distance_sum"], state["distance_count"])
        (memory, total, count), b = jax.lax.scan(step, carry, (e, batch.rollout.done, valid))
        return b, {"memory": memory, "distance_sum": total, "distance_count": count}, {
            "mean_knn_distance": total / jnp.maximum(count, 1.0)}

    return bonus_transform("episodic_knn", compute, init, hparams,
                           {"num_neighbors": num_neighbors, "capacity": capacity, "embed": embed}, episodic=True)


def ngu_kernel_reward(d2: jax.Array, mean_d2: jax.Array, hp) -> jax.Array:
    """NGU's reward from the squared kNN distances ``d2`` ``[..., k]`` and their running mean."""
    rate = jnp.maximum(d2 / (mean_d2 + hp["constant"]) - hp["cluster_distance"], 0.0)
    similarity = jnp.sqrt(jnp.sum(hp["epsilon"] / (rate + hp["epsilon"]), axis=-1)) + hp["constant"]
    return jnp.where(similarity > hp["max_similarity"], 0.0, 1.0 / similarity)


# ---------------------------------------------------------------- combinations, novelty search


@text_constructor
def global_episodic(global_bonus: RewardTransform, episodic_bonus: RewardTransform,
                    mode: str = "product") -> RewardTransform:
    """A global bonus (RND, counts) combined with an episodic one (E3B, episodic counts) as in
    Henaff et al. 2023, "A Study of Global and Episodic Bonuses for Exploration in Contextual
    MDPs" (arXiv:2306.03236), eq. 4-5: ``b = b_global * b_episodic`` (``product``, their best) or
    ``b_global + b_episodic`` (``sum``). Each part's own ``coef`` scales it first.
    """
    if mode not in ("product", "sum"):
        raise ValueError(f"global_episodic: mode must be 'product' or 'sum', got {mode!r}")
    parts = (check_transform(global_bonus), check_transform(episodic_bonus))
    for part in parts:
        if part.streams:
            raise ValueError(f"global_episodic: {part.name} writes the streams {part.streams}; pass bare bonuses "
                             "and route the combination instead: intrinsic(global_episodic(a, b))")

    def init(hp, key, spec):
        keys = jax.random.split(key)
        return tuple(p.init(h, k, spec) for p, h, k in zip(parts, hp, keys))

    def apply(hp, states, batch):
        zeros = jnp.zeros_like(batch.rollout.reward)
        alone = batch._replace(rewards={**batch.rewards, batch.stream: zeros},
                               rollout=batch.rollout.replace(reward=zeros))
        bonuses, new_states, metrics = [], [], {}
        for label, part, h, s, k in zip(("global", "episodic"), parts, hp, states, jax.random.split(batch.key)):
            out, s, m = apply_checked(part, h, s, alone._replace(key=k))
            bonuses.append(out[batch.stream])
            new_states.append(s)
            metrics.update({f"{label}/{name}": v for name, v in m.items()})
        combined = bonuses[0] * bonuses[1] if mode == "product" else bonuses[0] + bonuses[1]
        return batch.output(batch.rollout.reward + combined), tuple(new_states), metrics

    hparams = tuple(p.hparams for p in parts)
    # the combination restarts each episode if a part does (an episodic factor or term)
    episodic = any(p.episodic for p in parts) if any(p.episodic is not None for p in parts) else None
    return RewardTransform(init, apply, hparams, (("mode", mode),), "global_episodic", (), parts, episodic)


@text_constructor
def novelty_search(descriptor: Callable, coef: float = 1.0, num_neighbors: int = 10,
                   archive_size: int = 1024) -> RewardTransform:
    """Novelty-search bonus (Lehman & Stanley 2011; as a QD exploration reward in "Learning in
    Sparse Rewards settings through Quality-Diversity", Paolo et al. 2021):

      b = (1/k) sum_{j in kNN(x)} ||x - x_j||   at an episode's last step, x = descriptor(s_T)

    where the neighbours are the ``k`` nearest behaviour descriptors in the archive (fewer while
    it holds fewer; 0 while it is empty). Every finished episode's descriptor then joins the
    archive, a FIFO ring of ``archive_size`` (``jrew.rewards.ring``: once full, the newest replace
    the oldest); descriptors of one rollout are scored against the archive as it was before it.
    """
    if not isinstance(num_neighbors, int) or num_neighbors < 1 or archive_size < num_neighbors:
        raise ValueError(f"novelty_search: need ints 1 <= num_neighbors <= archive_size, got {num_neighbors}, "
                         f"{archive_size}")
    if not callable(descriptor):
        raise TypeError(f"novelty_search: descriptor must be a function of a batch of observations, got {descriptor!r}")

    def init(hp, key, spec):
        dim = jax.eval_shape(descriptor, jnp.zeros((1,) + spec.observation_shape, jnp.float32)).shape[-1]
        return {"archive": Ring.create(jnp.zeros((archive_size, dim)))}

    def compute(hp, state, batch):
        T, B = batch.rollout.done.shape
        x = descriptor(batch.rollout.next_obs.reshape((T * B,) + batch.rollout.next_obs.shape[2:]))
        ended = (batch.rollout.done > 0).reshape(-1)
        if batch.valid is not None:
            ended = ended & (batch.valid > 0).reshape(-1)
        archive = state["archive"]
        distance = jnp.where(archive.filled(), jnp.linalg.norm(x[:, None] - archive.items[None], axis=-1), jnp.inf)
        nearest = -jax.lax.top_k(-distance, num_neighbors)[0]
        found = jnp.isfinite(nearest)
        novelty = jnp.sum(jnp.where(found, nearest, 0.0), -1) / jnp.maximum(found.sum(-1), 1)
        archive = archive.push(x, ended)  # step-major: later episode ends are newer
        b = jnp.where(ended, novelty, 0.0).reshape(T, B)
        return b, {"archive": archive}, {"archive_size": archive.size.astype(jnp.float32)}

    return bonus_transform("novelty_search", compute, init, {"coef": coef},
                           {"descriptor": descriptor, "num_neighbors": num_neighbors, "archive_size": archive_size},
                           episodic=False)
