"""A run directory and its file formats. Reading one needs numpy and pyarrow: no JAX, no training code.

Layout::

    run_dir/config.json       algo, config(s), seeds, reward pipelines, evaluation, chunk size (what ``resume`` needs)
    run_dir/metrics/          one Parquet file per chunk, one row per (update, run): update, env_steps,
                              variant, seed, then one float32 column per metric
    run_dir/summary.parquet   one row per run: its last update and each metric's last finite value
    run_dir/checkpoints/      Orbax checkpoints of the whole training state (``jrew.checkpoints``)

A run is one (reward variant, seed) pair; runs are ordered variant-major. Runs written before the
Parquet format have ``metrics.csv`` (the same rows as text) instead of ``metrics/``; they are read
the same way, and a resumed one goes on writing its CSV.

Parquet because thousands of runs make the CSV large and slow (float text, one row per run and
update): columns compress, and a reader takes the columns it needs.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CONFIG_FILE = "config.json"
METRICS_DIR = "metrics"
METRICS_FILE = "metrics.csv"  # runs from before the Parquet format
SUMMARY_FILE = "summary.parquet"
CHECKPOINT_DIR = "checkpoints"
INDEX_COLUMNS = ("update", "env_steps", "variant", "seed")


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What config.json holds: the plan (``jrew.plan.Plan.to_json``), the chunk size and the evaluation."""

    algo: str  # the learner's registered name
    config: dict[str, Any]  # the learner config, as jrew.config.to_dict writes it
    seeds: list[int]  # the seeds of each reward variant
    rewards: list[str]  # jrew.rewards.protocol.describe of each reward variant
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


def read_plan(run_dir: str | Path, config_cls: type, reward=None, pipelines: bool = True):
    """The ``jrew.plan.Plan`` config.json holds; pipelines from its spec text or from ``reward``
    (the same Python-built pipelines again), or none with ``pipelines=False`` (the layout only)."""
    from jrew.plan import Plan

    return Plan.from_json(dataclasses.asdict(read_config(run_dir)), config_cls, reward, where=str(run_dir),
                          pipelines=pipelines)


def has_run(run_dir: Path) -> bool:
    return (run_dir / CONFIG_FILE).exists()


def append_metrics(
    run_dir: Path, metrics: dict[str, np.ndarray], first_update: int, steps_per_update: int,
    variants: np.ndarray, seeds: list[int],
) -> None:
    """Writes updates ``first_update + 1 ...`` of ``metrics`` (each ``[runs, updates]``): one
    Parquet file (or, for a run begun in the CSV format, rows of metrics.csv)."""
    num_runs, num = next(iter(metrics.values())).shape
    updates = np.repeat(np.arange(first_update + 1, first_update + num + 1), num_runs)
    columns = {
        "update": updates.astype(np.int32),
        "env_steps": updates.astype(np.int64) * steps_per_update,
        "variant": np.tile(np.asarray(variants, np.int32), num),
        "seed": np.tile(np.asarray(seeds, np.int32), num),
        **{name: np.asarray(metrics[name], np.float32).T.reshape(-1) for name in sorted(metrics)},  # update-major
    }
    if (run_dir / METRICS_FILE).exists():
        _append_csv(run_dir / METRICS_FILE, columns)
    else:
        _write_parquet(_chunk_path(run_dir, first_update + 1, first_update + num), pa.table(columns))


def metrics_until(run_dir: Path, last_update: int, num_runs: int) -> dict[str, np.ndarray]:
    """The metrics of updates up to ``last_update`` as ``[runs, updates]`` arrays (empty if none)."""
    columns = _read_columns(run_dir, last_update)
    return _metric_arrays(columns, num_runs) if columns and len(columns["update"]) else {}


def trim_metrics(run_dir: Path, last_update: int) -> None:
    """Drops rows written after ``last_update`` (the checkpoint a run resumes from)."""
    if (run_dir / METRICS_FILE).exists():
        header, rows = _read_rows(run_dir / METRICS_FILE)
        with (run_dir / METRICS_FILE).open("w", newline="") as f:
            csv.writer(f).writerows([header, *(r for r in rows if int(r[0]) <= last_update)])
        return
    for path in _chunk_files(run_dir):
        first, last = _chunk_updates(path)
        if last <= last_update:
            continue
        if first <= last_update:  # a chunk written past the checkpoint: keep its first rows
            table = pq.read_table(path)
            _write_parquet(_chunk_path(run_dir, first, last_update),
                           table.filter(pc.less_equal(table["update"], last_update)))
        path.unlink()


def load_metrics(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Reads a run's metrics (Parquet, or metrics.csv of older runs): each metric as
    ``[num_runs, num_updates]`` (runs = variant x seed, variant-major), plus ``env_steps
    [num_updates]``, ``variant [num_runs]`` and ``seed [num_runs]``."""
    run_dir = Path(run_dir)
    columns = _read_columns(run_dir)
    if not columns:
        raise FileNotFoundError(f"no metrics in {run_dir} (neither {METRICS_DIR}/ nor {METRICS_FILE})")
    num_runs = int(np.sum(columns["update"] == columns["update"][0]))
    out = _metric_arrays(columns, num_runs)
    out["env_steps"] = np.asarray(columns["env_steps"][::num_runs], np.float64)
    out["variant"] = np.asarray(columns["variant"][:num_runs]).astype(int)
    out["seed"] = np.asarray(columns["seed"][:num_runs]).astype(int)
    return out


def _read_columns(run_dir: Path, last_update: int | None = None) -> dict[str, np.ndarray]:
    """The metric rows of either format as columns (updates up to ``last_update``); {} without metrics."""
    if (run_dir / METRICS_FILE).exists():
        header, rows = _read_rows(run_dir / METRICS_FILE)
        if last_update is not None:
            rows = [r for r in rows if int(r[0]) <= last_update]
        table = np.asarray([[float(x) for x in r] for r in rows]).reshape(len(rows), len(header))
        return {name: table[:, i] for i, name in enumerate(header)}
    files = [f for f in _chunk_files(run_dir) if last_update is None or _chunk_updates(f)[0] <= last_update]
    if not files:
        return {}
    table = pa.concat_tables([pq.read_table(path) for path in files])
    if last_update is not None:
        table = table.filter(pc.less_equal(table["update"], last_update))
    return {name: table[name].to_numpy() for name in table.column_names}


def write_summary(run_dir: Path, summary: dict[str, np.ndarray]) -> None:
    """``summary.parquet``: one row per run (``jrew.run_dir.summarize``'s columns)."""
    _write_parquet(run_dir / SUMMARY_FILE, pa.table(summary))


def load_summary(run_dir: str | Path) -> dict[str, np.ndarray]:
    """One entry per run: variant, seed, update, env_steps and each metric's last finite value."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.exists():
        raise FileNotFoundError(f"no {SUMMARY_FILE} in {run_dir}")
    table = pq.read_table(path)
    return {name: table[name].to_numpy() for name in table.column_names}


def summarize(metrics: dict[str, np.ndarray], update: int, steps_per_update: int, variants: np.ndarray,
              seeds: list[int], previous: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Per run: ``update``, ``env_steps`` and each metric's last finite value in ``metrics``
    (``[runs, updates]``), falling back to ``previous`` (the summary before these updates) or NaN."""
    out = {"variant": np.asarray(variants, np.int32), "seed": np.asarray(seeds, np.int32),
           "update": np.full(len(seeds), update, np.int32),
           "env_steps": np.full(len(seeds), update * steps_per_update, np.int64)}
    for name in sorted(metrics):
        values = np.asarray(metrics[name], np.float32)
        finite = np.isfinite(values)
        last = np.where(finite.any(axis=1), values[np.arange(len(values)), values.shape[1] - 1 - np.argmax(
            finite[:, ::-1], axis=1)], np.nan)
        if previous is not None and name in previous:
            last = np.where(np.isfinite(last), last, previous[name])
        out[name] = last.astype(np.float32)
    return out


def _chunk_path(run_dir: Path, first: int, last: int) -> Path:
    return run_dir / METRICS_DIR / f"updates-{first:09d}-{last:09d}.parquet"


def _chunk_updates(path: Path) -> tuple[int, int]:
    """The first and last update a chunk file holds (from its name)."""
    first, last = path.stem.split("-")[1:]
    return int(first), int(last)


def _chunk_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / METRICS_DIR).glob("updates-*.parquet"))


def _write_parquet(path: Path, table: pa.Table) -> None:
    """Written whole or not at all: a crash mid-write leaves no partial file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    pq.write_table(table, partial, compression="zstd")
    partial.replace(path)


def _append_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        for i in range(len(columns["update"])):
            writer.writerow([*(int(columns[k][i]) for k in INDEX_COLUMNS),
                             *(f"{columns[k][i]:.9g}" for k in names[len(INDEX_COLUMNS):])])  # 9 digits: float32


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _metric_arrays(columns: dict[str, np.ndarray], num_runs: int) -> dict[str, np.ndarray]:
    """Metric columns (rows update-major, run-minor) as float32 ``[num_runs, num_updates]``."""
    return {
        name: np.asarray(values, np.float32).reshape(-1, num_runs).T
        for name, values in columns.items()
        if name not in INDEX_COLUMNS
    }
