"""A rule set's rules for one event type run as one generated function
(``Ruleset.sequence_for``, ``filter.sequence.compile_sequence``): the same rules match as when each
rule's matcher runs alone, in both matching modes, on every shared capture."""
from __future__ import annotations

import pytest

from falcolib.backend import open_backend
from falcolib.decode.event import Event
from falcolib.decode.table import EVENTS
from falcolib.filter import parse
from falcolib.filter.sequence import compile_sequence
from falcolib.filter.sequence import SequenceCodegen
from falcolib.rules import load_rules
from falcolib.state import State

from .conftest import OFFICIAL, SHARED

CAPTURES = sorted((SHARED / "captures").glob("*.scap*"))


# rules that match often on the shared captures, sharing macros, deciding on evt.type and
# evt.dir in every way, one of them for every event type
BUSY = """
- macro: opened
  condition: evt.type in (open, openat, openat2) and evt.dir = <
- macro: in_etc
  condition: (fd.name startswith /etc or fd.directory = /lib)
- rule: open etc
  desc: d
  condition: opened and in_etc
  output: "%fd.name"
  priority: WARNING
- rule: open elsewhere by cat
  desc: d
  condition: opened and not in_etc and proc.name = cat
  output: "%fd.name"
  priority: WARNING
- rule: exits but opens and closes
  desc: d
  condition: evt.dir = < and not evt.type in (open, openat) and evt.type != close
  output: "%evt.type"
  priority: NOTICE
  warn_evttypes: false
- rule: some enters
  desc: d
  condition: evt.dir = > and evt.type in (close, read, write, openat)
  output: "%evt.type"
  priority: NOTICE
- rule: opened again
  desc: d
  condition: opened and fd.num >= 0 and not (in_etc and proc.name = cat)
  output: "%fd.name"
  priority: NOTICE
- rule: generic or sleep
  desc: d
  condition: evt.type = syscall or evt.type = nanosleep or evt.type = select
  output: "%evt.type"
  priority: NOTICE
"""


@pytest.fixture(scope="module")
def rulesets(shared_rules_dir):
    from falcolib.rules import RulesText
    return {"official": load_rules(OFFICIAL), "default": load_rules(None),
            "busy": load_rules([RulesText(BUSY, "busy.yaml")])}


class TestSameAsEachRule:
    """On every event of every shared capture, the sequence picks the rules the matchers
    pick one by one (first match and all matches), official and default rules."""

    def test_every_capture(self, rulesets, monkeypatch):
        from falcolib import engine
        monkeypatch.setattr(engine, "SEQUENCE_AFTER", 3)   # match() switches early too
        matched = checked = 0
        for capture in CAPTURES:
            for name, rs in rulesets.items():
                with open_backend("scap", path=str(capture), types=None) as backend:
                    state = State(backend.snapshot())
                    for raw in backend:
                        view = state.process(Event(raw))
                        rules = rs.matcher_for(raw.type)
                        if not rules:
                            continue
                        for first in (True, False):
                            want = rs.match_each(view, first)
                            assert rs.match(view, first) == want, (capture.name, name, raw.num)
                            sequence, seq_rules = rs.sequence_for(raw.type, first)
                            assert sequence is not None and seq_rules == rules
                        checked += 1
                        matched += bool(want)
        # the comparison saw matches (the container captures trip official rules), not only misses
        assert checked > 10000 and matched > 1000, (checked, matched)


class TestDecidedByType:
    """evt.type and evt.dir checks are decided when every event is of one type."""

    OPENAT_X = next(t for t, e in enumerate(EVENTS) if e.enum == "PPME_SYSCALL_OPENAT_2_X")

    @pytest.mark.parametrize("cond,want", [
        ("evt.type = openat", True), ("evt.type != openat", False),
        ("evt.type in (open, openat)", True), ("evt.type in (open, creat)", False),
        ("evt.type = open", False), ("evt.dir = <", True), ("evt.dir = >", False),
        ("evt.dir != <", False), ("evt.type = openat and proc.name = x", None),
        ("evt.type = open and proc.name = x", False), ("evt.type = open or proc.name = x", None),
        ("evt.type = openat or proc.name = x", True), ("not evt.type = open", True),
        ("evt.type contains open", None), ("tolower(evt.type) = openat", None),
        ("evt.type in (open, openat) and evt.dir = < and not evt.type = creat", True),
    ])
    def test_fold(self, cond, want):
        from falcolib.fields import lookup
        node = parse(cond)
        assert SequenceCodegen(lookup, [node], self.OPENAT_X).fold(node) is want

    def test_generic_events_keep_their_type_check(self):
        """A generic event's evt.type is its syscall's name: never decided."""
        from falcolib.fields import lookup
        node = parse("evt.type = openat")
        assert SequenceCodegen(lookup, [node], 1).fold(node) is None
        assert SequenceCodegen(lookup, [node], None).fold(node) is None

    def test_decided_checks_leave_the_source(self, rulesets):
        rs = rulesets["official"]
        sequence, rules = rs.sequence_for(self.OPENAT_X, True)
        assert len(rules) > 10
        assert "evt.type" not in repr(sequence.__globals__.keys())
        # Falco's open_write/open_read are shared by several rules: evaluated once
        assert "_b0 := " in sequence.source


class TestTypeErrors:
    """A comparison Python cannot make is false and counted for its own rule."""

    def test_counted_per_condition(self):
        from tests.filter.test_compiler import lookup
        nodes = [parse("t.str < 3"), parse("t.str = a"), parse("t.int > 1")]
        counters = [[0], [0], [0]]
        seq = compile_sequence(nodes, counters, lookup=lookup)
        assert seq({"t.str": 2, "t.int": 5}) == 2
        assert counters == [[1], [0], [0]]
        every = compile_sequence(nodes, counters, first=False, lookup=lookup)
        assert every({"t.str": 2, "t.int": 5}) == [2]
        assert counters == [[2], [0], [0]]


class TestEngineSwitch:
    """Engine.run runs a type's rules one by one, then (from SEQUENCE_AFTER events of the
    type on) as one function: the alerts are the same whenever the switch happens."""

    @pytest.mark.parametrize("rule_matching", ["first", "all"])
    def test_same_alerts_with_or_without_switch(self, rulesets, monkeypatch, rule_matching):
        from falcolib import engine as E
        runs = {}
        for after in (1, 7, 10 ** 9):
            monkeypatch.setattr(E, "SEQUENCE_AFTER", after)
            alerts = []
            for capture in CAPTURES:
                for name in ("busy", "official"):
                    # a fresh Ruleset (same rules): each keeps its types' countdowns
                    eng = E.Engine(rulesets[name].select(), rule_matching=rule_matching)
                    with open_backend("scap", path=str(capture), types=None) as backend:
                        eng.run(backend, alerts.append)
            runs[after] = [(a.rule, a.time, a.output) for a in alerts]
        assert len(runs[1]) > 1000
        assert runs[1] == runs[7] == runs[10 ** 9]


class TestNames:
    """The generated function's locals never shadow its globals (constants, sets,
    extractors): a shared subtree's local once took the name of a set constant, and
    'Run shell untrusted' stopped matching once a type switched to its one function."""

    def test_shared_subtree_beside_a_set_constant(self):
        from tests.filter.test_compiler import lookup
        nodes = [parse("t.str in (a, b) and (t.int > 1 or t.int < -1)"),
                 parse("t.int = 7 and (t.int > 1 or t.int < -1)")]
        seq = compile_sequence(nodes, [[0], [0]], lookup=lookup)
        assert seq({"t.str": "a", "t.int": 5}) == 0
        assert seq({"t.str": "c", "t.int": 7}) == 1
        assert seq({"t.str": "c", "t.int": 5}) == -1

    def test_no_local_is_a_global(self, rulesets):
        import re
        checked = 0
        for rs in rulesets.values():
            for t in sorted(rs.evttypes() or ()):
                for first in (True, False):
                    sequence, _ = rs.sequence_for(t, first)
                    if sequence is None:
                        continue
                    header = sequence.source.splitlines()[1]
                    locals_ = set(re.findall(r"_[a-z]+[0-9]+", header))
                    assert not locals_ & set(sequence.__globals__), (t, locals_ & set(sequence.__globals__))
                    checked += 1
        assert checked > 50
