"""Logging sinks: callbacks that send each chunk's metrics to TensorBoard or Weights & Biases.

    jrew.train(config, run_dir="runs/x", callbacks=[sinks.TensorBoard("runs/x/tensorboard")])
    jrew train ... --tensorboard            (event files in <run_dir>/tensorboard)
    jrew train ... --wandb-project jrew     (a W&B run; offline unless --wandb-mode online)

A run holds seeds x variants. The sinks log, per variant, the mean over its seeds of every
metric (NaN entries, e.g. updates where no episode ended, are left out), against env steps per
run. TensorBoard gets one folder per variant (``<log_dir>/<variant label>``), so its UI overlays
the variants under the same tag; ``per_seed=True`` adds ``<variant>/seed_<s>`` folders. W&B gets
one run with keys ``<metric>`` (one variant) or ``<metric>/<variant label>``.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from jrew.runner import Chunk

__all__ = ["TensorBoard", "WandB", "variant_means"]


def variant_means(chunk: Chunk) -> dict[str, dict[str, np.ndarray]]:
    """``{variant label: {metric: [n] mean over the variant's seeds (NaN where none has a value)}}``."""
    labels = _labels(chunk)
    out = {}
    for v, label in enumerate(labels):
        rows = np.asarray(chunk.variants) == v
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
            out[label] = {name: np.nanmean(values[rows], axis=0) for name, values in chunk.metrics.items()}
    return out


def _labels(chunk: Chunk) -> list[str]:
    num_variants = int(np.max(chunk.variants)) + 1
    if chunk.variant_labels and len(chunk.variant_labels) == num_variants:
        return list(chunk.variant_labels)
    return [f"variant_{v}" for v in range(num_variants)] if num_variants > 1 else [""]


def _folder(label: str) -> str:
    """A variant label as a folder name (labels hold '=', ',' and '.': fine; '/' and spaces are not)."""
    return re.sub(r"[^A-Za-z0-9_.,=+-]", "_", label)


class TensorBoard:
    """Writes TensorBoard event files with tensorboardX: ``tensorboard --logdir <log_dir>``.

    Args:
      log_dir: one sub-folder per variant (the folder itself when there is one variant).
      per_seed: also write every run's own curve, under ``<variant>/seed_<s>``.
    """

    def __init__(self, log_dir: str | Path, per_seed: bool = False):
        self.log_dir, self.per_seed = Path(log_dir), per_seed
        self._writers: dict[str, object] = {}

    def _writer(self, folder: str):
        if folder not in self._writers:
            from tensorboardX import SummaryWriter

            self._writers[folder] = SummaryWriter(str(self.log_dir / folder) if folder else str(self.log_dir))
        return self._writers[folder]

    def __call__(self, chunk: Chunk) -> None:
        for label, metrics in variant_means(chunk).items():
            self._write(_folder(label), metrics, chunk.env_steps)
        if self.per_seed:
            labels = _labels(chunk)
            for run, (seed, variant) in enumerate(zip(chunk.seeds, chunk.variants)):
                folder = "/".join(filter(None, [_folder(labels[variant]), f"seed_{seed}"]))
                self._write(folder, {k: v[run] for k, v in chunk.metrics.items()}, chunk.env_steps)
        for writer in self._writers.values():
            writer.flush()

    def _write(self, folder: str, metrics: dict[str, np.ndarray], env_steps: np.ndarray) -> None:
        writer = self._writer(folder)
        for name, values in metrics.items():
            for step, value in zip(env_steps, values):
                if np.isfinite(value):
                    writer.add_scalar(name, float(value), int(step))

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


class WandB:
    """Logs to Weights & Biases; ``mode="offline"`` (the default) needs no network or account.

    Offline runs land in ``<dir>/wandb/offline-run-*``; ``wandb sync`` uploads them later.
    Args are ``wandb.init``'s: project, run name, config (e.g. the run's config.json), dir, mode.
    """

    def __init__(self, project: str = "jrew", name: str | None = None, config: dict | None = None,
                 dir: str | Path | None = None, mode: str = "offline"):
        if mode not in ("offline", "online", "disabled"):
            raise ValueError(f"wandb mode must be 'offline', 'online' or 'disabled', got {mode!r}")
        try:
            import wandb
        except ImportError:
            raise ImportError("the W&B sink needs wandb: pip install 'jrew[wandb]'") from None
        if dir is not None:
            Path(dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=project, name=name, config=config, dir=None if dir is None else str(dir),
                              mode=mode, reinit="create_new")

    def __call__(self, chunk: Chunk) -> None:
        means = variant_means(chunk)
        single = len(means) == 1
        for j, step in enumerate(chunk.env_steps):
            row = {(name if single else f"{name}/{label}"): float(values[j])
                   for label, metrics in means.items() for name, values in metrics.items() if np.isfinite(values[j])}
            self.run.log(row, step=int(step))

    def close(self) -> None:
        self.run.finish()
