"""thread.* fields on events built in memory."""
from __future__ import annotations

from falcolib.state import State
from falcolib.testing.events import EventBuilder
from tests.fields.statekit import base_snapshot, clone_parent, feed, field


class TestThreads:
    """Thread ids, main-thread flag and capabilities follow clone and capset."""

    def test_clone_thread_shares_fds_and_is_not_main(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, [b.named("PPME_SYSCALL_OPEN_E", "/etc/hosts", 1, 0),
                  b.named("PPME_SYSCALL_OPEN_X", 3, "/etc/hosts", 1, 0, 0, 0)])
        # CLONE_FILES | CLONE_FS | CLONE_THREAD
        feed(st, [b.named("PPME_SYSCALL_CLONE_20_E"), clone_parent(b, 201, "bash", flags=1 | 2 | 1 << 13)])
        t = EventBuilder(tid=201, ts=b.ts + 10)
        v = feed(st, [t.named("PPME_SYSCALL_READ_E", 3, 10), t.named("PPME_SYSCALL_READ_X", 4, b"abcd")])
        assert field(v, "thread.tid") == 201 and field(v, "proc.pid") == 200
        assert field(v, "thread.ismain") is False
        assert field(v, "fd.name") == "/etc/hosts"
        assert field(v, "proc.nthreads") == 2

    def test_capset_names(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, [b.named("PPME_SYSCALL_CAPSET_E"),
                      b.named("PPME_SYSCALL_CAPSET_X", 0, 0, 1 << 21 | 1, 1 << 21)])
        assert field(v, "thread.cap_permitted") == "CAP_CHOWN CAP_SYS_ADMIN"
        assert field(v, "thread.cap_effective") == "CAP_SYS_ADMIN"
        assert field(v, "thread.cap_inheritable") == ""

    def test_unknown_tid_on_switch_has_no_thread(self):
        st = State(base_snapshot())
        v = feed(st, [EventBuilder(tid=0).named("PPME_SCHEDSWITCH_6_E", 200, 0, 0, 0, 0, 0)])
        assert field(v, "thread.tid") == 0
        assert field(v, "proc.name") is None
        assert 0 not in st.threads
