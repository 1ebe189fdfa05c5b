"""group.* fields."""
from __future__ import annotations

from falcolib.state import State
from falcolib.testing.events import EventBuilder
from tests.fields.statekit import base_snapshot, feed, field


class TestGroups:
    """Group names from the capture table follow setgid."""

    def test_setgid(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, [b.named("PPME_SYSCALL_GETUID_E")])
        assert (field(v, "group.gid"), field(v, "group.name")) == (0, "root")
        v = feed(st, [b.named("PPME_SYSCALL_SETGID_E", 1000), b.named("PPME_SYSCALL_SETGID_X", 0, 1000)])
        assert (field(v, "group.gid"), field(v, "group.name")) == (1000, "users")
        v = feed(st, [b.named("PPME_SYSCALL_SETRESGID_E", 9, 9, 9), b.named("PPME_SYSCALL_SETRESGID_X", 0)])
        assert (field(v, "group.gid"), field(v, "group.name")) == (9, None)
