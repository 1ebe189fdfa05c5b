"""Rules as Python objects: build, combine with YAML, dump, and load back the same."""
from __future__ import annotations

import pytest

from falcolib.rules import (
    List, Macro, Priority, Rule, RuleException, RulesText, load_rules, validate_rules,
)
from falcolib.rules.dump import dump
from falcolib.rules.expr import F, L, M

from .conftest import OFFICIAL, expanded


def same_items(a, b) -> None:
    assert [type(i).__name__ + ":" + i.name for i in a.items] == \
           [type(i).__name__ + ":" + i.name for i in b.items]
    assert a.items == b.items


class TestModel:
    """The values convert their inputs once and compare by content."""

    def test_priority_parse(self):
        assert Priority.parse("info") is Priority.INFORMATIONAL
        assert Priority.parse("eMeRgEnCy") is Priority.EMERGENCY
        assert Priority.ERROR < Priority.WARNING < Priority.DEBUG
        with pytest.raises(ValueError, match="invalid priority 'loud'"):
            Priority.parse("loud")

    def test_rule_converters(self):
        r = Rule("x", F("proc.name") == "bash", "out", "notice", tags=["b", "a", "b"])
        assert r.condition == 'proc.name = "bash"'
        assert r.priority is Priority.NOTICE and r.tags == ("a", "b")

    def test_position_does_not_count_for_equality(self):
        from falcolib.errors import Position
        assert List("l", ["a"], position=Position("f", 1, 1)) == List("l", ("a",))


class TestExpr:
    """Python expressions build the same AST the parser gives for the text."""

    @pytest.mark.parametrize("cond,text", [
        (F("proc.name") == "bash", 'proc.name = bash'),
        (F("fd.name").startswith("/etc") & ~F("evt.failed"),
         "fd.name startswith /etc and not evt.failed = true"),
        ((F("evt.type") == "open") | (F("evt.type") == "openat"),
         "evt.type = open or evt.type = openat"),
        (F("proc.name").in_(["sh", "my shell"]), 'proc.name in (sh, "my shell")'),
        (F("fd.num") >= 0, "fd.num >= 0"),
        (F("proc.aname", 2) != "sshd", "proc.aname[2] != sshd"),
        (F("proc.pid").exists(), "proc.pid exists"),
        (F("fd.name").pmatch(["/tmp", "/var"]), "fd.name pmatch (/tmp, /var)"),
        (F("proc.name") == F("proc.pname"), "proc.name = val(proc.pname)"),
    ])
    def test_same_as_parsed(self, cond, text):
        assert cond.node == expanded(text)

    def test_macro_and_list_references(self):
        rs = load_rules([List("shells", ["bash", "zsh"]),
                         Macro("spawn", F("evt.type").in_(["execve", "execveat"])),
                         Rule("r", M("spawn") & F("proc.name").in_([L("shells"), "sh"]),
                              "o %proc.name", "WARNING", desc="d")])
        assert rs.rule("r").condition == expanded(
            "evt.type in (execve, execveat) and proc.name in (bash, zsh, sh)")

    def test_python_and_or_refused(self):
        with pytest.raises(TypeError):
            bool(F("proc.name") == "x")


class TestCombine:
    """Python items and YAML files load together in order, with the same semantics."""

    def test_python_rule_after_official(self, shared_rules_dir):
        extra = Rule("my rule", M("spawned_process") & F("proc.name").in_([L("shell_binaries")]),
                     "shell %proc.name", "debug", desc="mine")
        rs = load_rules([OFFICIAL[0], extra])
        assert rs.rules[-1] == extra
        assert rs.rule("my rule").evttypes

    def test_ruleset_as_a_source(self, shared_rules_dir):
        base = load_rules(OFFICIAL[0])
        more = load_rules([base, RulesText("- list: shell_binaries\n  items: [xsh]\n"
                                           "  override:\n    items: append\n")])
        items = next(li for li in more.lists if li.name == "shell_binaries").items
        assert items[-1] == "xsh" and len(more.rules) == len(base.rules)


class TestDump:
    """dump() writes YAML Falco reads; load -> dump -> load gives the same items."""

    def test_python_items_round_trip(self):
        items = [
            List("l", ["a", "b c", "'quoted'", "80"]),
            Macro("m", "evt.type in (open, openat)\n  and fd.num >= 0\n"),
            Rule("r", "m and proc.name in (l)", "out %proc.name", "INFO", desc="d",
                 tags=["t"], enabled=False, warn_evttypes=False,
                 exceptions=[RuleException("e1", "proc.name", None, ["x", "y z"]),
                             RuleException("e2", ["proc.name", "fd.name"], ["in", "startswith"],
                                           [["a", "/tmp"], [["b", "c"], "/var"]])]),
        ]
        text = dump(items)
        rs = load_rules(RulesText(text))
        assert rs.items == (items[0], items[1],
                            Rule("r", "m and proc.name in (l)", "out %proc.name", "INFO",
                                 desc="d", tags=["t"], enabled=False, warn_evttypes=False,
                                 exceptions=[RuleException("e1", "proc.name", "in",
                                                           ["x", "y z"]), items[2].exceptions[1]]))
        again = load_rules(RulesText(dump(rs)))
        same_items(rs, again)

    def test_official_round_trip(self, shared_rules_dir):
        first = load_rules(OFFICIAL)
        text = dump(first)
        second = load_rules(RulesText(text, "dumped.yaml"))
        same_items(first, second)
        assert [c.evttypes for c in first.compiled] == [c.evttypes for c in second.compiled]
        assert [c.condition for c in first.compiled] == [c.condition for c in second.compiled]
        assert validate_rules(RulesText(text)).codes() == validate_rules(OFFICIAL).codes()

    def test_empty_desc_gets_the_name(self):
        assert "desc: r" in dump([Rule("r", "evt.type = open", "o")])


class TestExprProperty:
    """Any expression built in Python prints to text that parses back to the same tree."""

    def test_round_trip(self):
        from hypothesis import given, settings, strategies as st

        from falcolib.filter import parse

        fields = st.sampled_from(["proc.name", "fd.name", "evt.type", "proc.pid", "user.uid"])
        text = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                              blacklist_characters="\x00"), max_size=12)
        leaf = st.one_of(
            st.builds(lambda f, v: F(f) == v, fields, text),
            st.builds(lambda f, v: F(f) != v, fields, text),
            st.builds(lambda f, v: F(f).startswith(v), fields, text),
            st.builds(lambda f, v: F(f).contains(v), fields, text),
            st.builds(lambda f, vs: F(f).in_(vs), fields, st.lists(text, min_size=1, max_size=3)),
            st.builds(lambda f: F(f).exists(), fields),
            st.builds(lambda f, n: F(f) >= n, fields, st.integers(0, 10**6)),
        )
        tree = st.recursive(leaf, lambda sub: st.one_of(
            st.builds(lambda a, b: a & b, sub, sub),
            st.builds(lambda a, b: a | b, sub, sub),
            st.builds(lambda a: ~a, sub)), max_leaves=8)

        @settings(max_examples=150, deadline=None)
        @given(tree)
        def check(cond):
            assert parse(cond.to_source()) == expanded(cond.to_source())
            assert expanded(cond.to_source()) == _plain(cond.node)

        check()


def _plain(node):
    """The expression's tree with list items as plain strings, like ``expanded``."""
    from falcolib.filter import ast

    def fn(n):
        if isinstance(n, ast.ListRef):
            return ast.Literal(n.name)
        return n
    return ast.transform(node, fn)
