"""Enterless state (live backends whose exits carry their call's parameters): the exits
alone keep the fd tables right; captures keep sysdig's enter-based pairing."""
from __future__ import annotations

from falcolib.decode.table import EVENTS
from falcolib.engine import Engine
from falcolib.state import State, wanted_types
from falcolib.testing.events import EventBuilder
from tests.fields.statekit import base_snapshot, feed, field

DIRFD_CWD = -100


def _code(enum: str) -> int:
    return next(e.code for e in EVENTS if e.enum == enum)


def _open_x(b, fd, path, flags=1):
    return b.named("PPME_SYSCALL_OPENAT_2_X", fd, DIRFD_CWD, path, flags, 0, 0, 0)


class TestEnterlessState:
    """With ``enterless=True`` unpaired exits take their fd from their own parameters."""

    def test_open_read_close_without_enters(self):
        st = State(base_snapshot(), enterless=True)
        b = EventBuilder(tid=200)
        v = feed(st, [_open_x(b, 7, "notes.txt")])
        assert field(v, "fd.name") == "/home/u/notes.txt"
        v = feed(st, [b.named("PPME_SYSCALL_READ_X", 5, b"hello", 7, 5)])
        assert field(v, "fd.name") == "/home/u/notes.txt"
        assert field(v, "fd.num") == 7
        v = feed(st, [b.named("PPME_SYSCALL_CLOSE_X", 0, 7)])
        assert field(v, "fd.name") == "/home/u/notes.txt"   # the close still sees its fd
        feed(st, [b.named("PPME_SYSCALL_GETCWD_X", 0, "/home/u")])
        assert st.fd_label(200, 7) is None                  # ... removed after it

    def test_paired_events_behave_as_before(self):
        st = State(base_snapshot(), enterless=True)
        b = EventBuilder(tid=200)
        feed(st, [b.named("PPME_SYSCALL_OPENAT_2_E", DIRFD_CWD, "a", 1, 0), _open_x(b, 4, "a")])
        v = feed(st, [b.named("PPME_SYSCALL_READ_E", 4, 10), b.named("PPME_SYSCALL_READ_X", 1, b"x", 4, 10)])
        assert field(v, "fd.name") == "/home/u/a"

    def test_unpaired_fd_of_an_unknown_number_is_none(self):
        st = State(base_snapshot(), enterless=True)
        b = EventBuilder(tid=200)
        v = feed(st, [b.named("PPME_SYSCALL_READ_X", 1, b"x", 42, 10)])
        assert v.fd is None

    def test_capture_mode_ignores_unpaired_exit_fds(self):
        """sysdig attaches no fd to an exit whose enter it did not see."""
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, [_open_x(b, 7, "notes.txt")])
        v = feed(st, [b.named("PPME_SYSCALL_READ_X", 5, b"hello", 7, 5)])
        assert v.fd is None
        feed(st, [b.named("PPME_SYSCALL_CLOSE_X", 0, 7), b.named("PPME_SYSCALL_GETCWD_X", 0, "/")])
        assert st.fd_label(200, 7) == "<f>/home/u/notes.txt"


class TestEnterlessTypes:
    """``wanted_types(enterless=True)`` drops only enters whose exit makes them unneeded."""

    def test_dropped_and_kept(self):
        full, live = wanted_types(), wanted_types(enterless=True)
        assert live < full
        for enum in ("PPME_SYSCALL_OPENAT_2_E", "PPME_SYSCALL_READ_E", "PPME_SYSCALL_CLOSE_E",
                     "PPME_SYSCALL_WRITE_E", "PPME_SYSCALL_CLONE3_E"):
            assert _code(enum) in full and _code(enum) not in live
        for enum in ("PPME_SYSCALL_EXECVE_19_E", "PPME_SOCKET_CONNECT_E", "PPME_SOCKET_SENDTO_E",
                     "PPME_SYSCALL_SETUID_E", "PPME_SYSCALL_FCNTL_E", "PPME_SYSCALL_DUP_E",
                     "PPME_SYSCALL_OPENAT_2_X", "PPME_SYSCALL_CLOSE_X"):
            assert _code(enum) in live

    def test_engine_passes_it_on(self):
        from falcolib.rules import load_rules
        from falcolib.rules.loader import default_rules_paths
        eng = Engine(load_rules(default_rules_paths()))
        assert _code("PPME_SYSCALL_OPENAT_2_E") in eng.wanted_types()
        assert _code("PPME_SYSCALL_OPENAT_2_E") not in eng.wanted_types(enterless=True)
        assert _code("PPME_SYSCALL_OPENAT_2_X") in eng.wanted_types(enterless=True)


class TestLiveSocketExit:
    """A live socket exit that carries domain/type/protocol adds its fd alone (current libs),
    an AF_PACKET one too (as an unknown socket); a replay keeps sysdig 0.29's enter-based
    parse, which keeps no unknown socket."""

    def _exit(self, b, fd, domain, stype, proto):
        return b.named("PPME_SOCKET_SOCKET_X", fd, domain, stype, proto)

    def test_live_exit_alone(self):
        st = State(base_snapshot(), live=True, enterless=True)
        b = EventBuilder(tid=200)
        v = feed(st, [self._exit(b, 5, 2, 2, 0)])            # AF_INET, SOCK_DGRAM
        assert (field(v, "fd.num"), field(v, "fd.typechar"), field(v, "fd.type")) == (5, "4", "ipv4")
        v = feed(st, [self._exit(b, 6, 17, 3, 768)])         # AF_PACKET, SOCK_RAW
        assert (field(v, "fd.num"), field(v, "fd.typechar")) == (6, "o")
        assert st.fd_label(200, 6) == "<o>"

    def test_replay_needs_the_enter(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, [self._exit(b, 5, 2, 2, 0)])
        assert v.fd is None and st.fd_label(200, 5) is None
        v = feed(st, [b.named("PPME_SOCKET_SOCKET_E", 17, 3, 768), self._exit(b, 6, 17, 3, 768)])
        assert st.fd_label(200, 6) is None
