"""Conditions without quotes, macros or transformers, read without pyparsing.

``parse_simple(text, origin)`` returns the AST ``grammar.parse_condition``
returns for ``text``, or None when ``text`` is outside the subset below; the
grammar then parses it (and reports any error). Importing pyparsing and
building the grammar costs about 35 ms, more than ``falcolib events FILE
evt.type=openat`` spends on a small capture.

The subset: ``FIELD OP VALUE`` and ``FIELD exists`` checks, ``not``, ``and``,
``or`` and parentheses, where FIELD is a plain field name, OP any operator,
VALUE a bare string (a number after ``< <= > >=``) or, after a list
operator, a parenthesized list of bare strings. Text holding a quote or
``[`` is never read here (no quoted string, no field argument), and any
token this reader does not expect (a macro name, ``val(``, a transformer, a
list name) makes it give up. Every step it does take picks what the
grammar picks at the same offset, in the grammar's order:

- blanks are pyparsing's ``" \\t\\r\\n"`` (nothing else is skipped);
- an operand is ``(`` (a group), else a field name (a check: a
  transformer or ``val`` needs ``name(``, which no field name is), else
  the keyword ``not``; anything else (a macro) is left to the grammar;
- field names, bare strings, list items and numbers are matched with the
  grammar's own regexes (``quoting``) at the same offset, as pyparsing's
  ``Regex`` does;
- operators are tried in the grammar's order (``exists``, then the
  numeric, string and list families; the longest symbol first, as
  ``one_of``; a word operator not followed by a word character);
- ``and``/``or``/``not`` are keywords: neither preceded nor followed by
  ``[A-Za-z0-9_$]`` (pyparsing's keyword characters);
- the nodes are built as the grammar's parse actions build them (same
  positions, ``and_of``/``or_of``, ``ListRef`` for an identifier item).

tests/filter/test_simple.py checks the result against the grammar's on
generated text and on every rule file condition.
"""
from __future__ import annotations

from falcolib.filter import ast, quoting
from falcolib.filter.operators import (
    LIST_OPS, NUMERIC_OPS, STRING_OPS, Operator, symbol_spellings,
)
from falcolib.filter.position import position_at

_BLANKS = " \t\r\n"
_KEYWORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_OUTSIDE = ('"', "'", "[")
# Deeper nesting (of '(' and 'not') is left to the grammar. pyparsing needs ~14 frames per
# '(' level and reports "nested too deeply" from about 69 levels (less when called from
# deep in a stack): kept well below, where the grammar reads what this reader reads.
_MAX_DEPTH = 20


def _longest_first(spellings) -> tuple[str, ...]:
    return tuple(sorted(spellings, key=len, reverse=True))


def _words(ops) -> tuple[str, ...]:
    return tuple(sorted(op.value for op in ops if op.is_word))


_EXISTS = Operator.EXISTS.value
# (symbols longest first, words, family) in the grammar's order of trial
_FAMILIES = tuple((_longest_first(symbol_spellings(ops)), _words(ops), family)
                  for ops, family in ((NUMERIC_OPS, "numeric"), (STRING_OPS, "string"),
                                      (LIST_OPS, "list")))


class _GiveUp(Exception):
    """The text leaves the subset: the grammar decides."""


class _Reader:
    __slots__ = ("text", "origin", "n")

    def __init__(self, text: str, origin) -> None:
        self.text = text
        self.origin = origin
        self.n = len(text)

    def skip(self, i: int) -> int:
        text, n = self.text, self.n
        while i < n and text[i] in _BLANKS:
            i += 1
        return i

    def word_at(self, i: int, word: str, follow: frozenset[str]) -> bool:
        """``word`` at ``i``, not followed by a character of ``follow``."""
        end = i + len(word)
        return self.text.startswith(word, i) and (end >= self.n or self.text[end] not in follow)

    def keyword_at(self, i: int, word: str) -> bool:
        return self.word_at(i, word, _KEYWORD_CHARS) and (
            i == 0 or self.text[i - 1] not in _KEYWORD_CHARS)

    # or_expr := and_expr ("or" and_expr)* ; and_expr := not_expr ("and" not_expr)*
    def or_expr(self, i: int, depth: int) -> tuple[ast.Node, int]:
        ors: list[ast.Node] = []
        while True:
            ands: list[ast.Node] = []
            while True:
                node, i = self.operand(self.skip(i), depth)
                ands.append(node)
                i = self.skip(i)
                if not self.keyword_at(i, "and"):
                    break
                i += 3
            ors.append(ast.and_of(ands))
            if not self.keyword_at(i, "or"):
                return ast.or_of(ors), i
            i += 2

    def operand(self, i: int, depth: int) -> tuple[ast.Node, int]:
        """``(`` group, check, or ``not`` operand at blank-free offset ``i``."""
        if depth > _MAX_DEPTH:
            raise _GiveUp
        text = self.text
        if i < self.n and text[i] == "(":
            node, i = self.or_expr(i + 1, depth + 1)
            i = self.skip(i)
            if i >= self.n or text[i] != ")":
                raise _GiveUp
            return node, i + 1
        m = quoting.FIELD_NAME.match(text, i)
        if m is not None:
            return self.check(m, i)
        if self.keyword_at(i, "not"):
            node, i = self.operand(self.skip(i + 3), depth + 1)
            return ast.Not(node), i
        raise _GiveUp

    def operator(self, i: int) -> tuple[Operator, int, str]:
        """(operator, offset after it, family) at ``i``."""
        if self.word_at(i, _EXISTS, _WORD_CHARS):
            return Operator.EXISTS, i + len(_EXISTS), "unary"
        for symbols, words, family in _FAMILIES:
            for sym in symbols:
                if self.text.startswith(sym, i):
                    return Operator.from_spelling(sym), i + len(sym), family
            for word in words:
                if self.word_at(i, word, _WORD_CHARS):
                    return Operator(word), i + len(word), family
        raise _GiveUp

    def check(self, name, start: int) -> tuple[ast.Node, int]:
        text = self.text
        field = ast.FieldRef(name.group(), None, (), position_at(text, start, self.origin))
        op, i, family = self.operator(self.skip(name.end()))
        if family == "unary":
            return ast.Unary(field, op), i
        i = self.skip(i)
        if family == "list":
            value, i = self.list_value(i)
            return ast.Compare(field, op, value), i
        m = (quoting.NUMBER if family == "numeric" else quoting.BARE_STRING).match(text, i)
        if m is None:
            raise _GiveUp
        return ast.Compare(field, op, ast.Literal(m.group())), m.end()

    def list_value(self, i: int) -> tuple[ast.ListValue, int]:
        """``(item, item...)`` of bare items at ``i``."""
        text = self.text
        if i >= self.n or text[i] != "(":
            raise _GiveUp   # a list name, val(...), a transformer
        items = []
        i = self.skip(i + 1)
        if i < self.n and text[i] != ")":
            while True:
                m = quoting.BARE_STRING.match(text, i)
                if m is None:
                    raise _GiveUp
                word = m.group()
                items.append(ast.ListRef(word, position_at(text, i, self.origin))
                             if quoting.is_identifier(word) else ast.Literal(word))
                i = self.skip(m.end())
                if i >= self.n or text[i] != ",":
                    break
                i = self.skip(i + 1)
        if i >= self.n or text[i] != ")":
            raise _GiveUp
        return ast.ListValue(tuple(items)), i + 1


def parse_simple(text: str, origin: tuple[str, int, int] = ("", 1, 1)) -> ast.Node | None:
    """The grammar's AST for ``text`` if it is in this module's subset, else None."""
    if any(c in text for c in _OUTSIDE):
        return None
    reader = _Reader(text, origin)
    try:
        node, i = reader.or_expr(0, 0)
    except (_GiveUp, RecursionError):   # (called already deep): the grammar says what to say
        return None
    if reader.skip(i) != len(text):
        return None
    return node
