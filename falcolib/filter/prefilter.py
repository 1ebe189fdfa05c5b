"""Which event types a condition can possibly be true on, for skipping events unseen.

``condition_evttypes`` (falcolib.filter.evttypes) answers that question with
Falco's rules, from ``evt.type`` checks only; it is what rule loading reports
and must stay Falco's. This module narrows further, for speed only: a check on
a field that has no value on some event types is false there (libsinsp: every
comparison with a missing value is false, ``exists`` too). The fd.* fields have
a value only on events that use, create or destroy an fd (the flags the state
engine reads), so ``... and fd.name glob '/etc/*'`` needs no other event. The
same algebra as evttypes applies: ``and`` intersects, ``or`` unites, a negation
is pushed to the leaves, where it makes a field check neutral.
"""
from __future__ import annotations

from falcolib.filter import ast
from falcolib.filter.evttypes import all_types, walk

# fd.* fields that read the process's whole fd table, not the event's fd
_NOT_EVENT_FD = frozenset({"fd.types"})


def value_types(field: ast.FieldRef) -> frozenset[int] | None:
    """The event types on which ``field`` can have a value; None when any."""
    if field.transformers:
        return None
    name = field.name
    if name.startswith("fd.") and name not in _NOT_EVENT_FD:
        from falcolib.state.engine import fd_event_types
        return fd_event_types()
    return None


def scan_types(matcher) -> frozenset[int] | None:
    """The event types ``matcher`` (a compiled condition) can be true on: its
    evttypes narrowed by field presence; None when every type."""
    node = getattr(matcher, "condition", None)
    if node is None:
        return matcher.evttypes
    codes = walk(node, _leaf)
    if matcher.evttypes is not None:
        codes &= matcher.evttypes
    return None if codes == all_types() else codes


def _leaf(node, negated: bool) -> frozenset[int]:
    if negated:
        return all_types()
    only = value_types(node.field)
    return all_types() if only is None else only
