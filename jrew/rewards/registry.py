"""Which reward constructors the text grammar can call: filled by the constructors themselves.

    @text_constructor
    def scale(factor: float = 1.0) -> RewardTransform: ...

makes ``scale(factor=2.0)`` a valid ``--reward`` string (``jrew.rewards.spec``). A constructor's
**annotations are its grammar**: each argument of a text call is checked against its type hint
(numbers, strings, booleans, literals, tuples, dicts, named functions for ``Callable``, nested
transforms for ``RewardTransform``), and a list where a number goes is a grid. A constructor that
takes data text cannot hold (demonstrations, arrays) is marked ``@python_only("why")``; a test
checks that every public constructor returning a ``RewardTransform`` is one or the other.
Your own constructors register the same way, and ``jrew train --reward`` can then name them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

TEXT: dict[str, Callable] = {}  # name in the grammar -> constructor
PYTHON_ONLY: dict[str, str] = {}  # qualified name -> why it is not available as text


def text_constructor(fn: F) -> F:
    """Registers ``fn`` under its name for reward spec strings (it is returned unchanged)."""
    name = fn.__name__
    if name in TEXT and TEXT[name] is not fn:
        raise ValueError(f"a reward constructor named {name!r} is already registered ({_where(TEXT[name])}); "
                         "rename one of them")
    TEXT[name] = fn
    return fn


def python_only(reason: str) -> Callable[[F], F]:
    """Marks a constructor as not available as text, saying why (it is returned unchanged)."""
    if not reason:
        raise ValueError("python_only needs the reason the constructor is not available as text")

    def mark(fn: F) -> F:
        PYTHON_ONLY[_where(fn)] = reason
        return fn

    return mark


def _where(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"
