"""Orbax checkpoints of a run's whole training state, in ``run_dir/checkpoints/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

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

    def restore(self, step: int, abstract_state: Any) -> Any:
        """The state saved at ``step``, in the shapes and dtypes of ``abstract_state``."""
        return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

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
