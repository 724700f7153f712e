"""Extending a run: more env steps for a run that has trained (``jrew resume RUN --total-steps N``).

A run's budget is its config's ``total_steps``. Giving it more is correct only when nothing the
learner computes depends on the budget: then the run trained for the old budget and extended is
the run that would have been trained for the new one from the start (bit for bit; only an
evaluation that fell on the old last update stays in the metrics). ``extend`` checks this on
the compiled computation itself, not on a list of known fields: it traces the learner's ``init``
and ``update`` for both budgets and refuses unless both are the same programs. PPO's default
``anneal_lr=True`` is the common case it refuses: the learning rate decays linearly to 0 over the
planned updates, so a longer budget is a different schedule from the first update on.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

import jax

from jrew import algos, distributed
from jrew import config as config_lib
from jrew import run_dir as files


class Extension(NamedTuple):
    old_total_steps: int
    new_total_steps: int
    old_updates: int
    new_updates: int


class NotExtendableError(ValueError):
    """The run's learner depends on its budget, so a longer run is not the same run continued."""


def extend(run_dir: str | Path, total_steps: int, reward=None, trained_updates: int | None = None) -> Extension:
    """Sets the run's budget to ``total_steps`` env steps per seed in its config.json, after checking
    that this changes nothing the learner computes (see the module docstring); ``jrew.resume`` then
    trains the new updates. ``trained_updates``: the run's latest checkpoint (read if not given): the
    budget may not fall below it. ``reward``: for a run trained with transforms built in Python, the
    same ones again, as ``jrew.resume`` takes them (a reward spec is rebuilt from config.json).

    Raises ``NotExtendableError`` (a ``ValueError``) when the learner's ``init`` or ``update`` depends
    on ``total_steps`` (e.g. PPO with ``anneal_lr=True``), or the budget is below the trained updates.
    """
    run_dir = Path(run_dir)
    record = files.read_config(run_dir)
    algorithm = algos.by_name(record.algo)
    configs = [config_lib.from_dict(algorithm.config_cls, c) for c in (record.config_variants or [record.config])]
    old, new = configs[0], configs[0].replace(total_steps=int(total_steps))  # validates the new budget
    extension = Extension(old.total_steps, new.total_steps, old.num_updates, new.num_updates)
    if trained_updates is None:
        from jrew.checkpoints import Checkpoints

        trained_updates = Checkpoints(run_dir).latest_step() or 0
    if new.num_updates < trained_updates:
        raise ValueError(f"{run_dir} has trained {trained_updates} updates ({trained_updates * old.steps_per_update:,} "
                         f"env steps per seed); --total-steps {total_steps:,} is {new.num_updates} updates")
    if new.num_updates == old.num_updates:
        return extension
    transform = files.read_plan(run_dir, algorithm.config_cls, reward).rewards[0]
    if not _same_programs(algorithm, old, new, transform):
        cause = ("its learning rate anneals linearly to 0 over the planned updates (anneal_lr=True), so a longer "
                 "budget is another schedule from the first update on"
                 if getattr(old, "anneal_lr", False) else
                 f"{record.algo}'s init or update depends on total_steps, so a longer budget is another computation")
        fix = " (--no-anneal-lr makes a new run extendable)" if getattr(old, "anneal_lr", False) else ""
        raise NotExtendableError(
            f"{run_dir} cannot be extended to {total_steps:,} env steps: {cause}. Train a new run with "
            f"--total-steps {total_steps}{fix}.")
    if distributed.is_writer():
        variants = [config_lib.to_dict(c.replace(total_steps=int(total_steps))) for c in configs]
        files.write_config(run_dir, dataclasses.replace(
            record, config=variants[0], config_variants=variants if record.config_variants else None))
    distributed.barrier("jrew-extend-written")
    return extension


def _same_programs(algorithm, old, new, reward) -> bool:
    """Whether the learner's ``init`` and ``update`` trace to the same programs under both configs."""

    def traced(config):
        trainer = algorithm.make(config, reward)
        key = jax.random.PRNGKey(0)
        state = jax.eval_shape(trainer.init, key)
        return str(jax.make_jaxpr(trainer.init)(key)), str(jax.make_jaxpr(trainer.update)(state))

    return traced(old) == traced(new)
