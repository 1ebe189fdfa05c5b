"""The rules of one load extract each field once per event between them, and never
carry a value over to the next event."""
from __future__ import annotations

from falcolib.decode.event import Event
from falcolib.engine import Engine
from falcolib.state import State
from falcolib.testing.events import EventBuilder
from tests.fields.statekit import base_snapshot

from .conftest import load

RULES = """
- rule: etc by bash
  desc: d
  condition: evt.type = openat and proc.name = bash and fd.name startswith /etc/
  output: "%proc.name %fd.name"
  priority: WARNING
- rule: tmp by anyone
  desc: d
  condition: evt.type = openat and fd.name startswith /tmp/ and proc.name != sshd
  output: "%proc.name %fd.name"
  priority: WARNING
"""


def _open(b, fd, path):
    return [b.named("PPME_SYSCALL_OPENAT_2_E", -100, path, 1, 0),
            b.named("PPME_SYSCALL_OPENAT_2_X", fd, -100, path, 1, 0, 0, 0)]


class TestSharedExtraction:
    """Rules share their extractors; values follow each event."""

    def test_rules_share_one_extractor_per_field(self):
        rs = load(RULES)
        a, b = (rs.rule(n).matcher for n in ("etc by bash", "tmp by anyone"))
        shared = {v for v in a.__globals__.values() if callable(v)} & \
                 {v for v in b.__globals__.values() if callable(v)}
        assert len([f for f in shared if f.__name__ == "extract_once"]) == 3  # evt.type, proc.name, fd.name

    def test_alerts_follow_each_event(self):
        rs = load(RULES)
        eng = Engine(rs, rule_matching="all", hostname="h")
        st = State(base_snapshot())
        bash, sshd = EventBuilder(tid=200), EventBuilder(tid=100)
        raws = (_open(bash, 3, "/etc/passwd") + _open(bash, 4, "/tmp/x") + _open(sshd, 5, "/tmp/y")
                + _open(sshd, 6, "/etc/shadow") + _open(bash, 7, "/tmp/z"))
        got = []
        for raw in raws:
            got += [a.output for a in eng.process(st.process(Event(raw)))]
        assert got == ["bash /etc/passwd", "bash /tmp/x", "bash /tmp/z"]
