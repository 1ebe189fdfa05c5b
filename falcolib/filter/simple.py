"""The simplest conditions read without pyparsing, for a quick start-up.

``parse_simple(text, origin)`` returns the AST ``grammar.parse_condition``
returns for ``text``, or None when ``text`` is outside the subset below; the
grammar then parses it (and reports any error). Importing pyparsing and
building the grammar costs about 35 ms, more than ``falcolib events FILE
evt.type=openat`` spends on a small capture.

The subset: checks ``FIELD OP VALUE`` or ``FIELD exists`` joined by ``and``
and ``or``, where FIELD is a plain field name (no ``[arg]``), OP a numeric
or string operator (not a list one) and VALUE a bare string or, after a
numeric operator, a number. Text holding a parenthesis, a quote or ``[`` is
never read here, so none of the grammar's alternatives that begin with one
(a list, ``(...)``, a transformer, ``val(...)``, a quoted string, a field
argument) could have matched instead. Every other step takes the same
token the grammar would:

- blanks are pyparsing's ``" \\t\\r\\n"`` (nothing else is skipped);
- field names, bare strings and numbers are matched with the grammar's own
  regexes (``quoting``) at the same offset, as pyparsing's ``Regex`` does;
- operators are tried in the grammar's order (``exists``, then the
  numeric, then the string family; the longest symbol first, as
  ``one_of``; a word operator not followed by a word character);
- ``and``/``or`` are keywords: neither preceded nor followed by
  ``[A-Za-z0-9_$]`` (pyparsing's keyword characters);
- the nodes are built as the grammar's parse actions build them (same
  positions, ``and_of``/``or_of`` for the boolean structure).

tests/filter/test_simple.py checks the result against the grammar's on
generated text and on every rule file condition.
"""
from __future__ import annotations

from falcolib.filter import ast, quoting
from falcolib.filter.operators import NUMERIC_OPS, STRING_OPS, Operator, symbol_spellings
from falcolib.filter.position import position_at

_BLANKS = " \t\r\n"
_KEYWORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_OUTSIDE = ("(", ")", '"', "'", "[")


def _longest_first(spellings) -> tuple[str, ...]:
    return tuple(sorted(spellings, key=len, reverse=True))


_NUMERIC_SYMBOLS = _longest_first(symbol_spellings(NUMERIC_OPS))
_STRING_SYMBOLS = _longest_first(symbol_spellings(STRING_OPS))
_STRING_WORDS = tuple(sorted(op.value for op in STRING_OPS if op.is_word))
_EXISTS = Operator.EXISTS.value


def _skip(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _BLANKS:
        i += 1
    return i


def _word_at(text: str, i: int, word: str, follow: frozenset[str]) -> bool:
    """``word`` at ``i``, not followed by a character of ``follow``."""
    end = i + len(word)
    return text.startswith(word, i) and (end >= len(text) or text[end] not in follow)


def _keyword_at(text: str, i: int, word: str) -> bool:
    return _word_at(text, i, word, _KEYWORD_CHARS) and (i == 0 or text[i - 1] not in _KEYWORD_CHARS)


def _operator(text: str, i: int) -> tuple[Operator, int, bool] | None:
    """(operator, offset after it, numeric family) at ``i``, or None outside the subset."""
    if _word_at(text, i, _EXISTS, _WORD_CHARS):
        return Operator.EXISTS, i + len(_EXISTS), False
    for sym in _NUMERIC_SYMBOLS:
        if text.startswith(sym, i):
            return Operator.from_spelling(sym), i + len(sym), True
    for sym in _STRING_SYMBOLS:
        if text.startswith(sym, i):
            return Operator.from_spelling(sym), i + len(sym), False
    for word in _STRING_WORDS:
        if _word_at(text, i, word, _WORD_CHARS):
            return Operator(word), i + len(word), False
    return None


def _check(text: str, i: int, origin) -> tuple[ast.Node, int] | None:
    """The check starting at blank-free offset ``i`` and the offset after it."""
    m = quoting.FIELD_NAME.match(text, i)
    if m is None:
        return None
    field = ast.FieldRef(m.group(), None, (), position_at(text, i, origin))
    found = _operator(text, _skip(text, m.end()))
    if found is None:
        return None
    op, i, numeric = found
    if op is Operator.EXISTS:
        return ast.Unary(field, op), i
    i = _skip(text, i)
    m = (quoting.NUMBER if numeric else quoting.BARE_STRING).match(text, i)
    if m is None:
        return None
    return ast.Compare(field, op, ast.Literal(m.group())), m.end()


def parse_simple(text: str, origin: tuple[str, int, int] = ("", 1, 1)) -> ast.Node | None:
    """The grammar's AST for ``text`` if it is in this module's subset, else None."""
    if any(c in text for c in _OUTSIDE):
        return None
    ors: list[ast.Node] = []
    ands: list[ast.Node] = []
    i = _skip(text, 0)
    while True:
        found = _check(text, i, origin)
        if found is None:
            return None
        node, i = found
        ands.append(node)
        i = _skip(text, i)
        if i == len(text):
            ors.append(ast.and_of(ands))
            return ast.or_of(ors)
        if _keyword_at(text, i, "and"):
            i += 3
        elif _keyword_at(text, i, "or"):
            ors.append(ast.and_of(ands))
            ands = []
            i += 2
        else:
            return None
        i = _skip(text, i)
