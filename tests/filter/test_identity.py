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
