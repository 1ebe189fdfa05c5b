"""The filter language's grammar (pyparsing), building ``filter.ast`` nodes.

Follows libsinsp's hand-written parser (userspace/libsinsp/filter/parser.cpp):
``or`` binds loosest, then ``and``, then ``not``; keywords are lower-case
and case-sensitive; a field name has at least one dot; ``exists`` takes no
value, ``< <= > >=`` take a number, ``= != contains ...`` a quoted or bare
string, ``in intersects pmatch`` a list or a list name; either side may be a
transformed field and the right side ``val(field)``. See docs/grammar.md.

Once a token commits to a construct (an operator, ``and``, ``(``), a later
failure is reported where it happened (pyparsing's ``-``), so errors carry
the column of the real problem.
"""
from __future__ import annotations

import re

import pyparsing as pp

from falcolib.filter import ast, quoting
from falcolib.filter.operators import (
    LIST_OPS, NUMERIC_OPS, STRING_OPS, VAL, Operator, Transformer, symbol_spellings,
)
from falcolib.filter.position import ORIGIN as _ORIGIN, position_at  # noqa: F401 (re-exported)


def _keyword(word: str) -> pp.Keyword:
    return pp.Keyword(word).set_name(repr(word))


AND, OR, NOT = _keyword("and"), _keyword("or"), _keyword("not")
LPAR = pp.Suppress("(").set_name("'('")
RPAR = pp.Suppress(")").set_name("')'")
COMMA = pp.Suppress(",").set_name("','")


# ---- strings and numbers ---------------------------------------------------

def _unquote(s, loc, toks):
    raw = toks[0]
    try:
        return ast.Literal(quoting.unescape(raw[1:-1], raw[0]), quoted=True)
    except quoting.EscapeError as exc:
        raise pp.ParseFatalException(s, loc + 1 + exc.offset, str(exc)) from None


QUOTED = pp.Regex(quoting.QUOTED_STRING.pattern, flags=re.S)
QUOTED = QUOTED.set_name("quoted string").add_parse_action(_unquote)
BARE = pp.Regex(quoting.BARE_STRING.pattern).set_name("bare string")
NUMBER = pp.Regex(quoting.NUMBER.pattern).set_name("number")


# ---- fields ----------------------------------------------------------------

FIELD_NAME = pp.Regex(quoting.FIELD_NAME.pattern).set_name("field")
_ARG = (pp.Suppress("[").leave_whitespace()
        - (QUOTED.copy().leave_whitespace()
           | pp.Regex(quoting.FIELD_ARG_BARE.pattern).leave_whitespace()).set_name("field argument")
        - pp.Suppress("]").leave_whitespace().set_name("']'"))


def _plain_field(s, loc, toks):
    arg = toks[1] if len(toks) > 1 else None
    if isinstance(arg, ast.Literal):
        arg = arg.text
    return ast.FieldRef(toks[0], arg, (), position_at(s, _skip_ws(s, loc)))


def _skip_ws(s: str, loc: int) -> int:
    while loc < len(s) and s[loc] in " \t\r\n":
        loc += 1
    return loc


PLAIN_FIELD = (FIELD_NAME + pp.Opt(_ARG)).set_name("field").add_parse_action(_plain_field)

TRANSFORMER_OPEN = pp.Regex(
    "(" + "|".join(t.value for t in Transformer) + r")\(").set_name("transformer")
TRANSFORMER_OPEN.add_parse_action(lambda toks: Transformer(toks[0][:-1]))

FIELD = pp.Forward().set_name("field or transformer")


def _transformed(toks):
    tr, field = toks[0], toks[1]
    return ast.FieldRef(field.name, field.arg, field.transformers + (tr,), field.position)


TRANSFORMED = (TRANSFORMER_OPEN - FIELD - RPAR).add_parse_action(_transformed)
FIELD <<= (TRANSFORMED | PLAIN_FIELD).set_name("field or transformer")

VAL_FIELD = (pp.Suppress(pp.Regex(VAL + r"\(")) - PLAIN_FIELD - RPAR).set_name("val(field)")
RHS_FIELD = (VAL_FIELD | TRANSFORMED).set_name("val(field) or transformer")
RHS_FIELD.add_parse_action(lambda toks: ast.FieldValue(toks[0]))


# ---- values ----------------------------------------------------------------

def _bare_literal(toks):
    return ast.Literal(toks[0])


def _list_item(s, loc, toks):
    text = toks[0]
    if quoting.is_identifier(text):
        return ast.ListRef(text, position_at(s, loc))
    return ast.Literal(text)


def _number(toks):
    return ast.Literal(toks[0])


STRING_VALUE = (RHS_FIELD | QUOTED | BARE.copy().add_parse_action(_bare_literal)).set_name(
    "string value or field transformer")
NUMBER_VALUE = (RHS_FIELD | NUMBER.copy().add_parse_action(_number)).set_name(
    "number or field transformer")
LIST_ITEM = (QUOTED | BARE.copy().add_parse_action(_list_item)).set_name("list item")
LIST = (LPAR + pp.Opt(LIST_ITEM + pp.ZeroOrMore(COMMA - LIST_ITEM)) - RPAR).set_name("list")
LIST.add_parse_action(lambda toks: ast.ListValue(tuple(toks)))
# a keyword is no identifier (a regex lookahead: a NotAny would stop whitespace skipping)
IDENTIFIER = pp.Regex(r"(?!(?:and|or|not)(?![a-zA-Z0-9_]))" + quoting.IDENTIFIER.pattern
                      ).set_name("identifier")
LIST_NAME = IDENTIFIER.copy().add_parse_action(
    lambda s, loc, toks: ast.ListRef(toks[0], position_at(s, loc)))
LIST_VALUE = (LIST | RHS_FIELD | LIST_NAME).set_name("list, list name or field transformer")


# ---- checks ----------------------------------------------------------------

def _operator_expr(ops) -> pp.ParserElement:
    # word operators as regexes rather than Keywords: a Keyword's "followed by a
    # keyword character" failure would be reported past the operator's start
    words = [pp.Regex(op.value + r"(?![a-zA-Z0-9_])").set_name(repr(op.value))
             for op in ops if op.is_word]
    symbols = symbol_spellings(ops)
    alts = ([pp.one_of(symbols)] if symbols else []) + words
    expr = pp.MatchFirst(alts) if len(alts) > 1 else alts[0]
    return expr.add_parse_action(lambda toks: Operator.from_spelling(toks[0]))


EXISTS = _operator_expr([Operator.EXISTS]).set_name("'exists'")
NUMERIC_OP = _operator_expr(sorted(NUMERIC_OPS, key=lambda o: o.value)).set_name("numeric operator")
STRING_OP = _operator_expr(sorted(STRING_OPS, key=lambda o: o.value)).set_name("operator")
LIST_OP = _operator_expr(sorted(LIST_OPS, key=lambda o: o.value)).set_name("list operator")

CONDITION_TAIL = (EXISTS
                  | (NUMERIC_OP - NUMBER_VALUE)
                  | (STRING_OP - STRING_VALUE)
                  | (LIST_OP - LIST_VALUE)).set_name(
    "an operator (" + ", ".join(repr(o.value) for o in Operator) + ")")


def _check(toks):
    field, op = toks[0], toks[1]
    if op is Operator.EXISTS:
        return ast.Unary(field, op)
    return ast.Compare(field, op, toks[2])


CHECK = (FIELD - CONDITION_TAIL).set_name("field check").add_parse_action(_check)
MACRO = IDENTIFIER.copy().add_parse_action(
    lambda s, loc, toks: ast.Identifier(toks[0], position_at(s, _skip_ws(s, loc))))


# ---- boolean structure -----------------------------------------------------

_OPERAND = "'not', '(', a field check or a macro name"
OR_EXPR = pp.Forward().set_name("condition")
ATOM = ((LPAR - OR_EXPR - RPAR) | CHECK | MACRO).set_name(_OPERAND)
NOT_EXPR = pp.Forward().set_name("condition")
NOT_EXPR <<= (ATOM  # first: its message is the one kept when nothing matches
              | (NOT.suppress() - NOT_EXPR).add_parse_action(lambda toks: ast.Not(toks[0]))
              ).set_name(_OPERAND)
AND_EXPR = (NOT_EXPR + pp.ZeroOrMore(AND.suppress() - NOT_EXPR)).add_parse_action(
    lambda toks: ast.and_of(toks))
OR_EXPR <<= (AND_EXPR + pp.ZeroOrMore(OR.suppress() - AND_EXPR)).add_parse_action(
    lambda toks: ast.or_of(toks))
CONDITION = (OR_EXPR + pp.StringEnd().set_name("'and', 'or' or the end of the condition"))
CONDITION.parse_with_tabs()  # a tab stays a tab (in strings, and for error columns)


def parse_condition(text: str, origin: tuple[str, int, int] = ("", 1, 1)):
    """The AST of ``text``; raises pyparsing's ParseBaseException on error."""
    token = _ORIGIN.set(origin)
    try:
        return CONDITION.parse_string(text, parse_all=True)[0]
    finally:
        _ORIGIN.reset(token)
