"""`falcolib rules validate|list` per the contract: JSON shapes, exit codes."""
from __future__ import annotations

import json

from falcolib.cli import main

BAD = """- rule: R
  desc: d
  condition: evt.type = open and nomacro
  output: o
  priority: WARNING
- list: unused
  items: [a]
"""

GOOD = """- list: l
  items: [cat]
- rule: R
  desc: d
  condition: evt.type = open and proc.name in (l)
  output: o %proc.name
  priority: info
  tags: [x]
- rule: Wide
  desc: d
  condition: proc.name = cat
  output: o
  priority: debug
  enabled: false
"""


class TestValidate:
    """validate prints every issue and exits 1 on errors."""

    def test_json_errors(self, tmp_path, capsys):
        f = tmp_path / "bad.yaml"
        f.write_text(BAD)
        assert main(["rules", "validate", str(f), "--json"]) == 1
        out = json.loads(capsys.readouterr().out)
        assert out["successful"] is False
        (err,) = out["errors"]
        assert err == {"code": "LOAD_ERR_VALIDATE", "item_type": "rule", "item_name": "R",
                       "message": "Undefined macro 'nomacro' used in filter.",
                       "position": {"name": str(f), "line": 1, "column": 3}}
        assert out["warnings"] == []

    def test_json_warnings(self, tmp_path, capsys):
        f = tmp_path / "good.yaml"
        f.write_text(GOOD)
        assert main(["rules", "validate", str(f), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["successful"] is True and out["errors"] == []
        assert [(w["code"], w["item_name"], w["position"]["line"]) for w in out["warnings"]] \
            == [("LOAD_NO_EVTTYPE", "Wide", 9)]

    def test_text(self, tmp_path, capsys):
        f = tmp_path / "bad.yaml"
        f.write_text(BAD)
        assert main(["rules", "validate", str(f)]) == 1
        out = capsys.readouterr().out
        assert f"{f}:1:3: LOAD_ERR_VALIDATE" in out and "FAILED" in out

    def test_several_files_in_order(self, tmp_path, capsys):
        a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
        a.write_text(GOOD)
        b.write_text("- rule: Wide\n  warn_evttypes: false\n  override:\n"
                     "    warn_evttypes: replace\n")
        assert main(["rules", "validate", str(a), str(b), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["warnings"] == []


class TestList:
    """list shows each rule with priority, tags, enabled and event types."""

    def test_json(self, tmp_path, capsys):
        f = tmp_path / "good.yaml"
        f.write_text(GOOD)
        assert main(["rules", "list", str(f), "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert rows == [
            {"name": "R", "priority": "Informational", "source": "syscall", "tags": ["x"],
             "enabled": True, "evttypes": ["open"]},
            {"name": "Wide", "priority": "Debug", "source": "syscall", "tags": [],
             "enabled": False, "evttypes": ["all"]},
        ]

    def test_default_rules(self, capsys):
        assert main(["rules", "list"]) == 0
        assert "Shell Spawned in Container\tWarning\tenabled" in capsys.readouterr().out

    def test_bad_rules_exit_1(self, tmp_path, capsys):
        f = tmp_path / "bad.yaml"
        f.write_text(BAD)
        assert main(["rules", "list", str(f)]) == 1
        assert "LOAD_ERR_VALIDATE" in capsys.readouterr().err
