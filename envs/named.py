"""Named functions of observations that envs provide: potentials, predicates, descriptors.

Reward transforms such as ``pbrs(potential=...)`` and ``subgoal_bonus(predicate=...)`` take a
function of one observation. Registered here under a dotted name, such a function can be chosen
from the command line and from benchmark suites (``pbrs(potential=deep_sea.column, coef=0.5)``)
and a run trained with it resumes without Python code. ``jrew envs --functions`` lists them.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class NamedFunction:
    name: str
    fn: Callable[[jax.Array], jax.Array]  # one observation [obs_size] -> scalar
    kind: str  # potential, predicate or descriptor
    envs: str  # which envs' observations it reads
    description: str


_FUNCTIONS: dict[str, NamedFunction] = {}
KINDS = ("potential", "predicate", "descriptor")


def register(name: str, kind: str, envs: str, description: str):
    """Decorator: registers ``fn(obs) -> scalar`` as ``name`` ('family.name')."""
    if "." not in name:
        raise ValueError(f"named functions are 'family.name' (e.g. 'deep_sea.column'), got {name!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def add(fn):
        _FUNCTIONS[name] = NamedFunction(name, fn, kind, envs, description)
        return fn

    return add


def get(name: str) -> NamedFunction:
    """The function registered as ``name``; a ``ValueError`` suggests close names."""
    _load_env_modules()
    if name not in _FUNCTIONS:
        close = difflib.get_close_matches(name, list(_FUNCTIONS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown function {name!r}.{hint} Known: {', '.join(sorted(_FUNCTIONS))}")
    return _FUNCTIONS[name]


def all_functions() -> dict[str, NamedFunction]:
    _load_env_modules()
    return dict(sorted(_FUNCTIONS.items()))


def _load_env_modules() -> None:
    import envs.lab  # noqa: F401  (registers the lab's functions)


# --------------------------------------------------------------- gymnax/DeepSea-bsuite


@register("deep_sea.column", "potential", "gymnax/DeepSea-bsuite, lab/deep_sea",
          "column / size of the one-hot cell: progress to the right, where the reward lies")
def deep_sea_column(obs: jax.Array) -> jax.Array:
    size = round(obs.shape[-1] ** 0.5)  # the observation is the size x size grid, flattened
    return (jnp.argmax(obs) % size) / size * obs.max()  # all-zero obs (episode over): 0
