"""Every validation code, each reported at the file:line:column of its item."""
from __future__ import annotations

from .conftest import check

# one file per group of issues; the expected (code, line, column) follow each text
WARNINGS = """\
- required_engine_version: 0.57.0
- macro: 1bad
  condition: evt.type = open
- list: 'bad name'
  items: [a]
- whatever: 1
- rule: R
  desc: d
  condition: evt.type = open and proc.name = proc.pname
  output: o
  priority: INFO
  colour: red
- rule: NoType
  desc: d
  condition: proc.name = cat
  output: o
  priority: INFO
- rule: K8s
  desc: d
  condition: ka.verb = create
  output: o
  priority: INFO
  source: k8s_audit
- rule: Skipped
  desc: d
  condition: evt.type = open and ka.user.name = "<NA>"
  output: o
  priority: INFO
  skip-if-unknown-filter: true
  exceptions:
    - name: e
      fields: proc.name
      values: [a]
    - name: e
      fields: proc.name
      values: [b]
- rule: R
  enabled: true
- rule: Skipped
  exceptions:
    - name: e
  override:
    exceptions: append
"""

WARNINGS_EXPECTED = [
    ("LOAD_INVALID_MACRO_NAME", 2, 3),
    ("LOAD_INVALID_LIST_NAME", 4, 3),
    ("LOAD_UNKNOWN_ITEM", 6, 3),
    ("LOAD_UNKNOWN_KEY", 7, 3),
    ("LOAD_EXCEPTION_NAME_NOT_UNIQUE", 34, 7),
    ("LOAD_DEPRECATED_ITEM", 37, 3),
    ("LOAD_APPEND_NO_VALUES", 41, 7),
    ("LOAD_UNKNOWN_SOURCE", 18, 3),
    ("LOAD_COMPILE_CONDITION", 7, 3),
    ("LOAD_NO_EVTTYPE", 13, 3),
    ("LOAD_UNSAFE_NA_CHECK", 24, 3),
    ("LOAD_UNKNOWN_FILTER", 24, 3),
    ("LOAD_UNUSED_MACRO", 2, 3),
    ("LOAD_UNUSED_LIST", 4, 3),
]

ERRORS = """\
- rule: A
  desc: d
  condition: evt.type = = open
  output: o
  priority: INFO
- rule: B
  desc: d
  condition: evt.type = open
  output: "%proc.nosuch"
  priority: INFO
- rule: C
  desc: d
  condition: nomacro
  output: o
  priority: INFO
- rule: D
  desc: d
  condition: evt.type = open
  output: o
  priority: LOUD
- list: E
  items: [a]
  override:
    items: append
"""

ERRORS_EXPECTED = [
    ("LOAD_ERR_YAML_VALIDATE", 20, 13),     # the priority value
    ("LOAD_ERR_VALIDATE", 21, 3),           # append to a list that does not exist
    ("LOAD_ERR_COMPILE_CONDITION", 1, 3),
    ("LOAD_ERR_COMPILE_OUTPUT", 9, 11),     # the output value
    ("LOAD_ERR_VALIDATE", 11, 3),           # undefined macro
]


class TestPositions:
    """Issues come in load order with the position of the item (or of the bad value)."""

    def test_warnings(self):
        res = check(WARNINGS)
        assert res.successful
        got = [(i.code.value, i.position.line, i.position.column) for i in res.issues]
        assert got == WARNINGS_EXPECTED
        assert {i.position.file for i in res.issues} == {"a.yaml"}

    def test_errors(self):
        res = check(ERRORS)
        got = [(i.code.value, i.position.line, i.position.column) for i in res.issues]
        assert got == ERRORS_EXPECTED

    def test_yaml_and_file_errors(self, tmp_path):
        from falcolib.rules import validate_rules
        bad = tmp_path / "bad.yaml"
        bad.write_text("- rule: x\n  desc: 'unterminated\n")
        res = validate_rules([tmp_path / "missing.yaml", bad])
        got = [(i.code.value, i.position.file, i.position.line) for i in res.issues]
        assert got == [("LOAD_ERR_FILE_READ", str(tmp_path / "missing.yaml"), 0),
                       ("LOAD_ERR_YAML_PARSE", str(bad), 3)]
