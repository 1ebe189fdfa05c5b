"""Fixtures for the rules tests: the shared official rule files and small loaders."""
from __future__ import annotations

from pathlib import Path

import pytest

from falcolib.rules import RulesText, load_rules, validate_rules

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
OFFICIAL = [SHARED / "rules" / name for name in
            ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")]


@pytest.fixture(scope="session")
def shared_rules_dir() -> Path:
    if not OFFICIAL[0].exists():
        pytest.skip("../shared/rules is not there")
    return SHARED / "rules"


def check(*texts: str):
    """validate_rules over YAML texts named a.yaml, b.yaml, ..."""
    return validate_rules([RulesText(t, f"{chr(97 + i)}.yaml") for i, t in enumerate(texts)])


def load(*texts: str):
    return load_rules([RulesText(t, f"{chr(97 + i)}.yaml") for i, t in enumerate(texts)])


def issues(result, code: str):
    return [i for i in result.issues if i.code.value == code]


def expanded(text: str):
    """``parse(text)`` with bare words in lists as plain strings (what expansion leaves)."""
    from falcolib.filter import ast, parse

    def fn(n):
        if isinstance(n, ast.ListRef):
            return ast.Literal(n.name)
        if isinstance(n, ast.Compare) and isinstance(n.value, ast.Literal) and n.op.is_list:
            return ast.Compare(n.field, n.op, ast.ListValue((n.value,)))
        return n
    return ast.transform(parse(text), fn)
