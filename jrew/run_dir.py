"""A run directory and its file formats. Reading one needs numpy only: no JAX, no training code.

Layout::

    run_dir/config.json    algo, config(s), seeds, reward pipelines, evaluation, chunk size (what ``resume`` needs)
    run_dir/metrics.csv    one row per (update, run): update, env_steps, variant, seed, then metrics
    run_dir/checkpoints/   Orbax checkpoints of the whole training state (``jrew.checkpoints``)

A run is one (reward variant, seed) pair; runs are ordered variant-major.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_DIR = "checkpoints"
INDEX_COLUMNS = ("update", "env_steps", "variant", "seed")


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What config.json holds."""

    algo: str  # the learner's registered name
    config: dict[str, Any]  # the learner config, as jrew.config.to_dict writes it
    seeds: list[int]  # the seeds of each reward variant
    rewards: list[str]  # jrew.rewards.describe of each reward variant
    chunk_updates: int  # updates per compiled chunk (= metrics and checkpoint interval)
    config_variants: list[dict[str, Any]] | None = None  # per variant, when hyperparameters vary
    reward_spec: str | None = None  # the pipeline as text (jrew.rewards.spec): resume rebuilds it
    variant_labels: list[str] | None = None  # what each variant is, e.g. "pbrs.coef=0.5,learning_rate=0.001"
    evaluation: dict[str, Any] | None = None  # jrew.evaluation.Evaluation's fields


def write_config(run_dir: Path, record: RunRecord) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(json.dumps(dataclasses.asdict(record), indent=2) + "\n")


def read_config(run_dir: str | Path) -> RunRecord:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"no run in {run_dir}: {CONFIG_FILE} is missing")
    saved = json.loads(path.read_text())
    optional = {f.name: saved[f.name] for f in dataclasses.fields(RunRecord) if f.name in saved}
    return RunRecord(**{"rewards": [], **optional})


def has_run(run_dir: Path) -> bool:
    return (run_dir / CONFIG_FILE).exists()


def append_metrics(
    run_dir: Path, metrics: dict[str, np.ndarray], first_update: int, steps_per_update: int,
    variants: np.ndarray, seeds: list[int],
) -> None:
    """Appends updates ``first_update + 1 ...`` of ``metrics`` (each ``[runs, updates]``)."""
    path = run_dir / METRICS_FILE
    names = sorted(metrics)
    new_file = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new_file:
            writer.writerow([*INDEX_COLUMNS, *names])
        num = next(iter(metrics.values())).shape[1]
        for j in range(num):
            update = first_update + j + 1
            for i, (variant, seed) in enumerate(zip(variants, seeds)):
                values = (f"{metrics[k][i, j]:.9g}" for k in names)  # 9 digits round-trip float32
                writer.writerow([update, update * steps_per_update, variant, seed, *values])


def truncate_metrics(run_dir: Path, last_update: int, num_runs: int) -> dict[str, np.ndarray]:
    """Drops rows written after ``last_update`` (the checkpoint a run resumes from); returns the
    kept metrics as ``[runs, updates]`` arrays."""
    path = run_dir / METRICS_FILE
    if not path.exists():
        return {}
    header, rows = _read_rows(path)
    rows = [r for r in rows if int(r[0]) <= last_update]
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return _metric_arrays(header, _as_table(rows), num_runs) if rows else {}


def load_metrics(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Reads ``metrics.csv``: each metric as ``[num_runs, num_updates]`` (runs = variant x seed,
    variant-major), plus ``env_steps [num_updates]``, ``variant [num_runs]`` and ``seed [num_runs]``."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no {METRICS_FILE} in {run_dir}")
    header, rows = _read_rows(path)
    table = _as_table(rows)
    num_runs = len({(v, s) for v, s in table[:, 2:4]})
    out = _metric_arrays(header, table, num_runs)
    out["env_steps"] = table[::num_runs, 1]
    out["variant"] = table[:num_runs, 2].astype(int)
    out["seed"] = table[:num_runs, 3].astype(int)
    return out


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _as_table(rows: list[list[str]]) -> np.ndarray:
    return np.asarray([[float(x) for x in r] for r in rows])


def _metric_arrays(header: list[str], table: np.ndarray, num_runs: int) -> dict[str, np.ndarray]:
    """Metric columns of a metrics.csv table as float32 ``[num_runs, num_updates]``."""
    return {
        name: table[:, col].reshape(-1, num_runs).T.astype(np.float32)
        for col, name in enumerate(header)
        if col >= len(INDEX_COLUMNS)
    }
