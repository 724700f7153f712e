"""``envs.make(name)``: one namespace for Brax, gymnax and jrew's own environments."""

from __future__ import annotations

import ast
import difflib
import functools
import inspect
import types
import typing
import warnings
from collections.abc import Callable
from typing import Any, Literal

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
    if kwargs:
        check_kwargs(name, kwargs)
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


# make's own keywords: every env takes them
_MAKE_KWARGS = ("episode_length", "reward_threshold", "reward_delay", "reward_noise", "auto_reset", "reset_mode")


def constructor_kwargs(name: str) -> tuple[dict[str, inspect.Parameter], bool] | None:
    """The keyword arguments env ``name``'s constructor takes, beyond ``make``'s own, from its
    signature (following ``**kwargs`` to the base classes), and whether it takes any others too
    (an open ``**kwargs``); None for an unknown name."""
    if name in _REGISTRY:
        factory = _REGISTRY[name][0]
    elif name in _gymnax_names():
        from gymnax import registration

        factory = registration._registry[name.removeprefix("gymnax/")]  # gymnax keeps its registry private
    elif name in _brax_names():
        from envs.brax_adapter import import_brax_envs

        factory = import_brax_envs()._envs[name.removeprefix("brax/")]
    else:
        return None
    params, is_open = _signature_kwargs(factory)
    for key in _MAKE_KWARGS:
        params.pop(key, None)
    return params, is_open


def _signature_kwargs(factory: Callable) -> tuple[dict[str, inspect.Parameter], bool]:
    """``factory``'s keyword parameters; its ``**kwargs`` followed to ``factory.__wrapped__`` (a
    factory of another callable; ``factory.fixed``: names it sets itself) or a class's bases."""
    try:
        signature = inspect.signature(factory, follow_wrapped=False)
    except (TypeError, ValueError):  # a builtin without a signature
        return {}, True
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = {p.name: p for p in signature.parameters.values() if p.kind in kinds}
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return params, False
    if hasattr(factory, "__wrapped__"):
        inner, is_open = _signature_kwargs(factory.__wrapped__)
        fixed = getattr(factory, "fixed", {})
        return {**{k: p for k, p in inner.items() if k not in fixed}, **params}, is_open
    if isinstance(factory, type):
        for base in factory.__mro__[1:]:
            if "__init__" not in vars(base) or base is object:
                continue
            inner, is_open = _signature_kwargs(base)
            # a base's parameters without a default are the subclass's to pass (e.g. Brax's sys)
            params = {**{k: p for k, p in inner.items() if p.default is not inspect.Parameter.empty}, **params}
            if not is_open:
                return params, False
    return params, True


def check_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    """Raises ``TypeError`` for a kwarg env ``name`` does not take (listing the ones it does, with
    the closest match) or a string value where its constructor expects another type (naming the
    kwarg, the value and the type), before the constructor runs."""
    found = constructor_kwargs(name)
    if found is None:
        return
    params, is_open = found
    for key, value in kwargs.items():
        if key in _MAKE_KWARGS:
            continue
        if key not in params:
            if is_open:
                continue
            valid = sorted(params)
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            listed = ", ".join(valid) if valid else "none of its own"
            raise TypeError(f"{name} has no kwarg {key!r}.{hint} Its kwargs: {listed}; and every env's: "
                            f"{', '.join(_MAKE_KWARGS[:4])}")
        if isinstance(value, str):
            expected = _expected_type(params[key])
            if expected is not None and not _accepts(expected, value):
                raise TypeError(f"{name}: kwarg {key} expects {_type_name(expected)}{_default_note(params[key])}, "
                                f"got {value!r} (a string)")


_ANNOTATION_NAMES = {"int": int, "float": float, "bool": bool, "str": str, "tuple": tuple, "list": list,
                     "None": None, "Literal": Literal, "Any": Any, "Optional": typing.Optional, "Union": typing.Union}


def _expected_type(param: inspect.Parameter) -> Any:
    """The parameter's annotation as a type (from its text, too), else its default's type; None if unknown."""
    annotation = param.annotation
    if isinstance(annotation, str):
        try:
            # the constructor's own annotation text (code, not user input), in a namespace of plain types
            annotation = eval(annotation, {"__builtins__": {}}, dict(_ANNOTATION_NAMES))
        except (NameError, AttributeError, SyntaxError, TypeError):
            return None
    if annotation is not inspect.Parameter.empty:
        return annotation
    default = param.default
    if default is inspect.Parameter.empty or default is None:
        return None
    return type(default)


def _accepts(expected: Any, value: str) -> bool:
    """Whether a string (one that did not read as a Python literal) fits ``expected``."""
    origin = typing.get_origin(expected)
    if origin is Literal:  # a string of the wrong value: the constructor's own check names the choices
        return any(isinstance(a, str) for a in typing.get_args(expected))
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in typing.get_args(expected))
    kind = origin if origin is not None else expected
    if expected is None or kind is type(None):
        return False
    return issubclass(str, kind) if isinstance(kind, type) else True  # Any or unknown: let it pass


def _type_name(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(expected))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(expected))
    if expected is None or expected is type(None):
        return "None"
    if origin is not None:
        return getattr(origin, "__name__", str(expected))
    return getattr(expected, "__name__", str(expected))


def _default_note(param: inspect.Parameter) -> str:
    return "" if param.default is inspect.Parameter.empty else f" (default {param.default!r})"
