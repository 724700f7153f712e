"""Reward-model overoptimization curves (Gao, Schulman & Hilton 2023, "Scaling Laws for Reward
Model Overoptimization", ICML; arXiv:2210.10760). Host-side analysis (NumPy), no JAX.

Optimizing a proxy reward model moves the policy away from its initial one; Gao et al. measure
the distance as ``d = sqrt(KL(pi || pi_init))`` and find the gold (true) reward, relative to the
initial policy's, to follow

  best-of-n:  R_bon(d) = d (alpha_bon - beta_bon d)
  RL:         R_RL(d)  = d (alpha_RL  - beta_RL log d)

(their main result; ``R(0) := 0``): it first rises with the proxy reward, then falls once the policy exploits the
proxy's errors. For best-of-n sampling the KL is known in closed form, ``log n - (n - 1) / n``.

* ``best_of_n_kl``, ``kl_distance``: the x axis;
* ``best_of_n_estimate``: the expected score of best-of-n from a pool of samples (unbiased);
* ``best_of_n_kl_estimate``: best-of-n's KL measured on such a pool (the closed form overstates
  it when the policy repeats its outcomes);
* ``gold_best_of_n``, ``gold_rl``: the two functional forms;
* ``fit_gold_curve``: least-squares ``alpha``, ``beta`` of either form, as a ``GoldFit`` (its
  ``peak()``: where the fitted gold reward is largest, and how large).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import special

FORMS = ("best_of_n", "rl")


def best_of_n_kl(n) -> float | np.ndarray:
    """The KL of best-of-n sampling from its base policy, the analytic value Gao et al. 2023 use
    for their best-of-n x axis (derived in Hilton & Gao 2022, "Measuring Goodhart's law", OpenAI
    blog):

      KL_bon(n) = KL(pi_bon || pi_base) = log n - (n - 1) / n

    exact when the reward is continuous under the base policy (the winner's quantile ``u`` has
    density ``n u^(n-1)``, so ``KL = log n + (n - 1) E[log u] = log n - (n - 1) / n``). With
    finitely many outcomes or ties it is an upper bound on the true KL (Beirami et al. 2024,
    "Theoretical Guarantees on the Best-of-n Alignment Policy", arXiv:2401.01879), approached as
    the outcomes become many and equally unlikely. ``n = 1`` gives 0.

    Args: ``n``, a whole number >= 1 or an array of them. Returns a float, or an array of ``n``'s
    shape.
    """
    n_arr = np.asarray(n, np.float64)
    if not np.all(np.isfinite(n_arr)) or np.any(n_arr < 1):
        raise ValueError(f"best-of-n needs n >= 1 samples, got n = {n!r}")
    if np.any(n_arr != np.round(n_arr)):
        raise ValueError(f"best-of-n needs a whole number of samples n, got n = {n!r}")
    kl = np.log(n_arr) - (n_arr - 1.0) / n_arr
    return float(kl) if kl.ndim == 0 else kl


def kl_distance(kl, atol: float = 1e-6) -> float | np.ndarray:
    """Gao et al.'s distance from the initial policy, ``d = sqrt(KL(pi || pi_init))``.

    A KL below 0 by no more than ``atol`` (float noise, e.g. ``-1e-9`` from a difference of equal
    log-probabilities) counts as 0; a more negative one is refused: a KL is never negative, so it
    points at an estimator or a sign error upstream.

    Args: ``kl``, a float or an array. Returns a float, or an array of ``kl``'s shape.
    """
    kl_arr = np.asarray(kl, np.float64)
    if not np.all(np.isfinite(kl_arr)):
        raise ValueError(f"KL must be finite, got {kl!r}")
    if np.any(kl_arr < -atol):
        raise ValueError(f"KL must be >= 0 (up to atol = {atol}), got min {kl_arr.min()!r}")
    d = np.sqrt(np.maximum(kl_arr, 0.0))
    return float(d) if d.ndim == 0 else d


def _distances(d, name: str = "d") -> np.ndarray:
    d = np.asarray(d, np.float64)
    if not np.all(np.isfinite(d)):
        raise ValueError(f"{name} (sqrt KL) must be finite, got {d!r}")
    if np.any(d < 0):
        raise ValueError(f"{name} (sqrt KL) must be >= 0, got min {d.min()!r}")
    return d


def best_of_n_estimate(proxy, values, n: int) -> np.ndarray:
    """The expected ``values`` of the sample that best-of-``n`` picks by ``proxy``, estimated
    without bias from a pool of ``M >= n`` samples per prompt (Nakano et al. 2021, WebGPT, App. I;
    the estimator Gao et al. 2023 use for their best-of-n curves):

      E[values of best-of-n] = sum_i  C(i - 1, n - 1) / C(M, n)  values_(i)

    with the pool sorted by ``proxy`` ascending (``values_(i)`` the value of the ``i``-th lowest): the
    ``i``-th sample is the best of a uniformly drawn ``n``-subset exactly when the subset holds it
    and ``n - 1`` of the ``i - 1`` below it. Ties in ``proxy`` are broken by position (stable sort).

    Args: ``proxy`` and ``values`` ``[..., M]`` (one pool per leading index, e.g. per prompt), ``n``
    in ``1..M``. Returns ``[...]``: per pool; average over prompts for the policy's expectation.
    """
    proxy, values = np.asarray(proxy, np.float64), np.asarray(values, np.float64)
    if proxy.shape != values.shape or proxy.ndim < 1:
        raise ValueError(f"proxy and values must have one shape [..., M], got {proxy.shape} and {values.shape}")
    order = np.argsort(proxy, axis=-1, kind="stable")
    return np.take_along_axis(values, order, axis=-1) @ best_of_n_weights(proxy.shape[-1], n)


def best_of_n_weights(pool: int, n: int) -> np.ndarray:
    """``[M]``: the probability that the ``i``-th lowest of a pool of ``M = pool`` samples is the
    best of a uniformly drawn ``n``-subset, ``C(i - 1, n - 1) / C(M, n)`` (0 for ``i < n``)."""
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= pool:
        raise ValueError(f"best-of-n from a pool of {pool} samples needs a whole n in 1..{pool}, got n = {n!r}")
    i = np.arange(1, pool + 1)
    log_weight = np.where(i >= n, special.gammaln(i) - special.gammaln(n) - special.gammaln(np.maximum(i - n + 1, 1)), -np.inf)
    log_weight = log_weight - (special.gammaln(pool + 1) - special.gammaln(n + 1) - special.gammaln(pool - n + 1))
    return np.exp(log_weight)


def best_of_n_kl_estimate(proxy, samples, n: int) -> np.ndarray:
    """``KL(pi_bon || pi_base)`` of best-of-``n`` by ``proxy``, per pool, measured on the pool
    itself: the base is a uniform pick from the pool, ``pi_base(y) = c_y / M`` (``c_y`` the copies
    of outcome ``y`` in it), and best-of-n picks the ``i``-th lowest with ``best_of_n_weights``'s
    probability ``w_i``, so ``pi_bon(y) = sum_{i: y_(i) = y} w_i`` and

      KL = sum_y pi_bon(y) log(pi_bon(y) M / c_y).

    This is the KL of the policy whose score ``best_of_n_estimate`` averages: the best of a
    uniformly drawn ``n``-subset of the pool. With all outcomes distinct it tends to
    ``best_of_n_kl(n)`` as ``M`` grows; a finite pool reads higher as ``n`` nears ``M`` (for
    ``M = 256``: +1.2% at ``n = 8``, +2.5% at ``n = 32``, +8% at ``n = 128``), since a subset
    drawn without replacement concentrates on the pool's top more than ``n`` fresh samples would.
    With repeated outcomes (a policy that gives one completion much of its mass) it is smaller,
    as the exact KL is (Beirami et al. 2024): there the closed form would overstate ``d``. Equal outcomes must have
    equal ``proxy`` scores (a model's scores of one completion do), so they sit together in the
    sorted pool.

    Args: ``proxy`` ``[..., M]``; ``samples`` ``[..., M]`` (outcome ids) or ``[..., M, L]``
    (token buffers: equal rows are one outcome); ``n`` in ``1..M``. Returns ``[...]``: per pool;
    the KL of a policy over prompts is the mean over its prompts' pools.
    """
    proxy, samples = np.asarray(proxy, np.float64), np.asarray(samples)
    if proxy.ndim < 1 or samples.shape[: proxy.ndim] != proxy.shape or samples.ndim > proxy.ndim + 1:
        raise ValueError(f"samples must be [..., M] or [..., M, L] for proxy [..., M], got {samples.shape} for "
                         f"{proxy.shape}")
    pool = proxy.shape[-1]
    weights = best_of_n_weights(pool, n)
    flat_proxy = proxy.reshape(-1, pool)
    flat_samples = samples.reshape(flat_proxy.shape[0], pool, -1)
    kl = np.empty(flat_proxy.shape[0])
    for j, (scores, outcomes) in enumerate(zip(flat_proxy, flat_samples)):
        _, ids = np.unique(outcomes, axis=0, return_inverse=True)
        ids = ids.reshape(-1)
        counts = np.bincount(ids)
        picked = np.bincount(ids[np.argsort(scores, kind="stable")], weights=weights, minlength=counts.size)
        kept = picked > 0
        kl[j] = np.sum(picked[kept] * np.log(picked[kept] * pool / counts[kept]))
    return kl.reshape(proxy.shape[:-1])


def gold_best_of_n(d, alpha, beta) -> np.ndarray:
    """Gao et al.'s best-of-n form: ``R_bon(d) = d (alpha - beta d)``, ``d = sqrt(KL) >= 0``.

    Returns the gold reward relative to the initial policy's, of ``d``'s shape.
    """
    d = _distances(d)
    return d * (alpha - beta * d)


def _d_log_d(d: np.ndarray) -> np.ndarray:
    """``d log d`` with its limit 0 at ``d = 0``."""
    return np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0)), 0.0)


def gold_rl(d, alpha, beta) -> np.ndarray:
    """Gao et al.'s RL form: ``R_RL(d) = d (alpha - beta log d)``, ``d = sqrt(KL) >= 0``.

    At ``d = 0`` the value is 0, the limit of ``d log d``. Returns the gold reward relative to the
    initial policy's, of ``d``'s shape.
    """
    d = _distances(d)
    return alpha * d - beta * _d_log_d(d)


_FORM_FUNCTIONS = {"best_of_n": gold_best_of_n, "rl": gold_rl}


@dataclasses.dataclass(frozen=True)
class GoldFit:
    """``fit_gold_curve``'s result: the form (``"best_of_n"`` or ``"rl"``), its ``alpha`` and
    ``beta``, the fit's ``r2`` (centred, see ``fit_gold_curve``) and the number of points fitted."""

    form: str
    alpha: float
    beta: float
    r2: float
    n_points: int

    def predict(self, d) -> np.ndarray:
        """The fitted gold reward (relative to the initial policy's) at ``d = sqrt(KL)``."""
        return _FORM_FUNCTIONS[self.form](d, self.alpha, self.beta)

    def peak(self) -> tuple[float, float] | None:
        """``(d*, R(d*))``: where over ``d >= 0`` the fitted gold reward is largest, and its value.

        Setting the derivative to 0:

          best-of-n: alpha - 2 beta d = 0              ->  d* = alpha / (2 beta),       R = alpha^2 / (4 beta)
          RL:        alpha - beta log d - beta = 0     ->  d* = exp(alpha / beta - 1),  R = beta d*

        a maximum when ``beta > 0`` (the second derivative, ``-2 beta`` or ``-beta / d``, is then
        negative). A best-of-n fit with ``beta > 0`` and ``alpha <= 0`` only falls from ``d = 0``:
        its peak is ``(0.0, 0.0)``. With ``beta <= 0`` the fitted curve never turns down (it rises
        without bound, or is a line): no peak, ``None``. The peak KL is ``d*^2``, and the peak is
        an extrapolation when ``d*`` lies beyond the fitted data.
        """
        if not self.beta > 0:
            return None
        if self.form == "best_of_n":
            if self.alpha <= 0:
                return 0.0, 0.0
            return self.alpha / (2.0 * self.beta), self.alpha**2 / (4.0 * self.beta)
        d_star = float(np.exp(self.alpha / self.beta - 1.0))
        return d_star, self.beta * d_star


def fit_gold_curve(d, gold, form: str) -> GoldFit:
    """Fit Gao et al.'s form ``"best_of_n"`` or ``"rl"`` to a measured gold-reward
    curve by ordinary least squares.

    Both forms are linear in ``(alpha, beta)``:

      best-of-n:  gold = alpha d - beta d^2        design [d, -d^2]
      RL:         gold = alpha d - beta d log d    design [d, -d log d]   (d log d = 0 at d = 0)

    and neither has an intercept: the forms are 0 at ``d = 0``, so ``gold`` must be measured
    relative to the initial policy's gold score (subtract the ``d = 0`` score, or the initial
    policy's, before calling). A point at ``d = 0`` adds nothing to the fit but counts in ``r2``.

    ``r2 = 1 - SS_res / SS_tot`` with the centred ``SS_tot = sum (gold - mean gold)^2``: the share
    of the curve's variation about its mean that the form explains, comparable with the usual R^2
    of a curve fit. Without an intercept it is not bounded below by 0 (a form worse than the flat
    mean gives a negative value). (statsmodels' convention for a model without a constant uses the
    uncentred ``sum gold^2`` instead, which is always >= the centred value and would credit the
    form for the curve merely leaving 0.) A perfect fit gives 1; when every ``gold`` is equal,
    ``r2`` is 1 for a perfect fit and NaN otherwise.

    Args: ``d`` (sqrt KL, >= 0, see ``kl_distance``) and ``gold``, 1-D and of equal length, with
    at least 2 distinct ``d > 0``. Returns a ``GoldFit``.
    """
    if form not in FORMS:
        raise ValueError(f"unknown gold-curve form {form!r}; expected one of {FORMS}")
    d = np.asarray(d, np.float64)
    gold = np.asarray(gold, np.float64)
    if d.ndim != 1 or gold.ndim != 1:
        raise ValueError(f"d and gold must be 1-D, got shapes {d.shape} and {gold.shape}")
    if d.shape != gold.shape:
        raise ValueError(f"d and gold must have the same length, got {len(d)} and {len(gold)}")
    if len(d) < 2:
        raise ValueError(f"fitting alpha and beta needs at least 2 points, got {len(d)}")
    d = _distances(d)
    if not np.all(np.isfinite(gold)):
        raise ValueError(f"gold must be finite, got {gold.tolist()}")
    if len(np.unique(d[d > 0])) < 2:
        raise ValueError(f"fitting alpha and beta needs at least 2 distinct d > 0, got d = {d.tolist()}")
    curvature = d**2 if form == "best_of_n" else _d_log_d(d)
    design = np.stack([d, -curvature], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(design, gold, rcond=None)
    residual = gold - design @ np.array([alpha, beta])
    ss_res = float(residual @ residual)
    ss_tot = float(np.sum((gold - gold.mean()) ** 2))
    if ss_tot > 0:
        r2 = 1.0 - ss_res / ss_tot
    else:
        r2 = 1.0 if ss_res == 0 else float("nan")
    return GoldFit(form=form, alpha=float(alpha), beta=float(beta), r2=r2, n_points=len(d))
