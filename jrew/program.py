"""The compiled program: a learner's ``init`` and a chunk of K updates, over the run axis.

A run is one (reward variant, seed) pair. Runs are laid out variant-major on one leading axis,
and every seed and variant trains in a single XLA program. This is the one place that decides
how runs map onto devices: the run axis is split over a 1-D ``Mesh`` of all devices (of every
process, under ``jax.distributed``), and each device trains its share of runs with
``shard_map(vmap(...))`` (without the ``vmap`` where a device holds a single run: ``map_local_runs``).
Runs are independent, so the program has no cross-device communication; one device is the same
code path with a mesh of one.

The run axis is padded to a multiple of the device count with copies of run 0, which are
computed and never shown: metrics, results and checkpoints hold the real runs only, so a
checkpoint taken on N devices restores on M.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jrew.algos.base import Trainer, check_contract
from jrew.config import is_numeric
from jrew.plan import Plan

RUN_AXIS = "runs"


def run_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """The 1-D mesh the run axis is split over: ``devices``, or every device of every process."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), (RUN_AXIS,))


def seed_keys(seeds: Sequence[int]) -> jax.Array:
    """One key per seed, ``PRNGKey(seed)``: seed s gives the same run alone or in a batch."""
    return jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])


def map_local_runs(f: Callable, in_axes: tuple[int | None, ...], runs_per_device: int) -> Callable:
    """``jax.vmap(f, in_axes)`` over one device's runs. With a single run per device the run axis
    is dropped around ``f`` instead: XLA's CPU matrix products are slower batched over an axis of
    size 1 (a one-seed PPO update on inverted_pendulum ran about 20% slower in the runner)."""
    if runs_per_device > 1:
        return jax.vmap(f, in_axes=in_axes)

    def single_run(*args):
        args = [a if axis is None else jax.tree.map(lambda x: x[0], a) for a, axis in zip(args, in_axes)]
        return jax.tree.map(lambda x: x[None], f(*args))

    return single_run


def stack_configs(configs: Sequence[Any]) -> Any:
    """Config variants as one config with a leading variant axis on its numeric leaves.

    The variants must share every static field (they are one compiled program); the error names
    the first field that differs.
    """
    first = configs[0]
    for i, config in enumerate(configs[1:], start=1):
        if type(config) is not type(first):
            raise ValueError(f"config variant {i} is a {type(config).__name__}, variant 0 a {type(first).__name__}")
        for field in dataclasses.fields(first):
            if not is_numeric(field) and getattr(config, field.name) != getattr(first, field.name):
                raise ValueError(
                    f"config variant {i} differs from variant 0 in the static field {field.name!r} "
                    f"({getattr(config, field.name)!r} vs {getattr(first, field.name)!r}); variants in one "
                    "program may differ only in numeric hyperparameters"
                )
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x, jnp.float32) for x in xs]), *configs)


class Program:
    """``init`` and ``chunk`` of one learner over the runs of a ``Plan``, each compiled once.

    Variant ``v`` trains with ``plan.configs[v]``'s numbers and ``plan.rewards[v]``'s pipeline
    numbers; every variant shares the trainer's structure (static fields, transform structure).
    """

    def __init__(self, trainer: Trainer, name: str, plan: Plan, chunk_updates: int,
                 devices: Sequence[jax.Device] | None = None):
        if chunk_updates < 1:
            raise ValueError(f"chunk_updates must be >= 1, got {chunk_updates}")
        self.trainer, self.name, self.plan = trainer, name, plan
        self.chunk_updates = min(chunk_updates, trainer.num_updates)
        per_run = lambda x: np.repeat(np.asarray(x), len(plan.seeds), axis=0)  # variant-major
        self.inputs = (  # per real run, on the host: keys, config numbers, reward numbers
            np.asarray(seed_keys(plan.run_seeds)),
            jax.tree.map(per_run, plan.stacked_configs),
            jax.tree.map(per_run, plan.stacked_rewards),
        )
        self.mesh = run_mesh(devices)
        self.by_run, self.replicated = NamedSharding(self.mesh, P(RUN_AXIS)), NamedSharding(self.mesh, P())
        num_runs = plan.num_runs
        self.num_padded = -(-num_runs // self.mesh.size) * self.mesh.size
        self._padding = np.concatenate([np.arange(num_runs), np.zeros(self.num_padded - num_runs, int)])

        def over_runs(f, in_specs):  # each device maps f over its own runs
            return jax.jit(jax.shard_map(f, mesh=self.mesh, in_specs=in_specs, out_specs=P(RUN_AXIS),
                                         check_vma=False))

        local = functools.partial(map_local_runs, runs_per_device=self.num_padded // self.mesh.size)
        self._init = over_runs(local(trainer.init, (0, 0, 0)), (P(RUN_AXIS),) * 3)
        self._chunk = over_runs(local(self._run_chunk, (0, None)), (P(RUN_AXIS), P()))
        self._pad = jax.jit(lambda tree: jax.tree.map(lambda x: x[self._padding], tree), out_shardings=self.by_run)
        self._unpad = jax.jit(lambda tree: jax.tree.map(lambda x: x[:num_runs], tree), out_shardings=self.replicated)

    @property
    def padded(self) -> bool:
        return self.num_padded != self.plan.num_runs

    def initial_state(self) -> Any:
        """The state of every run, padded and split over the mesh."""
        padded = jax.tree.map(lambda x: x[self._padding], self.inputs)
        return self._init(*jax.tree.map(self._global, padded))

    def abstract_state(self) -> Any:
        """Shapes, dtypes and shardings of the real runs' state: what a checkpoint holds."""
        shapes = jax.eval_shape(jax.vmap(self.trainer.init), *self.inputs)
        sharding = self.replicated if self.padded else self.by_run
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)

    def initial_config(self) -> Any:
        """The real runs' traced config (``state.config``) as ``init`` builds it; compiled alone, so
        that the rest of ``init`` (e.g. a reference's pretraining) is not computed."""
        return jax.jit(jax.vmap(lambda *inputs: self.trainer.init(*inputs).config))(*self.inputs)

    def place(self, state: Any) -> Any:
        """The real runs' state (e.g. restored from a checkpoint) padded and split over the mesh."""
        return self._pad(state) if self.padded else jax.device_put(state, self.by_run)

    def real_runs(self, state: Any) -> Any:
        """The state without padding runs (for checkpoints and results)."""
        return self._unpad(state) if self.padded else state

    def fetch(self, x: jax.Array) -> np.ndarray:
        """A run-major array of the program on the host, real runs only (gathered from all processes)."""
        host = multihost_utils.process_allgather(x, tiled=True) if jax.process_count() > 1 else np.asarray(x)
        return host[: self.plan.num_runs]

    def _global(self, x: np.ndarray) -> jax.Array:
        return jax.make_array_from_callback(x.shape, self.by_run, lambda index: x[index])

    def compile(self, state: Any) -> Callable[[Any, jax.Array], tuple[Any, dict]]:
        """The chunk compiled ahead of time for ``state``: ``(state, active [K] bool) -> (state, metrics)``."""
        lowered = self._chunk.lower(state, np.ones((self.chunk_updates,), bool))
        metrics = lowered.out_info[1]  # [runs, K] per metric
        check_contract(self.name, state, {k: jax.ShapeDtypeStruct(v.shape[2:], v.dtype) for k, v in metrics.items()})
        self._check_export(state)
        return lowered.compile()

    def _check_export(self, state: Any) -> None:
        """The learner's ``policy_of`` exports a run of this very state (``jrew.policy.check_policy_of``)."""
        from jrew import algos, policy

        one_run = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), state)
        policy.check_policy_of(self.name, algos.by_name(self.name).policy_of, self.trainer.config, one_run,
                               self.trainer.env)

    def _run_chunk(self, state, active):
        """``K`` updates; inactive slots (past the end) pass the state through unchanged."""
        skip_metrics = jax.tree.map(
            lambda s: jnp.full(s.shape, jnp.nan, s.dtype), jax.eval_shape(self.trainer.update, state)[1]
        )

        def step(s, is_active):
            return jax.lax.cond(is_active, self.trainer.update, lambda s: (s, skip_metrics), s)

        return jax.lax.scan(step, state, active)
