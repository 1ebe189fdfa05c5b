"""The condition AST: frozen values that print back to source.

Boolean nodes: ``And(items)``, ``Or(items)``, ``Not(item)``,
``Compare(field, op, value)``, ``Unary(field, op)`` (``exists``) and
``Identifier(name)`` (a bare word in boolean position: a macro reference).
Operands: ``FieldRef(name, arg, transformers)``; values ``Literal(text)``,
``ListValue(items)`` whose items are ``Literal`` or ``ListRef`` (a bare word
that may name a list), a lone ``ListRef`` (``x in some_list``), and
``FieldValue(field)`` (``val(f)`` or a transformed field on the right).

Positions are carried for error messages only (``eq=False``); so is the
quoting of a literal. ``parse(n.to_source()) == n`` for any parsed ``n``.
"""
from __future__ import annotations

from typing import Callable, Iterator, Union

import attrs

from falcolib.errors import Position
from falcolib.filter import quoting
from falcolib.filter.operators import Operator, Transformer  # noqa: F401 (re-exported)

_pos = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class FieldRef:
    """A field, its ``[arg]`` and the transformers applied, innermost first."""

    name: str
    arg: str | None = None
    transformers: tuple[Transformer, ...] = attrs.field(default=(), converter=tuple)
    position: Position | None = _pos

    @property
    def display(self) -> str:
        """The field as written, without transformers: ``proc.aname[2]``."""
        if self.arg is None:
            return self.name
        arg = self.arg if quoting.FIELD_ARG_BARE.fullmatch(self.arg) else quoting.quote(self.arg)
        return f"{self.name}[{arg}]"

    def to_source(self) -> str:
        text = self.display
        for tr in self.transformers:
            text = f"{tr.value}({text})"
        return text


@attrs.frozen
class Literal:
    """A constant operand, already unescaped."""

    text: str
    quoted: bool = attrs.field(default=False, eq=False)

    def to_source(self, *, in_list: bool = False, numeric: bool = False) -> str:
        if numeric and quoting.NUMBER.fullmatch(self.text):
            return self.text
        if self.quoted or not quoting.is_bare(self.text):
            return quoting.quote(self.text)
        if in_list and quoting.is_identifier(self.text):
            return quoting.quote(self.text)  # bare, it would read back as a ListRef
        return self.text


@attrs.frozen
class ListRef:
    """A bare word inside a list (or after ``in``) that may name a list."""

    name: str
    position: Position | None = _pos

    def to_source(self) -> str:
        return self.name


@attrs.frozen
class ListValue:
    items: tuple[Literal | ListRef, ...] = attrs.field(converter=tuple)

    def to_source(self) -> str:
        return "(" + ", ".join(
            i.to_source(in_list=True) if isinstance(i, Literal) else i.to_source()
            for i in self.items) + ")"


@attrs.frozen
class FieldValue:
    """Another field's value as the right-hand side."""

    field: FieldRef

    def to_source(self) -> str:
        if self.field.transformers:
            return self.field.to_source()
        return f"val({self.field.to_source()})"


Value = Union[Literal, ListValue, ListRef, FieldValue]


@attrs.frozen
class Compare:
    field: FieldRef
    op: Operator
    value: Value

    def to_source(self) -> str:
        if isinstance(self.value, Literal):
            rhs = self.value.to_source(numeric=self.op.is_numeric)
        else:
            rhs = self.value.to_source()
        return f"{self.field.to_source()} {self.op.value} {rhs}"


@attrs.frozen
class Unary:
    field: FieldRef
    op: Operator = Operator.EXISTS

    def to_source(self) -> str:
        return f"{self.field.to_source()} {self.op.value}"


@attrs.frozen
class Identifier:
    """A macro reference."""

    name: str
    position: Position | None = _pos

    def to_source(self) -> str:
        return self.name


@attrs.frozen
class Not:
    item: "Node"

    def to_source(self) -> str:
        return f"not {_operand(self.item)}"


@attrs.frozen
class And:
    items: tuple["Node", ...] = attrs.field(converter=tuple)

    def to_source(self) -> str:
        return " and ".join(_operand(i) for i in self.items)


@attrs.frozen
class Or:
    items: tuple["Node", ...] = attrs.field(converter=tuple)

    def to_source(self) -> str:
        return " or ".join(_operand(i) for i in self.items)


Node = Union[And, Or, Not, Compare, Unary, Identifier]
BOOLEAN_NODES = (And, Or, Not, Compare, Unary, Identifier)


def _operand(node) -> str:
    text = node.to_source()
    return f"({text})" if isinstance(node, (And, Or)) else text


def transform(node, fn: Callable):
    """Rebuild ``node`` bottom-up: children first, then ``fn(new_node)``.

    ``fn`` returns the replacement (or its argument unchanged). It sees
    every node: boolean nodes, ``FieldRef``, ``FieldValue``, ``ListValue``,
    ``ListRef`` and ``Literal``. Unchanged subtrees are reused.
    """
    match node:
        case And(items) | Or(items):
            new = tuple(transform(i, fn) for i in items)
            if any(a is not b for a, b in zip(new, items)):
                node = type(node)(new)
        case Not(item):
            new = transform(item, fn)
            if new is not item:
                node = Not(new)
        case Compare(field, op, value):
            f, v = transform(field, fn), transform(value, fn)
            if f is not field or v is not value:
                node = Compare(f, op, v)
        case Unary(field, op):
            f = transform(field, fn)
            if f is not field:
                node = Unary(f, op)
        case FieldValue(field):
            f = transform(field, fn)
            if f is not field:
                node = FieldValue(f)
        case ListValue(items):
            new = tuple(transform(i, fn) for i in items)
            if any(a is not b for a, b in zip(new, items)):
                node = ListValue(new)
    return fn(node)


def walk(node) -> Iterator:
    """Every node of the tree, parents before children."""
    yield node
    match node:
        case And(items) | Or(items) | ListValue(items):
            for i in items:
                yield from walk(i)
        case Not(item):
            yield from walk(item)
        case Compare(field, _, value):
            yield from walk(field)
            yield from walk(value)
        case Unary(field, _) | FieldValue(field):
            yield from walk(field)


def and_of(items) -> Node:
    items = tuple(items)
    return items[0] if len(items) == 1 else And(items)


def or_of(items) -> Node:
    items = tuple(items)
    return items[0] if len(items) == 1 else Or(items)
