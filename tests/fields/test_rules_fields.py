"""Every non-evt field used by the official rules (conditions and outputs) is in the catalogue."""
from __future__ import annotations

import re

import yaml

from falcolib.fields.catalogue import ArgKind, lookup

_FIELD = re.compile(r"%?\b((?:proc|thread|fd|fs\.path|user|group|container|k8s)\.[A-Za-z0-9_.]*[A-Za-z0-9_])(\[[^\]]*\])?(?![/\w-])")


def rule_fields(rules_dir):
    found = set()
    for path in sorted(rules_dir.glob("*.yaml")):
        for item in yaml.safe_load(path.read_text()) or ():
            if not isinstance(item, dict):
                continue
            for key in ("condition", "output"):
                text = item.get(key)
                if isinstance(text, str):
                    for m in _FIELD.finditer(text):
                        found.add((m.group(1), m.group(2)))
    return found


class TestRulesFields:
    """The three official rule files only use fields we declare, with valid arguments."""

    def test_every_field_is_declared(self, shared_dir):
        used = rule_fields(shared_dir / "rules")
        assert len(used) > 40
        missing = []
        for name, arg in sorted(used, key=str):
            try:
                f = lookup(name)
            except ValueError:
                missing.append(name)
                continue
            if arg is not None:
                assert f.arg is not ArgKind.NONE, f"{name}{arg} takes no argument"
        assert missing == []
