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
# fd.* fields with a value even on the enter event of a call that creates an fd (before
# there is one): the others read the event's fd, which such an enter has not got
_ON_CREATING_ENTERS = frozenset({"fd.num", "fd.typechar", "fd.uid"})


def value_types(field: ast.FieldRef) -> frozenset[int] | None:
    """The event types on which ``field`` can have a value; None when any."""
    if field.transformers:
        return None
    name = field.name
    if name.startswith("fd.") and name not in _NOT_EVENT_FD:
        from falcolib.state.engine import fd_event_types, fd_using_types
        if name in _ON_CREATING_ENTERS:
            return fd_event_types()
        using = fd_using_types()
        return frozenset(t for t in fd_event_types() if t & 1 or t in using)
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
    dirs = _direction_types(node)
    if dirs is not None:
        return dirs
    only = value_types(node.field)
    return all_types() if only is None else only


def _direction_types(node) -> frozenset[int] | None:
    """``evt.dir = <`` (or ``in (<, >)``): the exit (enter) types, odd (even) codes."""
    texts = _plain_values(node, "evt.dir")
    if texts is None:
        return None
    return frozenset(t for t in all_types() if ("<" if t & 1 else ">") in texts)


def _plain_values(node, name: str, arg: str | None = None) -> list[str] | None:
    """The literal texts of ``name[arg] = X`` / ``name[arg] in (X, Y)`` (no
    transformer), else None."""
    from falcolib.filter.operators import Operator
    if not isinstance(node, ast.Compare) or node.field.name != name or node.field.arg != arg \
            or node.field.transformers or node.op not in (Operator.EQ, Operator.IN):
        return None
    match node.value:
        case ast.Literal(text):
            return [text] if node.op is Operator.EQ else None
        case ast.ListValue(items) if node.op is Operator.IN:
            if all(isinstance(i, (ast.Literal, ast.ListRef)) for i in items):
                return [i.text if isinstance(i, ast.Literal) else i.name for i in items]
    return None


# thread fields the C loop can test before handing an event to Python, as
# (attribute, whose): whose 0 the thread, 1 its parent (by ptid), 2 an ancestor of its
# main thread (proc.aname[N]: N generations up)
C_CHECK_FIELDS = {"proc.name": ("comm", 0), "proc.exe": ("exe", 0),
                  "proc.pname": ("comm", 1), "proc.pexe": ("exe", 1),
                  "proc.aname": ("comm", 2), "proc.aexe": ("exe", 2)}


def c_checks(matcher) -> list[list[tuple[str, int, int, frozenset]]]:
    """The top-level conjuncts of ``matcher``'s condition that the C loop can decide, as
    clauses (lists of tests, one of which must hold): ``=``/``in`` literals on the
    fields of C_CHECK_FIELDS, and ``fd.name`` ``=``/``in``/``startswith``/``contains``/
    ``glob`` (no ranges), alone or joined by ``or``. An event failing one clause cannot
    pass the filter."""
    node = getattr(matcher, "condition", None)
    items = node.items if isinstance(node, ast.And) else (node,)
    out = []
    for item in items:
        tests = _clause(item)
        if tests:
            out.append(tests)
    return out


def _clause(node) -> list | None:
    if isinstance(node, ast.Or):
        tests = []
        for i in node.items:
            sub = _clause(i)
            if not sub:
                return None
            tests += sub
        return tests
    test = _test(node)
    return None if test is None else [test]


# fd.name operators the C loop decides: test tuples ("fd.name", op, 0, values)
_FD_NAME_OPS = {"=": 0, "in": 0, "startswith": 1, "glob": 2, "contains": 3}


def _fd_name_test(node) -> tuple[str, int, int, frozenset] | None:
    from falcolib.fields import lookup
    from falcolib.filter import literals
    from falcolib.filter.operators import Operator
    f = node.field
    if f.name != "fd.name" or f.arg is not None or f.transformers:
        return None
    field = lookup("fd.name")
    if field.extract.__module__ != "falcolib.fields.fd" or field.binder:
        return None
    if node.op in (Operator.EQ, Operator.IN):
        texts = _plain_values(node, "fd.name")
        op = 0
    elif node.op.value in _FD_NAME_OPS and isinstance(node.value, ast.Literal):
        texts = [node.value.text]
        op = _FD_NAME_OPS[node.op.value]
    else:
        return None
    if texts is None:
        return None
    try:
        values = frozenset(literals.convert(t, field.type, "fd.name") for t in texts)
    except Exception:   # noqa: BLE001 (a literal the compiler would refuse: no check)
        return None
    if not all(type(v) is str for v in values):
        return None
    if op == 2 and any("[" in v or "\\" in v or not v.isascii() for v in values):
        return None   # ranges and escapes: Python's glob only
    return "fd.name", op, 0, values


def _test(node) -> tuple[str, int, int, frozenset] | None:
    from falcolib.fields import lookup
    from falcolib.filter import literals
    if isinstance(node, ast.Compare) and node.field.name == "fd.name":
        return _fd_name_test(node)
    if not isinstance(node, ast.Compare) or node.field.name not in C_CHECK_FIELDS:
        return None
    name = node.field.name
    attr, whose = C_CHECK_FIELDS[name]
    arg = node.field.arg
    if whose == 2:
        if arg is None or not arg.isdigit():
            return None
        n = int(arg)
    else:
        n = 0
    texts = _plain_values(node, name, arg)
    field = lookup(name)
    if texts is None or field.extract.__module__ != "falcolib.fields.proc" or field.binder:
        return None
    try:
        values = frozenset(literals.convert(t, field.type, name) for t in texts)
    except Exception:   # noqa: BLE001 (a literal the compiler would refuse: no check)
        return None
    if not all(type(v) is str for v in values):
        return None
    return attr, whose, n, values
