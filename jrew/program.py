"""The compiled program: a learner's ``init`` and a chunk of K updates, over the run axis.

A run is one (reward variant, seed) pair. Runs are laid out variant-major on one leading axis,
and each function is one ``jit(vmap(...))`` over it: every seed and variant trains in a single XLA
program. This is the one place that decides how runs map onto devices (a device mesh over the run
axis goes here); the host loop and the run directory do not care.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jrew import rewards
from jrew.algos.base import Trainer, check_contract
from jrew.config import is_numeric


def seed_keys(seeds: Sequence[int]) -> jax.Array:
    """One key per seed, ``PRNGKey(seed)``: seed s gives the same run alone or in a batch."""
    return jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])


@dataclasses.dataclass(frozen=True)
class RunAxis:
    """Which (variant, seed) each run is: variant-major, every variant with the same seeds."""

    seeds_per_variant: tuple[int, ...]
    num_variants: int

    # derived once: the host loop reads them after every chunk
    @functools.cached_property
    def seeds(self) -> list[int]:
        return list(self.seeds_per_variant) * self.num_variants

    @functools.cached_property
    def variants(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_variants), len(self.seeds_per_variant))

    def __len__(self) -> int:
        return self.num_variants * len(self.seeds_per_variant)

    @functools.cached_property
    def labels(self) -> list[str]:
        """How errors name run i: its seed, and its reward variant when there are several."""
        if self.num_variants == 1:
            return [str(seed) for seed in self.seeds]
        return [f"variant {v} seed {seed}" for v, seed in zip(self.variants, self.seeds)]


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
    """``init`` and ``chunk`` of one learner over a run axis, each compiled once.

    Variant ``v`` trains with ``configs[v]``'s numbers and ``reward_variants[v]``'s pipeline
    numbers; both lists share the trainer's structure (static fields, transform structure).
    """

    def __init__(self, trainer: Trainer, name: str, reward_variants: Sequence[rewards.RewardTransform],
                 seeds: Sequence[int], chunk_updates: int, configs: Sequence[Any] | None = None):
        if chunk_updates < 1:
            raise ValueError(f"chunk_updates must be >= 1, got {chunk_updates}")
        configs = list(configs) if configs is not None else [trainer.config] * len(reward_variants)
        if len(configs) != len(reward_variants):
            raise ValueError(f"{len(configs)} config variants for {len(reward_variants)} reward variants; "
                             "give one of each per variant")
        self.trainer, self.name = trainer, name
        self.runs = RunAxis(tuple(seeds), len(reward_variants))
        self.chunk_updates = min(chunk_updates, trainer.num_updates)
        self.keys = seed_keys(self.runs.seeds)
        per_run = lambda x: jnp.repeat(x, len(seeds), axis=0)  # noqa: E731  (variant-major)
        self.reward_hparams = jax.tree.map(per_run, rewards.stack_hparams(reward_variants))
        self.config_hparams = jax.tree.map(per_run, stack_configs(configs))
        self._init = jax.jit(jax.vmap(trainer.init))
        self._chunk = jax.jit(jax.vmap(self._run_chunk, in_axes=(0, None)))

    def initial_state(self) -> Any:
        return self._init(self.keys, self.config_hparams, self.reward_hparams)

    def abstract_state(self) -> Any:
        return jax.eval_shape(self._init, self.keys, self.config_hparams, self.reward_hparams)

    def compile(self, state: Any) -> Callable[[Any, jax.Array], tuple[Any, dict]]:
        """The chunk compiled ahead of time for ``state``: ``(state, active [K] bool) -> (state, metrics)``."""
        lowered = self._chunk.lower(state, jnp.ones((self.chunk_updates,), bool))
        metrics = lowered.out_info[1]  # [runs, K] per metric
        check_contract(self.name, state, {k: jax.ShapeDtypeStruct(v.shape[2:], v.dtype) for k, v in metrics.items()})
        return lowered.compile()

    def _run_chunk(self, state, active):
        """``K`` updates; inactive slots (past the end) pass the state through unchanged."""
        skip_metrics = jax.tree.map(
            lambda s: jnp.full(s.shape, jnp.nan, s.dtype), jax.eval_shape(self.trainer.update, state)[1]
        )

        def step(s, is_active):
            return jax.lax.cond(is_active, self.trainer.update, lambda s: (s, skip_metrics), s)

        return jax.lax.scan(step, state, active)
