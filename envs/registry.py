"""``envs.make(name)``: one namespace for Brax, gymnax and jrew's own environments."""

from __future__ import annotations

import ast
import difflib
import functools
import warnings
from collections.abc import Callable
from typing import Any

from envs.core import Env
from envs.wrappers import AutoResetWrapper, DelayedReward, EpisodeWrapper, NoisyReward, SparseReward

# name -> (factory(**kwargs) -> Env without auto-reset, one-line description)
_REGISTRY: dict[str, tuple[Callable[..., Env], str]] = {}


def register(name: str, factory: Callable[..., Env], description: str = "") -> None:
    """Adds ``name`` to the registry; ``factory(**kwargs)`` returns an Env that reports truncations."""
    if "/" not in name:
        raise ValueError(f"env names are 'family/name' (e.g. 'lab/boat_race'), got {name!r}")
    _REGISTRY[name] = (factory, description)


@functools.cache
def _gymnax_names() -> tuple[str, ...]:
    import gymnax

    return tuple(f"gymnax/{n}" for n in gymnax.registered_envs)


@functools.cache
def _brax_names() -> tuple[str, ...]:
    from envs.brax_adapter import import_brax_envs

    return tuple(f"brax/{n}" for n in sorted(import_brax_envs()._envs))  # Brax keeps its registry private


def parse_kwargs(pairs) -> dict[str, Any]:
    """``(("backend", "positional"), ("size", "8"))`` -> ``{"backend": "positional", "size": 8}``.

    String values that read as Python literals (numbers, booleans, None, tuples) become them, so
    kwargs given on the command line mean what they would in Python.
    """
    out = {}
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"env kwargs come in (name, value) pairs, got {pair!r}")
        name, value = pair
        if isinstance(value, str):
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                pass
        out[str(name)] = value
    return out


def names() -> list[str]:
    """Every env name ``make`` accepts."""
    return sorted(set(_REGISTRY) | set(_gymnax_names()) | set(_brax_names()))


def describe() -> dict[str, str]:
    """Env name -> one-line description."""
    out = {n: "gymnax environment" for n in _gymnax_names()}
    out.update({n: "Brax environment (kwarg backend=generalized|positional|spring|mjx)" for n in _brax_names()})
    out.update({n: d for n, (_, d) in _REGISTRY.items()})
    return dict(sorted(out.items()))


def _make_gymnax(name: str, episode_length: int | None, **kwargs) -> Env:
    import gymnax

    from envs.gymnax_adapter import GymnaxEnv

    env, params = gymnax.make(name.removeprefix("gymnax/"), **kwargs)
    if episode_length is not None:
        if not hasattr(params, "max_steps_in_episode"):
            raise ValueError(f"{name} has no time limit to set; got episode_length={episode_length}")
        params = params.replace(max_steps_in_episode=int(episode_length))
    return GymnaxEnv(env, params, name)


def _make_brax(name: str, episode_length: int | None, **kwargs) -> Env:
    from envs.brax_adapter import BraxEnv, import_brax_envs

    brax_envs = import_brax_envs()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Brax System, piplines and environments")
        brax_env = brax_envs.get_environment(name.removeprefix("brax/"), **kwargs)
    return EpisodeWrapper(BraxEnv(brax_env, name), 1000 if episode_length is None else episode_length)


def make(
    name: str,
    *,
    episode_length: int | None = None,
    auto_reset: bool = True,
    reset_mode: str | None = None,
    reward_threshold: float | None = None,
    reward_delay: bool = False,
    reward_noise: float = 0.0,
    **kwargs,
) -> Env:
    """Builds the env ``name`` ('brax/ant', 'gymnax/CartPole-v1', a registered lab env).

    Args:
      episode_length: time limit; truncations are flagged. Brax default 1000; gymnax and lab envs
        default to their own limit.
      auto_reset: wrap in ``AutoResetWrapper`` (what training needs).
      reset_mode: 'fresh' (new random initial state; default) or 'first' (Brax-style return to
        the first initial state; the default for Brax envs, as in Brax's own trainer).
      reward_threshold, reward_delay, reward_noise: visible-reward wrappers, applied in this
        order (``SparseReward``, ``DelayedReward``, ``NoisyReward``); the true reward is untouched.
        As keyword arguments they also work from the CLI (``--env-kwargs reward_delay True``).
      **kwargs: passed to the env's constructor (e.g. ``backend='positional'`` for Brax).
    """
    if name in _REGISTRY:
        factory = _REGISTRY[name][0]
        env = factory(**kwargs) if episode_length is None else factory(episode_length=episode_length, **kwargs)
        default_mode = "fresh"
    elif name in _gymnax_names():
        env, default_mode = _make_gymnax(name, episode_length, **kwargs), "fresh"
    elif name in _brax_names():
        env, default_mode = _make_brax(name, episode_length, **kwargs), "first"
    else:
        close = difflib.get_close_matches(name, names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown env {name!r}.{hint} Run `jrew envs` to list all names.")
    if reward_threshold is not None:
        env = SparseReward(env, reward_threshold)
    if reward_delay:
        env = DelayedReward(env)
    if reward_noise:
        env = NoisyReward(env, reward_noise)
    if auto_reset:
        env = AutoResetWrapper(env, reset_mode or default_mode)
    return env
