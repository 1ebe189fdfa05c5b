"""Event-type analysis: the type codes a condition can match, by Falco's rules."""
from __future__ import annotations

import pytest

from falcolib.decode import table
from falcolib.filter import evttypes, parse
from falcolib.filter.evttypes import all_types

ALL = None  # cannot be narrowed


def codes(*names: str) -> frozenset[int]:
    out = frozenset()
    for n in names:
        out |= table.types_named(n)
    return out


def types_of(text: str):
    return evttypes(parse(text))


OPENAT = codes("openat")
CLOSE = codes("close")


class TestNarrowing:
    """evt.type checks give sets; and intersects, or unites, not complements (De Morgan)."""

    @pytest.mark.parametrize("text", [
        "evt.type=openat", "evt.type = openat", "not evt.type != openat",
        "not not evt.type = openat", "not not not not evt.type = openat", "evt.type in (openat)",
        "not (not evt.type=openat)", "evt.type=openat and proc.name=nginx",
        "evt.type=openat and not proc.name=nginx", "evt.type=openat and (proc.name=nginx)",
        "syscall.type = openat",
    ])
    def test_openat_only(self, text):
        assert types_of(text) == OPENAT

    @pytest.mark.parametrize("text", [
        "evt.type!=openat", "not not not evt.type = openat", "not evt.type=openat",
        "evt.type=close or evt.type!=openat",
    ])
    def test_not_openat(self, text):
        assert types_of(text) == all_types() - OPENAT

    @pytest.mark.parametrize("text", [
        "evt.type in (openat, close)", "evt.type=openat or evt.type=close",
        "evt.type in (openat, close) and proc.name=nginx",
    ])
    def test_openat_or_close(self, text):
        assert types_of(text) == OPENAT | CLOSE

    @pytest.mark.parametrize("text", [
        "not evt.type in (openat, close)", "not not not evt.type in (openat, close)",
        "evt.type!=openat and evt.type!=close",
    ])
    def test_not_openat_or_close(self, text):
        assert types_of(text) == all_types() - OPENAT - CLOSE

    @pytest.mark.parametrize("text", [
        "evt.type!=openat or evt.type!=close", "proc.name=nginx", "evt.type=openat or proc.name=nginx",
        "(evt.type=openat) or proc.name=nginx", "evt.type exists", "not evt.type in ()",
        "evt.type=mmap or not evt.type=mmap", "some_macro", "not proc.name=nginx",
        "evt.type startswith open", "tolower(evt.type) = open", "evt.type = val(evt.type)",
    ])
    def test_all(self, text):
        assert types_of(text) is ALL

    @pytest.mark.parametrize("text", [
        "evt.type=close and evt.type=openat", "evt.type=openat and (evt.type=close and proc.name=x)",
        "(evt.type=mmap and not evt.type=mmap)", "evt.type in ()", "not evt.type exists",
        "evt.type = nosuchevent",
    ])
    def test_none(self, text):
        assert types_of(text) == frozenset()


class TestNames:
    """Names map to every code of that name; a syscall without its own event to the generic pair."""

    def test_every_version_both_directions(self):
        got = types_of("evt.type = execve")
        assert got == codes("execve") and len(got) > 2
        assert {table.EVENTS[c].dir for c in got} == {">", "<"}

    def test_generic_syscall(self):
        generic_only = [n for n in table.SYSCALL_NAMES if n != "<unknown>" and not table.types_named(n)]
        assert generic_only, "expected some syscalls without a dedicated event"
        assert types_of(f"evt.type = {generic_only[0]}") == frozenset({0, 1})

    def test_quoted_names_count(self):
        assert types_of('evt.type in ("openat", close)') == OPENAT | CLOSE


class TestEvtNum:
    """evt.num starts at 1: some checks are decided whatever the event."""

    @pytest.mark.parametrize("text,want", [
        ("evt.num = 0", frozenset()), ("evt.num < 1", frozenset()), ("evt.num <= 0", frozenset()),
        ("evt.num in (0)", frozenset()), ("evt.num != 0", ALL), ("evt.num >= 1", ALL),
        ("evt.num > 0", ALL), ("evt.num = 5", ALL), ("not evt.num = 0", ALL),
        ("evt.type = openat and evt.num = 0", frozenset()),
        ("evt.type = openat and evt.num > 0", OPENAT),
        ("not evt.num > 0", frozenset()),
    ])
    def test_invariants(self, text, want):
        assert types_of(text) == want


class TestRules:
    """The official rules narrow as Falco's do: rules on syscalls name their types."""

    def test_rules_mostly_narrow(self, rule_conditions):
        narrowed = total = 0
        for _, what, text in rule_conditions:
            if not what.startswith("macro"):
                continue
            total += 1
            narrowed += types_of(text) is not None
        assert total > 100 and narrowed > 20
