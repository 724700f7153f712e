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
    envs: str  # which envs' observations it reads, comma-separated
    description: str

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(e.strip() for e in self.envs.split(",") if e.strip())

    def check_env(self, env: str, owner: str = "") -> None:
        """A ``ValueError`` unless ``env`` is one of the envs this function reads: elsewhere its
        observation means something else, and a run would train on a wrong signal silently."""
        if env in self.env_names:
            return
        fits = [n for n, f in all_functions().items() if env in f.env_names and f.kind == self.kind]
        alternatives = (f"the {self.kind}s for {env}: {', '.join(fits)}" if fits
                        else f"no named {self.kind} is for {env}")
        raise ValueError(
            f"{owner + ': ' if owner else ''}the named function {self.name} reads observations of {self.envs}, "
            f"not {env}; {alternatives} (`jrew envs --functions`). A Python function of your own is not checked.")


_FUNCTIONS: dict[str, NamedFunction] = {}
KINDS = ("potential", "predicate", "descriptor")


def register(name: str, kind: str, envs: str, description: str):
    """Decorator: registers ``fn(obs) -> scalar`` as ``name`` ('family.name')."""
    if "." not in name:
        raise ValueError(f"named functions are 'family.name' (e.g. 'deep_sea.column'), got {name!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def add(fn):
        if not NamedFunction(name, fn, kind, envs, description).env_names:
            raise ValueError(f"{name}: envs must name at least one env, got {envs!r}")
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


def of(fn: Callable) -> NamedFunction | None:
    """The registration of ``fn`` (the function object itself), or None for any other function."""
    _load_env_modules()
    return next((f for f in _FUNCTIONS.values() if f.fn is fn), None)


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
