"""The warnings Falco gives about a compiled condition that is valid but suspicious.

- LOAD_UNSAFE_NA_CHECK (Falco's warning resolver): ``<NA>`` compared for
  equality with a ka.*/jevt.* field;
- LOAD_COMPILE_CONDITION (libsinsp's filter compiler): a constant that
  names a field (``proc.name = proc.pname``, where ``val(proc.pname)`` was
  meant), a constant shaped like a transformer (``"tolower(x)"``), and a
  ``regex`` that simpler operators could do (``=``, contains, startswith,
  endswith).
"""
from __future__ import annotations

import attrs

from falcolib.errors import FilterCompileError
from falcolib.filter import ast
from falcolib.filter.operators import Operator, Transformer

_EQUALITY = frozenset({Operator.EQ, Operator.NE, Operator.IN, Operator.INTERSECTS,
                       Operator.PMATCH})
_RGX_SPECIAL = set(".+*?^$()[]{}|\\")


def _literals(value) -> list[str]:
    if isinstance(value, ast.Literal):
        return [value.text]
    if isinstance(value, ast.ListValue):
        return [i.text if isinstance(i, ast.Literal) else i.name for i in value.items]
    if isinstance(value, ast.ListRef):
        return [value.name]
    return []


def _unsafe_na(n) -> bool:
    """``<NA>`` compared for equality with a ka.*/jevt.* field (Falco's warning resolver)."""
    return (n.op in _EQUALITY and n.field.name.startswith(("ka.", "jevt."))
            and "<NA>" in _literals(n.value))


def unsafe_na_check(node) -> bool:
    return any(isinstance(n, ast.Compare) and _unsafe_na(n) for n in ast.walk(node))


def _is_field(text: str) -> bool:
    from falcolib.fields import lookup
    name = text.split("[", 1)[0]
    if "." not in name:
        return False
    try:
        lookup(name)
    except FilterCompileError:
        return False
    return True


def _regex_is_plain(v: str) -> bool:
    n = len(v)
    i = 0
    while i < n:
        ch = v[i]
        if (i == 0 and ch == "^") or (i == n - 1 and ch == "$"):
            i += 1
            continue
        if ((i == 0 and n > 1) or i == n - 2) and ch == "." and i + 1 < n and v[i + 1] in "+*?":
            i += 2
            continue
        if ch in _RGX_SPECIAL:
            return False
        i += 1
    return True


def compile_warnings(node) -> list[str]:
    """LOAD_COMPILE_CONDITION messages for a (macro-free) condition, in tree order."""
    out: list[str] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Compare):
            out += _compare_warnings(n)
    return out


_TRANSFORMERS = tuple(t.value for t in Transformer)


def _compare_warnings(n: ast.Compare) -> list[str]:
    out: list[str] = []
    for v in _literals(n.value):
        nospaces = "".join(v.split())
        if n.op is Operator.REGEX and _regex_is_plain(v):
            out.append(f"regex check with '{v}' may be optimized with simpler operators "
                       "such as '=', 'contains', 'startswith', 'endswith'")
        if _is_field(nospaces):
            out.append(f"'{v}' may be a valid field misused as a const string value")
        if "(" in nospaces:
            for t in _TRANSFORMERS:
                if (len(nospaces) >= len(t) + 2 and nospaces.startswith(t + "(")
                        and nospaces.endswith(")")):
                    out.append(f"'{v}' may be a valid field transformer misused as a const "
                               "string value")
    return out


@attrs.frozen
class Findings:
    """What one walk over a condition finds: Falco's warnings and the fields used."""

    unsafe_na: bool
    messages: tuple[str, ...]
    fields: frozenset[str]


def analyze(node, memo: dict | None = None) -> Findings:
    """The Findings of ``node`` (macro-free). ``memo`` (one dict per load) keeps each
    subtree's findings by identity: an expanded macro met again costs nothing."""
    unsafe, messages, fields = _analyze(node, {} if memo is None else memo)
    return Findings(unsafe, messages, fields)


_NOTHING = (False, (), frozenset())


def _analyze(node, memo: dict) -> tuple[bool, tuple[str, ...], frozenset[str]]:
    hit = memo.get(id(node))
    if hit is not None:
        return hit[1]
    match node:
        case ast.And(items) | ast.Or(items):
            parts = [_analyze(i, memo) for i in items]
            found = (any(p[0] for p in parts), tuple(m for p in parts for m in p[1]),
                     frozenset().union(*(p[2] for p in parts)))
        case ast.Not(item):
            found = _analyze(item, memo)
        case ast.Compare(field, _, value):
            names = {field.name}
            if isinstance(value, ast.FieldValue):
                names.add(value.field.name)
            found = (_unsafe_na(node), tuple(_compare_warnings(node)), frozenset(names))
        case ast.Unary(field, _):
            found = (False, (), frozenset((field.name,)))
        case _:
            found = _NOTHING
    memo[id(node)] = (node, found)   # the node kept: its id stays its own
    return found
