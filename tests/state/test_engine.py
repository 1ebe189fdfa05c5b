"""State engine behaviour on events built in memory (sysdig 0.29's parser semantics)."""
from __future__ import annotations

from falcolib.backend.model import FdRecord
from falcolib.decode.table import types_named
from falcolib.state import State, wanted_types
from falcolib.testing.events import EventBuilder, sockaddr_in, socktuple_in
from tests.fields.statekit import base_snapshot, clone_parent, execve, feed, field, proc, snapshot


class TestCwd:
    """chdir/fchdir move the process cwd that relative opens resolve against."""

    def test_chdir_then_relative_open(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, [b.named("PPME_SYSCALL_CHDIR_E"), b.named("PPME_SYSCALL_CHDIR_X", 0, "../../var//log/")])
        assert st.thread_cwd(200) == "/var/log/"
        v = feed(st, [b.named("PPME_SYSCALL_OPEN_E", "syslog", 1, 0),
                      b.named("PPME_SYSCALL_OPEN_X", 3, "syslog", 1, 0, 0, 0)])
        assert field(v, "fd.name") == "/var/log/syslog"

    def test_failed_chdir_changes_nothing(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, [b.named("PPME_SYSCALL_CHDIR_E"), b.named("PPME_SYSCALL_CHDIR_X", -2, "/nope")])
        assert st.thread_cwd(200) == "/home/u/"


class TestPairing:
    """Exit events use their enter event's parameters only when the two pair up."""

    def test_openat_exit_without_enter_adds_nothing(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, [b.named("PPME_SYSCALL_OPENAT_X", 5)])
        assert st.fd_label(200, 5) is None

    def test_execve_path_from_enter(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, execve(b, "bin/x", [], "x", ptid=100))
        assert field(v, "proc.exepath") == "/home/u/bin/x"


class TestClone:
    """clone from either side, tid reuse, bounded table."""

    def test_child_return_first_builds_the_thread(self):
        st = State(base_snapshot())
        child = EventBuilder(tid=300)
        # the child's clone() returns before the parent's: res=0 in the child
        v = feed(st, [child.named("PPME_SYSCALL_CLONE_20_X", 0, "bash", [], 300, 300, 200, "/", 1024,
                                  0, 0, 0, 0, 0, "bash", [], 0, 0, 0, 300, 300)])
        assert field(v, "proc.name") == "bash" and field(v, "proc.pname") == "bash"
        parent = EventBuilder(tid=200, ts=child.ts + 10)
        feed(st, [clone_parent(parent, 300, "bash")])   # inverted clone: kept as is
        assert st.threads[300].ptid == 200

    def test_thread_table_is_bounded(self):
        st = State(snapshot(proc(1, 0, "init")), max_threads=3)
        for tid in range(10, 20):
            feed(st, [EventBuilder(tid=tid).named("PPME_SYSCALL_GETUID_E")])
        assert len(st.threads) == 3

    def test_fd_table_is_bounded(self):
        st = State(base_snapshot(), max_fds=4)
        b = EventBuilder(tid=200)
        for fd in range(3, 12):
            feed(st, [b.named("PPME_SYSCALL_EVENTFD_E", 0, 0), b.named("PPME_SYSCALL_EVENTFD_X", fd)])
        assert len(st.threads[200].fds) == 4


class TestLabels:
    """fd_label/thread_comm give decode.render sysdig's suffixes."""

    def test_socket_and_pipe_labels(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, [b.named("PPME_SOCKET_SOCKET_E", 2, 2, 0), b.named("PPME_SOCKET_SOCKET_X", 3)])
        assert st.fd_label(200, 3) == "<4>"          # no role yet: no l4 letter
        feed(st, [b.named("PPME_SOCKET_CONNECT_E", 3, sockaddr_in("1.2.3.4", 53)),
                  b.named("PPME_SOCKET_CONNECT_X", 0, socktuple_in("10.0.0.2", 999, "1.2.3.4", 53))])
        assert st.fd_label(200, 3) == "<4u>10.0.0.2:999->1.2.3.4:53"
        assert st.thread_comm(200) == "bash" and st.thread_comm(9999) is None

    def test_snapshot_socket_roles(self):
        server = FdRecord(fd=3, type=5, sip="0.0.0.0", sport=22, l4proto=2)
        conn = FdRecord(fd=4, type=3, sip="10.0.0.1", sport=22, dip="10.0.0.9", dport=5555, l4proto=2)
        st = State(snapshot(proc(50, 1, "sshd", fds=[server, conn])))
        assert st.fd_label(50, 4) == "<4t>10.0.0.9:5555->10.0.0.1:22"


class TestFilterOrder:
    """Falco parses every event before rules see it; sysdig's filter order defers minor parsers."""

    def _switch(self, b, rss):
        return b.named("PPME_SCHEDSWITCH_6_E", 0, 0, 0, 5000, rss, 0)

    def test_default_parses_first(self):
        st = State(base_snapshot())
        v = feed(st, [self._switch(EventBuilder(tid=200), 2048)])
        assert field(v, "proc.vmrss") == 2048

    def test_sysdig_order_discards_unmatched(self):
        st = State(base_snapshot(), sysdig_filter_order=True)
        b = EventBuilder(tid=200)
        v = feed(st, [self._switch(b, 2048)])
        assert field(v, "proc.vmrss") == 0          # filter sees the state before the switch
        st.discard()
        v = feed(st, [self._switch(b, 4096)])
        st.settle()
        assert field(v, "proc.vmrss") == 4096

    def test_sysdig_order_write_exit_keeps_its_fd(self):
        """An unpaired write exit still gets the last fd in sysdig's order (its tracer check
        attaches it before filtering): evt.buflen reads it; Falco's order has no fd."""
        for order, want in ((True, 7), (False, None)):
            st = State(base_snapshot(), sysdig_filter_order=order)
            b = EventBuilder(tid=200)
            for raw in (b.named("PPME_SYSCALL_OPEN_E", "/tmp/x", 1, 0),
                        b.named("PPME_SYSCALL_OPEN_X", 3, "/tmp/x", 1, 0, 0, 0),
                        b.named("PPME_SYSCALL_READ_E", 3, 7)):   # the write enter was lost
                feed(st, [raw])
                st.settle()
            v = feed(st, [b.named("PPME_SYSCALL_WRITE_X", 7, b"abcdefg")])
            assert field(v, "evt.buflen") == want

class TestWantedTypes:
    """The backend must deliver the events the parsers need, both halves of each pair."""

    def test_includes_pairs(self):
        w = wanted_types()
        assert types_named("execve") <= w and types_named("close") <= w
        assert types_named("clone") <= w and types_named("procexit") <= w


class TestLivePurge:
    """Live: closed threads and idle dead ones leave the table at the periodic sweep."""

    def test_sweep(self):
        st = State(base_snapshot(), live=True, purge_interval_ns=10**9, thread_timeout_ns=5 * 10**9)
        b = EventBuilder(tid=200)
        feed(st, [b.named("PPME_SYSCALL_GETUID_E")])
        st.threads[100].flags |= 1 << 18          # CL_CLOSED, but it still has children
        assert st.purge_inactive(b.ts, alive=lambda pid, tid: True) == 1
        assert 100 not in st.threads
        # sshd's child bash idles past the timeout and /proc says it is gone
        assert st.purge_inactive(b.ts + 6 * 10**9, alive=lambda pid, tid: tid != 200) == 1
        assert 200 not in st.threads and 1 in st.threads
