"""Gao et al.'s overoptimization curves (the best-of-n KL against its derivation, the fits against
known coefficients, the peaks against a grid) and Parrot's non-dominated selection against a
brute-force double loop."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrew.advantages import non_dominated
from jrew.overoptimization import (
    GoldFit,
    best_of_n_kl,
    best_of_n_kl_estimate,
    fit_gold_curve,
    gold_best_of_n,
    gold_rl,
    kl_distance,
)

# --------------------------------------------------------------------------- best-of-n KL


def exact_best_of_n_kl(n: int, m: int) -> float:
    """KL(best-of-n || base) for a base uniform over m outcomes with distinct rewards: the winner
    has rank <= k with probability (k/m)^n, so P(rank k) = (k/m)^n - ((k-1)/m)^n."""
    k = np.arange(1, m + 1, dtype=np.float64)
    # (k/m)^n (1 - (1 - 1/k)^n), without cancellation for large k (k = 1: log1p(-1) = -inf, q = (1/m)^n)
    with np.errstate(divide="ignore"):
        q = (k / m) ** n * -np.expm1(n * np.log1p(-1.0 / k))
    assert abs(q.sum() - 1.0) < 1e-9
    return float(np.sum(q * np.log(q * m)))


def test_best_of_n_kl_is_the_formula():
    for n in (1, 2, 3, 10, 1000):
        assert best_of_n_kl(n) == pytest.approx(np.log(n) - (n - 1) / n, rel=1e-12, abs=1e-15)
    assert best_of_n_kl(1) == 0.0
    ns = np.array([[1, 2], [4, 16]])
    np.testing.assert_allclose(best_of_n_kl(ns), np.log(ns) - (ns - 1) / ns, rtol=1e-12)
    assert best_of_n_kl(ns).shape == (2, 2)


def test_best_of_n_kl_is_the_limit_of_the_exact_discrete_kl():
    m = 100_000
    for n in (1, 2, 4, 16):
        exact = exact_best_of_n_kl(n, m)
        assert exact <= best_of_n_kl(n) + 1e-12  # an upper bound for finitely many outcomes (Beirami et al. 2024)
        assert exact == pytest.approx(best_of_n_kl(n), rel=1e-6, abs=1e-12)  # measured: within 1e-9
    # and the gap closes as m grows
    gaps = [best_of_n_kl(16) - exact_best_of_n_kl(16, m) for m in (100, 1000, 10_000)]
    assert gaps[0] > gaps[1] > gaps[2] > 0


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_best_of_n_kl_estimate_equals_the_kl_over_every_subset_of_a_pool_with_repeats(n):
    rng = np.random.default_rng(n)
    ids = rng.integers(0, 4, size=(3, 7))  # three pools, 4 outcomes, most of them repeated
    proxy = np.array([0.3, -1.0, 2.0, 0.7])[ids]  # one score per outcome
    for pool_ids, pool_proxy, got in zip(ids, proxy, best_of_n_kl_estimate(proxy, ids, n)):
        winners = [max(subset, key=lambda i: (pool_proxy[i], i)) for subset in itertools.combinations(range(7), n)]
        p_bon = np.bincount(pool_ids[winners], minlength=4) / len(winners)
        p_base = np.bincount(pool_ids, minlength=4) / 7
        kept = p_bon > 0
        assert got == pytest.approx(np.sum(p_bon[kept] * np.log(p_bon[kept] / p_base[kept])), rel=1e-9, abs=1e-12)
    tokens = np.stack([ids, ids * 2], axis=-1)  # [pools, M, L]: equal rows are one outcome
    np.testing.assert_allclose(best_of_n_kl_estimate(proxy, tokens, n), best_of_n_kl_estimate(proxy, ids, n))


def test_best_of_n_kl_estimate_is_the_closed_form_for_distinct_outcomes_and_smaller_with_repeats():
    pool = 20_000
    proxy = np.random.default_rng(0).normal(size=pool)
    for n in (2, 8, 64):
        distinct = float(best_of_n_kl_estimate(proxy, np.arange(pool), n))
        assert distinct == pytest.approx(best_of_n_kl(n), abs=2e-3)
        # a base that gives its best outcome 30% of its mass: the KL saturates near log(1 / 0.3)
        repeated = np.where(np.arange(pool) < 0.3 * pool, -1, np.arange(pool))
        scores = np.where(repeated < 0, 10.0, proxy)
        assert float(best_of_n_kl_estimate(scores, repeated, n)) < min(best_of_n_kl(n), np.log(1 / 0.3)) + 1e-9
    small = float(best_of_n_kl_estimate(proxy[:256], np.arange(256), 128))  # a subset of half the pool
    assert small == pytest.approx(1.079 * best_of_n_kl(128), rel=2e-3)  # the finite pool's excess, as documented
    assert float(best_of_n_kl_estimate(np.zeros(5), np.zeros(5), 3)) == pytest.approx(0.0, abs=1e-12)  # one outcome
    with pytest.raises(ValueError, match=r"samples must be \[..., M\] or \[..., M, L\]"):
        best_of_n_kl_estimate(np.zeros((2, 5)), np.zeros((2, 4)), 2)
    with pytest.raises(ValueError, match="needs a whole n in 1..5, got n = 6"):
        best_of_n_kl_estimate(np.zeros(5), np.arange(5), 6)


def test_best_of_n_kl_matches_monte_carlo_with_a_continuous_reward():
    rng = np.random.default_rng(0)
    for n in (2, 8):
        u = rng.uniform(size=(200_000, n)).max(axis=1)  # the winner's quantile under the base
        log_ratio = np.log(n) + (n - 1) * np.log(u)  # log of its density n u^(n-1)
        se = log_ratio.std() / np.sqrt(len(u))
        assert abs(log_ratio.mean() - best_of_n_kl(n)) < 4 * se


@pytest.mark.parametrize("bad", [0, -1, 0.5, 2.5, np.nan, [1, 0]])
def test_best_of_n_kl_refuses_bad_n(bad):
    with pytest.raises(ValueError, match="n"):
        best_of_n_kl(bad)


def test_kl_distance():
    assert kl_distance(4.0) == 2.0
    assert kl_distance(-1e-9) == 0.0
    np.testing.assert_allclose(kl_distance([0.0, 1.0, 9.0, -1e-12]), [0.0, 1.0, 3.0, 0.0])
    with pytest.raises(ValueError, match="KL must be >= 0"):
        kl_distance(-0.01)
    with pytest.raises(ValueError, match="KL must be >= 0"):
        kl_distance([1.0, -1e-3])
    with pytest.raises(ValueError, match="finite"):
        kl_distance(np.nan)


# --------------------------------------------------------------------------- functional forms and fits


def test_the_forms():
    d = np.array([0.0, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(gold_best_of_n(d, 1.0, 0.25), d * (1.0 - 0.25 * d))
    np.testing.assert_allclose(gold_rl(d, 1.0, 0.25), [0.0, 0.5 * (1 - 0.25 * np.log(0.5)), 1.0, 2 * (1 - 0.25 * np.log(2))])
    assert gold_rl(0.0, 1.0, 0.25) == 0.0 and np.isfinite(gold_rl(1e-300, 1.0, 0.25))
    for form in (gold_best_of_n, gold_rl):
        with pytest.raises(ValueError, match="must be >= 0"):
            form(np.array([1.0, -0.1]), 1.0, 0.5)


FORMS = {"best_of_n": gold_best_of_n, "rl": gold_rl}
CASES = [("best_of_n", 1.3, 0.4), ("rl", 0.8, 0.35), ("best_of_n", 0.5, -0.05), ("rl", 0.2, 0.0)]


@pytest.mark.parametrize("form,alpha,beta", CASES)
def test_fit_recovers_exact_coefficients(form, alpha, beta):
    d = np.linspace(0.0, 5.0, 40)
    fit = fit_gold_curve(d, FORMS[form](d, alpha, beta), form)
    assert isinstance(fit, GoldFit)
    assert (fit.form, fit.n_points) == (form, 40)
    assert fit.alpha == pytest.approx(alpha, abs=1e-9)
    assert fit.beta == pytest.approx(beta, abs=1e-9)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(fit.predict(d), FORMS[form](d, alpha, beta), atol=1e-9)


@pytest.mark.parametrize("form,alpha,beta", CASES[:2])
def test_fit_recovers_coefficients_under_noise(form, alpha, beta):
    rng = np.random.default_rng(1)
    d = np.linspace(0.1, 5.0, 40)
    clean = FORMS[form](d, alpha, beta)
    fits = [fit_gold_curve(d, clean + rng.normal(0.0, 0.01, size=d.shape), form) for _ in range(20)]
    for fit in fits:
        assert fit.alpha == pytest.approx(alpha, rel=0.03)
        assert fit.beta == pytest.approx(beta, rel=0.03)
        assert 0.99 < fit.r2 < 1.0


def test_fit_is_ordinary_least_squares():
    rng = np.random.default_rng(2)
    d = rng.uniform(0.0, 4.0, size=25)
    gold = rng.normal(size=25)
    for form, curvature in (("best_of_n", d**2), ("rl", d * np.log(d))):
        fit = fit_gold_curve(d, gold, form)
        design = np.stack([d, -curvature], axis=1)
        (alpha, beta), *_ = np.linalg.lstsq(design, gold, rcond=None)
        assert (fit.alpha, fit.beta) == pytest.approx((alpha, beta), rel=1e-10)
        residual = gold - design @ [alpha, beta]
        assert fit.r2 == pytest.approx(1 - residual @ residual / np.sum((gold - gold.mean()) ** 2), rel=1e-10)
        # no coefficients fit better
        for delta in itertools.product((-1e-3, 1e-3), repeat=2):
            worse = gold - design @ [alpha + delta[0], beta + delta[1]]
            assert worse @ worse > residual @ residual


@pytest.mark.parametrize("form,alpha,beta", [("best_of_n", 1.3, 0.4), ("best_of_n", 0.3, 2.0), ("rl", 0.8, 0.35),
                                             ("rl", -0.5, 0.7), ("rl", 2.0, 1.5)])
def test_peak_is_the_argmax_of_the_fitted_form(form, alpha, beta):
    fit = GoldFit(form, alpha, beta, r2=1.0, n_points=2)
    d_star, value = fit.peak()
    grid = np.linspace(0.0, 3 * d_star + 1.0, 2_000_001)
    gold = fit.predict(grid)
    assert d_star == pytest.approx(grid[np.argmax(gold)], abs=1e-5)
    assert value == pytest.approx(gold.max(), rel=1e-9)
    assert value == pytest.approx(float(fit.predict(d_star)), rel=1e-12)
    if form == "best_of_n":
        assert (d_star, value) == pytest.approx((alpha / (2 * beta), alpha**2 / (4 * beta)))
    else:
        assert (d_star, value) == pytest.approx((np.exp(alpha / beta - 1), beta * np.exp(alpha / beta - 1)))


def test_peak_without_a_turn():
    for form in ("best_of_n", "rl"):
        assert GoldFit(form, 1.0, 0.0, 1.0, 10).peak() is None
        assert GoldFit(form, 1.0, -0.2, 1.0, 10).peak() is None
    assert GoldFit("best_of_n", -0.5, 0.3, 1.0, 10).peak() == (0.0, 0.0)  # only falls from d = 0


def test_fit_refuses_bad_input():
    d = np.linspace(0.0, 2.0, 5)
    gold = gold_best_of_n(d, 1.0, 0.3)
    with pytest.raises(ValueError, match="same length"):
        fit_gold_curve(d, gold[:-1], "best_of_n")
    with pytest.raises(ValueError, match="unknown gold-curve form 'ppo'"):
        fit_gold_curve(d, gold, "ppo")
    with pytest.raises(ValueError, match="at least 2 points, got 1"):
        fit_gold_curve([1.0], [0.5], "rl")
    with pytest.raises(ValueError, match="at least 2 points, got 0"):
        fit_gold_curve([], [], "rl")
    with pytest.raises(ValueError, match="must be >= 0"):
        fit_gold_curve([-0.1, 1.0, 2.0], [0.0, 0.5, 0.6], "best_of_n")
    with pytest.raises(ValueError, match="2 distinct d > 0"):
        fit_gold_curve([0.0, 1.0, 1.0], [0.0, 0.5, 0.5], "rl")
    with pytest.raises(ValueError, match="1-D"):
        fit_gold_curve(d[None], gold[None], "rl")
    with pytest.raises(ValueError, match="gold must be finite"):
        fit_gold_curve([1.0, 2.0], [0.5, np.nan], "rl")


def test_fit_of_a_flat_curve():
    assert fit_gold_curve([0.0, 1.0, 2.0], [0.0, 0.0, 0.0], "rl").r2 == 1.0
    assert np.isnan(fit_gold_curve([0.0, 1.0, 2.0], [1.0, 1.0, 1.0], "best_of_n").r2)


# --------------------------------------------------------------------------- Parrot's non-dominated selection


def brute_force_non_dominated(scores: np.ndarray) -> np.ndarray:
    G = scores.shape[0]
    keep = np.ones(G, bool)
    for i in range(G):
        for j in range(G):
            if all(scores[j] >= scores[i]) and any(scores[j] > scores[i]):
                keep[i] = False
    return keep


@pytest.mark.parametrize("G,K", list(itertools.product((1, 5, 16), (1, 2, 3))))
def test_non_dominated_matches_a_double_loop(G, K):
    rng = np.random.default_rng(G * 10 + K)
    batch = rng.integers(0, 4, size=(8, G, K))  # ties are common
    expected = np.stack([brute_force_non_dominated(s) for s in batch])
    for s, want in zip(batch, expected):
        np.testing.assert_array_equal(non_dominated(jnp.asarray(s, jnp.float32)), want)
    np.testing.assert_array_equal(jax.vmap(non_dominated)(jnp.asarray(batch)), expected)
    np.testing.assert_array_equal(jax.jit(non_dominated)(jnp.asarray(batch, jnp.float32)), expected)  # [..., G, K]
    np.testing.assert_array_equal(jax.jit(jax.vmap(non_dominated))(jnp.asarray(batch)), expected)
    assert expected.any(axis=-1).all()  # every group keeps someone
    if K == 1:
        np.testing.assert_array_equal(expected, batch[..., 0] == batch[..., 0].max(axis=-1, keepdims=True))


def test_non_dominated_hand_cases():
    scores = jnp.array([[1.0, 2.0], [2.0, 1.0], [1.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    # [1, 1] is dominated by [1, 2] (and by [2, 1]); the equal [2, 1] pair keeps both
    np.testing.assert_array_equal(non_dominated(scores), [True, True, False, True, True])
    assert non_dominated(scores).dtype == jnp.bool_
    with pytest.raises(ValueError, match=r"\[\.\.\., G, K\]"):
        non_dominated(jnp.zeros(4))
