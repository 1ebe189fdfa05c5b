"""user.* fields: capture tables, set*uid tracking, unknown uids."""
from __future__ import annotations

from falcolib.state import State
from falcolib.testing.events import EventBuilder
from tests.fields.statekit import base_snapshot, feed, field


class TestUsers:
    """Names come from the capture's user table; setuid changes the thread's uid."""

    def test_root_then_setuid(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, [b.named("PPME_SYSCALL_GETUID_E")])
        assert (field(v, "user.uid"), field(v, "user.name"), field(v, "user.homedir")) == (0, "root", "/root")
        v = feed(st, [b.named("PPME_SYSCALL_SETUID_E", 1000), b.named("PPME_SYSCALL_SETUID_X", 0, 1000)])
        assert (field(v, "user.uid"), field(v, "user.name"), field(v, "user.shell")) == (1000, "u", "/bin/sh")

    def test_failed_setuid_and_unknown_uid(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, [b.named("PPME_SYSCALL_SETUID_E", 5), b.named("PPME_SYSCALL_SETUID_X", -1, 5)])
        assert field(v, "user.uid") == 0
        v = feed(st, [b.named("PPME_SYSCALL_SETRESUID_E", 4242, 4242, 4242),
                      b.named("PPME_SYSCALL_SETRESUID_X", 0)])
        assert field(v, "user.uid") == 4242 and field(v, "user.name") is None

    def test_loginuid_is_signed(self):
        st = State(base_snapshot())
        v = feed(st, [EventBuilder(tid=777).named("PPME_SYSCALL_GETUID_E")])   # placeholder thread
        assert field(v, "user.loginuid") == -1 and field(v, "user.loginname") is None

    def test_host_tables_without_snapshot(self):
        st = State(None)
        assert 0 in st.users and st.users[0].name == "root"
