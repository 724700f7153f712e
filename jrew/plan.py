"""What one program trains: variants (a learner config and a reward pipeline each) x seeds.

Every way of asking for variants ends in a ``Plan``, made by one function, ``expand``:

* the command line: ``jrew train --grid learning_rate=3e-4,1e-3 --reward "scale([1, 10])"``;
* a benchmark suite: ``[variants.x] config = { learning_rate = [3e-4, 1e-3] }, reward = "scale([1, 10])"``;
* Python: ``expand(config, grid={"learning_rate": [3e-4, 1e-3]}, reward="scale([1, 10])")``, or
  explicit lists ``expand([config_a, config_b], reward=[pipeline_a, pipeline_b])``.

The rules, in one place:

* ``grid`` maps config fields to values; a list of numbers for a numeric (vmappable) field is an
  axis, anything else a plain override. A reward spec's lists are its axes (``jrew.rewards.spec``).
* Variants are the product config points x reward variants, **config-major** (the reward varies
  fastest), each labelled ``"<reward choices>,<config field=value>"``.
* Explicit lists pair up index by index; a list of one is shared by all; a shorter list repeats
  when its length divides the longer's (``[c1, c2, c3, c4]`` with ``[r1, r2]`` is c1r1 c2r2 c3r1 c4r2).
* A run is one (variant, seed) pair, **variant-major**: run ``i`` is variant ``i // num_seeds``
  with seed ``seeds[i % num_seeds]`` (``Plan.run``).

A plan is parsed and stacked once. ``train``, the compiled program, ``resume``, ``policy`` and
``bench`` take it and never parse again. config.json holds it (``Plan.to_json``); ``Plan.from_json``
rebuilds it, the pipelines from their spec text, or from the same Python-built ones given again.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import itertools
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jrew import config as config_lib
from jrew import rewards
from jrew.rewards import spec

RewardArg = rewards.RewardTransform | Sequence[rewards.RewardTransform] | str | None


@dataclasses.dataclass(frozen=True, eq=False)
class Plan:
    """Variants x seeds. Variant ``v`` trains ``configs[v]`` with ``rewards[v]`` and is called
    ``labels[v]``; every variant runs every seed."""

    configs: tuple[Any, ...]  # learner configs, one per variant
    rewards: tuple[rewards.RewardTransform, ...] | None  # pipelines, one per variant (None: layout only)
    seeds: tuple[int, ...]
    labels: tuple[str, ...]  # per variant; ("",) for a single unnamed variant
    reward_spec: str | None = None  # the pipelines as text, when they were given as text
    described: tuple[str, ...] = ()  # the recorded descriptions, where the pipelines are not rebuilt

    def __post_init__(self):
        if not self.configs:
            raise ValueError("a plan needs at least one variant")
        num_rewards = len(self.rewards) if self.rewards is not None else len(self.configs)
        if not len(self.configs) == num_rewards == len(self.labels):
            raise ValueError(f"a plan needs one config, pipeline and label per variant, got {len(self.configs)}, "
                             f"{num_rewards} and {len(self.labels)}")
        seeds = [int(s) for s in self.seeds]
        if not seeds:
            raise ValueError(f"seeds must be a positive count or a non-empty list, got {list(self.seeds)!r}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        object.__setattr__(self, "seeds", tuple(seeds))
        self.stacked_configs  # noqa: B018  (one program: variants differ in numbers only; raises here)
        if self.rewards is not None:
            self.stacked_rewards  # noqa: B018

    # ------------------------------------------------------------------ the run layout

    @property
    def num_variants(self) -> int:
        return len(self.configs)

    @property
    def num_runs(self) -> int:
        return self.num_variants * len(self.seeds)

    def __len__(self) -> int:
        return self.num_runs

    def run(self, i: int) -> tuple[int, int]:
        """``(variant, seed)`` of run ``i`` (variant-major)."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.num_runs:
            raise ValueError(f"run must be an int in [0, {self.num_runs}) ({self.num_variants} variant(s) x "
                             f"{len(self.seeds)} seed(s)), got {i!r}")
        variant, position = divmod(int(i), len(self.seeds))
        return variant, self.seeds[position]

    @functools.cached_property
    def run_variants(self) -> np.ndarray:
        """The variant of each run."""
        return np.repeat(np.arange(self.num_variants), len(self.seeds))

    @functools.cached_property
    def run_seeds(self) -> list[int]:
        """The seed of each run."""
        return list(self.seeds) * self.num_variants

    @functools.cached_property
    def run_labels(self) -> list[str]:
        """How errors name each run: its seed, and its variant when there are several."""
        if self.num_variants == 1:
            return [str(seed) for seed in self.run_seeds]
        return [f"variant {v} seed {seed}" for v, seed in zip(self.run_variants, self.run_seeds)]

    @property
    def named_variants(self) -> tuple[str, ...]:
        """The labels, or none for a single variant (what config.json, plots and logs show)."""
        return self.labels if self.num_variants > 1 else ()

    # ------------------------------------------------------------------ what the program reads

    @property
    def config(self) -> Any:
        """Variant 0's config: the program's structure (static fields) is every variant's."""
        return self.configs[0]

    @functools.cached_property
    def stacked_configs(self) -> Any:
        """The configs with a leading variant axis on their numeric leaves (``program.stack_configs``)."""
        from jrew.program import stack_configs

        return stack_configs(self.configs)

    @functools.cached_property
    def stacked_rewards(self) -> Any:
        """The pipelines' numbers with a leading variant axis (raises if they differ in more than numbers)."""
        if self.rewards is None:
            raise ValueError("this plan was read without its reward pipelines (a layout only): it cannot train")
        return rewards.protocol.stack_hparams(self.rewards)

    @functools.cached_property
    def descriptions(self) -> list[str]:
        """``rewards.protocol.describe`` of each variant's pipeline (config.json; checked on resume)."""
        if self.rewards is None:
            return list(self.described)
        return [rewards.protocol.describe(r) for r in self.rewards]

    # ------------------------------------------------------------------ config.json

    def to_json(self, algo: str) -> dict:
        """The plan as config.json records it (with ``algo``, the learner's registered name)."""
        varied = len({config_lib.dumps(c) for c in self.configs}) > 1
        return {
            "algo": algo, "config": config_lib.to_dict(self.configs[0]), "seeds": list(self.seeds),
            "rewards": self.descriptions,
            "config_variants": [config_lib.to_dict(c) for c in self.configs] if varied else None,
            "reward_spec": self.reward_spec, "variant_labels": list(self.named_variants) or None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], config_cls: type, reward: RewardArg = None,
                  where: str = "config.json", pipelines: bool = True) -> Plan:
        """The plan ``to_json`` wrote. Pipelines come from ``reward_spec``, or from ``reward`` (the
        same Python-built pipelines again, which must describe as recorded); ``pipelines=False``
        reads the layout only (configs, seeds, labels: enough to export a run's policy)."""
        configs = [config_lib.from_dict(config_cls, c) for c in (data.get("config_variants") or [data["config"]])]
        recorded = list(data.get("rewards") or [])
        num_variants = max(len(configs), len(recorded), 1)
        if not pipelines:
            configs = _repeat(configs, num_variants)
            labels = data.get("variant_labels") or [""] * num_variants
            return cls(tuple(configs), None, tuple(data["seeds"]), tuple(labels), data.get("reward_spec"),
                       tuple(recorded))
        if reward is None and data.get("reward_spec") is not None:
            reward = data["reward_spec"]
        labels = data.get("variant_labels")
        plan = expand(configs, reward=reward, seeds=data["seeds"], labels=labels, num_variants=num_variants)
        if recorded and plan.descriptions != recorded:
            raise ValueError(f"{where} was trained with reward {recorded}, but was given {plan.descriptions}"
                             f"{first_setting_difference(recorded, plan.descriptions)}; pass the same reward= (a "
                             "pipeline given as a spec string is rebuilt without it; data such as demonstrations "
                             "must be the same)")
        return plan


def expand(config: Any | Sequence[Any], *, grid: Mapping[str, Any] | None = None, reward: RewardArg = None,
           seeds: int | Sequence[int] = 8, labels: Sequence[str] | None = None, num_variants: int = 1) -> Plan:
    """The plan of ``config`` (one or a list), its ``grid`` and ``reward`` (a transform, a list of
    them, or spec text with grids), over ``seeds`` (a count N: seeds 0..N-1). See the module
    docstring for the rules; ``labels`` replaces the generated variant labels; ``num_variants``
    repeats a single config and pipeline (a recorded plan's count)."""
    configs = [config] if not isinstance(config, (list, tuple)) else list(config)
    if not configs:
        raise ValueError("config must be a learner config or a non-empty list of them")
    if grid:
        if len(configs) > 1:
            raise ValueError("give a grid with one base config, not with a list of configs")
        points = config_grid(configs[0], grid)
    else:
        points = [(label, c) for label, c in zip(_config_labels(configs), configs)]
    pipelines, reward_labels, reward_spec = _reward_variants(reward)
    if grid:  # the product: config-major
        points = [p for p in points for _ in pipelines]
    n = max(len(points), len(pipelines), num_variants)
    if n % len(points) or n % len(pipelines):
        raise ValueError(f"{len(points)} config variants and {len(pipelines)} reward variants do not pair up; give "
                         "one of either, as many of both, or a list whose length the other's divides")
    points, pipelines = _repeat(points, n), _repeat(pipelines, n)
    reward_labels = _repeat(reward_labels, n)
    made = [",".join(x for x in (r, c) if x) for r, (c, _) in zip(reward_labels, points)]
    if labels is not None:
        if len(labels) != n:
            raise ValueError(f"{len(labels)} variant labels for {n} variants")
        made = [str(label) for label in labels]
    seed_list = list(range(seeds)) if isinstance(seeds, int) and not isinstance(seeds, bool) else list(seeds)
    return Plan(tuple(c for _, c in points), tuple(pipelines), tuple(seed_list), tuple(made), reward_spec)


def config_grid(config: Any, grid: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(label, config)`` per point of ``grid`` over ``config`` (a config, or a config class whose
    defaults the grid's values override), the last axis varying fastest: a list of numbers for a
    numeric field is an axis, any other value an override."""
    config_cls = config if isinstance(config, type) else type(config)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    axes = []
    for name, value in grid.items():
        field = fields.get(name)
        if field is None:
            raise ValueError(f"{config_cls.__name__} has no field {name!r}; fields: {', '.join(sorted(fields))}")
        if isinstance(value, (list, tuple)) and config_lib.is_numeric(field):
            if not value or not all(_is_number(v) for v in value):
                raise ValueError(f"the grid of {name!r} must be a non-empty list of numbers, got {list(value)!r}")
            axes.append([(name, v) for v in value])
        elif isinstance(value, (list, tuple)) and not _is_sequence_field(config_cls, name):
            numeric = sorted(n for n, f in fields.items() if config_lib.is_numeric(f))
            raise ValueError(f"{name!r} is not a numeric hyperparameter of {config_cls.__name__}, so it cannot be a "
                             f"grid (one program shares it); gridable: {', '.join(numeric)}")
        else:
            axes.append([(name, tuple(value) if isinstance(value, list) else value)])
    make = config if isinstance(config, type) else config.replace
    points = []
    for point in itertools.product(*axes):
        varied = [(n, v) for (n, v), axis in zip(point, axes) if len(axis) > 1]
        points.append((",".join(f"{n}={_number_text(v)}" for n, v in varied), make(**dict(point))))
    return points


def first_setting_difference(trained: list[str], given: list[str]) -> str:
    """``: variant i's <setting> is X, was Y`` for the first ``name=value`` of two descriptions
    that differs (e.g. a dataset's content hash), or nothing when they differ in structure."""
    import re

    for i, (a, b) in enumerate(zip(trained, given)):
        settings = [dict(re.findall(r"(\w+)=((?:sha256:\w+(?:\[[^\]]*\])?)|[^,()]+)", text)) for text in (a, b)]
        for name in settings[0]:
            if name in settings[1] and settings[0][name] != settings[1][name]:
                variant = f"variant {i}'s " if len(trained) > 1 else ""
                return f" ({variant}{name} is {settings[1][name]}, was {settings[0][name]})"
    return ""


def _reward_variants(reward: RewardArg) -> tuple[list, list[str], str | None]:
    """(pipelines, their labels, spec text or None)."""
    if isinstance(reward, str):
        parsed = spec.parse(reward)
        return [v.transform for v in parsed], [v.label for v in parsed], reward
    if reward is None:
        return [rewards.identity()], [""], None
    pipelines = [reward] if isinstance(reward, rewards.RewardTransform) else list(reward)
    if not pipelines:
        raise ValueError("reward must be a RewardTransform, a reward spec string or a non-empty list of transforms")
    return pipelines, [f"reward {i}" if len(pipelines) > 1 else "" for i in range(len(pipelines))], None


def _config_labels(configs: list) -> list[str]:
    """``name=value`` of the fields that differ between explicit config variants."""
    dicts = [config_lib.to_dict(c) for c in configs]
    varied = [k for k in dicts[0] if len({json.dumps(d[k]) for d in dicts}) > 1]
    return [",".join(f"{k}={_number_text(d[k])}" for k in varied) for d in dicts]


def _is_sequence_field(config_cls: type, name: str) -> bool:
    hint = typing.get_type_hints(config_cls)[name]
    return any(typing.get_origin(m) in (tuple, list, collections.abc.Sequence)
               for m in (typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)))


def _repeat(items: list, n: int) -> list:
    return list(items) * (n // len(items))


def _number_text(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
