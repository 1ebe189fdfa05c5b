"""Lean state in the rules engine: ``Engine.wanted_types(lean=True)`` raises the same alerts.

Rule sets reading different field groups (process only, fds, sockets, memory) are
replayed over every shared capture, once with every state type and once with the
types the rules' conditions and outputs need; the alerts (rule, time, output and
output fields) must be identical, and the lean set smaller.
"""
from __future__ import annotations

import pytest

from falcolib.engine import Engine, pair_halves
from falcolib.rules import RulesText, load_rules
from falcolib.state import wanted_types as state_wanted_types
from falcolib_scap import ScapBackend
from tests.conftest import CAPTURES

RULES = {
    "proc": """
- rule: shells and tools
  desc: process tree of common tools
  condition: evt.type in (execve, openat, open, read) and evt.dir=< and proc.name in (cat, curl, bash, sh, ping, ls, nginx)
  output: "%proc.name parent=%proc.pname a2=%proc.aname[2] user=%user.name cmd=%proc.cmdline ctr=%container.id"
  priority: INFO
""",
    "fd": """
- rule: etc files
  desc: files opened under /etc or /usr
  condition: evt.type in (open, openat) and evt.dir=< and (fd.name startswith /etc or fd.directory=/usr/lib)
  output: "%fd.name %fd.num %proc.name %proc.cwd"
  priority: WARNING
- rule: writes
  desc: every write with its fd
  condition: evt.type=write and evt.dir=< and fd.typechar in (f, 4, 6, u)
  output: "%fd.name %fd.sip:%fd.sport %evt.args"
  priority: NOTICE
""",
    "net": """
- rule: outbound
  desc: connects and sends
  condition: evt.type in (connect, sendto, sendmsg) and evt.dir=< and fd.typechar in (4, 6)
  output: "%fd.name %fd.l4proto %fd.connected %fd.is_server %proc.name"
  priority: NOTICE
""",
    "mem": """
- rule: memory
  desc: memory of processes opening files
  condition: evt.type in (openat, close, execve) and evt.dir=< and proc.vmrss > 0
  output: "%proc.vmsize %proc.vmrss %thread.pfminor %proc.name"
  priority: DEBUG
""",
}


def _alerts(rules, path, *, lean: bool):
    engine = Engine(rules, hostname="falcolib-test")
    types = engine.wanted_types(lean=lean)
    out = []
    with ScapBackend(str(path), types=types) as backend:
        engine.run(backend, out.append)
    return [(a.rule, a.time, a.output, a.output_fields) for a in out], types


@pytest.mark.parametrize("name", sorted(RULES))
class TestLeanEngine:
    """Lean and full runs of a rule set alert alike on every capture."""

    def test_same_alerts(self, name):
        """Same alerts in the same order; fewer types delivered."""
        rules = load_rules([RulesText(RULES[name])])
        total = 0
        for path in CAPTURES:
            full, full_types = _alerts(rules, path, lean=False)
            lean, lean_types = _alerts(rules, path, lean=True)
            assert lean == full, path.name
            assert lean_types < full_types
            total += len(full)
        assert total, "the rule set raises nothing on any capture"


class TestUsedFields:
    """What the engine tells the state about the rules' fields."""

    def test_conditions_and_outputs(self):
        """Condition and output fields both count."""
        engine = Engine(load_rules([RulesText(RULES["fd"])]), hostname="h")
        used = engine.used_fields()
        assert {"evt.type", "evt.dir", "fd.name", "fd.directory", "fd.num", "proc.name",
                "proc.cwd", "fd.sip", "evt.args"} <= used

    def test_append_output_counts(self):
        """Fields falco.yaml's append_output adds to the outputs are read too."""
        from falcolib.config import AppendOutput
        rules = load_rules([RulesText(RULES["proc"])])
        extra = AppendOutput(extra_output="vm=%proc.vmrss", extra_fields=(("fd", "%fd.name"),),
                             suggested_output=True)
        engine = Engine(rules, hostname="h", append_output=[extra])
        assert {"proc.vmrss", "fd.name", "container.name"} <= engine.used_fields()
        assert engine.wanted_types(lean=True) > Engine(rules, hostname="h").wanted_types(lean=True)

    def test_proc_rules_get_thread_types_only(self):
        """A process-only rule set: its types plus the thread table's."""
        rules = load_rules([RulesText(RULES["proc"])])
        engine = Engine(rules, hostname="h")
        lean = engine.wanted_types(lean=True)
        types = rules.evttypes() | pair_halves(rules.evttypes())
        assert lean == types | state_wanted_types(fields=frozenset({"proc.name"}))
        assert engine.wanted_types() == types | state_wanted_types()


FD_TYPES_RULE = """
- rule: fds of calls the state has no parser for
  desc: fstat, ioctl, fcntl, lseek exits name their fd from the enter's fd number
  condition: evt.type in (fstat, ioctl, fcntl, lseek) and evt.dir=< and fd.name exists
  output: "%evt.num %fd.name"
  priority: INFO
"""


@pytest.mark.oracle
class TestPairHalves:
    """A rule set's types hold exits only; the engine still delivers their enters."""

    def test_enter_of_rule_types_delivered(self):
        """The enter half of every rule type is in the backend's set."""
        rules = load_rules([RulesText(FD_TYPES_RULE)])
        types = Engine(rules, hostname="h").wanted_types(lean=True)
        assert all(t ^ 1 in types for t in rules.evttypes())

    def test_fd_name_as_sysdig(self, sysdig):
        """fd.name on those exits is sysdig's on every capture (without the enters, the
        thread's last fd from another call named it on 3 captures)."""
        import subprocess
        rules = load_rules([RulesText(FD_TYPES_RULE)])
        for path in CAPTURES:
            for lean in (False, True):
                alerts, _ = _alerts(rules, path, lean=lean)
                got = [a[2] for a in alerts]
                expected = subprocess.run(
                    [sysdig, "-r", str(path), "evt.type in (fstat, ioctl, fcntl, lseek) and "
                     "evt.dir=< and fd.name exists", "-p", "%evt.num %fd.name"],
                    capture_output=True, text=True, check=True).stdout.splitlines()
                assert got == expected, (path.name, lean)
