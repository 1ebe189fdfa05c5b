"""Which event types a condition can match, by Falco's rules (libsinsp ppm_codes.cpp).

``and`` intersects its children's sets, ``or`` unites them; a negation is
pushed down to the leaves (De Morgan) where it complements the set of an
``evt.type`` check and leaves every other check neutral (all types).
``evt.type = X``, ``!= X`` and ``in (...)`` name types (every code of that
name, both directions; a syscall without its own event maps to the generic
events); ``evt.type exists`` is all types but, negated, none; ``evt.num``
checks that can never or always hold are resolved (``evt.num = 0``).
The result is None when it cannot be narrowed (every type).
"""
from __future__ import annotations

import functools

from falcolib.filter import ast
from falcolib.filter.operators import Operator

_EVTTYPE_FIELDS = ("evt.type", "syscall.type")
_EVTTYPE_OPS = (Operator.EQ, Operator.NE, Operator.IN)


@functools.cache
def all_types() -> frozenset[int]:
    from falcolib.decode.table import EVENTS
    return frozenset(range(len(EVENTS)))


@functools.lru_cache(maxsize=1024)
def _codes_named(name: str) -> frozenset[int]:
    from falcolib.decode import table
    codes = frozenset(c for c in table.types_named(name) if c >= 2)  # 0/1 are the generic pair
    if not codes and name in table.SYSCALL_NAMES:
        return frozenset({0, 1})  # a syscall without its own event: the generic events
    return codes


def names_to_codes(names) -> frozenset[int]:
    out: frozenset[int] = frozenset()
    for n in names:
        out |= _codes_named(n)
    return out


def condition_evttypes(node) -> frozenset[int] | None:
    """The event type codes ``node`` can match; None when that is every type."""
    codes = walk(node, _leaf)
    return None if codes == all_types() else codes


def walk(node, leaf, negated: bool = False) -> frozenset[int]:
    """The type set of ``node`` with ``leaf(node, negated)`` giving each check's set:
    ``and`` intersects, ``or`` unites, a negation is pushed down to the leaves.
    (falcolib.filter.prefilter walks with a leaf rule of its own.)"""
    match node:
        case ast.And(items):
            return _combine(items, negated, leaf, union=negated)
        case ast.Or(items):
            return _combine(items, negated, leaf, union=not negated)
        case ast.Not(item):
            return walk(item, leaf, not negated)
        case ast.Compare() | ast.Unary():
            return leaf(node, negated)
    return all_types()  # an unexpanded macro, or anything else: neutral


def _leaf(node, negated: bool) -> frozenset[int]:
    if isinstance(node, ast.Compare):
        return _compare(node, negated)
    if _is_evttype_field(node.field):  # "evt.type exists": all, and negated none
        return frozenset() if negated else all_types()
    return all_types()


def _combine(items, negated: bool, leaf, *, union: bool) -> frozenset[int]:
    if union:
        out: frozenset[int] = frozenset()
        for i in items:
            out |= walk(i, leaf, negated)
        return out
    out = all_types()
    for i in items:
        out &= walk(i, leaf, negated)
    return out


def _is_evttype_field(field: ast.FieldRef) -> bool:
    return field.name in _EVTTYPE_FIELDS and field.arg is None and not field.transformers


def _compare(node: ast.Compare, negated: bool) -> frozenset[int]:
    known = _evt_num_invariant(node)
    if known is not None:
        return (all_types() - known) if negated else known
    if node.op not in _EVTTYPE_OPS or not _is_evttype_field(node.field):
        return all_types()
    match node.value:
        case ast.Literal(text) | ast.ListRef(text):
            names = [text]
        case ast.ListValue(items):
            names = [i.text if isinstance(i, ast.Literal) else i.name for i in items]
        case _:  # val(...) on the right: Falco refuses it; we cannot narrow
            return all_types()
    codes = names_to_codes(names)
    if negated:
        codes = all_types() - codes
    if node.op is Operator.NE:
        codes = all_types() - codes
    return codes


def _evt_num_invariant(node: ast.Compare) -> frozenset[int] | None:
    """all/none when an ``evt.num`` check is decided by evt.num >= 1; else None."""
    f = node.field
    if f.name != "evt.num" or f.arg is not None or f.transformers:
        return None
    op, value = node.op, node.value
    if op is Operator.IN:
        if not isinstance(value, ast.ListValue):
            return None
        nums = [_u64(i.text if isinstance(i, ast.Literal) else i.name) for i in value.items]
        return frozenset() if all(n == 0 for n in nums) else None
    if not isinstance(value, ast.Literal):
        return None
    n = _u64(value.text)
    if n is None:
        return None
    none, every = frozenset(), all_types()
    decided = {
        Operator.EQ: none if n == 0 else None,
        Operator.NE: every if n == 0 else None,
        Operator.LT: none if n <= 1 else None,
        Operator.LE: none if n == 0 else None,
        Operator.GT: every if n == 0 else None,
        Operator.GE: every if n <= 1 else None,
    }
    return decided.get(op)


def _u64(text: str) -> int | None:
    t = text.strip()
    try:
        n = int(t, 16) if t[:2].lower() == "0x" else int(t, 10)
    except ValueError:
        return None
    return n & 0xFFFFFFFFFFFFFFFF
