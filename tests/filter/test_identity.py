"""Round trips: parse -> to_source -> parse gives an equal AST; Falco's own rules all parse."""
from __future__ import annotations

from pathlib import Path

import pytest

from falcolib.filter import ast, parse

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "conditions" / "identity.txt"


def identity_lines() -> list[str]:
    return [line for line in FIXTURE.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


class TestIdentityFixture:
    """Each line of identity.txt prints back to source that parses to the same AST."""

    def test_fixture_is_large_enough(self):
        assert len(identity_lines()) >= 100

    @pytest.mark.parametrize("text", identity_lines())
    def test_round_trip(self, text):
        node = parse(text)
        again = parse(node.to_source())
        assert again == node
        assert again.to_source() == node.to_source()  # printing is a fixed point


class TestRuleFiles:
    """Every macro and rule condition of the three official rule files parses and round-trips."""

    def test_every_condition_parses(self, rule_conditions):
        conditions = rule_conditions
        assert len(conditions) > 400
        failures = []
        for file, what, text in conditions:
            try:
                node = parse(text, file=file)
                assert parse(node.to_source()) == node
            except Exception as exc:  # collect them all, then report
                failures.append(f"{file} {what}: {exc}")
        assert not failures, "\n".join(failures)

    def test_conditions_use_macros_lists_and_operators(self, rule_conditions):
        """The rules exercise what the grammar offers (a guard against a vacuous parse)."""
        kinds, ops = set(), set()
        for _, _, text in rule_conditions:
            for node in ast.walk(parse(text)):
                kinds.add(type(node).__name__)
                if isinstance(node, (ast.Compare, ast.Unary)):
                    ops.add(node.op.value)
        assert {"Identifier", "ListRef", "ListValue", "Not", "And", "Or", "Unary"} <= kinds
        assert {"=", "!=", "in", "contains", "startswith", "endswith", "pmatch", "glob",
                "bcontains", "intersects", "exists"} <= ops


class TestToSource:
    """to_source keeps quoting, escapes what must be, and parenthesizes only nested and/or."""

    def test_quoted_stays_quoted(self):
        assert parse('proc.name = "bash"').to_source() == 'proc.name = "bash"'
        assert parse("proc.name = bash").to_source() == "proc.name = bash"

    def test_built_literals_are_quoted_when_needed(self):
        node = ast.Compare(ast.FieldRef("proc.cmdline"), ast.Operator.CONTAINS,
                           ast.Literal('a "b"\n\udcff'))
        assert node.to_source() == r'proc.cmdline contains "a \"b\"\n\xff"'
        assert parse(node.to_source()) == node

    def test_built_identifier_literal_in_list_is_quoted(self):
        node = ast.Compare(ast.FieldRef("proc.name"), ast.Operator.IN,
                           ast.ListValue([ast.Literal("bash"), ast.ListRef("shells")]))
        assert node.to_source() == 'proc.name in ("bash", shells)'
        assert parse(node.to_source()) == node

    def test_field_argument_quoted_when_needed(self):
        node = ast.Unary(ast.FieldRef("proc.env", "A B"))
        assert node.to_source() == 'proc.env["A B"] exists'
        assert parse(node.to_source()) == node

    def test_backspace_prints_quoted(self):
        """A backspace is a blank outside quotes, so arguments and literals holding one are quoted."""
        node = ast.And([ast.Unary(ast.FieldRef("proc.name", "\b"), ast.Operator.EXISTS),
                        ast.Compare(ast.FieldRef("proc.name"), ast.Operator.EQ, ast.Literal("a\bb"))])
        assert node.to_source() == 'proc.name["\\b"] exists and proc.name = "a\\bb"'
        assert parse(node.to_source()) == node


# ---- generated trees: any AST the parser can produce prints back to itself ----

from hypothesis import given, settings, strategies as st  # noqa: E402

from falcolib.filter.operators import (  # noqa: E402
    LIST_OPS, NUMERIC_OPS, STRING_OPS, Operator, Transformer,
)
from falcolib.filter.quoting import IDENTIFIER, NUMBER  # noqa: E402

_KEYWORDS = {"and", "or", "not"}
_text = st.text(st.characters(blacklist_categories=("Cs",)) | st.sampled_from(
    ["\udc80", "\udcff", '"', "'", "\\", " ", "(", ")", ",", "=", "\n"]), max_size=12)
_idents = st.from_regex(IDENTIFIER, fullmatch=True).filter(lambda s: s not in _KEYWORDS)
_fields = st.builds(
    ast.FieldRef,
    st.sampled_from(["proc.name", "fd.name", "evt.arg.fd", "k8s.pod.label", "a.b.c_1"]),
    st.none() | _text.filter(bool) | st.sampled_from(["0", "HOME", "app.kubernetes.io/name"]),
    st.lists(st.sampled_from(list(Transformer)), max_size=2))
_literals = st.builds(ast.Literal, _text, st.booleans())
_numbers = st.from_regex(NUMBER, fullmatch=True).map(ast.Literal)
_items = st.lists(_literals | st.builds(ast.ListRef, _idents), max_size=4).map(ast.ListValue)
_rhs_fields = st.builds(ast.FieldValue, _fields)


@st.composite
def _checks(draw):
    field = draw(_fields)
    family = draw(st.sampled_from(["unary", "num", "str", "list"]))
    if family == "unary":
        return ast.Unary(field, Operator.EXISTS)
    if family == "num":
        return ast.Compare(field, draw(st.sampled_from(sorted(NUMERIC_OPS, key=str))),
                           draw(_numbers | _rhs_fields))
    if family == "str":
        return ast.Compare(field, draw(st.sampled_from(sorted(STRING_OPS, key=str))),
                           draw(_literals | _rhs_fields))
    return ast.Compare(field, draw(st.sampled_from(sorted(LIST_OPS, key=str))),
                       draw(_items | st.builds(ast.ListRef, _idents) | _rhs_fields))


_conditions = st.recursive(
    _checks() | st.builds(ast.Identifier, _idents),
    lambda inner: st.builds(ast.Not, inner)
    | st.lists(inner, min_size=2, max_size=3).map(ast.And)
    | st.lists(inner, min_size=2, max_size=3).map(ast.Or),
    max_leaves=8)


class TestGeneratedTrees:
    """Random trees print to source that parses back to an equal tree."""

    @settings(max_examples=200, deadline=None)
    @given(_conditions)
    def test_print_then_parse(self, node):
        text = node.to_source()
        assert parse(text) == node, text
