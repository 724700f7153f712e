"""The outer loop: compiled chunks of K updates over a seed axis, with checkpoints and logs.

One chunk is ``jit(vmap(scan(update)))`` over seeds: a single XLA program. Between chunks the
host writes metrics, draws progress, checks for NaN and saves an Orbax checkpoint of the whole
training state (params, optimizer, env, normalizer, RNG keys, step counter), so an interrupted
run loses at most one chunk and resumes bit-identically.

Run directory layout::

    run_dir/config.json    algorithm, config, seeds, chunk size (what ``resume`` needs)
    run_dir/metrics.csv    one row per (update, seed)
    run_dir/checkpoints/   Orbax CheckpointManager, one step per checkpointed update count
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import envs
from jrew import config as config_lib
from jrew import rewards
from jrew.algos import ALGORITHMS

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_DIR = "checkpoints"


class TrainingDivergedError(RuntimeError):
    """Raised when a loss becomes NaN or infinite; the last checkpoint is left intact."""


@dataclasses.dataclass
class RunResult:
    """What a finished (or paused) run returns.

    A run is one (reward variant, seed) pair; metric arrays are ``[num_runs, num_updates]`` with
    runs ordered variant-major: ``seeds[i]`` and ``variants[i]`` say what run i is.
    """

    state: Any
    metrics: dict[str, np.ndarray]
    env_steps: np.ndarray
    seeds: list[int]
    run_dir: Path | None
    compile_seconds: float
    train_seconds: float
    chunk_seconds: list[float] = dataclasses.field(default_factory=list)  # wall time of each full chunk
    variants: np.ndarray | None = None

    def final(self, name: str = "true_return") -> np.ndarray:
        """Per-run value of ``name`` at the last update."""
        return self.metrics[name][:, -1]

    def by_variant(self, name: str = "true_return") -> np.ndarray:
        """``name`` as ``[num_variants, num_seeds, num_updates]``."""
        num_variants = int(self.variants.max()) + 1 if self.variants is not None else 1
        return self.metrics[name].reshape(num_variants, -1, self.metrics[name].shape[-1])

    @property
    def steps_per_second(self) -> float:
        """Env steps per second over all runs, compile time excluded."""
        steps = (self.env_steps[-1] if len(self.env_steps) else 0) * len(self.seeds)
        return steps / max(self.train_seconds, 1e-9)


def seed_keys(seeds: Sequence[int]) -> jax.Array:
    """One key per seed, ``PRNGKey(seed)``: seed i gives the same run alone or in a batch."""
    return jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])


def _as_seed_list(seeds: int | Sequence[int]) -> list[int]:
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ValueError(f"seeds must be a positive count or a non-empty list, got {seeds!r}")
    if len(set(seed_list)) != len(seed_list):
        raise ValueError(f"seeds must be distinct, got {seed_list}")
    return seed_list


def _default_chunk(num_updates: int) -> int:
    """About 20 progress/checkpoint points per run, never more than 100 updates per chunk."""
    return max(1, min(100, -(-num_updates // 20)))


def _as_variants(reward) -> list[rewards.RewardTransform]:
    if reward is None:
        return [rewards.identity()]
    variants = [reward] if isinstance(reward, rewards.RewardTransform) else list(reward)
    if not variants:
        raise ValueError("reward must be a RewardTransform or a non-empty list of them")
    rewards.stack_params(variants)  # raises if the variants differ in more than numbers
    return variants


class _Loop:
    """Holds the compiled chunk and the run directory for one run (fresh or resumed)."""

    def __init__(self, algo, config, seeds: list[int], chunk_updates: int, run_dir: Path | None, reward=None):
        if algo not in ALGORITHMS:
            raise ValueError(f"unknown algo {algo!r}; expected one of {sorted(ALGORITHMS)}")
        if chunk_updates < 1:
            raise ValueError(f"chunk_updates must be >= 1, got {chunk_updates}")
        self.algo, self.config, self.run_dir = algo, config, run_dir
        self.reward_variants = _as_variants(reward)
        self.trainer = ALGORITHMS[algo][1](config, self.reward_variants[0])
        self.chunk_updates = min(chunk_updates, self.trainer.num_updates)
        # runs = variants x seeds, variant-major; one vmapped axis, one compiled program
        num_variants = len(self.reward_variants)
        self.unique_seeds = seeds
        self.seeds = seeds * num_variants
        self.variants = np.repeat(np.arange(num_variants), len(seeds))
        self.keys = seed_keys(self.seeds)
        self.reward_params = jax.tree.map(
            lambda x: jnp.repeat(x, len(seeds), axis=0), rewards.stack_params(self.reward_variants)
        )
        self.init = jax.jit(jax.vmap(lambda key, rp: self.trainer.init(key, None, rp)))
        self.chunk = jax.jit(jax.vmap(self._run_chunk, in_axes=(0, None)))
        self.manager, self.last_saved = None, None
        if run_dir is not None:
            self.manager = ocp.CheckpointManager(
                (run_dir / CHECKPOINT_DIR).absolute(),
                options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True),
            )

    def _run_chunk(self, state, active):
        """``K`` updates; inactive slots (past the end) pass the state through unchanged."""
        skip_metrics = jax.tree.map(
            lambda s: jnp.full(s.shape, jnp.nan, s.dtype), jax.eval_shape(self.trainer.update, state)[1]
        )

        def step(s, is_active):
            return jax.lax.cond(is_active, self.trainer.update, lambda s: (s, skip_metrics), s)

        return jax.lax.scan(step, state, active)

    def run_labels(self) -> list[str]:
        """How errors name run i: its seed, and its reward variant when there are several."""
        if len(self.reward_variants) == 1:
            return [str(seed) for seed in self.seeds]
        return [f"variant {v} seed {seed}" for v, seed in zip(self.variants, self.seeds)]

    def initial_state(self):
        return self.init(self.keys, self.reward_params)

    def abstract_state(self):
        return jax.eval_shape(self.init, self.keys, self.reward_params)

    def restore(self, step: int):
        return self.manager.restore(step, args=ocp.args.StandardRestore(self.abstract_state()))

    def write_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "algo": self.algo,
            "config": config_lib.to_dict(self.config),
            "seeds": self.unique_seeds,
            "rewards": [rewards.describe(v) for v in self.reward_variants],
            "chunk_updates": self.chunk_updates,
        }
        (self.run_dir / CONFIG_FILE).write_text(json.dumps(payload, indent=2) + "\n")

    def run(self, state, start: int, stop: int, progress: bool, history: dict[str, list] | None = None) -> RunResult:
        """Runs updates ``start..stop`` chunk by chunk; returns the state and all metrics so far."""
        history = history if history is not None else {}
        K, steps_per_update = self.chunk_updates, self.trainer.steps_per_update
        t0 = time.perf_counter()
        compiled = self.chunk.lower(state, jnp.ones((K,), bool)).compile() if start < stop else None
        compile_seconds, train_seconds, chunk_seconds = time.perf_counter() - t0, 0.0, []
        update = start
        try:
            with _progress_bar(progress) as bar:
                task = bar.add_task(
                    f"{self.algo} x{len(self.seeds)}", total=self.trainer.num_updates,
                    completed=start, info=f"compiled in {compile_seconds:.1f}s",
                )
                while update < stop:
                    active = np.arange(update, update + K) < stop
                    t = time.perf_counter()
                    new_state, metrics = compiled(state, jnp.asarray(active))
                    metrics = jax.tree.map(lambda x: np.asarray(x)[:, active], metrics)  # [seeds, n]
                    train_seconds += time.perf_counter() - t
                    if active.all():
                        chunk_seconds.append(time.perf_counter() - t)
                    _check_finite(metrics, update, self.run_labels(), steps_per_update, self.run_dir, self.last_saved)
                    state, first, update = new_state, update, update + int(active.sum())
                    self._record(state, metrics, first, update, history)
                    sps = (update - start) * steps_per_update * len(self.seeds) / max(train_seconds, 1e-9)
                    with warnings.catch_warnings():  # no episode finished yet: NaN, not a warning
                        warnings.simplefilter("ignore", RuntimeWarning)
                        true_return = float(np.nanmean(metrics["true_return"][:, -1]))
                    bar.update(task, completed=update, info=(
                        f"{sps:,.0f} steps/s  true return {true_return:.1f}"
                    ))
        finally:
            if self.manager is not None:  # finish async writes, also when a NaN or Ctrl-C stops the run
                self.manager.wait_until_finished()
        merged = {k: np.concatenate(v, axis=1) for k, v in history.items()}
        num = next(iter(merged.values())).shape[1] if merged else 0
        env_steps = (np.arange(update - num, update) + 1) * steps_per_update
        return RunResult(
            state, merged, env_steps, self.seeds, self.run_dir, compile_seconds, train_seconds, chunk_seconds,
            self.variants,
        )

    def _record(self, state, metrics: dict[str, np.ndarray], first: int, update: int, history: dict) -> None:
        """After a chunk: metrics to CSV and history, then the checkpoint (so CSV never trails it)."""
        self._append_metrics(metrics, first, self.trainer.steps_per_update)
        for name, values in metrics.items():
            history.setdefault(name, []).append(values)
        if self.manager is not None:
            self.manager.save(update, args=ocp.args.StandardSave(state))
            self.last_saved = update

    def _append_metrics(self, metrics: dict[str, np.ndarray], first_update: int, steps_per_update: int) -> None:
        if self.run_dir is None:
            return
        path = self.run_dir / METRICS_FILE
        names = sorted(metrics)
        new_file = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new_file:
                writer.writerow(["update", "env_steps", "variant", "seed", *names])
            num = next(iter(metrics.values())).shape[1]
            for j in range(num):
                update = first_update + j + 1
                for i, (variant, seed) in enumerate(zip(self.variants, self.seeds)):
                    values = (f"{metrics[k][i, j]:.9g}" for k in names)  # 9 digits round-trip float32
                    writer.writerow([update, update * steps_per_update, variant, seed, *values])


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def _check_finite(metrics, first_update, run_labels, steps_per_update, run_dir, last_saved) -> None:
    loss = metrics["loss"]
    bad = ~np.isfinite(loss)
    if not bad.any():
        return
    run_idx, update_idx = np.nonzero(bad)
    first = int(update_idx.min())
    first_runs = sorted({i for i, j in zip(run_idx, update_idx) if j == first})
    bad_runs = [run_labels[i] for i in first_runs]
    update = first_update + first + 1
    where = (
        f"; the last checkpoint (update {last_saved}) in {run_dir / CHECKPOINT_DIR} is intact"
        if run_dir is not None and last_saved is not None
        else ""
    )
    raise TrainingDivergedError(
        f"loss became {loss[first_runs[0], first]} at update {update} "
        f"(env step {update * steps_per_update:,} per seed) for seed(s) [{', '.join(bad_runs)}]{where}. "
        "Check the reward scale and learning rate."
    )


def train(
    config,
    seeds: int | Sequence[int] = 8,
    run_dir: str | Path | None = None,
    *,
    algo: str = "ppo",
    reward: rewards.RewardTransform | Sequence[rewards.RewardTransform] | None = None,
    chunk_updates: int | None = None,
    until_update: int | None = None,
    progress: bool = True,
) -> RunResult:
    """Trains ``config`` for every seed (and reward variant) in one compiled program.

    Args:
      seeds: a count N (seeds 0..N-1) or an explicit list; seed s uses ``PRNGKey(s)``.
      reward: a reward transform, or a list of variants that differ only in their numbers
        (e.g. ``[pbrs(phi, coef=c) for c in coefs]``): every variant x seed trains in one program.
      run_dir: where config, metrics and checkpoints go; None keeps everything in memory.
      chunk_updates: updates per compiled chunk (= progress, metrics and checkpoint interval).
      until_update: pause after this many updates (checkpointed); ``resume`` continues.
    """
    seed_list = _as_seed_list(seeds)
    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None and (run_path / CONFIG_FILE).exists():
        raise FileExistsError(f"{run_path} already holds a run; use `jrew resume {run_path}` or a new --run-dir")
    num_updates = config.num_updates
    loop = _Loop(algo, config, seed_list, chunk_updates or _default_chunk(num_updates), run_path, reward)
    if run_path is not None:
        loop.write_config()
    state = loop.initial_state()
    stop = num_updates if until_update is None else min(int(until_update), num_updates)
    return loop.run(state, 0, stop, progress)


def resume(
    run_dir: str | Path,
    *,
    reward: rewards.RewardTransform | Sequence[rewards.RewardTransform] | None = None,
    until_update: int | None = None,
    progress: bool = True,
) -> RunResult:
    """Continues the run in ``run_dir`` from its latest checkpoint; metrics past it are dropped.

    A run trained with a reward pipeline needs the same ``reward`` again (functions such as
    potentials are code, not data); its description must match the one saved in config.json.
    """
    loop, state, step = _restore_latest(run_dir, reward)
    history = _truncate_metrics(loop.run_dir / METRICS_FILE, step, len(loop.seeds))
    config = loop.config
    stop = config.num_updates if until_update is None else min(int(until_update), config.num_updates)
    return loop.run(state, step, stop, progress, history)


def _restore_latest(run_dir: str | Path, reward) -> tuple[_Loop, Any, int]:
    """The run in ``run_dir`` at its latest checkpoint: (loop, batched state, update step)."""
    run_path = Path(run_dir)
    config_path = run_path / CONFIG_FILE
    if not config_path.exists():
        raise FileNotFoundError(f"no run in {run_path}: {CONFIG_FILE} is missing")
    saved = json.loads(config_path.read_text())
    config_cls = ALGORITHMS[saved["algo"]][0]
    config = config_lib.from_dict(config_cls, saved["config"])
    loop = _Loop(saved["algo"], config, saved["seeds"], saved["chunk_updates"], run_path, reward)
    given = [rewards.describe(v) for v in loop.reward_variants]
    if given != saved.get("rewards", given):
        raise ValueError(f"{run_path} was trained with reward {saved['rewards']}, but was given {given}; pass the same reward=")
    step = loop.manager.latest_step()
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {run_path / CHECKPOINT_DIR}; start the run again")
    loop.last_saved = step
    return loop, loop.restore(step), step


def trained_policy(
    run_dir: str | Path, run: int = 0, *, reward: rewards.RewardTransform | Sequence[rewards.RewardTransform] | None = None
) -> tuple[envs.Env, Callable[[jax.Array, jax.Array], jax.Array]]:
    """``(env, act)``: run ``run``'s policy at the latest checkpoint of ``run_dir``.

    ``act(obs, key)`` samples an action for one observation; ``envs.render.record_episode(env,
    act, key)`` plays an episode with it. Runs are numbered as in metrics.csv (variant-major).
    """
    loop, state, _ = _restore_latest(run_dir, reward)
    if not 0 <= run < len(loop.seeds):
        raise ValueError(f"run must be in [0, {len(loop.seeds)}) for {run_dir}, got {run}")
    one = jax.tree.map(lambda x: x[run], state)
    return loop.trainer.env, functools.partial(loop.trainer.act, one)


_FIRST_METRIC_COLUMN = 4  # update, env_steps, variant, seed, metrics...


def _truncate_metrics(path: Path, last_update: int, num_runs: int) -> dict[str, list]:
    """Drops rows written after the checkpoint; returns the kept metrics as ``[seeds, n]`` arrays."""
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if int(r[0]) <= last_update]
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *body])
    if not body:
        return {}
    return {name: [values] for name, values in _metric_arrays(header, _as_table(body), num_runs).items()}


def _as_table(rows: list[list[str]]) -> np.ndarray:
    return np.asarray([[float(x) for x in r] for r in rows])


def _metric_arrays(header: list[str], table: np.ndarray, num_runs: int) -> dict[str, np.ndarray]:
    """Metric columns of a metrics.csv table as float32 ``[num_runs, num_updates]``."""
    return {
        name: table[:, col].reshape(-1, num_runs).T.astype(np.float32)
        for col, name in enumerate(header)
        if col >= _FIRST_METRIC_COLUMN
    }


def load_metrics(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Reads ``metrics.csv``: each metric as ``[num_runs, num_updates]`` (runs = variant x seed,
    variant-major), plus ``env_steps [num_updates]``, ``variant [num_runs]`` and ``seed [num_runs]``."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no {METRICS_FILE} in {run_dir}")
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, table = rows[0], _as_table(rows[1:])
    num_runs = len({(v, s) for v, s in table[:, 2:4]})
    out = _metric_arrays(header, table, num_runs)
    out["env_steps"] = table[::num_runs, 1]
    out["variant"] = table[:num_runs, 2].astype(int)
    out["seed"] = table[:num_runs, 3].astype(int)
    return out
