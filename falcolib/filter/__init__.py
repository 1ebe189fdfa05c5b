"""The filter language: ``parse`` text to a frozen AST, ``compile`` it to a matcher,
and ``evttypes`` (which event types a condition can match).

    node = parse('proc.name = bash and fd.name startswith /etc')
    matcher = compile(node)          # matcher(view) -> bool
    matcher.evttypes                 # frozenset of type codes, or None
"""
from __future__ import annotations

from falcolib.errors import FilterSyntaxError
from falcolib.filter import ast, quoting
from falcolib.filter.operators import Operator, Transformer
from falcolib.filter.position import position_at
# the submodule first: its first import binds ``falcolib.filter.evttypes``, which the
# function of that name below must then replace for good (whoever imports it later)
from falcolib.filter import evttypes as _evttypes_module  # noqa: F401


def parse(text: str, *, file: str = "", line: int = 1, column: int = 1) -> ast.Node:
    """The AST of a condition; ``file``/``line``/``column`` say where ``text`` starts.

    Raises FilterSyntaxError whose position is where parsing failed.
    """
    origin = (file, line, column)
    if not text.strip():
        raise FilterSyntaxError("empty condition: expected a field check, a macro name or '('",
                                position=position_at(text, len(text), origin))
    if "\b" in text:  # a blank to libsinsp too (lex_blank); kept inside quoted strings
        text = _backspace_as_blank(text)
    # plain checks joined by and/or (evt.type=openat) need no pyparsing: see filter.simple
    from falcolib.filter.simple import parse_simple
    node = parse_simple(text, origin)
    if node is not None:
        return node
    import pyparsing as pp
    from falcolib.filter import grammar
    try:
        return grammar.parse_condition(text, origin)
    except pp.ParseBaseException as exc:
        loc = min(exc.loc, len(text))
        raise FilterSyntaxError(_message(exc, text, loc),
                                position=position_at(text, loc, origin)) from None
    except RecursionError:
        raise FilterSyntaxError("condition nested too deeply",
                                position=position_at(text, 0, origin)) from None


def _backspace_as_blank(text: str) -> str:
    out, last = [], 0
    for m in quoting.QUOTED_STRING.finditer(text):
        out.append(text[last:m.start()].replace("\b", " "))
        out.append(m.group())
        last = m.end()
    out.append(text[last:].replace("\b", " "))
    return "".join(out)


def _message(exc, text: str, loc: int) -> str:
    msg = exc.msg or "syntax error"
    if msg.startswith("Expected "):
        msg = "expected " + msg[len("Expected "):]
    if not msg.startswith("expected"):
        return msg
    return f"{msg}, found {_found(text, loc)}"


def _found(text: str, loc: int) -> str:
    rest = text[loc:]
    if not rest.strip():
        return "end of condition"
    word = rest.split(None, 1)[0]
    if len(word) > 24:
        word = word[:24] + "..."
    return repr(word)


def compile(node, *, lookup=None, shared=None):  # noqa: A001 - the agreed public name
    """A matcher for a macro-free AST (see ``falcolib.filter.compiler``).

    ``matcher(view) -> bool``; ``matcher.evttypes``, ``.fields``, ``.source``.
    ``lookup`` resolves field names (default: ``falcolib.fields.lookup``).
    Raises FilterCompileError (with the field's position) for an unknown
    field, a bad argument, an operator the field's type refuses, a literal of
    the wrong type, or a macro (Identifier) left unexpanded. ``shared``: a dict
    shared by matchers run one after the other on each event (a rule set), so that
    they extract each field once per event between them.
    """
    from falcolib.filter.compiler import compile_condition
    return compile_condition(node, lookup=lookup, shared=shared)


def evttypes(node) -> frozenset[int] | None:
    """Event type codes ``node`` can match (Falco's rules); None if it cannot be narrowed."""
    from falcolib.filter.evttypes import condition_evttypes
    return condition_evttypes(node)


__all__ = ["parse", "compile", "evttypes", "ast", "Operator", "Transformer"]
