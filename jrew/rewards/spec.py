"""Reward pipelines from text: ``chain(normalize_returns(), pbrs(potential=deep_sea.column, coef=0.5))``.

The command line (``jrew train --reward ...``), benchmark suites and config.json name a pipeline
by such a string. It is a Python call expression, read with ``ast`` and never executed:

* a call names a registered transform constructor (``@text_constructor``, ``jrew.rewards.registry``;
  ``jrew envs --transforms`` lists them), and the constructor's annotations are its grammar;
* a dotted name names a function an env provides (``envs.named``: potentials, predicates);
* values are numbers, strings, booleans, ``None``, lists/tuples and ``{"key": value}`` dicts, and
  each is checked against the constructor's signature before anything runs;
* a list where one number is expected is a **grid**: ``pbrs(potential=point_mass.distance,
  coef=[0.5, 1, 2])`` is three variants. Grids multiply (last argument varies fastest). Variants
  that differ only in numbers train as one vmapped program.

Errors name the position in the string, the transform and the argument.
"""

from __future__ import annotations

import ast
import collections.abc
import dataclasses
import difflib
import functools
import inspect
import itertools
import types
import typing
from collections.abc import Callable
from typing import Any

from jrew.rewards import (  # noqa: F401  (imported to register their constructors)
    base,
    components,
    episodic,
    exploration,
    normalize,
    potential,
    preferences,
    registry,
    shaping,
)
from jrew.rewards.settings import Fn

# The constructors registered with @text_constructor (jrew.rewards.registry): importing the modules
# above registers jrew's own; a user's module registers its own the same way.
TRANSFORMS: dict[str, Callable[..., base.RewardTransform]] = registry.TEXT


class RewardSpecError(ValueError):
    """A reward string that cannot be read: the message shows where."""


@dataclasses.dataclass(frozen=True)
class Variant:
    """One reward pipeline of a (possibly gridded) spec: its grid choices and the transform."""

    choices: tuple[tuple[str, Any], ...]  # (argument path, value) per grid axis, e.g. (("chain.1.pbrs.coef", 0.5),)
    transform: base.RewardTransform

    @property
    def label(self) -> str:
        return ",".join(f"{'.'.join(path.split('.')[-2:])}={value}" for path, value in self.choices)


def parse(text: str) -> list[Variant]:
    """Every variant of the reward spec ``text`` (one unless it has grids), checked and built."""
    if not isinstance(text, str) or not text.strip():
        raise RewardSpecError(f"a reward spec is a non-empty string such as 'pbrs(potential=deep_sea.column)', "
                              f"got {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise RewardSpecError(f"reward spec {text!r} is not a call expression: {err.msg} at column "
                              f"{(err.offset or 1)}") from None
    reader = _Reader(text.strip())
    alternatives = reader.transform(tree.body, "")
    return [Variant(tuple(choices), make()) for choices, make in alternatives]


def parse_one(text: str) -> base.RewardTransform:
    """The single transform of ``text``; a grid is an error here."""
    variants = parse(text)
    if len(variants) > 1:
        raise RewardSpecError(f"reward spec {text!r} is a grid of {len(variants)} variants where one pipeline "
                              "is expected")
    return variants[0].transform


def check_named_functions(transform: base.RewardTransform, env: str) -> None:
    """A ``ValueError`` where the pipeline uses a registered function (``envs.named``: a potential,
    predicate or descriptor) written for other envs than ``env``, naming the envs it is for."""
    from envs import named

    def functions(value):
        if isinstance(value, Fn):
            yield value.fn
        elif isinstance(value, tuple):
            for v in value:
                yield from functions(v)

    def walk(t: base.RewardTransform):
        for setting, value in t.static:
            for fn in functions(value):
                registered = named.of(fn)
                if registered is not None:
                    registered.check_env(env, f"{t.name}({setting}=...)")
        for part in t.parts:
            walk(part)

    walk(transform)


def catalog() -> dict[str, str]:
    """Transform name -> its signature, for listings."""
    return {name: f"{name}{_signature_text(fn)}" for name, fn in sorted(TRANSFORMS.items())}


# ---------------------------------------------------------------- reading the expression

Alternatives = list[tuple[list[tuple[str, Any]], Any]]  # [(grid choices, value or thunk)]


class _Reader:
    def __init__(self, text: str):
        self.text = text

    def fail(self, node: ast.AST, message: str) -> typing.NoReturn:
        col = getattr(node, "col_offset", 0)
        snippet = ast.get_source_segment(self.text, node) or ""
        raise RewardSpecError(f"reward spec, column {col + 1} ({snippet!r}): {message}\n  {self.text}\n  {' ' * col}^")

    # a transform: a call of a registered constructor; returns thunks (built once all is checked)
    def transform(self, node: ast.AST, path: str) -> Alternatives:
        if isinstance(node, (ast.Name, ast.Attribute)) and _dotted(node) in TRANSFORMS:
            self.fail(node, f"a transform is called: write {_dotted(node)}()")
        if not isinstance(node, ast.Call):
            self.fail(node, "expected a reward transform, such as scale(factor=2.0)")
        name = _dotted(node.func)
        if name not in TRANSFORMS:
            close = difflib.get_close_matches(str(name), list(TRANSFORMS), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            self.fail(node.func, f"unknown transform {name!r}.{hint} Known: {', '.join(sorted(TRANSFORMS))}")
        fn = TRANSFORMS[name]
        here = f"{path}.{name}" if path else name
        signature, hints = inspect.signature(fn), _hints(fn)
        params = list(signature.parameters.values())
        bound: list[tuple[str, bool, Alternatives]] = []  # (param name, is *args, alternatives)
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        var = next((p for p in params if p.kind == p.VAR_POSITIONAL), None)
        for i, arg in enumerate(node.args):
            if i < len(positional):
                p = positional[i]
                bound.append((p.name, False, self.value(arg, hints.get(p.name, Any), f"{here}.{p.name}", p.name)))
            elif var is not None:
                bound.append((var.name, True, self.value(arg, hints.get(var.name, Any), f"{here}.{i}", var.name)))
            else:
                self.fail(arg, f"{name} takes at most {len(positional)} positional argument(s)")
        given = {b[0] for b in bound if not b[1]}
        for kw in node.keywords:
            if kw.arg is None:
                self.fail(kw.value, "** arguments are not supported")
            p = signature.parameters.get(kw.arg)
            if p is None or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                names = [q.name for q in params if q.kind != q.VAR_POSITIONAL]
                close = difflib.get_close_matches(kw.arg, names, n=2, cutoff=0.5)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                self.fail(kw.value, f"{name} has no argument {kw.arg!r}.{hint} Its arguments: {name}"
                                    f"{_signature_text(fn)}")
            if kw.arg in given:
                self.fail(kw.value, f"{name} got argument {kw.arg!r} twice")
            given.add(kw.arg)
            bound.append((kw.arg, False, self.value(kw.value, hints.get(kw.arg, Any), f"{here}.{kw.arg}", kw.arg)))
        missing = [p.name for p in positional if p.default is p.empty and p.name not in given]
        if missing:
            self.fail(node, f"{name} needs the argument(s) {missing}: {name}{_signature_text(fn)}")

        out: Alternatives = []
        for combo in itertools.product(*(alts for _, _, alts in bound)):
            choices = [c for chosen, _ in combo for c in chosen]
            args = [(pname, star, value) for (pname, star, _), (_, value) in zip(bound, combo)]
            out.append((choices, _Thunk(_build, fn, name, args, self, node)))
        return out

    def value(self, node: ast.AST, hint: Any, path: str, arg: str) -> Alternatives:
        """The alternatives of one argument value, checked against its type ``hint``."""
        if _is_transform_type(hint):
            return self.transform(node, path)
        if isinstance(node, ast.List) and _is_number_type(hint):  # a grid axis
            if not node.elts:
                self.fail(node, f"grid for {arg!r} is empty")
            values = [self.literal(elt, hint, arg) for elt in node.elts]
            return [([(path, v)] if len(values) > 1 else [], v) for v in values]
        return [([], self.literal(node, hint, arg))]

    def literal(self, node: ast.AST, hint: Any, arg: str) -> Any:
        if _accepts_function(hint):
            if isinstance(node, (ast.Name, ast.Attribute)):
                return self.function(node)
            if isinstance(node, ast.Constant) and node.value is None and _optional(hint):
                return None
            self.fail(node, f"{arg!r} takes a named function such as deep_sea.column (`jrew envs --functions`)")
        try:
            value = ast.literal_eval(node)
        except ValueError:
            self.fail(node, f"{arg!r} takes a literal value ({type_text(hint)}), not this expression")
        problem = type_problem(value, hint)
        if problem:
            self.fail(node, f"{arg!r} must be {type_text(hint)}, got {value!r} ({problem})")
        return _converted(value)

    def function(self, node: ast.AST) -> Callable:
        from envs import named

        name = _dotted(node)
        try:
            return named.get(name).fn
        except ValueError as err:
            self.fail(node, str(err))


class _Thunk(functools.partial):
    """A transform to build once the whole string has been checked."""


def _build(fn, name: str, args, reader: _Reader, node: ast.AST) -> base.RewardTransform:
    """Calls the constructor (nested transforms first); its own validation errors point at ``node``."""
    positional, keywords = [], {}
    for pname, star, value in args:
        value = value() if isinstance(value, _Thunk) else value
        if star:
            positional.append(value)
        else:
            keywords[pname] = value
    try:
        return fn(*positional, **keywords)
    except (ValueError, TypeError) as err:
        message = str(err)
        reader.fail(node, message if message.startswith(name) else f"{name}: {message}")


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


# ---------------------------------------------------------------- types of constructor arguments


@functools.cache
def _hints(fn) -> dict[str, Any]:
    hints = typing.get_type_hints(fn)
    for p in inspect.signature(fn).parameters.values():  # unannotated: the default's type
        if p.name not in hints and p.default is not p.empty and p.default is not None:
            d = p.default
            hints[p.name] = tuple[type(d[0]), ...] if isinstance(d, tuple) and d else type(d)
    return hints


def _members(hint) -> tuple:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _optional(hint) -> bool:
    return type(None) in _members(hint)


def _is_transform_type(hint) -> bool:
    return any(m is base.RewardTransform for m in _members(hint))


def _accepts_function(hint) -> bool:
    return any(m is collections.abc.Callable or typing.get_origin(m) is collections.abc.Callable
               or m is typing.Callable for m in _members(hint))


def _is_number_type(hint) -> bool:
    return any(m in (float, int) for m in _members(hint))


def type_problem(value, hint) -> str | None:
    """Why ``value`` does not fit ``hint`` (None: it fits)."""
    if hint is Any:
        return None
    for m in _members(hint):
        if _fits(value, m):
            return None
    return f"a {type(value).__name__}"


def _fits(value, m) -> bool:
    if m is type(None):
        return value is None
    if m is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if m is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if m in (bool, str):
        return isinstance(value, m)
    origin, args = typing.get_origin(m), typing.get_args(m)
    if origin is typing.Literal:
        return value in args
    if origin in (tuple, collections.abc.Sequence, list):
        item = args[0] if args else Any
        return isinstance(value, (list, tuple)) and all(item is Any or _fits(v, item) for v in value)
    if origin in (collections.abc.Mapping, dict):
        key, item = args if args else (Any, Any)
        return isinstance(value, dict) and all(_fits(k, key) and _fits(v, item) for k, v in value.items())
    return False


def _converted(value):
    """Lists become tuples (static settings must be hashable); ints stay ints."""
    return tuple(value) if isinstance(value, list) else value


def type_text(hint) -> str:
    names = []
    for m in _members(hint):
        if m is type(None):
            names.append("None")
        elif isinstance(m, type):
            names.append(m.__name__)
        else:
            names.append(str(m).replace("typing.", "").replace("collections.abc.", ""))
    return " or ".join(names)


def _signature_text(fn) -> str:
    return str(inspect.signature(fn)).replace("'", "").split(" ->")[0]
