"""The host loop: compiled chunks of K updates, then metrics, progress, NaN check and a checkpoint.

``train`` / ``resume`` put three parts together: the compiled program (``jrew.program``), the run
directory's files (``jrew.run_dir``) and its Orbax checkpoints (``jrew.checkpoints``). Between
chunks the host writes metrics, draws progress, stops on a NaN or infinite loss and saves the whole
training state, so an interrupted run loses at most one chunk and resumes bit-identically.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import envs
from jrew import algos, distributed, rewards
from jrew import evaluation as evaluation_lib
from jrew import run_dir as files
from jrew.algos.base import loss_metrics
from jrew.checkpoints import Checkpoints
from jrew.evaluation import Evaluation, evaluator
from jrew.plan import Plan, expand
from jrew.program import Program, seed_keys

__all__ = ["Callback", "Chunk", "RunResult", "TrainingDivergedError", "resume", "seed_keys", "train", "trained_policy"]

RewardArg = rewards.RewardTransform | Sequence[rewards.RewardTransform] | None


class Chunk(NamedTuple):
    """What a callback sees after each compiled chunk (metrics written and checkpoint taken)."""

    first_update: int  # the chunk holds updates first_update + 1 .. last_update
    last_update: int
    env_steps: np.ndarray  # [n] env steps per run after each of the chunk's updates
    metrics: dict[str, np.ndarray]  # name -> [num_runs, n], runs variant-major
    seeds: list[int]  # per run
    variants: np.ndarray  # per run
    variant_labels: Sequence[str] = ()  # per variant (empty when the run has one variant)


# Called after every chunk; one with a ``close()`` method is closed when the run stops.
Callback = Callable[[Chunk], None]


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
    plan: Plan | None = None  # what was trained: variants x seeds
    first_update: int = 0  # the update this session started from (a resumed run's checkpoint)
    last_update: int | None = None  # the update it stopped at (None: the last of ``env_steps``)
    num_updates: int | None = None  # the run's planned updates

    def final(self, name: str = "true_return") -> np.ndarray:
        """Per-run value of ``name`` at the last update."""
        return self.metrics[name][:, -1]

    def by_variant(self, name: str = "true_return") -> np.ndarray:
        """``name`` as ``[num_variants, num_seeds, num_updates]``."""
        num_variants = self.plan.num_variants if self.plan is not None else 1
        return self.metrics[name].reshape(num_variants, -1, self.metrics[name].shape[-1])

    @property
    def updates_run(self) -> int | None:
        """Updates this session ran (0 for a finished run resumed); None if unknown."""
        return None if self.last_update is None else self.last_update - self.first_update

    @property
    def steps_per_second(self) -> float:
        """Env steps per second over all runs in this session, compile time excluded; NaN when no
        update ran."""
        per_run = self.env_steps[-1] if len(self.env_steps) else 0
        if self.last_update is not None:  # this session's share of the steps (a resumed run's are fewer)
            if self.updates_run <= 0:
                return float("nan")
            per_run = per_run * self.updates_run / self.last_update
        return per_run * len(self.seeds) / max(self.train_seconds, 1e-9)


def train(
    config: algos.LearnerConfig | Sequence[algos.LearnerConfig] | Plan,
    seeds: int | Sequence[int] = 8,
    run_dir: str | Path | None = None,
    *,
    reward: RewardArg | str = None,
    evaluation: Evaluation | None = None,
    chunk_updates: int | None = None,
    until_update: int | None = None,
    progress: bool = True,
    variant_labels: Sequence[str] | None = None,
    callbacks: Sequence[Callback] = (),
    devices: Sequence[jax.Device] | None = None,
) -> RunResult:
    """Trains ``config`` (its class picks the learner) for every seed and variant in one program.

    Args:
      config: a ``jrew.plan.Plan`` (variants x seeds, from ``jrew.plan.expand``; then ``seeds``,
        ``reward`` and ``variant_labels`` are its own), a learner config, or a list of variants
        that differ only in numeric hyperparameters (e.g. learning rates): one program for all.
      seeds: a count N (seeds 0..N-1) or an explicit list; seed s uses ``PRNGKey(s)``.
      reward: a reward transform; a list of variants that differ only in their numbers (e.g.
        ``[pbrs(phi, coef=c) for c in coefs]``); or a reward spec string such as
        ``"pbrs(potential=deep_sea.column, coef=[0, 0.5])"`` (``jrew.rewards.spec``; a grid is
        several variants), which config.json records so that ``resume`` needs no Python. Config
        and reward variants pair up as ``jrew.plan`` says (one of either is shared by all).
      evaluation: evaluation episodes on a schedule (``jrew.evaluation.Evaluation``), logged as
        ``eval/...`` metrics beside the training-episode returns.
      run_dir: where config, metrics and checkpoints go; None keeps everything in memory.
      chunk_updates: updates per compiled chunk (= progress, metrics and checkpoint interval).
      until_update: pause after this many updates (checkpointed); ``resume`` continues.
      variant_labels: names of the variants for config.json and plots (default: their grid values).
      callbacks: functions called with a ``Chunk`` after every chunk (logging sinks, early looks at
        the metrics); they run on the host, outside the compiled program.
      devices: the devices the runs are split over (``jrew.program``); default: all of them, of
        every process. Results do not depend on it beyond float rounding.
    """
    if isinstance(config, Plan):
        plan = config
    else:
        plan = expand(config if isinstance(config, algos.LearnerConfig) else list(config), reward=reward,
                      seeds=seeds, labels=variant_labels)
    algorithm = algos.for_config(plan.config)
    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None and files.has_run(run_path):
        raise FileExistsError(f"{run_path} already holds a run; use `jrew resume {run_path}` or a new --run-dir")
    distributed.barrier("jrew-train-checked")  # every process has looked before process 0 writes
    trainer = algorithm.make(plan.config, plan.rewards[0])
    chunk = default_chunk(trainer.num_updates)
    chunk_updates = chunk_updates or (evaluation.chunk_updates(chunk) if evaluation else chunk)
    program = Program(trainer, algorithm.name, plan, chunk_updates, devices)
    loop = _HostLoop(program, run_path, evaluation, callbacks)
    if run_path is not None:
        record = files.RunRecord(**plan.to_json(algorithm.name), chunk_updates=program.chunk_updates,
                                 evaluation=dataclasses.asdict(evaluation) if evaluation else None)
        if distributed.is_writer():
            files.write_config(run_path, record)
    return loop.run(program.initial_state(), 0, _stop(trainer, until_update), progress)


def resume(run_dir: str | Path, *, reward: RewardArg = None, until_update: int | None = None,
           progress: bool = True, callbacks: Sequence[Callback] = (),
           devices: Sequence[jax.Device] | None = None) -> RunResult:
    """Continues the run in ``run_dir`` from its latest checkpoint; metrics past it are dropped.
    A run stopped before its first checkpoint starts over from update 0.

    A run trained with a reward spec string rebuilds its pipeline from config.json. One trained
    with transforms built in Python needs the same ``reward`` again (functions such as potentials
    are code, not data); its description must match the one saved in config.json. A checkpoint
    holds the real runs only, so it resumes on any number of ``devices``.
    """
    loop, state, step = _restore_latest(Path(run_dir), reward, callbacks, devices)
    history = files.metrics_until(loop.run_dir, step, loop.program.plan.num_runs)
    distributed.barrier("jrew-resume-read")  # every process has read the metrics before process 0 trims them
    if distributed.is_writer():
        files.trim_metrics(loop.run_dir, step)
        if history:  # the summary the next chunk's values update
            plan = loop.program.plan
            loop.summary = files.summarize(history, step, loop.program.trainer.steps_per_update, plan.run_variants,
                                           plan.run_seeds)
    return loop.run(state, step, _stop(loop.program.trainer, until_update), progress,
                    {k: [v] for k, v in history.items()})


def trained_policy(run_dir: str | Path, run: int = 0) -> tuple[envs.Env, Callable[..., jax.Array]]:
    """``(env, act)``: run ``run``'s policy at the latest checkpoint of ``run_dir``.

    ``act(obs, key, deterministic=False)`` acts on one observation; ``envs.render.record_episode(env,
    act, key)`` plays an episode with it. Runs are numbered as in the metrics (variant-major). Only
    the policy is restored (``jrew.policy.from_run``), so no reward pipeline is needed.
    """
    from jrew import policy as policy_lib

    policy = policy_lib.from_run(run_dir, run)
    return policy.make_env(), policy.act


class _HostLoop:
    """Drives a program chunk by chunk, with the run directory's files and checkpoints."""

    def __init__(self, program: Program, run_dir: Path | None, evaluation: Evaluation | None = None,
                 callbacks: Sequence[Callback] = ()):
        self.program, self.run_dir, self.evaluation = program, run_dir, evaluation
        # logging happens once, in process 0, under jax.distributed
        self.callbacks = tuple(callbacks) if distributed.is_writer() else ()
        self.evaluate = evaluator(program.trainer, evaluation) if evaluation is not None else None
        self.checkpoints = Checkpoints(run_dir) if run_dir is not None else None
        self.last_saved: int | None = None
        self.summary: dict[str, np.ndarray] | None = None  # per run, written beside the metrics

    def run(self, state, start: int, stop: int, progress: bool, history: dict[str, list] | None = None) -> RunResult:
        """Runs updates ``start..stop``; returns the state and all metrics so far."""
        program, history = self.program, history if history is not None else {}
        K, steps_per_update, num_runs = program.chunk_updates, program.trainer.steps_per_update, program.plan.num_runs
        t0 = time.perf_counter()
        compiled = program.compile(state) if start < stop else None
        compile_seconds, train_seconds, chunk_seconds = time.perf_counter() - t0, 0.0, []
        update = start
        try:
            with _progress_bar(progress and distributed.is_writer()) as bar:
                task = bar.add_task(f"{program.name} x{num_runs}", total=program.trainer.num_updates,
                                    completed=start, info=f"compiled in {compile_seconds:.1f}s")
                while update < stop:
                    active = np.arange(update, update + K) < stop
                    t = time.perf_counter()
                    new_state, metrics = compiled(state, active)
                    metrics = {name: program.fetch(values)[:, active] for name, values in metrics.items()}  # [runs, n]
                    train_seconds += time.perf_counter() - t
                    if active.all():
                        chunk_seconds.append(time.perf_counter() - t)
                    check_finite(metrics, update, program.plan.run_labels, steps_per_update, self._checkpoint_note())
                    state, first, update = new_state, update, update + int(active.sum())
                    if self.evaluate is not None:
                        metrics.update(self._evaluation(state, first, update))
                    self._record(state, metrics, first, update, history)
                    sps = (update - start) * steps_per_update * num_runs / max(train_seconds, 1e-9)
                    bar.update(task, completed=update, info=f"{sps:,.0f} steps/s  true return {_latest(metrics):.1f}")
        finally:
            if self.checkpoints is not None:  # finish async writes, also when a NaN or Ctrl-C stops the run
                self.checkpoints.wait()
            for callback in self.callbacks:
                if hasattr(callback, "close"):
                    callback.close()
        merged = {k: np.concatenate(v, axis=1) for k, v in history.items()}
        num = next(iter(merged.values())).shape[1] if merged else 0
        env_steps = (np.arange(update - num, update) + 1) * steps_per_update
        return RunResult(program.real_runs(state), merged, env_steps, program.plan.run_seeds, self.run_dir,
                         compile_seconds, train_seconds, chunk_seconds, program.plan.run_variants, program.plan, start,
                         update, program.trainer.num_updates)

    def _record(self, state, metrics: dict[str, np.ndarray], first: int, update: int, history: dict) -> None:
        """After a chunk: metrics and summary to the run directory and history, then the checkpoint
        (so the metrics never trail it)."""
        plan, steps_per_update = self.program.plan, self.program.trainer.steps_per_update
        if self.run_dir is not None and distributed.is_writer():
            files.append_metrics(self.run_dir, metrics, first, steps_per_update, plan.run_variants, plan.run_seeds)
            self.summary = files.summarize(metrics, update, steps_per_update, plan.run_variants, plan.run_seeds,
                                           self.summary)
            files.write_summary(self.run_dir, self.summary)
        for name, values in metrics.items():
            history.setdefault(name, []).append(values)
        if self.checkpoints is not None:
            self.checkpoints.save(update, self.program.real_runs(state))
            self.last_saved = update
        if self.callbacks:
            steps = (np.arange(first, update) + 1) * steps_per_update
            chunk = Chunk(first, update, steps, metrics, plan.run_seeds, plan.run_variants, plan.named_variants)
            for callback in self.callbacks:
                callback(chunk)

    def _evaluation(self, state, before: int, after: int) -> dict[str, np.ndarray]:
        """The chunk's evaluation columns: results at its last update when one is due, else NaN."""
        num_runs, num_updates = self.program.plan.num_runs, after - before
        if not self.evaluation.due(before, after, self.program.trainer.num_updates):
            return evaluation_lib.empty(num_runs, num_updates)
        results = {name: self.program.fetch(values) for name, values in self.evaluate(state).items()}
        return evaluation_lib.placed_last(results, num_updates)

    def _checkpoint_note(self) -> str:
        if self.checkpoints is None or self.last_saved is None:
            return ""
        return f"; the last checkpoint (update {self.last_saved}) in {self.checkpoints.directory} is intact"


def check_finite(metrics: dict[str, np.ndarray], first_update: int, run_labels: list[str], steps_per_update: int,
                 note: str = "") -> None:
    """Raises ``TrainingDivergedError`` at the first update where any loss metric is NaN or infinite,
    naming the metric, the update, the env step and the runs."""
    names = loss_metrics(metrics)
    bad = {name: ~np.isfinite(metrics[name]) for name in names}
    bad = {name: b for name, b in bad.items() if b.any()}
    if not bad:
        return
    first = min(int(np.nonzero(b)[1].min()) for b in bad.values())
    name = next(n for n in names if n in bad and bad[n][:, first].any())
    runs = [run_labels[i] for i in np.nonzero(np.any([b[:, first] for b in bad.values()], axis=0))[0]]
    update = first_update + first + 1
    value = metrics[name][np.nonzero(bad[name][:, first])[0][0], first]
    raise TrainingDivergedError(
        f"{name} became {value} at update {update} (env step {update * steps_per_update:,} per seed) "
        f"for seed(s) [{', '.join(runs)}]{note}. Check the reward scale and learning rate."
    )


def _latest(metrics: dict[str, np.ndarray]) -> float:
    with warnings.catch_warnings():  # no episode finished yet: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(metrics["true_return"][:, -1]))


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


def _restore_latest(run_path: Path, reward: RewardArg, callbacks: Sequence[Callback] = (),
                    devices: Sequence[jax.Device] | None = None) -> tuple[_HostLoop, Any, int]:
    """The run in ``run_path`` at its latest checkpoint: (loop, batched state, update step)."""
    record = files.read_config(run_path)
    algorithm = algos.by_name(record.algo)
    plan = files.read_plan(run_path, algorithm.config_cls, reward)
    program = Program(algorithm.make(plan.config, plan.rewards[0]), algorithm.name, plan, record.chunk_updates,
                      devices)
    evaluation = Evaluation(**record.evaluation) if record.evaluation else None
    loop = _HostLoop(program, run_path, evaluation, callbacks)
    step = loop.checkpoints.latest_step()
    if step is None:  # stopped before its first checkpoint: config.json holds all it needs to start over
        return loop, program.initial_state(), 0
    loop.last_saved = step
    return loop, program.place(loop.checkpoints.restore(step, program.abstract_state(), program.initial_config)), step


def _stop(trainer, until_update: int | None) -> int:
    return trainer.num_updates if until_update is None else min(int(until_update), trainer.num_updates)


def default_chunk(num_updates: int) -> int:
    """About 20 progress/checkpoint points per run, never more than 100 updates per chunk."""
    return max(1, min(100, -(-num_updates // 20)))
