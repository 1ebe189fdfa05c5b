"""Conditions from Python expressions over fields, as filter AST nodes.

    from falcolib.rules.expr import F, M
    cond = (F("evt.type") == "open") & F("fd.name").startswith("/etc") & ~F("evt.failed")
    cond = M("spawned_process") & F("proc.name").in_(["bash", "sh"]) | F("fd.num").exists()
    cond.to_source()   # 'evt.type = open and fd.name startswith /etc and not evt.failed = true'

``F(name)`` is a field; comparing it gives a condition. A field used on its
own where a condition is expected (``~F("evt.failed")``) means
``field = true``. ``M(name)`` refers to a macro, ``L(name)`` to a list
(inside ``in_``). ``&``, ``|`` and ``~`` combine conditions; ``Cond.wrap``
makes any AST node combinable. Conditions work anywhere a condition string
does (``Rule(condition=...)``, ``Macro(condition=...)``).
"""
from __future__ import annotations

from typing import Any, Iterable

import attrs

from falcolib.filter import ast
from falcolib.filter.operators import Operator


def _value(v: Any):
    if isinstance(v, Field):
        return ast.FieldValue(v.ref)
    if isinstance(v, bool):
        return ast.Literal("true" if v else "false")
    return ast.Literal(str(v), quoted=isinstance(v, str))


def _items(values: Iterable[Any]):
    if isinstance(values, (L, str)):
        values = [values]
    out = []
    for v in values:
        if isinstance(v, L):
            out.append(ast.ListRef(v.name))
        else:
            out.append(_value(v))
    return ast.ListValue(tuple(out))


@attrs.frozen
class Cond:
    """A condition (wraps a boolean AST node); combine with ``&``, ``|``, ``~``."""

    node: Any

    @classmethod
    def wrap(cls, x: Any) -> "Cond":
        if isinstance(x, Cond):
            return x
        if isinstance(x, Field):
            return x.is_true()
        if isinstance(x, str):
            from falcolib.filter import parse
            return cls(parse(x))
        return cls(x)

    def __and__(self, other) -> "Cond":
        a, b = self.node, Cond.wrap(other).node
        items = (*(a.items if isinstance(a, ast.And) else (a,)),
                 *(b.items if isinstance(b, ast.And) else (b,)))
        return Cond(ast.And(items))

    def __or__(self, other) -> "Cond":
        a, b = self.node, Cond.wrap(other).node
        items = (*(a.items if isinstance(a, ast.Or) else (a,)),
                 *(b.items if isinstance(b, ast.Or) else (b,)))
        return Cond(ast.Or(items))

    __rand__ = lambda self, other: Cond.wrap(other) & self  # noqa: E731
    __ror__ = lambda self, other: Cond.wrap(other) | self  # noqa: E731

    def __invert__(self) -> "Cond":
        return Cond(ast.Not(self.node))

    def __bool__(self) -> bool:
        raise TypeError("use &, | and ~ to combine conditions (not and/or/not)")

    def to_source(self) -> str:
        return self.node.to_source()

    def __str__(self) -> str:
        return self.to_source()


@attrs.frozen(eq=False)
class Field:
    """A field in an expression: ``F("proc.name")``, ``F("proc.aname", 2)``."""

    name: str
    arg: str | int | None = None

    @property
    def ref(self) -> ast.FieldRef:
        return ast.FieldRef(self.name, None if self.arg is None else str(self.arg))

    def _cmp(self, op: Operator, value: Any) -> Cond:
        return Cond(ast.Compare(self.ref, op, _value(value)))

    def __eq__(self, v) -> Cond:  # type: ignore[override]
        return self._cmp(Operator.EQ, v)

    def __ne__(self, v) -> Cond:  # type: ignore[override]
        return self._cmp(Operator.NE, v)

    def __lt__(self, v) -> Cond:
        return self._cmp(Operator.LT, v)

    def __le__(self, v) -> Cond:
        return self._cmp(Operator.LE, v)

    def __gt__(self, v) -> Cond:
        return self._cmp(Operator.GT, v)

    def __ge__(self, v) -> Cond:
        return self._cmp(Operator.GE, v)

    __hash__ = object.__hash__

    def contains(self, v) -> Cond:
        return self._cmp(Operator.CONTAINS, v)

    def icontains(self, v) -> Cond:
        return self._cmp(Operator.ICONTAINS, v)

    def startswith(self, v) -> Cond:
        return self._cmp(Operator.STARTSWITH, v)

    def endswith(self, v) -> Cond:
        return self._cmp(Operator.ENDSWITH, v)

    def glob(self, v) -> Cond:
        return self._cmp(Operator.GLOB, v)

    def regex(self, v) -> Cond:
        return self._cmp(Operator.REGEX, v)

    def in_(self, values) -> Cond:
        return Cond(ast.Compare(self.ref, Operator.IN, _items(values)))

    def intersects(self, values) -> Cond:
        return Cond(ast.Compare(self.ref, Operator.INTERSECTS, _items(values)))

    def pmatch(self, values) -> Cond:
        return Cond(ast.Compare(self.ref, Operator.PMATCH, _items(values)))

    def exists(self) -> Cond:
        return Cond(ast.Unary(self.ref, Operator.EXISTS))

    def is_true(self) -> Cond:
        return self._cmp(Operator.EQ, True)

    def __invert__(self) -> Cond:
        return ~self.is_true()

    def __and__(self, other) -> Cond:
        return self.is_true() & other

    def __or__(self, other) -> Cond:
        return self.is_true() | other


@attrs.frozen
class L:
    """A list reference, for ``F(...).in_([L("shell_binaries"), "zsh"])``."""

    name: str


def F(name: str, arg: str | int | None = None) -> Field:  # noqa: N802 - reads like a type
    """The field ``name`` (with ``[arg]``)."""
    return Field(name, arg)


def M(name: str) -> Cond:  # noqa: N802
    """A reference to the macro ``name``."""
    return Cond(ast.Identifier(name))


__all__ = ["Cond", "F", "Field", "L", "M"]
