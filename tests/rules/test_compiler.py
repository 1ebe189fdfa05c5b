"""Macro/list expansion, exceptions as Falco builds them, and every validation code."""
from __future__ import annotations

import pytest

from falcolib.rules import RuleException
from falcolib.rules.compiler import exception_clause, list_item_literal

from .conftest import check, expanded, issues, load

RULE = """
- rule: R
  desc: d
  condition: {cond}
  output: "o %proc.name"
  priority: WARNING
"""


def one_rule(cond: str, extra: str = "") -> str:
    return extra + RULE.format(cond=cond)


def codes(res):
    return [i.code.value for i in res.issues]


class TestExceptionText:
    """Exceptions become the text Falco appends: `(cond) and not (...)`."""

    def test_single_field_default_in(self):
        ex = RuleException("e", "proc.name", None, ("bash", "my shell"))
        assert exception_clause(ex) == '(proc.name in (bash, "my shell"))'

    def test_single_field_pmatch(self):
        ex = RuleException("e", "fd.name", "pmatch", ("/tmp",))
        assert exception_clause(ex) == "(fd.name pmatch (/tmp))"

    def test_fields_list_default_equals(self):
        ex = RuleException("e", ("proc.name", "fd.name"), None,
                           (("cat", "/etc/x"), ("vi", "/etc/my file")))
        assert exception_clause(ex) == (
            '(( proc.name = cat and  fd.name = /etc/x) or '
            '( proc.name = vi and  fd.name = "/etc/my file"))')

    def test_list_operator_value_is_parenthesised(self):
        ex = RuleException("e", ("proc.name", "fd.name"), ("in", "startswith"),
                           (("shells", "/tmp"), (("a", "b c"), "/var")))
        assert exception_clause(ex) == (
            '(( proc.name in (shells) and  fd.name startswith /tmp) or '
            '( proc.name in (a, "b c") and  fd.name startswith /var))')

    def test_list_reference_in_exception(self):
        rs = load("- list: editors\n  items: [vi, nano]\n" + one_rule("evt.type = open").replace(
            "priority: WARNING", """priority: WARNING
  exceptions:
    - name: by_editor
      fields: [proc.name, fd.name]
      comps: [in, startswith]
      values: [[editors, /etc]]
    - name: single
      fields: proc.pname
      values: [editors]"""))
        assert rs.rule("R").condition == expanded(
            "(evt.type = open) and not (( proc.name in (vi, nano) and  fd.name startswith /etc))"
            " and not (proc.pname in (vi, nano))")

    def test_no_values_no_clause(self):
        assert exception_clause(RuleException("e", ("proc.name",), ("=",), ())) == ""

    def test_whole_condition(self):
        rs = load(one_rule("evt.type = open", "") .replace(
            "priority: WARNING", """priority: WARNING
  exceptions:
    - name: by_name
      fields: proc.name
      values: [cat]
    - name: pair
      fields: [proc.name, fd.name]
      values: [[vi, /etc/hosts]]
    - name: empty
      fields: [proc.pname]"""))
        cond = rs.rule("R").condition
        assert cond == expanded('(evt.type = open) and not (proc.name in (cat)) and not '
                             '(( proc.name = vi and  fd.name = /etc/hosts))')

    def test_values_length_mismatch(self):
        res = check(one_rule("evt.type = open").replace("priority: WARNING", """priority: WARNING
  exceptions:
    - name: pair
      fields: [proc.name, fd.name]
      values: [[vi]]"""))
        assert codes(res) == ["LOAD_ERR_VALIDATE"]
        assert "Fields and values lists must have equal length" in res.errors[0].message

    def test_comps_length_mismatch(self):
        res = check(one_rule("evt.type = open").replace("priority: WARNING", """priority: WARNING
  exceptions:
    - name: pair
      fields: [proc.name, fd.name]
      comps: [=]
      values: [[vi, x]]"""))
        assert "Fields and comps lists must have equal length" in res.errors[0].message

    def test_single_field_bad_comp(self):
        res = check(one_rule("evt.type = open").replace("priority: WARNING", """priority: WARNING
  exceptions:
    - name: e
      fields: proc.name
      comps: startswith
      values: [x]"""))
        assert "comps must be one of" in res.errors[0].message

    def test_unknown_field_and_operator(self):
        res = check(one_rule("evt.type = open").replace("priority: WARNING", """priority: WARNING
  exceptions:
    - name: e
      fields: [proc.nope]
      values: [[x]]
- rule: R2
  desc: d
  condition: evt.type = open
  output: o
  priority: DEBUG
  exceptions:
    - name: e
      fields: [proc.name]
      comps: [like]
      values: [[x]]"""))
        msgs = [i.message for i in res.errors]
        assert "'proc.nope' is not a supported filter field" in msgs
        assert "'like' is not a supported comparison operator" in msgs

    def test_append_values_to_exception(self):
        base = one_rule("evt.type = open").replace("priority: WARNING", """priority: WARNING
  exceptions:
    - name: e
      fields: proc.name
      values: [cat]""")
        rs = load(base, """
- rule: R
  exceptions:
    - name: e
      values: [vi]
    - name: new
      fields: [fd.name]
      values: [[/tmp/x]]
  override:
    exceptions: append
""")
        exs = rs.rule("R").rule.exceptions
        assert [(e.name, e.values) for e in exs] == [("e", ("cat", "vi")),
                                                      ("new", (("/tmp/x",),))]

    def test_append_exception_fields_to_existing(self):
        base = one_rule("evt.type = open").replace("priority: WARNING", """priority: WARNING
  exceptions:
    - name: e
      fields: proc.name
      values: [cat]""")
        res = check(base, "- rule: R\n  exceptions:\n    - name: e\n      fields: fd.name\n"
                          "      values: [x]\n  override:\n    exceptions: append\n")
        assert "Can not append exception fields" in res.errors[0].message

    def test_append_without_values_warns(self):
        base = one_rule("evt.type = open").replace("priority: WARNING", """priority: WARNING
  exceptions:
    - name: e
      fields: proc.name
      values: [cat]""")
        res = check(base, "- rule: R\n  exceptions:\n    - name: e\n"
                          "  override:\n    exceptions: append\n")
        assert "LOAD_APPEND_NO_VALUES" in codes(res)

    def test_duplicate_exception_name(self):
        res = check(one_rule("evt.type = open").replace("priority: WARNING", """priority: WARNING
  exceptions:
    - name: e
      fields: proc.name
      values: [cat]
    - name: e
      fields: proc.name
      values: [vi]"""))
        (w,) = issues(res, "LOAD_EXCEPTION_NAME_NOT_UNIQUE")
        assert (w.position.line, w.position.column) == (11, 7)

    def test_exceptions_replace(self):
        base = one_rule("evt.type = open").replace("priority: WARNING", """priority: WARNING
  exceptions:
    - name: e
      fields: proc.name
      values: [cat]""")
        rs = load(base, "- rule: R\n  exceptions:\n    - name: f\n      fields: fd.name\n"
                        "      values: [x]\n  override:\n    exceptions: replace\n")
        assert [e.name for e in rs.rule("R").rule.exceptions] == ["f"]


class TestExpansion:
    """Macros and lists expand with Falco's visibility rules."""

    def test_macro_in_macro(self):
        rs = load("""
- macro: a
  condition: evt.type = open
- macro: b
  condition: a and proc.name = cat
""" + RULE.format(cond="b"))
        assert rs.rule("R").condition == expanded("evt.type = open and proc.name = cat")

    def test_undefined_word_in_list_stays_a_string(self):
        rs = load(RULE.format(cond="evt.type = open and proc.name in (nolist, cat)"))
        assert rs.rule("R").condition == expanded(
            'evt.type = open and proc.name in ("nolist", cat)')

    def test_quoted_list_items(self):
        assert list_item_literal('"a b"').text == "a b"
        assert list_item_literal("'/x'").text == "/x"
        assert list_item_literal("plain").text == "plain"

    def test_macro_sees_only_earlier_macros(self):
        res = check("""
- macro: a
  condition: b
- macro: b
  condition: evt.type = open
""" + RULE.format(cond="a"))
        err = res.errors[0]
        assert (err.code.value, err.item_type, err.item_name) == ("LOAD_ERR_VALIDATE", "macro", "a")
        assert err.message == "Undefined macro 'b' used in filter."
        assert (err.position.line, err.position.column) == (2, 3)

    def test_rule_sees_later_macros(self):
        rs = load(RULE.format(cond="m") + "- macro: m\n  condition: evt.type = open\n")
        assert rs.rule("R").condition == expanded("evt.type = open")

    def test_loop(self):
        res = check("""
- macro: a
  condition: evt.type = open
- macro: b
  condition: a
- macro: a
  condition: b
  override:
    condition: replace
""" + RULE.format(cond="a"))
        assert any("reference loop in macro" in e.message for e in res.errors)

    def test_undefined_macro_in_rule(self):
        res = check(RULE.format(cond="nomacro and evt.type = open"))
        (err,) = res.errors
        assert (err.code.value, err.item_type, err.item_name) == ("LOAD_ERR_VALIDATE", "rule", "R")
        assert "Undefined macro 'nomacro'" in err.message
        assert (err.position.file, err.position.line, err.position.column) == ("a.yaml", 2, 3)


class TestValidationCodes:
    """Each code Falco gives, at the item's file:line:column."""

    def test_yaml_parse(self):
        res = check("- rule: x\n  desc: [unclosed\n")
        (err,) = res.errors
        assert err.code.value == "LOAD_ERR_YAML_PARSE" and err.position.file == "a.yaml"
        assert err.position.line == 3

    def test_not_a_sequence(self):
        assert codes(check("rule: x\n")) == ["LOAD_ERR_YAML_VALIDATE"]

    def test_item_not_a_mapping(self):
        res = check("- just a string\n")
        assert codes(res) == ["LOAD_ERR_YAML_VALIDATE"]
        assert "associative array" in res.errors[0].message

    def test_missing_required_key(self):
        res = check("- rule: R\n  desc: d\n  condition: evt.type = open\n  priority: INFO\n")
        (err,) = res.errors
        assert err.message == "Item has no mapping for key 'output'"
        assert (err.item_type, err.item_name, err.position.line) == ("rule", "R", 1)

    def test_empty_value(self):
        res = check(RULE.format(cond='""'))
        assert res.errors[0].message == "Value must be non-empty"

    def test_bad_priority(self):
        res = check(RULE.format(cond="evt.type = open").replace("WARNING", "LOUD"))
        (err,) = res.errors
        assert (err.code.value, err.message) == ("LOAD_ERR_YAML_VALIDATE", "Invalid priority")
        assert err.position.line == 6

    def test_syntax_error(self):
        res = check(RULE.format(cond="evt.type = = open"))
        assert codes(res) == ["LOAD_ERR_COMPILE_CONDITION"]

    def test_unknown_field(self):
        res = check(RULE.format(cond="evt.type = open and proc.nosuch = 1"))
        assert codes(res) == ["LOAD_ERR_COMPILE_CONDITION"]
        assert "proc.nosuch" in res.errors[0].message

    def test_unknown_field_skipped(self):
        res = check(RULE.format(cond="evt.type = open and proc.nosuch = 1")
                    + "  skip-if-unknown-filter: true\n")
        assert codes(res) == ["LOAD_UNKNOWN_FILTER"]

    def test_bad_output(self):
        res = check(RULE.format(cond="evt.type = open").replace("%proc.name", "%proc.nosuch"))
        (err,) = res.errors
        assert err.code.value == "LOAD_ERR_COMPILE_OUTPUT"
        assert (err.position.line, err.position.column) == (5, 11)

    def test_no_evttype(self):
        res = check(RULE.format(cond="proc.name = cat"))
        (w,) = res.warnings
        assert (w.code.value, w.item_name, w.position.line) == ("LOAD_NO_EVTTYPE", "R", 2)
        assert codes(check(RULE.format(cond="proc.name = cat") + "  warn_evttypes: false\n")) == []

    def test_unused_macro_and_list(self):
        res = check("- macro: unused_m\n  condition: evt.type = open\n"
                    "- list: unused_l\n  items: [a]\n" + RULE.format(cond="evt.type = open"))
        assert codes(res) == ["LOAD_UNUSED_MACRO", "LOAD_UNUSED_LIST"]
        assert [i.position.line for i in res.issues] == [1, 3]

    def test_no_unused_warnings_when_errors(self):
        res = check("- macro: unused_m\n  condition: evt.type = open\n"
                    + RULE.format(cond="evt.type = open and proc.nosuch = 1"))
        assert codes(res) == ["LOAD_ERR_COMPILE_CONDITION"]

    def test_unknown_key_item_source(self):
        res = check(RULE.format(cond="evt.type = open") + "  colour: red\n"
                    + "- whatever: 1\n"
                    + RULE.format(cond="x = 1").replace("rule: R", "rule: K")
                    + "  source: k8s_audit\n")
        assert codes(res) == ["LOAD_UNKNOWN_KEY", "LOAD_UNKNOWN_ITEM", "LOAD_UNKNOWN_SOURCE"]
        assert [r.name for r in load(RULE.format(cond="evt.type = open")).rules] == ["R"]

    def test_invalid_names(self):
        res = check("- macro: 1bad\n  condition: evt.type = open\n"
                    "- list: 'bad name'\n  items: [a]\n"
                    + RULE.format(cond="evt.type = open"))
        assert "LOAD_INVALID_MACRO_NAME" in codes(res) and "LOAD_INVALID_LIST_NAME" in codes(res)

    def test_engine_version(self):
        assert codes(check("- required_engine_version: 0.57.0\n")) == []
        assert codes(check("- required_engine_version: 12\n")) == []
        res = check("- required_engine_version: 9.0.0\n")
        assert codes(res) == ["LOAD_ERR_VALIDATE"]
        assert "Rules require engine version 9.0.0" in res.errors[0].message
        assert codes(check("- required_engine_version: banana\n")) == ["LOAD_ERR_YAML_VALIDATE"]

    def test_plugin_versions(self):
        rs = load("- required_plugin_versions:\n  - name: container\n    version: 0.4.0\n"
                  "    alternatives:\n    - name: other\n      version: 1.0.0\n")
        assert rs.required_plugin_versions == ((("container", "0.4.0"), ("other", "1.0.0")),)
        res = check("- required_plugin_versions:\n  - name: c\n    version: x\n")
        assert codes(res) == ["LOAD_ERR_VALIDATE"]

    def test_unsafe_na_check_is_not_reported_for_syscall_fields(self):
        # Falco warns about "<NA>" only for ka.*/jevt.* fields (k8s audit), never for syscalls
        assert codes(check(RULE.format(cond='evt.type = open and proc.name != "<NA>"'))) == []

    def test_unsafe_na_check(self):
        # k8s audit fields are not in the syscall catalogue: with skip-if-unknown-filter
        # the rule is skipped, after Falco's warning about comparing them with "<NA>"
        res = check(RULE.format(cond='evt.type = open and ka.user.name = "<NA>"')
                    + "  skip-if-unknown-filter: true\n")
        assert codes(res) == ["LOAD_UNSAFE_NA_CHECK", "LOAD_UNKNOWN_FILTER"]

    def test_compile_condition_warnings(self):
        res = check(RULE.format(cond="evt.type = open and proc.name = proc.pname")
                    + RULE.format(cond='evt.type = open and proc.name = "tolower(x)"')
                    .replace("rule: R", "rule: S")
                    + RULE.format(cond="evt.type = open and proc.name regex ^bash.*")
                    .replace("rule: R", "rule: T")
                    + RULE.format(cond='evt.type = open and proc.name regex "^ba(sh|t)$"')
                    .replace("rule: R", "rule: U"))
        assert [(i.code.value, i.item_name, i.message) for i in res.issues] == [
            ("LOAD_COMPILE_CONDITION", "R",
             "'proc.pname' may be a valid field misused as a const string value"),
            ("LOAD_COMPILE_CONDITION", "S",
             "'tolower(x)' may be a valid field transformer misused as a const string value"),
            ("LOAD_COMPILE_CONDITION", "T",
             "regex check with '^bash.*' may be optimized with simpler operators such as "
             "'=', 'contains', 'startswith', 'endswith'"),
        ]

    def test_every_error_gathered(self):
        res = check(RULE.format(cond="evt.type = = open")
                    + RULE.format(cond="nomacro").replace("rule: R", "rule: S")
                    + "- list: l\n  items: [a]\n  append: wrong\n")
        assert codes(res) == ["LOAD_ERR_YAML_VALIDATE", "LOAD_ERR_COMPILE_CONDITION",
                              "LOAD_ERR_VALIDATE"]

    @pytest.mark.parametrize("spelling,label", [
        ("EMERGENCY", "Emergency"), ("alert", "Alert"), ("Critical", "Critical"),
        ("error", "Error"), ("WARNING", "Warning"), ("notice", "Notice"),
        ("INFO", "Informational"), ("informational", "Informational"), ("Debug", "Debug")])
    def test_priority_spellings(self, spelling, label):
        rs = load(RULE.format(cond="evt.type = open").replace("WARNING", spelling))
        assert rs.rule("R").rule.priority.label == label
