"""Loading work deferred or shared (rules/compiler.py, filter/compiler.py,
rules/condition_warnings.py): a matcher's Python code is compiled on its first call,
conditions nested deeper than one expression allows still compile, and the memoized
analysis finds what a walk over the whole expanded condition finds."""
from __future__ import annotations

from pathlib import Path

import pytest

from falcolib.filter import ast, compiler as fc, lazyfn
from falcolib.rules import RulesText, load_rules, validate_rules
from falcolib.rules.condition_warnings import analyze, compile_warnings, unsafe_na_check
from falcolib.testing import run_rules

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared"
OFFICIAL = [SHARED / "rules" / n for n in (
    "falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")]


def needs(*paths: Path) -> None:
    for p in paths:
        if not p.exists():
            pytest.skip(f"{p} not found")


def chain(depth: int, leaf: str = "proc.name = cat") -> str:
    """Macros m0..m<depth>, each ``not`` the one before, and two rules: the deep one and
    its plain equivalent (an even depth: the same condition)."""
    items = [f"- macro: m0\n  condition: {leaf}\n"]
    for i in range(1, depth + 1):
        items.append(f"- macro: m{i}\n  condition: not m{i - 1}\n")
    items.append(f"- rule: deep\n  desc: d\n  condition: evt.type = open and evt.dir = < "
                 f"and m{depth}\n  output: deep %proc.name %fd.name\n  priority: INFO\n")
    items.append(f"- rule: plain\n  desc: d\n  condition: evt.type = open and evt.dir = < "
                 f"and {leaf}\n  output: plain %proc.name %fd.name\n  priority: INFO\n")
    return "".join(items)


class TestLazyMatcher:
    """The generated code replaces a stub on the first call."""

    def test_stub_until_first_call(self):
        """Before any event the matcher's code is the stub; after, the generated code."""
        needs(SHARED / "captures" / "cat_write.scap")
        rs = load_rules(RulesText(chain(0)))
        rule = next(r for r in rs.active if r.name == "plain")
        assert rule.matcher.__code__ is lazyfn.STUB
        alerts = run_rules(rs, SHARED / "captures" / "cat_write.scap", rule_matching="all")
        assert alerts.of_rule("plain").count() > 0
        assert rule.matcher.__code__ is not lazyfn.STUB
        assert "_compile_now" not in rule.matcher.__code__.co_names

    def test_errors_still_at_load(self):
        """A bad literal or unknown field is reported by validation, not at the first event."""
        text = ("- rule: bad\n  desc: d\n  condition: evt.type = open and fd.num = abc\n"
                "  output: x\n  priority: INFO\n"
                "- rule: unknown\n  desc: d\n  condition: evt.type = open and proc.nope = 1\n"
                "  output: x\n  priority: INFO\n")
        result = validate_rules(RulesText(text))
        assert sorted(i.item_name for i in result.errors) == ["bad", "unknown"]


class TestDeepConditions:
    """Macros inside macros nest beyond Python's parenthesis limit: still one matcher."""

    @pytest.mark.parametrize("depth", [fc.MAX_NESTING - 2, fc.MAX_NESTING + 2, 260])
    def test_deep_chain_alerts_as_plain(self, depth):
        """A chain of ``not`` macros (even depth) raises exactly the plain rule's alerts."""
        needs(SHARED / "captures" / "cat_write.scap")
        rs = load_rules(RulesText(chain(depth)))
        assert rs.result.successful
        alerts = run_rules(rs, SHARED / "captures" / "cat_write.scap", rule_matching="all")
        deep = [a.output.split(" ", 1)[1] for a in alerts.of_rule("deep")]
        plain = [a.output.split(" ", 1)[1] for a in alerts.of_rule("plain")]
        assert plain and deep == plain

    def test_deep_matcher_is_split(self):
        """The deep matcher calls functions of its own for the subtrees below the limit."""
        rs = load_rules(RulesText(chain(260)))
        rule = next(r for r in rs.active if r.name == "deep")
        assert "_h" in rule.matcher.source
        assert rule.matcher.source.count("(") < 200


def walk_findings(node):
    """The reference: one walk per question over the whole expanded condition."""
    fields = frozenset(n.name for n in ast.walk(node) if isinstance(n, ast.FieldRef))
    return unsafe_na_check(node), tuple(compile_warnings(node)), fields


class TestAnalyzeMemo:
    """Memoized findings are the walk's, on every official rule."""

    def test_official_rules(self):
        """Warnings, the unsafe <NA> check and the fields of each rule, memo shared."""
        needs(*OFFICIAL)
        rs = load_rules(OFFICIAL)
        memo: dict = {}
        checked = 0
        for rule in rs.active:
            found = analyze(rule.condition, memo)
            assert (found.unsafe_na, found.messages, found.fields) == \
                walk_findings(rule.condition), rule.name
            checked += 1
        assert checked == len(rs.active) > 50

    def test_warnings_in_tree_order(self):
        """Several suspicious constants: messages in the order of the condition."""
        text = ("- macro: m\n  condition: proc.name = proc.pname\n"
                "- rule: r\n  desc: d\n  condition: evt.type = open and fd.name regex '^/etc$'"
                " and m and proc.cmdline = \"tolower(x)\" and m\n"
                "  output: x\n  priority: INFO\n")
        rs = load_rules(RulesText(text))
        node = rs.active[0].condition
        found = analyze(node, {})
        assert found.messages == walk_findings(node)[1]
        assert len(found.messages) == 4


class TestFoldMemo:
    """The C rules programs (filter.c_rules) fold each shared subtree once per type."""

    def test_same_trees_as_rule_by_rule(self):
        """Per open* exit type: the memoized OR of the rules = each rule folded alone."""
        needs(*OFFICIAL)
        from falcolib.decode.table import EVENTS
        from falcolib.filter import c_rules
        rs = load_rules(OFFICIAL)
        opens = [t for t, e in enumerate(EVENTS) if e.enum in (
            "PPME_SYSCALL_OPEN_X", "PPME_SYSCALL_OPENAT_X", "PPME_SYSCALL_OPENAT_2_X")]
        for t in opens:
            memo_prog, alone_prog = c_rules.Program(), c_rules.Program()
            tree = c_rules.type_tree(rs, t, memo_prog)
            alone = c_rules._join("or", [c_rules.fold(r.matcher.condition, t, alone_prog)
                                         for r in rs.matcher_for(t)])
            assert tree == alone and memo_prog.tests == alone_prog.tests
            assert isinstance(tree, tuple) and len(memo_prog.tests) > 20
