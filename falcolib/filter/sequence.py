"""``compile_sequence``: several conditions in one generated function.

A rule set runs, on each event, every rule that can match its type, one after
the other. Generated as one function (``compile_sequence``), the rules share
more than their fields:

- a subtree (``and``/``or``/``not``) met in more than one place (a macro
  expanded in several rules: Falco's ``open_write``, ``open_read``...) is
  evaluated at most once per event, on first need, into a local;
- when every event given is of one type, checks on ``evt.type`` (``=``,
  ``!=``, ``in``) and ``evt.dir`` (``=``, ``!=``) are decided at generation
  time and the ``and``/``or`` around them simplified: they read only the
  event's type, which is fixed (a generic event's ``evt.type`` is its
  syscall's name, so those are never decided).
"""
from __future__ import annotations

import collections

from falcolib.filter import ast
from falcolib.filter.compiler import _NA, _Codegen
from falcolib.filter.operators import Operator

_BOOL = (ast.And, ast.Or, ast.Not)


class SequenceCodegen(_Codegen):
    def __init__(self, lookup, nodes, evt_type: int | None):
        super().__init__(lookup, None)
        self._type_name = None
        self._dir = None
        if evt_type is not None:
            from falcolib.decode.table import EVENTS
            if 1 < evt_type < len(EVENTS):
                self._type_name = EVENTS[evt_type].name
            self._dir = ">" if evt_type % 2 == 0 else "<"
        counts: collections.Counter = collections.Counter()
        for node in nodes:
            _count(node, counts)
        self._common = {n for n, c in counts.items() if c > 1}
        self._locals: dict = {}
        self._folded: dict = {}

    def subtree_locals(self) -> list[str]:
        return list(self._locals.values())

    def expr(self, node) -> str:
        known = self.fold(node)
        if known is not None:
            return "True" if known else "False"
        if not isinstance(node, _BOOL):
            return super().expr(node)
        if isinstance(node, ast.Not):
            text = f"(not {self.expr(node.item)})"
        else:
            # the items decided here are neutral (the node itself is not decided)
            items = [self.expr(i) for i in node.items if self.fold(i) is None]
            text = "(" + (" and " if isinstance(node, ast.And) else " or ").join(items) + ")"
        if node not in self._common:
            return text
        local = self._locals.get(node)
        if local is None:
            local = self._locals[node] = f"_b{len(self._locals)}"   # _s: set constants
        return f"({local} if {local} is not _NA else ({local} := {text}))"

    def fold(self, node) -> bool | None:
        """True/False when ``node``'s value is known for every event of the type."""
        if id(node) in self._folded:
            return self._folded[id(node)][1]
        value = self._fold(node)
        self._folded[id(node)] = (node, value)   # the node kept: its id stays its own
        return value

    def _fold(self, node) -> bool | None:
        if isinstance(node, ast.Not):
            v = self.fold(node.item)
            return None if v is None else not v
        if isinstance(node, (ast.And, ast.Or)):
            decisive = isinstance(node, ast.Or)   # the value that decides: True for or
            unknown = False
            for item in node.items:
                v = self.fold(item)
                if v is None:
                    unknown = True
                elif v is decisive:
                    return decisive
            return None if unknown else not decisive
        if isinstance(node, ast.Compare):
            return self._fold_compare(node)
        return None

    def _fold_compare(self, node: ast.Compare) -> bool | None:
        f = node.field
        if f.arg is not None or f.transformers:
            return None
        if f.name == "evt.type" and self._type_name is not None:
            actual = self._type_name
        elif f.name == "evt.dir" and self._dir is not None:
            actual = self._dir
        else:
            return None
        value = node.value
        if node.op in (Operator.EQ, Operator.NE) and isinstance(value, ast.Literal):
            return (actual == value.text) is (node.op is Operator.EQ)
        if node.op is Operator.IN and f.name == "evt.type" and isinstance(value, ast.ListValue):
            names = [i.text if isinstance(i, ast.Literal) else i.name for i in value.items]
            return actual in names
        return None


def _count(node, counts) -> None:
    if isinstance(node, _BOOL):
        counts[node] += 1
        for child in (node.items if not isinstance(node, ast.Not) else (node.item,)):
            _count(child, counts)


def compile_sequence(nodes, type_errors, *, first: bool = True, evt_type: int | None = None,
                     lookup=None):
    """One function evaluating several macro-free conditions on the same event, in
    order (a rule set's rules for one event type): ``f(view)`` returns the index of the
    first true one (-1 when none) if ``first``, else the list of the true ones'
    indexes. Each field is extracted at most once per call, on first need, whichever
    condition needs it, and so is each and/or/not subtree several conditions share
    (an expanded macro); no per-condition call. With ``evt_type`` (every event given
    is of that type), its ``evt.type``/``evt.dir`` checks are decided here. A
    comparison Python cannot make makes condition ``i`` false and counts in
    ``type_errors[i][0]`` (the matcher's own counter, as ``compile_condition``)."""
    if lookup is None:
        from falcolib.fields import lookup
    gen = SequenceCodegen(lookup, nodes, evt_type)
    sep = "\x01"   # no generated expression holds it: values are names (``const``)
    joined, locals_ = gen.finish(sep.join(gen.expr(n) for n in nodes))
    locals_ += gen.subtree_locals()
    bodies = joined.split(sep)
    lines = ["def _sequence(view):"]
    if locals_:
        lines.append(f"    {' = '.join(locals_)} = _NA")
    if not first:
        lines.append("    _out = []")
    namespace = dict(gen.names)
    for i, body in enumerate(bodies):
        if body == "False":
            continue
        namespace[f"_te{i}"] = type_errors[i]
        hit = f"return {i}" if first else f"_out.append({i})"
        lines += ["    try:", f"        if {body}:", f"            {hit}",
                  "    except TypeError:", f"        _te{i}[0] += 1"]
    lines.append("    return -1" if first else "    return _out")
    source = "\n".join(lines) + "\n"
    namespace["_NA"] = _NA
    namespace["__builtins__"] = {"set": set, "all": all, "any": any, "TypeError": TypeError}
    exec(compile(source, "<rules>", "exec"), namespace)  # noqa: S102 - our own generated code
    fn = namespace["_sequence"]
    fn.source = source
    return fn
