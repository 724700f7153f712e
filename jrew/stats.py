"""Aggregates across seeds (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice")."""

from __future__ import annotations

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
