"""Fixtures for the filter tests: the official rule files' conditions."""
from __future__ import annotations

import pytest
import yaml

RULE_FILES = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")


@pytest.fixture(scope="session")
def rule_conditions(shared_dir) -> list[tuple[str, str, str]]:
    """(file, "rule NAME" | "macro NAME", condition) for every condition in the rule files."""
    out = []
    for name in RULE_FILES:
        for item in yaml.safe_load((shared_dir / "rules" / name).read_text()) or ():
            if isinstance(item, dict) and "condition" in item:
                kind = "rule" if "rule" in item else "macro"
                out.append((name, f"{kind} {item.get(kind)!r}", item["condition"]))
    return out
