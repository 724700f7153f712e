"""A fair comparison of reward methods: the same config and seeds for each, one vmapped program
per method, scored on the task's true objective, summarized with 95% bootstrap CIs over seeds.

Shared by ``deep_exploration.py`` and ``noisy_tv.py``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

import jrew
from jrew import plotting, run_dir, stats
from jrew import rewards as R
from jrew.provenance import write_json


def train_methods(config, methods: dict[str, R.RewardTransform | list | None], seeds: int, run_root: Path | None,
                  progress: bool = True) -> dict[str, jrew.RunResult]:
    """``{method: RunResult}``: each method trains ``seeds`` seeds (x its reward variants, when it
    is a list) in one compiled program."""
    results = {}
    for name, reward in methods.items():
        variants = reward if isinstance(reward, list) else [reward]
        print(f"[{name}] {' | '.join(R.protocol.describe(r) if r is not None else 'env reward' for r in variants)}", flush=True)
        kwargs = {} if reward is None else {"reward": reward}
        run_dir = None if run_root is None else run_root / name
        results[name] = jrew.train(config, seeds=seeds, run_dir=run_dir, progress=progress, **kwargs)
    return results


INTRINSIC_RETURNS = {"follow": None, "episodic": True, "running": False}


def add_intrinsic_return_flag(parser) -> None:
    parser.add_argument(
        "--intrinsic-return", choices=list(INTRINSIC_RETURNS), default="follow",
        help="the intrinsic critic's return: follow each bonus (cut at episode ends for episodic bonuses such as "
             "E3B, run on for global ones such as RND; the default), episodic (always cut) or running (never cut)")


def intrinsic_return_suffix(choice: str) -> str:
    """The result files' suffix for a non-default ``--intrinsic-return``."""
    return "" if choice == "follow" else f"_{choice}_intrinsic"


def label_intrinsic_returns(rows: list[dict], config, methods: dict) -> None:
    """Adds to each method's row the intrinsic return its critic trained on: episodic, running,
    or none (no intrinsic stream)."""
    from jrew.algos import ppo

    for row in rows:
        reward = methods[row["method"]]
        has_stream = reward is not None and R.protocol.INTRINSIC in R.protocol.streams_of(reward)
        episodic = has_stream and ppo.intrinsic_is_episodic(config, reward)
        row["intrinsic_return"] = ("episodic" if episodic else "running") if has_stream else "none"


def expert_run(config, expert_dir: Path, reward: R.RewardTransform | None = None) -> Path:
    """``expert_dir``, where one seed of ``config`` (on ``reward``) has been trained: by an earlier
    call, or now. Experiments that need an expert (demonstrations, feedback) share it this way."""
    if not run_dir.has_run(expert_dir):
        print(f"[expert] training {config.env} ({R.protocol.describe(reward) if reward else 'env reward'}) into {expert_dir}",
              flush=True)
        jrew.train(config, seeds=1, run_dir=expert_dir, **({} if reward is None else {"reward": reward}))
    return expert_dir


def reward_metric(result: jrew.RunResult, name: str) -> np.ndarray:
    """The reward pipeline's metric ``name`` (``reward/<name>``, or ``reward/<i>_<transform>/<name>``
    inside a chain): ``[runs, updates]``."""
    found = [k for k in result.metrics if k.startswith("reward/") and k.split("/")[-1] == name]
    if len(found) != 1:
        raise KeyError(f"expected one reward metric named {name!r}, found {found}")
    return result.metrics[found[0]]


def mean_ci(per_seed: np.ndarray) -> dict[str, float]:
    """Mean over seeds with its 95% percentile-bootstrap CI."""
    per_seed = np.asarray(per_seed, np.float64)
    low, high = stats.curve_interval(per_seed[:, None])
    return {"mean": float(np.nanmean(per_seed)), "ci_low": float(low[0]), "ci_high": float(high[0])}


def last_fraction(values: np.ndarray, fraction: float) -> np.ndarray:
    """Per seed, the mean of ``values`` ``[seeds, updates]`` over the last ``fraction`` of updates."""
    start = int(values.shape[1] * (1 - fraction))
    with np.errstate(all="ignore"):
        return np.nanmean(values[:, start:], axis=1)


def write(rows: list[dict], results: dict[str, jrew.RunResult], metric: str, title: str, out: Path, name: str,
          settings: dict | None = None) -> None:
    """``<name>.json`` (``{"meta", "rows"}``), ``<name>.csv`` (one row per method) and ``<name>.png``
    (``metric`` vs env steps). The meta holds the provenance (command, commit, time), each method's
    seeds and ``settings`` (the script's arguments: ``vars(args)``)."""
    write_rows(rows, out, name, {method: list(result.seeds) for method, result in results.items()}, settings)
    plot = plot_metric(results, metric, title, out / f"{name}.png")
    print(f"wrote {out / f'{name}.json'}, {out / f'{name}.csv'}, {plot}")


def write_rows(rows: list[dict], out: Path, name: str, seeds: dict[str, list], settings: dict | None = None) -> None:
    """``write``'s ``<name>.json`` and ``<name>.csv`` without its plot, for results that are not
    learning curves: ``seeds`` per method, ``settings`` the script's arguments. A row's dict
    values (``mean_ci``'s) become ``<key>_mean``, ``<key>_ci_low``, ... columns in the CSV."""
    write_json(out / f"{name}.json", rows, seeds=seeds, settings=settings or {}, allow_nan=True)
    flat = [{k: v for k, v in row.items() if not isinstance(v, (dict, list))} |
            {f"{k}_{s}": x for k, v in row.items() if isinstance(v, dict) for s, x in v.items()} for row in rows]
    with (out / f"{name}.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for row in flat for k in row)))
        writer.writeheader()
        writer.writerows(flat)


def plot_metric(results: dict[str, jrew.RunResult], metric: str, title: str, path: Path) -> Path:
    """``metric`` vs env steps, one line (mean, 95% CI band) per method."""
    curves = {}
    for method, result in results.items():
        per_variant = result.by_variant(metric)
        for v, values in enumerate(per_variant):
            curves[method if len(per_variant) == 1 else f"{method} (variant {v})"] = (result.env_steps, values)
    return plotting.plot_curves(curves, metric.replace("_", " "), title, path)
