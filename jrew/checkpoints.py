"""Orbax checkpoints of a run's whole training state, in ``run_dir/checkpoints/``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from jrew.config import is_numeric
from jrew.run_dir import CHECKPOINT_DIR


class Checkpoints:
    """One Orbax ``CheckpointManager`` per run directory; a step is the number of updates done."""

    def __init__(self, run_dir: Path, max_to_keep: int = 2):
        self.directory = (run_dir / CHECKPOINT_DIR).absolute()
        self.manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
            item_handlers=ocp.StandardCheckpointHandler(),
        )

    def save(self, step: int, state: Any) -> None:
        """Starts writing ``state`` (asynchronously); ``wait`` finishes it."""
        self.manager.save(step, args=ocp.args.StandardSave(state))

    def restore(self, step: int, abstract_state: Any, current_config: Callable[[], Any] | None = None) -> Any:
        """The state saved at ``step``, in the shapes and dtypes of ``abstract_state``.

        A checkpoint written before a learner gained a numeric config field lacks that field in its
        state's traced ``config``: it is restored without it, and the field takes its value from
        ``current_config()`` (the runs' config as ``init`` builds it from config.json, where the
        field has its default). Anything else missing is an error."""
        saved = self.manager.item_metadata(step).tree
        config = getattr(abstract_state, "config", None)
        absent = [] if config is None or not isinstance(saved.get("config"), dict) else [
            f.name for f in dataclasses.fields(config) if is_numeric(f) and f.name not in saved["config"]]
        if not absent or current_config is None:
            return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
        present = {name: getattr(config, name) for name in saved["config"]}
        restored = self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state.replace(config=present)))
        logging.getLogger(__name__).warning(
            "checkpoint %s predates the config fields %s: they take their values from config.json (defaults)",
            step, absent)
        return restored.replace(config=current_config().replace(**restored.config))

    def restore_as_saved(self, step: int) -> Any:
        """The saved tree (nested dicts of arrays) without the training code's structure, on this
        process's first device, whatever devices saved it."""
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        saved = self.manager.item_metadata(step).tree
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), saved)
        return self.manager.restore(step, args=ocp.args.StandardRestore(target))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def wait(self) -> None:
        self.manager.wait_until_finished()
