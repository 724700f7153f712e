"""Aggregates across runs, through rliable (Agarwal et al. 2021, "Deep RL at the Edge of the
Statistical Precipice", NeurIPS; github.com/google-research/rliable).

Scores are ``[num_runs, num_tasks]`` per variant (normalized when tasks differ in scale). The
intervals are rliable's stratified percentile bootstrap (runs resampled within each task):

* ``interval_estimates``: IQM, median, mean and optimality gap with 95% CIs;
* ``probability_of_improvement``: P(X > Y) of each variant over a baseline, averaged over tasks
  (a variant against itself: 0.5);
* ``performance_profiles``: the share of runs scoring above each threshold tau, with CIs;
* ``curve_interval``: the CI of the mean of a learning curve at every step (plots' bands).

Plus the sample-efficiency summaries ``normalized_auc`` and ``steps_to_threshold``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

import numpy as np
from rliable import library as rly
from rliable import metrics as rly_metrics


@contextlib.contextmanager
def _seeded(seed: int):
    """rliable's stratified bootstraps draw from NumPy's global RNG (their ``random_state`` only
    reaches arch), so a reproducible CI seeds it, and puts the caller's state back afterwards.
    rliable 1.2 hands arch a RandomState, which arch 7 accepts with a FutureWarning each call."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
            yield np.random.RandomState(seed)
    finally:
        np.random.set_state(saved)


def _interval_estimates(scores, func, *, reps: int, confidence: float, seed: int):
    with _seeded(seed) as random_state:
        return rly.get_interval_estimates(scores, func, reps=reps, confidence_interval_size=confidence,
                                          random_state=random_state)


AGGREGATES = ("iqm", "median", "mean", "optimality_gap")


def iqm(values: np.ndarray, axis: int | None = 0) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of runs (25% trimmed from each end)."""
    from scipy import stats as scipy_stats  # rliable's aggregate_iqm, along one axis

    return scipy_stats.trim_mean(np.asarray(values), 0.25, axis=axis)


def summarize(values: np.ndarray) -> dict[str, float]:
    """Mean, IQM, std, min and max of per-seed values ``[num_seeds]`` (NaN seeds dropped)."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"mean": float("nan"), "iqm": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan")}
    return {
        "mean": float(values.mean()),
        "iqm": float(iqm(values)),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def _aggregates(optimality_threshold: float) -> Callable[[np.ndarray], np.ndarray]:
    def aggregate(scores: np.ndarray) -> np.ndarray:
        return np.array([
            rly_metrics.aggregate_iqm(scores),
            rly_metrics.aggregate_median(scores),
            rly_metrics.aggregate_mean(scores),
            rly_metrics.aggregate_optimality_gap(scores, optimality_threshold),
        ])

    return aggregate


def _check_scores(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name, s in scores.items():
        s = np.asarray(s, np.float64)
        if s.ndim == 1:
            s = s[:, None]
        if s.ndim != 2 or s.shape[0] < 1:
            raise ValueError(f"scores of {name!r} must be [num_runs, num_tasks], got shape {s.shape}")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"scores of {name!r} hold NaN or inf (a run without a finished episode?): {s.tolist()}")
        out[name] = s
    return out


def interval_estimates(scores: dict[str, np.ndarray], *, optimality_threshold: float = 1.0, reps: int = 2000,
                       confidence: float = 0.95, seed: int = 0) -> dict[str, dict[str, tuple[float, float, float]]]:
    """``{variant: {aggregate: (point, low, high)}}`` for IQM, median, mean and optimality gap
    (the shortfall of the mean below ``optimality_threshold``, in normalized score)."""
    scores = _check_scores(scores)
    points, intervals = _interval_estimates(scores, _aggregates(optimality_threshold), reps=reps,
                                           confidence=confidence, seed=seed)
    return {
        name: {agg: (float(points[name][i]), float(intervals[name][0, i]), float(intervals[name][1, i]))
               for i, agg in enumerate(AGGREGATES)}
        for name in scores
    }


def probability_of_improvement(scores: dict[str, np.ndarray], baseline: str, *, reps: int = 2000,
                               confidence: float = 0.95, seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """``{variant: (P(variant > baseline), low, high)}``: the Mann-Whitney probability that a run of
    the variant beats a run of the baseline, averaged over tasks (ties count one half)."""
    scores = _check_scores(scores)
    if baseline not in scores:
        raise ValueError(f"baseline {baseline!r} is not among the variants {sorted(scores)}")
    pairs = {name: (s, scores[baseline]) for name, s in scores.items()}
    points, intervals = _interval_estimates(pairs, rly_metrics.probability_of_improvement, reps=reps,
                                           confidence=confidence, seed=seed)
    return {name: (float(points[name]), *map(float, np.ravel(intervals[name]))) for name in scores}


def performance_profiles(scores: dict[str, np.ndarray], taus: np.ndarray, *, reps: int = 2000, seed: int = 0
                         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Score distributions: ``(profiles {variant: [len(taus)]}, cis {variant: [2, len(taus)]})``,
    the share of runs (pooled over tasks) whose score exceeds each tau."""
    scores = _check_scores(scores)
    with _seeded(seed):
        return rly.create_performance_profile(scores, np.asarray(taus, np.float64), reps=reps)


def curve_interval(values: np.ndarray, *, reps: int = 500, confidence: float = 0.95, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap CI of the mean over runs of a curve ``[num_runs, num_points]``, per point.

    Points where every run has a value are resampled together (one rliable call); a point where
    some runs have none (NaN: no episode finished yet) is resampled over the runs that have one;
    a point with one value gets that value, with none NaN. Returns ``(low, high)``.
    """
    values = np.asarray(values, np.float64)
    low, high = np.full(values.shape[1:], np.nan), np.full(values.shape[1:], np.nan)
    counts = np.isfinite(values).sum(axis=0)
    full = counts == values.shape[0]
    if values.shape[0] > 1 and full.any():
        _, intervals = _interval_estimates({"curve": values[:, None, full]}, lambda x: x[:, 0, :].mean(axis=0),
                                           reps=reps, confidence=confidence, seed=seed)
        low[full], high[full] = intervals["curve"]
    for j in np.nonzero(~full & (counts > 0))[0]:
        column = values[np.isfinite(values[:, j]), j]
        if len(column) == 1:
            low[j] = high[j] = column[0]
            continue
        _, intervals = _interval_estimates({"point": column[:, None]}, np.mean, reps=reps, confidence=confidence,
                                           seed=seed)
        low[j], high[j] = np.ravel(intervals["point"])
    if values.shape[0] == 1:
        low[full] = high[full] = values[0, full]
    return low, high


def normalized_auc(steps: np.ndarray, values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Area under each run's curve ``values [num_runs, num_points]`` over ``steps``, as a share of
    the area of a curve at ``high`` from the first step on: 1 = optimal from the start, 0 = at
    ``low`` throughout (points without a value count as ``low``; the trapezoid rule)."""
    steps, values = np.asarray(steps, np.float64), np.asarray(values, np.float64)
    scaled = np.clip((np.nan_to_num(values, nan=low) - low) / (high - low), 0.0, 1.0)
    span = steps[-1] - steps[0]
    if span <= 0:
        return scaled[:, -1]
    return np.trapezoid(scaled, steps, axis=1) / span


def steps_to_threshold(steps: np.ndarray, values: np.ndarray, threshold: float) -> np.ndarray:
    """Per run, the first env step at which ``values`` reaches ``threshold`` (NaN: never)."""
    reached = np.nan_to_num(np.asarray(values, np.float64), nan=-np.inf) >= threshold
    first = np.argmax(reached, axis=1)
    return np.where(reached.any(axis=1), np.asarray(steps, np.float64)[first], np.nan)
