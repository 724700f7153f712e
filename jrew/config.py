"""Config helpers: static structure vs numeric leaves, validation, JSON round trips.

A config is a ``flax.struct.dataclass``. Fields that change the program's structure (sizes,
names, flags) are static (``static(...)``); numeric hyperparameters are pytree leaves, so a
stack of configs that differ only in numbers is one ``vmap`` and one compilation.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from flax import struct


def static(default: Any) -> Any:
    """A structural field: part of the compiled program's identity, not a pytree leaf."""
    return struct.field(pytree_node=False, default=default)


def is_numeric(field: dataclasses.Field) -> bool:
    """Whether a config field is a numeric leaf (vmappable, gridable), not a ``static`` one."""
    return field.metadata.get("pytree_node", True)


def concrete_values(value: Any) -> np.ndarray | None:
    """The value as a numpy array if it is known now, else None (tracers, placeholders)."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, jax.Array) and not value.is_fully_addressable:  # split over processes (checked before)
        return None
    if isinstance(value, (bool, int, float, np.number, np.ndarray, jax.Array)):
        return np.asarray(value)
    return None


def require(name: str, value: Any, ok: Callable[[np.ndarray], np.ndarray], expected: str) -> None:
    """Raises ``ValueError`` naming ``name`` and ``value`` when ``ok`` fails on a concrete value."""
    arr = concrete_values(value)
    if arr is None:
        return
    if not np.all(ok(arr)):
        shown = value if arr.ndim == 0 else arr.tolist()
        raise ValueError(f"{name} must be {expected}, got {shown!r}")


def require_choice(name: str, value: Any, choices) -> None:
    """Raises ``ValueError`` naming ``name`` and ``value`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def positive(arr):
    return arr > 0


def non_negative(arr):
    return arr >= 0


def unit_interval(arr):
    return (arr >= 0) & (arr <= 1)


def finite(arr):
    return np.isfinite(arr)


def to_dict(config) -> dict[str, Any]:
    """JSON-ready dict of a config (leaves become Python numbers or lists)."""

    def plain(v):
        if isinstance(v, (np.ndarray, jax.Array)):
            return np.asarray(v).tolist()
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def from_dict(cls, data: dict[str, Any]):
    """Inverse of ``to_dict``: lists become tuples again (static fields must be hashable)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {sorted(unknown)}; expected some of {sorted(names)}")

    def hashable(v):
        return tuple(hashable(x) for x in v) if isinstance(v, list) else v

    return cls(**{k: hashable(v) for k, v in data.items()})


def dumps(config) -> str:
    return json.dumps(to_dict(config), indent=2, allow_nan=False, default=str)
