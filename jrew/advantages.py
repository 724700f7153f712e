"""Return and advantage estimators. Time-major: leading axis is time; extra axes are batch.

Terminations and truncations enter differently: ``terminated`` zeroes the bootstrap value
(the episode has no future), while ``done = terminated OR truncated`` only cuts the
recursion between episodes. A truncated step therefore still bootstraps from ``V(s_{t+1})``,
the value of the last observation of the cut-off episode.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def generalized_advantage_estimation(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: float | jax.Array,
    lambda_: float | jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """GAE(gamma, lambda) (Schulman et al. 2016, "High-Dimensional Continuous Control Using GAE", eq. 16).

      delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
      A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   A_T = 0

    ``next_values[t] = V(s_{t+1})`` where ``s_{t+1}`` is the observation reached at step t before
    any auto-reset. Returns ``(advantages, value_targets = advantages + values)``.
    """
    chex.assert_equal_shape([rewards, values, next_values, terminated, done])
    chex.assert_type([rewards, values, next_values], float)
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    continues = gamma * lambda_ * (1.0 - done)

    def backward(carry, inputs):
        delta, cont = inputs
        advantage = delta + cont * carry
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, continues), reverse=True)
    return advantages, advantages + values


def normalize_advantages(advantages: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Batch whitening ``(A - mean A) / (std A + eps)`` (as in OpenAI baselines' PPO2)."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)


# --------------------------------------------------------------------------- returns (rlax conventions)
# Single trajectory, time-major [T]: r_t and discount_t are the reward and discount of the step
# from s_{t} to s_{t+1}; v_t are values of s_{t+1} (bootstrap values). Vmap for batches.


def lambda_returns(r_t: jax.Array, discount_t: jax.Array, v_t: jax.Array, lambda_=1.0) -> jax.Array:
    """TD(lambda) returns (Sutton & Barto 2018, eq. 12.18, recursive form):

      G_t = r_t + discount_t * ((1 - lambda_t) * v_t + lambda_t * G_{t+1}),   G_T = v_{T-1}

    ``lambda_`` may be per step: ``lambda_t = 0`` cuts the return there (e.g. at a truncation,
    leaving ``r_t + discount_t * v_t``). Matches ``rlax.lambda_returns``.
    """
    chex.assert_rank([r_t, discount_t, v_t, lambda_], [1, 1, 1, {0, 1}])
    chex.assert_equal_shape([r_t, discount_t, v_t])
    lambda_t = jnp.ones_like(discount_t) * lambda_

    def backward(g, x):
        r, d, v, lam = x
        g = r + d * ((1.0 - lam) * v + lam * g)
        return g, g

    _, returns = jax.lax.scan(backward, v_t[-1], (r_t, discount_t, v_t, lambda_t), reverse=True)
    return returns


def discounted_returns(r_t: jax.Array, discount_t: jax.Array, v_t) -> jax.Array:
    """Monte-Carlo returns bootstrapped at the end: ``G_t = r_t + discount_t * G_{t+1}``, ``G_T = v``.

    ``v_t`` is a scalar bootstrap or per-step values (only the last is used). Matches
    ``rlax.discounted_returns``.
    """
    chex.assert_rank([r_t, discount_t, v_t], [1, 1, {0, 1}])
    return lambda_returns(r_t, discount_t, jnp.ones_like(discount_t) * v_t, 1.0)


def n_step_bootstrapped_returns(r_t: jax.Array, discount_t: jax.Array, v_t: jax.Array, n: int, lambda_=1.0) -> jax.Array:
    """n-step returns (Sutton & Barto 2018, eq. 7.1), truncated at the end of the sequence:

      G_t = r_t + discount_t * ((1 - lambda_t) v_t + lambda_t G_{t+1}),  iterated n times from
      the bootstrap v_{t+n-1}; with lambda = 1: r_t + d_t (r_{t+1} + ... + d_{t+n-1} v_{t+n-1}).

    Matches ``rlax.n_step_bootstrapped_returns``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    chex.assert_rank([r_t, discount_t, v_t, lambda_], [1, 1, 1, {0, 1}])
    chex.assert_equal_shape([r_t, discount_t, v_t])
    T = r_t.shape[0]
    lambda_t = jnp.ones_like(discount_t) * lambda_
    pad = n - 1
    last = jnp.repeat(v_t[-1:], pad)
    targets = jnp.concatenate([v_t[n - 1 :], last[: min(pad, T)]])[:T]
    r = jnp.concatenate([r_t, jnp.zeros(pad)])
    d = jnp.concatenate([discount_t, jnp.ones(pad)])
    lam = jnp.concatenate([lambda_t, jnp.ones(pad)])
    v = jnp.concatenate([v_t, last])
    for i in reversed(range(n)):
        targets = r[i : i + T] + d[i : i + T] * ((1.0 - lam[i : i + T]) * v[i : i + T] + lam[i : i + T] * targets)
    return targets


def truncated_generalized_advantage_estimation(
    r_t: jax.Array, discount_t: jax.Array, lambda_, values: jax.Array
) -> jax.Array:
    """GAE in rlax's signature: ``values`` has T+1 entries (the last is the bootstrap).

      delta_t = r_t + discount_t V_{t+1} - V_t;  A_t = delta_t + discount_t lambda_t A_{t+1}

    (Schulman et al. 2016.) Matches ``rlax.truncated_generalized_advantage_estimation``.
    """
    chex.assert_rank([r_t, discount_t, values, lambda_], [1, 1, 1, {0, 1}])
    chex.assert_equal_shape([r_t, discount_t])
    chex.assert_shape(values, (r_t.shape[0] + 1,))
    lambda_t = jnp.ones_like(discount_t) * lambda_
    deltas = r_t + discount_t * values[1:] - values[:-1]

    def backward(a, x):
        delta, cont = x
        a = delta + cont * a
        return a, a

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, discount_t * lambda_t), reverse=True)
    return advantages


def vtrace(
    v_tm1: jax.Array,
    v_t: jax.Array,
    r_t: jax.Array,
    discount_t: jax.Array,
    rho_tm1: jax.Array,
    lambda_=1.0,
    clip_rho_threshold: float = 1.0,
) -> jax.Array:
    """V-trace errors ``v_s - V(x_s)`` (Espeholt et al. 2018, IMPALA, eq. 1 and Remark 1):

      delta_t = min(rho_bar, rho_t) (r_t + discount_t V(x_{t+1}) - V(x_t))
      v_s - V(x_s) = delta_s + discount_s c_s (v_{s+1} - V(x_{s+1})),  c_s = lambda min(1, rho_s)

    ``rho_tm1 = pi(a|x) / mu(a|x)``. Matches ``rlax.vtrace``.
    """
    chex.assert_rank([v_tm1, v_t, r_t, discount_t, rho_tm1, lambda_], [1, 1, 1, 1, 1, {0, 1}])
    chex.assert_equal_shape([v_tm1, v_t, r_t, discount_t, rho_tm1])
    c = jnp.minimum(1.0, rho_tm1) * lambda_
    deltas = jnp.minimum(clip_rho_threshold, rho_tm1) * (r_t + discount_t * v_t - v_tm1)

    def backward(acc, x):
        delta, d, c_ = x
        acc = delta + d * c_ * acc
        return acc, acc

    _, errors = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, discount_t, c), reverse=True)
    return errors


# --------------------------------------------------------------------------- grouped episodes
# returns: [..., G] episode returns of G rollouts that share a start state (one group per row).


def grpo_advantages(returns: jax.Array, normalize_std: bool = True, eps: float = 1e-6, rtol: float = 1e-5) -> jax.Array:
    """Group-relative advantages (Shao et al. 2024, DeepSeekMath, GRPO eq. 3-4):

      A_i = (R_i - mean_g R) / (std_g R + eps),   or  R_i - mean_g R  without std (Liu et al.
      2025, "Understanding R1-Zero-Like Training", Dr. GRPO).

    A group whose returns are all equal (within ``rtol`` of their magnitude, see
    ``nonzero_variance_groups``) gets advantage exactly 0: in float32 the mean of G equal values
    is often one ulp off, which the formula would blow up to about +-0.9 for every member.
    """
    chex.assert_rank(returns, {1, 2})
    centred = returns - returns.mean(axis=-1, keepdims=True)
    if normalize_std:
        centred = centred / (returns.std(axis=-1, keepdims=True) + eps)
    return jnp.where(nonzero_variance_groups(returns, rtol)[..., None] > 0, centred, 0.0)


def rloo_advantages(returns: jax.Array) -> jax.Array:
    """REINFORCE leave-one-out baseline (Kool et al. 2019; Ahmadian et al. 2024):

      A_i = R_i - 1/(G-1) sum_{j != i} R_j  =  G/(G-1) (R_i - mean_g R)
    """
    chex.assert_rank(returns, {1, 2})
    G = returns.shape[-1]
    if G < 2:
        raise ValueError(f"RLOO needs groups of at least 2 rollouts, got group size {G}")
    total = returns.sum(axis=-1, keepdims=True)
    return returns - (total - returns) / (G - 1)


def prefix_tree_advantages(tokens: jax.Array, valid: jax.Array, returns: jax.Array, normalize_std: bool = True,
                           eps: float = 1e-6) -> jax.Array:
    """Token-level credit from one group's shared prefixes: TEMPO's prefix-to-tree (P2T)
    advantage (Tran, Yao & Yu 2025, "Exploiting Tree Structure for Credit Assignment in RL
    Training of LLMs", arXiv:2509.18314; ``compute_tempo_outcome_advantage`` in their verl fork):

      A_{i,j} = (R_i - mean_g R + V(s_{j+1}) - V(s_j)) / (std_g R + eps)

    for response ``i``'s token ``j``, where ``V(s_j)`` is the mean return of the group's responses
    whose first ``j`` tokens equal ``i``'s (the node before the token; the whole group at
    ``j = 0``) and ``V(s_{j+1})`` that of those whose first ``j + 1`` tokens do. The responses form a
    prefix tree: the correction is nonzero only at branch points and is 0 once ``i`` is alone,
    where the advantage is GRPO's. ``std`` is the population std as in ``grpo_advantages`` (TEMPO's
    code uses torch's unbiased std, a factor sqrt(G / (G - 1)) apart); without ``normalize_std``
    nothing is divided. A group whose returns are all equal gets 0.

    Args: ``tokens [G, T]`` (any ids compared for equality), ``valid [G, T]`` (1 on a response's
    own tokens), ``returns [G]``. Returns ``[G, T]`` (its values past a response's end are unused).
    """
    chex.assert_rank([tokens, valid, returns], [2, 2, 1])
    marked = jnp.where(valid > 0, tokens, -1)  # past its end a response shares nothing
    same = marked[:, None, :] == marked[None, :, :]  # [i, k, j]
    through = jnp.cumprod(same, axis=-1).astype(returns.dtype)  # k shares i's tokens 0..j
    before = jnp.concatenate([jnp.ones_like(through[..., :1]), through[..., :-1]], axis=-1)  # tokens 0..j-1
    node_value = lambda members: jnp.einsum("ikj,k->ij", members, returns) / members.sum(axis=1)
    correction = node_value(through) - node_value(before)
    advantage = returns[:, None] - returns.mean() + correction
    if normalize_std:
        advantage = advantage / (returns.std() + eps)
    return jnp.where(nonzero_variance_groups(returns) > 0, advantage, 0.0)


def turning_point_advantages(prefix_returns: jax.Array, eta=1.0, normalize_std: bool = True,
                             eps: float = 1e-4) -> tuple[jax.Array, jax.Array]:
    """Step-level credit from incremental rewards with turning points: TP-GRPO (Tong, Liu et al.
    2026, "Alleviating Sparse Rewards by Modeling Step-Wise and Long-Term Sampling Effects in
    Flow-Based GRPO", arXiv:2602.06422; ``scripts/my_train_sd3_fast_with_op3.py`` in
    YunzeTong/TurningPoint-GRPO with the settings of its ``config/my_grpo.py`` ``*_op3`` configs), for
    one group of ``G`` samples. Their launch scripts (``scripts/*/common_op3.sh``) override six of
    those settings into another variant, not built here: a turning point's reward there is
    ``η (R_T - R_{k-1})``, the other steps' is ``d_k``, turning points must also agree with the
    final outcome, and they are balanced in sign within a sampling batch.

    ``R_k = prefix_returns[:, k]`` is the outcome of sample ``i`` when its first ``k`` steps are
    kept and the rest is completed deterministically (their ODE completion; a token policy's greedy
    decoding): ``R_0`` the fully deterministic outcome, ``R_T`` the sample's own. (For a token
    policy whose group shares a prompt, ``R_0`` is the group's greedy outcome, one number, so the
    main term's group-centred part is GRPO's; their images each start from their own noise.) With the step's
    incremental reward ``d_k = R_k - R_{k-1}``, the sample's global change ``Δ = R_T - R_0`` and
    ``s_k = sign(d_k) sign(Δ)``, step ``k`` is a turning point when ``s_1 > 0`` (``k = 1``) or
    ``s_{k-1} < 0 < s_k`` (its trend turns to agree with the global one). Each step's reward is

      r_k = Δ + η 1[turning point k] d_k,

    and its advantage is normalized per step index over the group, ``(r_k - mean_g r_k) /
    (std_g r_k + eps)`` (their per-timestep, per-prompt stat trackers; population std). Without
    ``normalize_std`` nothing is divided. Steps past a sample's end have ``d_k = 0``: reward ``Δ``,
    no turning point.

    Args: ``prefix_returns [G, T + 1]``. Returns the advantages ``[G, T]`` (step ``k`` at index
    ``k - 1``) and the turning points ``[G, T]`` (bool).
    """
    chex.assert_rank(prefix_returns, 2)
    increment = prefix_returns[:, 1:] - prefix_returns[:, :-1]  # d_k
    global_change = prefix_returns[:, -1] - prefix_returns[:, 0]  # Δ
    trend = jnp.sign(increment) * jnp.sign(global_change)[:, None]  # s_k
    turning = jnp.concatenate([trend[:, :1] > 0, (trend[:, :-1] < 0) & (trend[:, 1:] > 0)], axis=1)
    reward = global_change[:, None] + eta * turning * increment
    advantage = reward - reward.mean(axis=0)
    if normalize_std:
        advantage = advantage / (reward.std(axis=0) + eps)
    return advantage, turning


def implicit_step_advantages(step_rewards: jax.Array, valid: jax.Array, returns: jax.Array, weight=1.0,
                             normalize_std: bool = True, eps: float = 1e-6) -> jax.Array:
    """Episode- plus step-level credit from an implicit process reward model, for one group of ``G``
    samples: OPRL / iStar (Liu, Wang, Wu et al. 2025, "Agentic Reinforcement Learning with Implicit
    Step Rewards", arXiv:2509.19199; the paper pairs ``A^E`` with GRPO, RLOO and others, GRPO's here):

      A(a_t^i) = A^E(tau_i) + w A^S(a_t^i),
      A^E(tau_i) = (R_i - mean_g R) / (std_g R + eps)                        (GRPO's, ``grpo_advantages``)
      A^S(a_t^i) = (r_t^i - mean_{g,t} r) / (std_{g,t} r + eps)               (over the group's valid steps)

    where ``r_t^i = beta (log pi_phi(a_t^i | s_t^i) - log pi_old(a_t^i | s_t^i))`` are the implicit
    step rewards of the process reward model ``pi_phi`` (``losses.trajectory_preference_loss``
    trains it). Without ``normalize_std`` neither term is divided. A step here is one token.

    Args: ``step_rewards [G, T]``, ``valid [G, T]`` (1 on a sample's own steps), ``returns [G]``.
    Returns ``[G, T]`` (its values past a sample's end are unused).
    """
    chex.assert_rank([step_rewards, valid, returns], [2, 2, 1])
    count = jnp.maximum(valid.sum(), 1.0)
    own = jnp.where(valid > 0, step_rewards, 0.0)  # steps past a sample's end: no statistics, NaN included
    mean = jnp.sum(own) / count
    step = own - mean
    if normalize_std:
        step = step / (jnp.sqrt(jnp.sum(jnp.where(valid > 0, jnp.square(step), 0.0)) / count) + eps)
    return grpo_advantages(returns, normalize_std)[:, None] + weight * step


def nonzero_variance_groups(returns: jax.Array, rtol: float = 1e-5) -> jax.Array:
    """1.0 for groups whose returns differ, 0.0 for groups whose returns are all equal (no signal).

    Equal means ``max - min <= rtol * max |R|``: exact for identical floats (max - min is then
    exactly 0), and tolerant of the last-digit differences that summing the same rewards in
    another order leaves. Weight the loss by this to filter zero-variance groups (as DAPO's
    dynamic sampling does).
    """
    chex.assert_rank(returns, {1, 2})
    spread = returns.max(axis=-1) - returns.min(axis=-1)
    return (spread > rtol * jnp.abs(returns).max(axis=-1)).astype(returns.dtype)


def non_dominated(scores: jax.Array) -> jax.Array:
    """The samples of a group that no other sample Pareto-dominates: Parrot's batch-wise
    Pareto-optimal selection (Lee et al. 2024, "Parrot: Pareto-optimal Multi-Reward Reinforcement
    Learning Framework for Text-to-Image Generation", ECCV; arXiv:2401.05675), which updates the
    policy only on the non-dominated samples of a batch scored by ``K`` rewards. With larger
    better,

      j dominates i  <=>  s_j,k >= s_i,k for every k  and  s_j,k > s_i,k for some k
      keep_i = not any_j (j dominates i)

    Equal samples do not dominate each other, so duplicates of a non-dominated score are all kept;
    with ``K = 1`` exactly the samples at the group's maximum are kept, and every group of
    ``G >= 1`` keeps at least one. A NaN compares false, so a sample with a NaN component is kept
    and removes no other. No public code of Parrot's selection was found (its project page hosts a
    demo): this follows the paper's definition. ``O(G^2 K)`` per group; jittable and vmappable.

    Args: ``scores [..., G, K]`` (``G`` samples of one group, ``K`` reward components). Returns bool
    ``[..., G]``.
    """
    scores = jnp.asarray(scores)
    if scores.ndim < 2:
        raise ValueError(f"scores must be [..., G, K] (G samples, K rewards), got shape {scores.shape}")
    mine, other = scores[..., :, None, :], scores[..., None, :, :]  # [..., i, j, K]
    dominated_by = jnp.all(other >= mine, axis=-1) & jnp.any(other > mine, axis=-1)  # [..., i, j]
    return ~jnp.any(dominated_by, axis=-1)


def decoupled_normalized_advantages(components: jax.Array, weights, normalize_std: bool = True,
                                    eps: float = 1e-6) -> jax.Array:
    """Group reward-decoupled normalization (GDPO: Liu et al. 2026, "GDPO: Group reward-Decoupled
    Normalization Policy Optimization for Multi-reward RL Optimization", arXiv:2601.05242;
    ``apply_gdpo`` in NVlabs/GDPO's TRL trainer): each reward component is normalized within its
    group as GRPO normalizes the return, the normalized components are weighted and summed, and
    the sum is whitened over the whole batch,

      A_ik = (R_ik - mean_g R_k) / (std_g R_k + eps)          (``grpo_advantages``, per component k)
      S_i  = sum_k w_k A_ik
      A_i  = (S_i - mean_B S) / (std_B S + eps)                (over every sample of every group)

    so that no component's scale decides the sum, and the advantage's scale does not grow with
    the number of components. Without ``normalize_std`` the first step only centres (the batch
    step still whitens). A component constant within a group contributes 0 there. Population
    stds, as ``grpo_advantages`` (GDPO's code takes torch's unbiased std and eps 1e-4).

    Args: ``components [N, G, K]`` (``N`` groups of ``G`` samples, ``K`` components), ``weights
    [K]``. Returns ``[N, G]``.
    """
    chex.assert_rank(components, 3)
    per_component = jnp.moveaxis(components, -1, 0).reshape(-1, components.shape[1])  # [(K N), G]
    normalized = grpo_advantages(per_component, normalize_std).reshape(components.shape[-1], *components.shape[:2])
    summed = jnp.einsum("k,kng->ng", jnp.asarray(weights, components.dtype), normalized)
    return (summed - summed.mean()) / (summed.std() + eps)


def combine_advantages(extrinsic: jax.Array, intrinsic: jax.Array, extrinsic_coef=2.0, intrinsic_coef=1.0) -> jax.Array:
    """``c_E A_E + c_I A_I`` from two critics with separate discounts (Burda et al. 2019, RND, Sec. 2.3;
    their defaults c_E = 2, c_I = 1)."""
    chex.assert_equal_shape([extrinsic, intrinsic])
    return extrinsic_coef * extrinsic + intrinsic_coef * intrinsic


# --------------------------------------------------------------------------- learner entry point

ESTIMATORS = ("gae", "monte_carlo", "n_step")


def estimate(
    kind: str,
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma,
    lambda_=0.95,
    n: int = 5,
) -> tuple[jax.Array, jax.Array]:
    """``(advantages, value_targets)`` for a time-major batch ``[T, B]``, truncation-correct.

    ``next_values[t] = V(s_{t+1})`` before any auto-reset. A termination zeroes the discount; a
    truncation sets the step's lambda to 0, so the return stops there and bootstraps from the
    value of the cut-off episode's last observation:

    * ``gae``: GAE(gamma, lambda_) (Schulman et al. 2016)
    * ``monte_carlo``: the full return to the episode's end (or to the rollout's end, bootstrapped)
    * ``n_step``: n-step bootstrapped returns (Sutton & Barto 2018, Sec. 7.1)
    """
    if kind == "gae":
        done = jnp.maximum(terminated, truncated)
        return generalized_advantage_estimation(rewards, values, next_values, terminated, done, gamma, lambda_)
    discount = gamma * (1.0 - terminated)
    lambda_t = 1.0 - truncated
    if kind == "monte_carlo":
        fn = jax.vmap(lambda_returns, in_axes=1, out_axes=1)
        targets = fn(rewards, discount, next_values, lambda_t)
    elif kind == "n_step":
        fn = jax.vmap(lambda r, d, v, lam: n_step_bootstrapped_returns(r, d, v, n, lam), in_axes=1, out_axes=1)
        targets = fn(rewards, discount, next_values, lambda_t)
    else:
        raise ValueError(f"unknown advantage estimator {kind!r}; expected one of {ESTIMATORS}")
    return targets - values, targets
