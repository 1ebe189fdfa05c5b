"""The filter grammar read by hand, without pyparsing, for text it accepts.

``parse_simple(text, origin)`` returns the AST ``grammar.parse_condition``
returns for ``text``, or None when this reader meets anything it does not
expect; the grammar then parses the text (and reports any error). The
grammar is the reference and the error reporter; this reader is the fast
path: importing pyparsing and building the grammar costs about 35 ms, and
pyparsing spends ~0.7 ms on a typical rule condition (the three official
rule files: ~150 ms) where this reader spends a tenth of that.

It reads the whole language: field checks (``FIELD OP VALUE``, ``FIELD
exists``), ``FIELD[arg]`` (a bare or quoted argument), transformers
(``tolower(FIELD)``...), ``val(FIELD)``, quoted and bare strings, numbers,
lists of bare or quoted items, list names, macro names, ``not``, ``and``,
``or`` and parentheses. Every step picks what the grammar picks at the same
offset, in the grammar's order:

- blanks are pyparsing's ``" \\t\\r\\n"`` (nothing else is skipped), skipped
  before every token except a field's ``[arg]``, which must follow the name;
- an operand is ``(`` (a group), else a field (a transformer ``name(``
  first, then a field name: a check), else a macro name (an identifier
  that is no keyword), else the keyword ``not``;
- field names, strings, list items, identifiers and numbers are matched with
  the grammar's own regexes (``quoting``) at the same offset, as pyparsing's
  ``Regex`` does; a quoted string's escapes are undone by the same
  ``quoting.unescape`` (an invalid escape is left to the grammar);
- operators are tried in the grammar's order (``exists``, then the
  numeric, string and list families; the longest symbol first, as
  ``one_of``; a word operator not followed by a word character);
- a value is tried as the grammar does: ``val(``/transformer first, then a
  quoted string, a bare string or number; after a list operator a list,
  ``val(``/transformer, or a list name;
- ``and``/``or``/``not`` are keywords: neither preceded nor followed by
  ``[A-Za-z0-9_$]`` (pyparsing's keyword characters);
- the nodes are built as the grammar's parse actions build them (same
  positions, ``and_of``/``or_of``, ``ListRef`` for an identifier item).

tests/filter/test_simple.py checks the result against the grammar's on
generated text and on every rule file condition.
"""
from __future__ import annotations

import re

from falcolib.filter import ast, quoting
from falcolib.filter.operators import (
    LIST_OPS, NUMERIC_OPS, STRING_OPS, VAL, Operator, Transformer, symbol_spellings,
)
from falcolib.filter.position import position_at

_BLANKS = " \t\r\n"
_KEYWORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
# Deeper nesting (of '(' and 'not') is left to the grammar. pyparsing needs ~14 frames per
# '(' level and reports "nested too deeply" from about 69 levels (less when called from
# deep in a stack): kept well below, where the grammar reads what this reader reads.
_MAX_DEPTH = 20


def _longest_first(spellings) -> tuple[str, ...]:
    return tuple(sorted(spellings, key=len, reverse=True))


def _words(ops) -> tuple[str, ...]:
    return tuple(sorted(op.value for op in ops if op.is_word))


_EXISTS = Operator.EXISTS.value
_VAL_OPEN = VAL + "("
# the grammar's TRANSFORMER_OPEN and IDENTIFIER (an identifier is no keyword)
_TRANSFORMER_OPEN = re.compile("(" + "|".join(t.value for t in Transformer) + r")\(")
_IDENTIFIER = re.compile(r"(?!(?:and|or|not)(?![a-zA-Z0-9_]))" + quoting.IDENTIFIER.pattern)
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
        """``(`` group, check, macro name or ``not`` operand at blank-free offset ``i``."""
        if depth > _MAX_DEPTH:
            raise _GiveUp
        text = self.text
        if i < self.n and text[i] == "(":
            node, i = self.or_expr(i + 1, depth + 1)
            i = self.skip(i)
            if i >= self.n or text[i] != ")":
                raise _GiveUp
            return node, i + 1
        field = self.field(i, depth)
        if field is not None:
            return self.check(*field)
        m = _IDENTIFIER.match(text, i)
        if m is not None:
            return ast.Identifier(m.group(), position_at(text, i, self.origin)), m.end()
        if self.keyword_at(i, "not"):
            node, i = self.operand(self.skip(i + 3), depth + 1)
            return ast.Not(node), i
        raise _GiveUp

    def field(self, i: int, depth: int) -> tuple[ast.FieldRef, int] | None:
        """A transformed or plain field at blank-free ``i``; None when none starts there."""
        text = self.text
        m = _TRANSFORMER_OPEN.match(text, i)
        if m is not None:
            if depth > _MAX_DEPTH:
                raise _GiveUp
            ref, i = self.closed(self.field(self.skip(m.end()), depth + 1))
            tr = Transformer(m.group(1))
            return ast.FieldRef(ref.name, ref.arg, ref.transformers + (tr,), ref.position), i
        return self.plain_field(i)

    def closed(self, inner: tuple[ast.FieldRef, int] | None) -> tuple[ast.FieldRef, int]:
        """The field read inside ``name(`` and the offset after its ``)``."""
        if inner is None:
            raise _GiveUp
        ref, i = inner
        i = self.skip(i)
        if i >= self.n or self.text[i] != ")":
            raise _GiveUp
        return ref, i + 1

    def plain_field(self, i: int) -> tuple[ast.FieldRef, int] | None:
        """``name`` or ``name[arg]`` at blank-free ``i`` (the ``[`` right after the name)."""
        text = self.text
        m = quoting.FIELD_NAME.match(text, i)
        if m is None:
            return None
        arg, end = None, m.end()
        if end < self.n and text[end] == "[":
            q = quoting.QUOTED_STRING.match(text, end + 1)
            if q is not None:
                arg = self.unquote(q.group())
            else:
                q = quoting.FIELD_ARG_BARE.match(text, end + 1)
                if q is None:
                    raise _GiveUp
                arg = q.group()
            end = q.end()
            if end >= self.n or text[end] != "]":
                raise _GiveUp
            end += 1
        return ast.FieldRef(m.group(), arg, (), position_at(text, i, self.origin)), end

    @staticmethod
    def unquote(raw: str) -> str:
        try:
            return quoting.unescape(raw[1:-1], raw[0])
        except quoting.EscapeError:
            raise _GiveUp from None

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

    def check(self, field: ast.FieldRef, i: int) -> tuple[ast.Node, int]:
        text = self.text
        op, i, family = self.operator(self.skip(i))
        if family == "unary":
            return ast.Unary(field, op), i
        i = self.skip(i)
        rhs = self.rhs_field(i)
        if rhs is not None:
            return ast.Compare(field, op, rhs[0]), rhs[1]
        if family == "list":
            value, i = self.list_value(i)
            return ast.Compare(field, op, value), i
        if family == "string":
            q = quoting.QUOTED_STRING.match(text, i)
            if q is not None:
                return ast.Compare(field, op, ast.Literal(self.unquote(q.group()), quoted=True)), q.end()
        m = (quoting.NUMBER if family == "numeric" else quoting.BARE_STRING).match(text, i)
        if m is None:
            raise _GiveUp
        return ast.Compare(field, op, ast.Literal(m.group())), m.end()

    def rhs_field(self, i: int) -> tuple[ast.FieldValue, int] | None:
        """``val(field)`` or a transformed field as a value, at blank-free ``i``."""
        text = self.text
        if text.startswith(_VAL_OPEN, i):
            ref, i = self.closed(self.plain_field(self.skip(i + len(_VAL_OPEN))))
            return ast.FieldValue(ref), i
        if _TRANSFORMER_OPEN.match(text, i) is not None:
            ref, i = self.field(i, 0)
            return ast.FieldValue(ref), i
        return None

    def list_value(self, i: int) -> tuple[ast.Node, int]:
        """``(item, item...)`` of bare or quoted items, or a list name, at ``i``."""
        text = self.text
        if i >= self.n or text[i] != "(":
            m = _IDENTIFIER.match(text, i)
            if m is None:
                raise _GiveUp
            return ast.ListRef(m.group(), position_at(text, i, self.origin)), m.end()
        items = []
        i = self.skip(i + 1)
        if i < self.n and text[i] != ")":
            while True:
                q = quoting.QUOTED_STRING.match(text, i)
                if q is not None:
                    items.append(ast.Literal(self.unquote(q.group()), quoted=True))
                    end = q.end()
                else:
                    m = quoting.BARE_STRING.match(text, i)
                    if m is None:
                        raise _GiveUp
                    word = m.group()
                    items.append(ast.ListRef(word, position_at(text, i, self.origin))
                                 if quoting.is_identifier(word) else ast.Literal(word))
                    end = m.end()
                i = self.skip(end)
                if i >= self.n or text[i] != ",":
                    break
                i = self.skip(i + 1)
        if i >= self.n or text[i] != ")":
            raise _GiveUp
        return ast.ListValue(tuple(items)), i + 1


def parse_simple(text: str, origin: tuple[str, int, int] = ("", 1, 1)) -> ast.Node | None:
    """The grammar's AST for ``text`` if it is in this module's subset, else None."""
    reader = _Reader(text, origin)
    try:
        node, i = reader.or_expr(0, 0)
    except (_GiveUp, RecursionError):   # (called already deep): the grammar says what to say
        return None
    if reader.skip(i) != len(text):
        return None
    return node
