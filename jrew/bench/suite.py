"""Benchmark suites: a TOML file of envs x named reward variants, read and checked before any training.

A suite (see ``benchmarks/suites/``)::

    name = "smoke"
    seeds = 4                 # seeds 0..3 for every variant
    total_steps = 20_000      # env steps per run (an env may override it)
    baseline = "ppo"          # the variant others are compared with (probability of improvement)
    score = "eval"            # "eval": evaluation episodes' true return; "train": training episodes'

    [evaluation]              # optional (required for score = "eval"); jrew.evaluation.Evaluation
    count = 10                # evaluations per run, evenly spaced (or every = N updates)
    episodes = 16
    deterministic = true

    [envs.cartpole]
    env = "gymnax/CartPole-v1"
    env_kwargs = { }          # optional constructor kwargs
    score_range = [0, 500]    # true return mapped to [0, 1] (0: e.g. random, 1: optimal)
    threshold = 475           # optional: steps-to-threshold (default: 90% of the range)
    config = { num_envs = 16 }  # optional overrides for every variant on this env
    evaluation = { every = 20 } # optional overrides of [evaluation] for this env

    [variants.ppo]
    algo = "ppo"              # default ppo (`jrew train --algo` names)
    reward = "identity()"     # default; a jrew.rewards.spec string, grids allowed
    config = { learning_rate = [3e-4, 1e-3] }  # optional overrides; a list of numbers is a grid
    envs = ["cartpole"]       # optional: only these envs (default all)

A variant with grids expands into ``name[label]`` variants (config grid x reward grid). Variants
on one env with the same algorithm, static config and reward structure form a group: one
compiled program, one run directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import tomllib
import typing
from pathlib import Path
from typing import Any

from jrew import algos, rewards
from jrew import config as config_lib
from jrew.evaluation import Evaluation
from jrew.plan import Plan, expand
from jrew.program import stack_configs
from jrew.rewards import spec

TOP_KEYS = {"name", "description", "seeds", "total_steps", "baseline", "score", "evaluation", "envs", "variants"}
ENV_KEYS = {"env", "env_kwargs", "score_range", "threshold", "config", "total_steps", "evaluation"}
VARIANT_KEYS = {"algo", "reward", "config", "envs", "description"}


class SuiteError(ValueError):
    """A suite file that cannot run: the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class Task:
    key: str  # the suite's name for it (envs.<key>)
    env: str
    score_range: tuple[float, float]
    threshold: float
    evaluation: dict | None  # the suite's [evaluation] settings, with this env's overrides

    def evaluation_for(self, num_updates: int) -> Evaluation | None:
        """The evaluation schedule of a run of ``num_updates`` updates (``count`` -> ``every``)."""
        if self.evaluation is None:
            return None
        settings = dict(self.evaluation)
        count = settings.pop("count", None)
        if count is not None:  # a multiple of the runner's chunk: evaluations fall on chunk ends
            from jrew.runner import default_chunk

            chunk = default_chunk(num_updates)
            settings["every"] = max(1, round(num_updates / count / chunk)) * chunk
        return Evaluation(**settings)


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str  # e.g. "pbrs[pbrs.coef=0.5]"
    base: str  # the [variants.<base>] it came from
    algo: str
    config: Any  # the learner config (with this env's settings)
    reward: rewards.RewardTransform
    reward_spec: str


@dataclasses.dataclass
class Group:
    """Variants of one task that train as one program."""

    task: Task
    name: str  # directory name under runs/<task>/
    algo: str
    variants: list[Variant]

    @property
    def evaluation(self) -> Evaluation | None:
        return self.task.evaluation_for(self.variants[0].config.num_updates)

    def plan(self, seeds: list[int]) -> Plan:
        """What the group's program trains: its variants (named) x ``seeds``."""
        return Plan(tuple(v.config for v in self.variants), tuple(v.reward for v in self.variants), tuple(seeds),
                    tuple(v.name for v in self.variants))

    def fingerprint(self, seeds: list[int]) -> str:
        """What its run trains (configs, pipelines, seeds, evaluation): a changed group cannot resume."""
        evaluation = self.evaluation
        content = {
            "algo": self.algo, "seeds": seeds, "variants": [v.name for v in self.variants],
            "configs": [config_lib.to_dict(v.config) for v in self.variants],
            "rewards": [rewards.protocol.describe(v.reward) for v in self.variants],
            "evaluation": dataclasses.asdict(evaluation) if evaluation else None,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    seeds: list[int]
    baseline: str
    score: str  # "eval" or "train"
    evaluation: dict | None  # the [evaluation] settings (tasks may override them)
    tasks: list[Task]
    groups: list[Group]
    description: str = ""

    @property
    def score_metric(self) -> str:
        return "eval/true_return" if self.score == "eval" else "true_return"

    @property
    def variant_names(self) -> list[str]:
        return list(dict.fromkeys(v.name for g in self.groups for v in g.variants))


def load(path: str | Path) -> Suite:
    """Reads and checks the whole suite (envs, algorithms, configs, reward strings, types) and
    builds every trainer, so that nothing fails after training has started."""
    path = Path(path)
    if not path.exists():
        raise SuiteError(f"no suite file {path}")
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SuiteError(f"{path}: not valid TOML: {err}") from None
    where = str(path)

    def fail(key: str, message: str) -> typing.NoReturn:
        raise SuiteError(f"{where}: {key}: {message}")

    _known(data, TOP_KEYS, "", fail)
    name = data.get("name", path.stem)
    seeds = data.get("seeds", 4)
    if not _is_int(seeds) or seeds < 1:
        fail("seeds", f"must be a positive integer, got {seeds!r}")
    total_steps = data.get("total_steps")
    if not _is_int(total_steps) or total_steps < 1:
        fail("total_steps", f"must be a positive integer, got {total_steps!r}")
    score = data.get("score", "eval" if "evaluation" in data else "train")
    if score not in ("eval", "train"):
        fail("score", f"must be 'eval' or 'train', got {score!r}")
    evaluation = _evaluation(data.get("evaluation"), "evaluation", fail) if "evaluation" in data else None
    if evaluation is None and score == "eval":
        fail("score", "'eval' needs an [evaluation] table")

    envs_table, variants_table = data.get("envs"), data.get("variants")
    if not isinstance(envs_table, dict) or not envs_table:
        fail("envs", "needs at least one [envs.<name>] table")
    if not isinstance(variants_table, dict) or not variants_table:
        fail("variants", "needs at least one [variants.<name>] table")
    tasks = [_task(key, table, data.get("evaluation"), fail) for key, table in envs_table.items()]
    baseline = data.get("baseline", next(iter(variants_table)))
    groups: list[Group] = []
    names: list[str] = []
    for task in tasks:
        table = envs_table[task.key]
        env_config = dict(table.get("config", {}))
        steps = table.get("total_steps", total_steps)
        if not _is_int(steps) or steps < 1:
            fail(f"envs.{task.key}.total_steps", f"must be a positive integer, got {steps!r}")
        env_settings = {"env": task.env, "total_steps": steps,
                        "env_kwargs": tuple((str(k), str(v)) for k, v in table.get("env_kwargs", {}).items())}
        for base, vtable in variants_table.items():
            key = f"variants.{base}"
            if not isinstance(vtable, dict):
                fail(key, "must be a table")
            _known(vtable, VARIANT_KEYS, f"{key}.", fail)
            only = vtable.get("envs")
            if only is not None:
                if not isinstance(only, list) or not all(o in envs_table for o in only):
                    fail(f"{key}.envs", f"must list env keys of [envs], got {only!r}; known: {sorted(envs_table)}")
                if task.key not in only:
                    continue
            for variant in _expand(base, vtable, env_config, env_settings, task, fail):
                _place(variant, task, groups)
                names.append(variant.name)
    if baseline not in names:
        fail("baseline", f"{baseline!r} is not a variant (a gridded one is named name[label]); "
                         f"variants: {sorted(set(names))}")
    for group in groups:  # build each program's trainer now: env, network and pipeline errors surface here
        try:
            algos.by_name(group.algo).make(group.variants[0].config, group.variants[0].reward)
        except (ValueError, TypeError) as err:
            fail(f"variants.{group.variants[0].base} on envs.{group.task.key}", str(err))
    return Suite(name, path, list(range(seeds)), baseline, score, evaluation, tasks, groups,
                 data.get("description", ""))


def _evaluation(table: Any, where: str, fail) -> dict:
    """Checked evaluation settings: Evaluation's fields, with ``count`` (evaluations per run) allowed for ``every``."""
    if not isinstance(table, dict):
        fail(where, "must be a table")
    _known(table, {f.name for f in dataclasses.fields(Evaluation)} | {"count"}, f"{where}.", fail)
    if ("count" in table) == ("every" in table):
        fail(where, "needs exactly one of count (evaluations per run) and every (updates between evaluations)")
    count = table.get("count", 1)
    if not _is_int(count) or count < 1:
        fail(f"{where}.count", f"must be a positive integer, got {count!r}")
    try:
        Evaluation(**{**{k: v for k, v in table.items() if k != "count"}, "every": table.get("every", 1)})
    except (TypeError, ValueError) as err:
        fail(where, str(err))
    return dict(table)


def _task(key: str, table: Any, suite_evaluation: dict | None, fail) -> Task:
    import envs

    where = f"envs.{key}"
    if not isinstance(table, dict):
        fail(where, "must be a table")
    _known(table, ENV_KEYS, f"{where}.", fail)
    name = table.get("env")
    if not isinstance(name, str):
        fail(f"{where}.env", f"must be an env name string, got {name!r}")
    if name not in envs.names():
        fail(f"{where}.env", f"unknown env {name!r}; `jrew envs` lists them")
    score_range = table.get("score_range")
    if (not isinstance(score_range, list) or len(score_range) != 2 or not all(_is_number(x) for x in score_range)
            or score_range[0] >= score_range[1]):
        fail(f"{where}.score_range", f"must be [low, high] numbers with low < high, got {score_range!r}")
    low, high = float(score_range[0]), float(score_range[1])
    threshold = table.get("threshold", low + 0.9 * (high - low))
    if not _is_number(threshold):
        fail(f"{where}.threshold", f"must be a number, got {threshold!r}")
    if "config" in table and not isinstance(table["config"], dict):
        fail(f"{where}.config", "must be a table of config fields")
    if "env_kwargs" in table and not isinstance(table["env_kwargs"], dict):
        fail(f"{where}.env_kwargs", "must be a table")
    evaluation = None
    if "evaluation" in table:
        if suite_evaluation is None:
            fail(f"{where}.evaluation", "overrides the suite's [evaluation] table, which is missing")
        if not isinstance(table["evaluation"], dict):
            fail(f"{where}.evaluation", "must be a table")
        merged = {**suite_evaluation, **table["evaluation"]}
        if "every" in table["evaluation"]:
            merged.pop("count", None)
        if "count" in table["evaluation"]:
            merged.pop("every", None)
        evaluation = _evaluation(merged, f"{where}.evaluation", fail)
    elif suite_evaluation is not None:
        evaluation = _evaluation(suite_evaluation, "evaluation", fail)
    return Task(key, name, (low, high), float(threshold), evaluation)


def _expand(base: str, vtable: dict, env_config: dict, env_settings: dict, task: Task, fail) -> list[Variant]:
    """The variants of ``[variants.<base>]`` on ``task`` (``jrew.plan.expand``: config grid x reward grid)."""
    key = f"variants.{base}"
    algo = vtable.get("algo", "ppo")
    if algo not in algos.ALGORITHMS:
        fail(f"{key}.algo", f"unknown algorithm {algo!r}; expected one of {sorted(algos.ALGORITHMS)}")
    config_cls = algos.by_name(algo).config_cls
    overrides = vtable.get("config", {})
    if not isinstance(overrides, dict):
        fail(f"{key}.config", "must be a table of config fields")
    values = {**env_config, **overrides}
    _check_overrides(values, config_cls, f"{key}.config", fail)
    reward_text = vtable.get("reward", "identity()")
    try:
        plan = expand(config_cls, grid={**env_settings, **values}, reward=reward_text, seeds=1)
    except spec.RewardSpecError as err:
        fail(f"{key}.reward", str(err))
    except (TypeError, ValueError) as err:
        fail(f"{key}.config (on envs.{task.key})", str(err))
    return [Variant(f"{base}[{label}]" if label else base, base, algo, config, reward, reward_text)
            for label, config, reward in zip(plan.labels, plan.configs, plan.rewards)]


def _check_overrides(values: dict, config_cls, where: str, fail) -> None:
    """The TOML values of a variant's config table: known fields, of their types (a list of numbers
    for a numeric field is a grid, which ``jrew.plan.config_grid`` expands)."""
    hints = typing.get_type_hints(config_cls)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    for name, value in values.items():
        if name in ("env", "env_kwargs", "total_steps"):
            fail(f"{where}.{name}", "is set by the suite's [envs] table")
        if name not in fields:
            fail(f"{where}.{name}", f"{config_cls.__name__} has no field {name!r}; fields: {sorted(fields)}")
        if config_lib.is_numeric(fields[name]) and isinstance(value, list):
            if not value or not all(_is_number(v) for v in value):
                fail(f"{where}.{name}", f"a grid must be a non-empty list of numbers, got {value!r}")
            continue
        problem = spec.type_problem(value, hints[name])
        if problem:
            fail(f"{where}.{name}", f"must be {spec.type_text(hints[name])}, got {value!r} ({problem})")


def _place(variant: Variant, task: Task, groups: list[Group]) -> None:
    """Adds ``variant`` to the first group of ``task`` it can share a program with, else a new group."""
    for group in groups:
        if group.task != task or group.algo != variant.algo:
            continue
        first = group.variants[0]
        try:
            stack_configs([first.config, variant.config])
            rewards.protocol.stack_hparams([first.reward, variant.reward])
        except ValueError:
            continue
        group.variants.append(variant)
        return
    index = sum(g.task == task for g in groups)
    groups.append(Group(task, f"g{index:02d}-{variant.base}", variant.algo, [variant]))


def _known(table: dict, allowed: set[str], prefix: str, fail) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            fail(f"{prefix}{key}", f"unknown key{hint}; expected some of {sorted(allowed)}")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def plan(suite: Suite) -> dict:
    """What the output folder records: which variants each group's run holds, in run order."""
    return {
        "suite": suite.name, "seeds": suite.seeds,
        "groups": [{"task": g.task.key, "name": g.name, "algo": g.algo, "variants": [v.name for v in g.variants],
                    "fingerprint": g.fingerprint(suite.seeds)} for g in suite.groups],
    }


def plan_json(suite: Suite) -> str:
    return json.dumps(plan(suite), indent=2)
