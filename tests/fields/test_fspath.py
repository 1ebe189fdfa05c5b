"""fs.path.* fields resolve the paths of file syscalls against dirfds and the cwd."""
from __future__ import annotations

from falcolib.state import State
from falcolib.testing.events import EventBuilder
from tests.fields.statekit import base_snapshot, feed, field


class TestFsPath:
    """Single-path and two-path calls."""

    def test_unlinkat_relative_to_cwd_and_dirfd(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, [b.named("PPME_SYSCALL_UNLINKAT_2_E"),
                      b.named("PPME_SYSCALL_UNLINKAT_2_X", 0, -100, "x/../y.txt", 0)])
        assert field(v, "fs.path.name") == "/home/u/y.txt"
        assert field(v, "fs.path.nameraw") == "x/../y.txt"
        feed(st, [b.named("PPME_SYSCALL_OPEN_E", "/var/tmp", 1 << 10, 0),
                  b.named("PPME_SYSCALL_OPEN_X", 7, "/var/tmp", 1 << 10, 0, 0, 0)])
        v = feed(st, [b.named("PPME_SYSCALL_UNLINKAT_2_E"),
                      b.named("PPME_SYSCALL_UNLINKAT_2_X", 0, 7, "z", 0)])
        assert field(v, "fs.path.name") == "/var/tmp/z"

    def test_renameat2_source_and_target(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, [b.named("PPME_SYSCALL_RENAMEAT2_E"),
                      b.named("PPME_SYSCALL_RENAMEAT2_X", 0, -100, "a", -100, "/tmp/b", 0)])
        assert (field(v, "fs.path.source"), field(v, "fs.path.target")) == ("/home/u/a", "/tmp/b")
        assert field(v, "fs.path.name") is None

    def test_enter_events_have_no_path(self):
        st = State(base_snapshot())
        v = feed(st, [EventBuilder(tid=200).named("PPME_SYSCALL_UNLINKAT_2_E")])
        assert field(v, "fs.path.name") is None
