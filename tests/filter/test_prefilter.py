"""scan_types: the event types a condition can be true on, narrowed by fd.* presence."""
from __future__ import annotations

from pathlib import Path

import pytest

from falcolib.decode import Event
from falcolib.fields import lookup
from falcolib.fields.catalogue import FIELDS, _load_all
from falcolib.filter import compile as compile_condition, parse
from falcolib.filter.prefilter import _NOT_EVENT_FD, scan_types
from falcolib.scap.reader import ScapReader
from falcolib.state import State
from falcolib.state.engine import fd_event_types

CAPTURES = sorted((Path(__file__).resolve().parents[2] / ".." / "shared" / "captures").glob("*.scap"))


def narrowed(condition: str):
    return scan_types(compile_condition(parse(condition)))


class TestAlgebra:
    """and intersects, or unites, negated fd checks are neutral."""

    def test_fd_check_narrows(self):
        assert narrowed("fd.num >= 0") == fd_event_types()
        assert narrowed("fd.name glob '/etc/*'") == narrowed("proc.name=bash and fd.name exists")
        assert narrowed("fd.name glob '/etc/*'") < fd_event_types()

    def test_neutral(self):
        assert narrowed("not fd.name glob x") is None
        assert narrowed("fd.name=x or proc.name=y") is None
        assert narrowed("fd.types intersects (file)") is None
        assert narrowed("tolower(fd.name) = x") is None   # a transformer: not assumed

    def test_with_evttypes(self):
        m = compile_condition(parse("evt.type in (open, execve) and fd.name = /etc"))
        from falcolib.filter import ast
        from falcolib.filter.prefilter import value_types
        assert scan_types(m) == m.evttypes & value_types(ast.FieldRef("fd.name"))
        assert scan_types(m) and scan_types(m) < m.evttypes


class TestPresence:
    """The fact the narrowing rests on, checked on every shared capture: an fd.* field
    (but fd.types) has no value on an event outside fd_event_types()."""

    @pytest.mark.parametrize("cap", CAPTURES, ids=lambda p: p.name)
    def test_no_value_elsewhere(self, cap):
        """...and those but fd.num/typechar/uid have none on the enter of a call that
        creates an fd (open, socket...: there is no fd yet)."""
        from falcolib.filter.prefilter import value_types
        from falcolib.filter import ast
        _load_all()
        gets = [(n, lookup(n).bind(None), value_types(ast.FieldRef(n))) for n in sorted(FIELDS)
                if n.startswith("fd.") and n not in _NOT_EVENT_FD]
        assert len(gets) > 40
        checked = 0
        with ScapReader(cap) as r:
            state = State(r.snapshot())
            for raw in r.events():
                view = state.process(Event(raw))
                for name, get, only in gets:
                    if raw.type not in only:
                        assert get(view) is None, (name, raw.num)
                        checked += 1
        if cap.name != "empty.scap":
            assert checked


class TestDirectionAndChecks:
    """evt.dir narrows to exits/enters; proc.name/proc.exe conjuncts become C checks."""

    def test_direction(self):
        exits = narrowed("evt.dir = <")
        assert exits and all(t & 1 for t in exits)
        assert narrowed("evt.type = open and evt.dir = >") == {
            t for t in compile_condition(parse("evt.type = open")).evttypes if not t & 1}
        assert narrowed("not evt.dir = <") is None

    def test_checks(self):
        from falcolib.filter.prefilter import c_checks

        def checks(c):
            return c_checks(compile_condition(parse(c)))
        assert checks("proc.name in (a, 'b c') and evt.type = open") == [
            [("comm", 0, 0, frozenset({"a", "b c"}))]]
        assert checks("proc.exe = /bin/sh and proc.name = sh") == [
            [("exe", 0, 0, frozenset({"/bin/sh"}))], [("comm", 0, 0, frozenset({"sh"}))]]
        # or-clauses of ancestors and parents
        assert checks("(proc.aname[2] in (a, b) or proc.pname = c or proc.aexe[0] = d) "
                      "and fd.name = x") == [
            [("comm", 2, 2, frozenset({"a", "b"})), ("comm", 1, 0, frozenset({"c"})),
             ("exe", 2, 0, frozenset({"d"}))], [("fd.name", 0, 0, frozenset({"x"}))]]
        # fd.name: in, startswith, glob (no ranges or escapes), contains
        assert checks("fd.name startswith /etc and fd.name contains pass "
                      "and fd.name glob '/e*/p?sswd' and fd.name glob '/[e]tc'") == [
            [("fd.name", 1, 0, frozenset({"/etc"}))], [("fd.name", 3, 0, frozenset({"pass"}))],
            [("fd.name", 2, 0, frozenset({"/e*/p?sswd"}))]]
        assert checks("fd.name endswith x or fd.name = y") == []
        # only plain conjuncts: not under not, no transformer, no other op, no mixed or
        assert checks("proc.name = a or evt.type = open") == []
        assert checks("not proc.name = a") == []
        assert checks("tolower(proc.name) = a") == []
        assert checks("proc.name startswith a") == []
        assert checks("proc.aname = a") == []          # any ancestor: not decided in C
