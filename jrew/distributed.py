"""Many processes, one run: ``jax.distributed`` with jrew's conventions.

Every process runs the same ``jrew train`` (or ``jrew.train``) after ``initialize``. The run axis
is split over the devices of all processes (``jrew.program``); each process drives its local
devices. Process 0 is the one writer of config.json, metrics and the progress bar; Orbax writes
checkpoints together from all processes, so ``run_dir`` must be a filesystem they share.

    jrew train --distributed --coordinator-address 10.0.0.1:1234 --num-processes 2 --process-id 0 ...
    JREW_COORDINATOR_ADDRESS=10.0.0.1:1234 JREW_NUM_PROCESSES=2 JREW_PROCESS_ID=1 jrew train --distributed ...

Without an address, flag or variable, JAX detects the cluster itself (SLURM, Open MPI, Cloud TPU).
"""

from __future__ import annotations

import os

import jax
from jax.experimental import multihost_utils

ENV_VARS = {"coordinator_address": "JREW_COORDINATOR_ADDRESS", "num_processes": "JREW_NUM_PROCESSES",
            "process_id": "JREW_PROCESS_ID"}


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
    """``jax.distributed.initialize`` with arguments from here, else ``JREW_*`` variables, else JAX's
    cluster detection. Call it before anything uses a device."""
    given = {"coordinator_address": coordinator_address, "num_processes": num_processes, "process_id": process_id}
    for name, variable in ENV_VARS.items():
        if given[name] is None and os.environ.get(variable):
            value = os.environ[variable]
            given[name] = value if name == "coordinator_address" else _as_int(variable, value)
    if given["num_processes"] is not None and given["process_id"] is not None \
            and not 0 <= given["process_id"] < given["num_processes"]:
        raise ValueError(f"process id {given['process_id']} is not in 0..{given['num_processes'] - 1} "
                         f"for {given['num_processes']} processes")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes gather metrics over gloo
    jax.distributed.initialize(**{k: v for k, v in given.items() if v is not None})


def is_writer() -> bool:
    """Whether this process writes the run's files (process 0)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Waits until every process reaches ``name`` (nothing to wait for with one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def _as_int(variable: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{variable} must be an integer, got {value!r}") from None
