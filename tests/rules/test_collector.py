"""Load-order semantics: define, append, override (append/replace), enable, several files."""
from __future__ import annotations

from falcolib.rules import Priority

from .conftest import check, expanded, issues, load

BASE = """
- list: shells
  items: [bash, sh]
- macro: opens
  condition: evt.type in (open, openat)
- rule: R1
  desc: first
  condition: opens and proc.name in (shells)
  output: "r1 %proc.name"
  priority: WARNING
  tags: [b, a]
- rule: R2
  desc: second
  condition: evt.type = close
  output: r2
  priority: info
"""


def rule(rs, name):
    return rs.rule(name).rule


def list_items(rs, name):
    return next(li for li in rs.lists if li.name == name).items


def macro_cond(rs, name):
    return next(m for m in rs.macros if m.name == name).condition


class TestDefine:
    """Plain definitions keep every key; a redefinition replaces the item but keeps its place."""

    def test_rule_keys(self):
        r = rule(load(BASE), "R1")
        assert r.desc == "first" and r.output == "r1 %proc.name"
        assert r.priority is Priority.WARNING and r.tags == ("a", "b")
        assert r.enabled and r.source == "syscall"

    def test_redefinition_keeps_load_order(self):
        rs = load(BASE, """
- rule: R1
  desc: again
  condition: evt.type = open
  output: again
  priority: ERROR
""")
        assert [r.name for r in rs.rules] == ["R1", "R2"]
        assert rule(rs, "R1").desc == "again" and rule(rs, "R1").priority is Priority.ERROR

    def test_several_documents_in_one_file(self):
        rs = load(BASE + "\n---\n- list: more\n  items: [x]\n"
                  "- rule: R3\n  desc: d\n  condition: proc.name in (more)\n  output: o\n"
                  "  priority: DEBUG\n")
        assert [r.name for r in rs.rules] == ["R1", "R2", "R3"]

    def test_lists_inside_lists(self):
        rs = load("""
- list: a
  items: [x, y]
- list: b
  items: [a, z]
- rule: R
  desc: d
  condition: proc.name in (b)
  output: o
  priority: DEBUG
""")
        assert rs.rule("R").condition == expanded("proc.name in (x, y, z)")


class TestListAppend:
    """A list is extended by `append: true` or `override: {items: append}`, replaced otherwise."""

    def test_append_true(self):
        res = check(BASE, "- list: shells\n  items: [zsh]\n  append: true\n")
        assert issues(res, "LOAD_DEPRECATED_ITEM")
        rs = load(BASE, "- list: shells\n  items: [zsh]\n  append: true\n")
        assert list_items(rs, "shells") == ("bash", "sh", "zsh")

    def test_override_append(self):
        rs = load(BASE, "- list: shells\n  items: [zsh]\n  override:\n    items: append\n")
        assert list_items(rs, "shells") == ("bash", "sh", "zsh")
        assert rs.rule("R1").condition == expanded(
            "evt.type in (open, openat) and proc.name in (bash, sh, zsh)")

    def test_override_replace(self):
        rs = load(BASE, "- list: shells\n  items: [zsh]\n  override:\n    items: replace\n")
        assert list_items(rs, "shells") == ("zsh",)

    def test_redefine_replaces(self):
        rs = load(BASE, "- list: shells\n  items: [fish]\n")
        assert list_items(rs, "shells") == ("fish",)

    def test_append_to_nothing(self):
        res = check(BASE, "- list: nope\n  items: [zsh]\n  override:\n    items: append\n")
        (err,) = res.errors
        assert err.code.value == "LOAD_ERR_VALIDATE" and err.item_name == "nope"
        assert "no list by that name" in err.message
        assert (err.position.file, err.position.line, err.position.column) == ("b.yaml", 1, 3)


class TestMacroAppend:
    """A macro's condition is extended with a space, or replaced."""

    def test_append(self):
        rs = load(BASE, "- macro: opens\n  condition: or evt.type = creat\n"
                        "  override:\n    condition: append\n")
        assert macro_cond(rs, "opens") == "evt.type in (open, openat) or evt.type = creat"

    def test_append_true(self):
        rs = load(BASE, "- macro: opens\n  condition: or evt.type = creat\n  append: true\n")
        assert macro_cond(rs, "opens") == "evt.type in (open, openat) or evt.type = creat"

    def test_replace(self):
        rs = load(BASE, "- macro: opens\n  condition: evt.type = creat\n"
                        "  override:\n    condition: replace\n")
        assert macro_cond(rs, "opens") == "evt.type = creat"

    def test_append_to_nothing(self):
        res = check("- macro: m\n  condition: and x\n  append: true\n")
        assert [i.code.value for i in res.errors] == ["LOAD_ERR_VALIDATE"]
        assert "no macro by that name" in res.errors[0].message


class TestRuleOverride:
    """Rules take `override:` with append (condition/output/desc/tags/exceptions) or replace."""

    def test_append_condition_output_desc_tags(self):
        rs = load(BASE, """
- rule: R1
  condition: and proc.pid > 1
  output: (more)
  desc: and more
  tags: [c]
  override:
    condition: append
    output: append
    desc: append
    tags: append
""")
        r = rule(rs, "R1")
        assert r.condition == "opens and proc.name in (shells) and proc.pid > 1"
        assert r.output == "r1 %proc.name (more)" and r.desc == "first and more"
        assert r.tags == ("a", "b", "c")

    def test_replace_every_replaceable_key(self):
        rs = load(BASE, """
- rule: R1
  condition: evt.type = close
  output: new
  desc: new desc
  priority: critical
  tags: [z]
  enabled: false
  warn_evttypes: false
  skip-if-unknown-filter: true
  override:
    condition: replace
    output: replace
    desc: replace
    priority: replace
    tags: replace
    enabled: replace
    warn_evttypes: replace
    skip-if-unknown-filter: replace
""")
        r = rule(rs, "R1")
        assert (r.condition, r.output, r.desc, r.priority, r.tags, r.enabled) == (
            "evt.type = close", "new", "new desc", Priority.CRITICAL, ("z",), False)
        assert not r.warn_evttypes and r.skip_if_unknown_filter

    def test_append_and_replace_in_one_item(self):
        rs = load(BASE, """
- rule: R1
  condition: and proc.pid > 1
  priority: DEBUG
  override:
    condition: append
    priority: replace
""")
        r = rule(rs, "R1")
        assert r.condition.endswith("and proc.pid > 1") and r.priority is Priority.DEBUG

    def test_legacy_append_true(self):
        rs = load(BASE, "- rule: R1\n  condition: and proc.pid > 1\n  append: true\n")
        assert rule(rs, "R1").condition == "opens and proc.name in (shells) and proc.pid > 1"

    def test_override_and_append_together(self):
        res = check(BASE, "- rule: R1\n  condition: x\n  append: true\n"
                          "  override:\n    condition: append\n")
        (err,) = res.errors
        assert err.code.value == "LOAD_ERR_YAML_VALIDATE"
        assert "cannot be used together" in err.message

    def test_key_not_appendable(self):
        res = check(BASE, "- rule: R1\n  priority: DEBUG\n  override:\n    priority: append\n")
        assert "cannot be appended to" in res.errors[0].message
        assert res.errors[0].code.value == "LOAD_ERR_YAML_VALIDATE"

    def test_override_key_missing(self):
        res = check(BASE, "- rule: R1\n  override:\n    output: replace\n")
        assert "'output' is not defined" in res.errors[0].message

    def test_key_without_override_entry(self):
        res = check(BASE, "- rule: R1\n  output: x\n  desc: y\n  override:\n    output: replace\n")
        assert "Unexpected key 'desc'" in res.errors[0].message

    def test_bad_operation(self):
        res = check(BASE, "- rule: R1\n  output: x\n  override:\n    output: merge\n")
        assert "Invalid override operation for key 'output': 'merge'" in res.errors[0].message

    def test_append_to_missing_rule(self):
        res = check(BASE, "- rule: R9\n  condition: and x\n  override:\n    condition: append\n")
        assert "no rule by that name" in res.errors[0].message

    def test_replace_missing_rule(self):
        res = check(BASE, "- rule: R9\n  output: x\n  override:\n    output: replace\n")
        assert "An 'override.<key>: replace' to a rule" in res.errors[0].message


class TestEnabled:
    """The last word on `enabled` wins, in file order."""

    def test_legacy_enabled_item(self):
        res = check(BASE, "- rule: R1\n  enabled: false\n")
        assert [i.code.value for i in res.issues] == ["LOAD_DEPRECATED_ITEM"]
        rs = load(BASE, "- rule: R1\n  enabled: false\n")
        assert not rule(rs, "R1").enabled
        assert [c.name for c in rs.active] == ["R2"]

    def test_reenabled_later(self):
        rs = load(BASE.replace("priority: info", "priority: info\n  enabled: false"),
                  "- rule: R2\n  enabled: true\n  override:\n    enabled: replace\n")
        assert rule(rs, "R2").enabled

    def test_enable_missing_rule(self):
        res = check(BASE, "- rule: R9\n  enabled: false\n")
        assert "no rule by that name already exists" in res.errors[0].message


class TestFilesAndDirectories:
    """Paths load in order; a directory loads its *.yaml files in name order."""

    def test_each_file_must_stand_with_the_ones_before(self):
        # Falco compiles after every file: a rule cannot use a macro a later file defines
        # (within one file it can)
        res = check("- rule: R\n  desc: d\n  condition: later\n  output: o\n  priority: INFO\n",
                    "- macro: later\n  condition: evt.type = open\n")
        (err,) = res.errors
        assert (err.code.value, err.item_name, err.position.file) == (
            "LOAD_ERR_VALIDATE", "R", "a.yaml")
        assert err.message == "Undefined macro 'later' used in filter."

    def test_unused_until_a_later_file(self):
        # a macro only a later file uses is unused when its own file is compiled
        res = check("- macro: m\n  condition: evt.type = open\n",
                    "- rule: R\n  desc: d\n  condition: m\n  output: o\n  priority: INFO\n")
        assert [(i.code.value, i.item_name, i.position.file) for i in res.issues] == [
            ("LOAD_UNUSED_MACRO", "m", "a.yaml")]

    def test_directory_in_name_order(self, tmp_path):
        from falcolib.rules import load_rules
        (tmp_path / "b.yaml").write_text("- list: shells\n  items: [zsh]\n"
                                         "  override:\n    items: append\n")
        (tmp_path / "a.yaml").write_text(BASE)
        (tmp_path / "c.txt").write_text("not rules")
        rs = load_rules(tmp_path)
        assert list_items(rs, "shells") == ("bash", "sh", "zsh")

    def test_missing_file(self, tmp_path):
        from falcolib.rules import validate_rules
        res = validate_rules([tmp_path / "nope.yaml"])
        (err,) = res.errors
        assert err.code.value == "LOAD_ERR_FILE_READ"
        assert err.position.file.endswith("nope.yaml")
