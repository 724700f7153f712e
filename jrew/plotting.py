"""Learning-curve plots of a run directory (matplotlib, no display needed)."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jrew import stats  # noqa: E402
from jrew.runner import load_metrics  # noqa: E402


def plot_run(run_dir: str | Path, metric: str = "true_return", out: str | Path | None = None) -> Path:
    """Plots ``metric`` vs env steps per seed: mean across seeds with a 95% bootstrap CI band.

    Writes ``run_dir/<metric>.png`` unless ``out`` is given; returns the path.
    """
    run_dir = Path(run_dir)
    metrics = load_metrics(run_dir)
    if metric not in metrics:
        raise ValueError(f"unknown metric {metric!r}; {run_dir} has {sorted(k for k in metrics if k != 'env_steps')}")
    values, steps = metrics[metric], metrics["env_steps"]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no episode finished yet: NaN columns
        mean = np.nanmean(values, axis=0)
    low, high = stats.bootstrap_mean_ci(values)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(steps, mean, label=f"mean over {values.shape[0]} seeds")
    ax.fill_between(steps, low, high, alpha=0.25, label="95% bootstrap CI of the mean")
    ax.set_xlabel("env steps per seed")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(run_dir.name)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = Path(out) if out is not None else run_dir / f"{metric}.png"
    fig.savefig(path)
    plt.close(fig)
    return path
