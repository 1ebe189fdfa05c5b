"""The YAML reader: documents, null items, positions of every item, value decoding."""
from __future__ import annotations

from falcolib.rules import List, Macro, Rule
from falcolib.rules.reader import Append, Define, Enable, EngineVersion, Replace, read_text
from falcolib.rules.result import LoadResult

TEXT = """# comment
- required_engine_version: 0.57.0
-
- list: l
  items: [a, "b c", 80, true]
---
---
- macro: m
  condition: >
    evt.type = open
    and fd.num >= 0
- rule: r
  enabled: no
- rule: r
  output: x
  override: {output: replace}
- rule: r
  condition: and y
  append: yes
"""


class TestReader:
    """Declarations come out in file order, each with where it was written."""

    def test_declarations(self):
        res = LoadResult()
        decls = read_text(TEXT, "f.yaml", res)
        assert [type(d).__name__ for d in decls] == [
            "EngineVersion", "Define", "Define", "Enable", "Replace", "Append"]
        assert decls[0] == EngineVersion("0.57.0")
        assert decls[1].item == List("l", ("a", "b c", "80", "true"))
        assert decls[2].item == Macro("m", "evt.type = open and fd.num >= 0\n")
        assert decls[3] == Enable("r", False)
        assert isinstance(decls[4], Replace) and decls[4].values == {"output": "x"}
        assert isinstance(decls[5], Append) and decls[5].values == {"condition": "and y"}
        assert [i.code.value for i in res.issues] == ["LOAD_DEPRECATED_ITEM"] * 2

    def test_positions(self):
        decls = read_text(TEXT, "f.yaml")
        where = [(d.item.position if isinstance(d, Define) else d.position) for d in decls]
        assert [(p.file, p.line, p.column) for p in where] == [
            ("f.yaml", 2, 3), ("f.yaml", 4, 3), ("f.yaml", 8, 3), ("f.yaml", 12, 3),
            ("f.yaml", 14, 3), ("f.yaml", 17, 3)]

    def test_rule_fields(self):
        decls = read_text("""- rule: r
  desc: d
  condition: evt.type = open
  output: "  o %proc.name  "
  priority: Critical
  tags: [b, a]
  enabled: false
  warn_evttypes: false
  skip-if-unknown-filter: true
  capture: true
  capture_duration: 5
  source: syscall
""", "r.yaml")
        (d,) = decls
        r: Rule = d.item
        assert (r.output, r.priority.label, r.tags, r.enabled, r.warn_evttypes,
                r.skip_if_unknown_filter, r.capture, r.capture_duration) == (
            "o %proc.name", "Critical", ("a", "b"), False, False, True, True, 5)
        assert (r.condition_position.line, r.condition_position.column) == (3, 14)
        assert (r.output_position.line, r.output_position.column) == (4, 11)

    def test_bad_boolean(self):
        res = LoadResult()
        read_text("- list: l\n  items: []\n  append: maybe\n", "b.yaml", res)
        (err,) = res.errors
        assert (err.message, err.position.line, err.position.column) == (
            "Can't decode YAML scalar value", 3, 11)

    def test_items_not_a_sequence(self):
        res = LoadResult()
        read_text("- list: l\n  items: a\n", "b.yaml", res)
        assert res.errors[0].message == "Value is not a sequence"
