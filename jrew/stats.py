"""Aggregates across seeds (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice")."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as scipy_stats


def iqm(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of runs (25% trimmed from each end)."""
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


def bootstrap_mean_ci(
    values: np.ndarray, confidence: float = 0.95, num_resamples: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap CI of the mean over seeds (axis 0), for every column at once.

    ``values``: ``[num_seeds, ...]``; NaN entries are ignored. Returns ``(low, high)`` of shape
    ``values.shape[1:]``. Resampled means lie within the data's range, unlike mean +- k std.
    """
    values = np.asarray(values, np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.shape[0], size=(num_resamples, values.shape[0]))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (no episode finished yet)
        means = np.nanmean(values[idx], axis=1)
        alpha = (1.0 - confidence) / 2.0
        return np.nanquantile(means, alpha, axis=0), np.nanquantile(means, 1.0 - alpha, axis=0)
