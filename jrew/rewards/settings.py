"""Static settings of reward transforms: hashable, comparable, printable.

A transform's static settings (mode flags, metric keys, which potential function) fix its compiled
program. Variants that share a program must share them, and a resumed run must be given the same
ones, so they need an equality that means "runs the same code": ``Fn`` gives functions one.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

Settings = tuple[tuple[str, Any], ...]  # ((name, hashable value), ...), sorted by name


class Fn:
    """A function as a static setting.

    Two ``Fn`` are equal when their functions run the same code on the same captured values:
    the same function object, or closures of one ``def``/``lambda`` whose defaults and captured
    variables are equal (arrays by value). So ``[pbrs(lambda o: -o[0], coef=c) for c in coefs]``
    are one transform with different numbers, while two different potentials are not.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable):
        if not callable(fn):
            raise TypeError(f"expected a function, got {type(fn).__name__}: {fn!r}")
        self.fn = fn

    def __eq__(self, other) -> bool:
        return isinstance(other, Fn) and same_value(self.fn, other.fn)

    def __hash__(self) -> int:
        return hash(_code_of(self.fn))

    def __repr__(self) -> str:
        return function_name(self.fn)


def _code_of(fn) -> Any:
    """A coarse key that equal functions share (so ``hash`` agrees with ``==``)."""
    while True:
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif hasattr(fn, "__func__"):  # bound method
            fn = fn.__func__
        elif hasattr(fn, "__wrapped__"):  # decorators, jax.jit
            fn = fn.__wrapped__
        else:
            return getattr(fn, "__code__", type(fn))


def same_value(a: Any, b: Any) -> bool:
    """Structural equality for settings: arrays by value, functions by code and captured values."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, Fn):
        return a == b
    if isinstance(a, functools.partial):
        return same_value(a.func, b.func) and same_value(a.args, b.args) and same_value(a.keywords, b.keywords)
    if hasattr(a, "__func__") and hasattr(a, "__self__"):  # bound methods
        return same_value(a.__func__, b.__func__) and same_value(a.__self__, b.__self__)
    if hasattr(a, "__wrapped__") and callable(a):
        return same_value(a.__wrapped__, b.__wrapped__)
    if hasattr(a, "__code__"):  # plain functions and lambdas
        return (
            a.__code__ == b.__code__
            and same_value(a.__defaults__, b.__defaults__)
            and same_value(a.__kwdefaults__, b.__kwdefaults__)
            and same_value(_captured(a), _captured(b))
        )
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if hasattr(a, "shape") and hasattr(a, "dtype"):  # numpy and jax arrays
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(np.asarray(a), np.asarray(b)))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001  (objects whose == raises or is not a bool: only identity counts)
        return False


def _captured(fn) -> tuple:
    cells = fn.__closure__ or ()
    values = []
    for cell in cells:
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty cell (a name not yet bound)
            values.append(None)
    return tuple(values)


def function_name(fn: Callable, _depth: int = 0) -> str:
    """``module.qualname`` plus the values the function computes with beyond its code: the simple
    values, arrays and functions a closure captures, array and function defaults, and a
    ``functools.partial``'s arguments, e.g. ``mod.phi(size=10, weights=sha256:1a2b3c4d5e6f[4, 2])``.
    Arrays are shown by content, so two closures over different arrays describe differently
    (``resume`` compares descriptions); captured functions are shown the same way, to depth 3."""
    base, shown = fn, []
    while isinstance(base, functools.partial) or hasattr(base, "__wrapped__"):
        if isinstance(base, functools.partial):
            shown += [(f"arg{i}", v) for i, v in enumerate(base.args)] + list(base.keywords.items())
            base = base.func
        else:
            base = base.__wrapped__
    name = f"{getattr(base, '__module__', None) or '?'}.{getattr(base, '__qualname__', type(base).__name__)}"
    code = getattr(base, "__code__", None)
    if code is not None and base.__closure__:
        shown += [(var, value) for var, value in zip(code.co_freevars, _captured(base)) if not var.startswith("_")]
    if code is not None and base.__defaults__:
        names = code.co_varnames[code.co_argcount - len(base.__defaults__):code.co_argcount]
        shown += [(var, value) for var, value in zip(names, base.__defaults__) if _is_array(value) or callable(value)]
    texts = [(var, _value_text(value, _depth)) for var, value in shown]
    texts = [f"{var}={text}" for var, text in texts if text is not None]
    return name + (f"({', '.join(texts)})" if texts else "")


def _is_array(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _value_text(value, depth: int) -> str | None:
    """How a captured value shows in a function's name: simple values as themselves, arrays by
    content, functions by their own names; None for what is not shown (modules, objects)."""
    if isinstance(value, (bool, int, float, str)):
        return repr(value)
    if _is_array(value):
        array = np.ascontiguousarray(np.asarray(value))
        digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode() + array.tobytes()).hexdigest()[:12]
        return f"sha256:{digest}{list(array.shape)}"
    if (hasattr(value, "__code__") or isinstance(value, functools.partial)) and depth < 3:
        return function_name(value, depth + 1)
    return None


def freeze(settings: Mapping[str, Any] | None) -> Settings:
    """A settings dict as sorted, hashable pairs; functions become ``Fn``, lists tuples."""

    def hashable(value):
        if isinstance(value, Fn) or value is None or isinstance(value, (bool, int, float, str)):
            return value
        if callable(value):
            return Fn(value)
        if isinstance(value, (list, tuple)):
            return tuple(hashable(v) for v in value)
        hash(value)  # raises TypeError for what cannot be a static setting
        return value

    return tuple(sorted((str(k), hashable(v)) for k, v in (settings or {}).items()))
