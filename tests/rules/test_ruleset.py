"""Ruleset evaluation: evt.type index, first match in load order, selection."""
from __future__ import annotations

from collections import Counter

import pytest

from falcolib.decode.table import EVENTS, types_named
from falcolib.rules import Priority
from falcolib.rules.ruleset import enter_halves

from .conftest import SHARED, load

RULES = """
- rule: Opens
  desc: d
  condition: evt.type = open and evt.dir = <
  output: open %evt.num
  priority: WARNING
  tags: [file]
- rule: Files
  desc: d
  condition: evt.type in (open, close) and evt.dir = <
  output: file %evt.num
  priority: NOTICE
  tags: [file, noisy]
- rule: Anything exit
  desc: d
  condition: evt.dir = <
  output: any %evt.num
  priority: DEBUG
  warn_evttypes: false
- rule: Disabled
  desc: d
  condition: evt.type = mmap
  output: mmap
  priority: ERROR
  enabled: false
"""


@pytest.fixture(scope="module")
def views():
    """Every event of cat_write.scap (cat writing a file), as views."""
    scap = pytest.importorskip("falcolib_scap")
    from falcolib.engine import iter_views
    path = SHARED / "captures" / "cat_write.scap"
    if not path.exists():
        pytest.skip("no shared captures")
    with scap.ScapBackend(path) as backend:
        return list(iter_views(backend))


def exit_of(name: str) -> int:
    return min(t for t in types_named(name) if EVENTS[t].dir == "<")


def hits(ruleset, views, first=True) -> Counter:
    return Counter(c.name for v in views for c in ruleset.match(v, first=first))


class TestIndex:
    """Only rules whose evt.types include the event's are tried."""

    def test_matcher_for(self):
        rs = load(RULES)
        assert [c.name for c in rs.matcher_for(exit_of("open"))] == \
            ["Opens", "Files", "Anything exit"]
        assert [c.name for c in rs.matcher_for(exit_of("close"))] == ["Files", "Anything exit"]
        assert [c.name for c in rs.matcher_for(exit_of("mmap"))] == ["Anything exit"]

    def test_enter_events_skipped(self):
        """As in Falco, rules never see the enter half of a system call (unless asked)."""
        rs = load(RULES)
        open_e = exit_of("open") - 1
        assert EVENTS[open_e].dir == ">" and rs.matcher_for(open_e) == ()
        assert [c.name for c in rs.select(enter_events=True).matcher_for(open_e)] == \
            ["Opens", "Files", "Anything exit"]
        # events without an exit half stay visible (container, procexit, ...)
        procexit = min(types_named("procexit"))
        assert [c.name for c in rs.matcher_for(procexit)] == ["Anything exit"]

    def test_evttypes_union(self):
        rs = load(RULES)
        assert rs.evttypes() is None           # "Anything exit" needs every event
        narrow = rs.select(disable_rules=["Anything*"])
        assert narrow.evttypes() == (types_named("open") | types_named("close")) - enter_halves()


class TestMatching:
    """rule_matching first: one alert per event from the first rule in load order."""

    def test_first(self, views):
        got = hits(load(RULES), views)
        # 4 open exits, 6 close exits; every other exit event goes to "Anything exit"
        exits = sum(1 for v in views if v.evt.dir == "<")
        assert got == Counter({"Opens": 4, "Files": 6, "Anything exit": exits - 10})

    def test_all(self, views):
        got = hits(load(RULES), views, first=False)
        exits = sum(1 for v in views if v.evt.dir == "<")
        assert got == Counter({"Opens": 4, "Files": 10, "Anything exit": exits})

    def test_load_order_decides(self, views):
        swapped = load(RULES, """
- rule: Opens
  desc: d
  condition: evt.type = open and evt.dir = <
  output: open
  priority: WARNING
""")
        # a redefinition keeps its place: Opens still comes first
        assert hits(swapped, views)["Opens"] == 4
        later = load(RULES.replace("rule: Opens", "rule: Opens2").replace(
            "- rule: Files", "- rule: Files0"))
        assert [c.name for c in later.compiled][:2] == ["Opens2", "Files0"]


class TestSelection:
    """min priority, name globs, tags and enabling work as Falco's options."""

    def test_min_priority(self):
        rs = load(RULES).select(min_priority="notice")
        assert [c.name for c in rs.active] == ["Opens", "Files"]
        assert [c.name for c in load(RULES).select(min_priority=Priority.WARNING).active] \
            == ["Opens"]

    def test_disable_rule_glob(self):
        assert [c.name for c in load(RULES).select(disable_rules=["*s"]).active] == \
            ["Anything exit"]

    def test_tags(self):
        rs = load(RULES)
        assert [c.name for c in rs.select(disable_tags=["noisy"]).active] == \
            ["Opens", "Anything exit"]
        assert [c.name for c in rs.select(only_tags=["file"]).active] == ["Opens", "Files"]

    def test_enable_disabled_rule(self):
        rs = load(RULES)
        assert "Disabled" not in [c.name for c in rs.active]
        assert "Disabled" in [c.name for c in rs.select(enable_rules=["Dis*"]).active]
        assert len(rs.rules) == 4
