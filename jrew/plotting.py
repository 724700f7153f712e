"""Learning-curve plots of a run directory (matplotlib, no display needed; no training code)."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from jrew import stats
from jrew.run_dir import INDEX_COLUMNS, has_run, load_metrics, read_config


def plot_run(run_dir: str | Path, metric: str = "true_return", out: str | Path | None = None) -> Path:
    """Plots ``metric`` vs env steps per seed: for each reward variant the mean across seeds with a
    95% bootstrap CI band (rliable). Writes ``run_dir/<metric>.png`` unless ``out`` is given; returns the path.
    """
    run_dir = Path(run_dir)
    metrics = load_metrics(run_dir)
    if metric not in metrics or metric in INDEX_COLUMNS:
        names = sorted(k for k in metrics if k not in INDEX_COLUMNS)
        raise ValueError(f"unknown metric {metric!r}; {run_dir} has {names}")
    steps, variant_of_run = metrics["env_steps"], metrics["variant"]
    labels = _variant_labels(run_dir)
    curves = {}
    for variant in np.unique(variant_of_run):
        values = metrics[metric][variant_of_run == variant]
        label = labels[variant] if len(labels) > 1 else f"mean over {values.shape[0]} seeds"
        curves[label] = (steps, values)
    path = Path(out) if out is not None else run_dir / f"{metric.replace('/', '_')}.png"
    return plot_curves(curves, metric.replace("_", " "), run_dir.name, path)


def plot_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], ylabel: str, title: str, path: str | Path) -> Path:
    """One line per label: ``(env_steps [U], values [num_seeds, U])`` as the mean across seeds with a
    95% bootstrap CI band (rliable). Writes ``path`` and returns it."""
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=120)
    for label, (steps, values) in curves.items():
        logged = np.isfinite(values).any(axis=0)  # evaluation metrics exist at evaluation updates only
        steps, values = steps[logged], values[:, logged]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no episode finished yet: NaN columns
            mean = np.nanmean(values, axis=0)
        low, high = stats.curve_interval(values)
        (line,) = ax.plot(steps, mean, label=label)
        ax.fill_between(steps, low, high, alpha=0.2, color=line.get_color())
    ax.set_xlabel("env steps per seed")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}  (bands: 95% bootstrap CI of the mean)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def _variant_labels(run_dir: Path) -> list[str]:
    if not has_run(run_dir):
        return []
    record = read_config(run_dir)
    return [label if len(label) <= 60 else label[:57] + "..." for label in record.variant_labels or record.rewards]
