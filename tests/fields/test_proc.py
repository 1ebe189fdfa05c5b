"""proc.* fields on events built in memory."""
from __future__ import annotations

from falcolib.state import State
from falcolib.testing.events import EventBuilder
from tests.fields.statekit import base_snapshot, clone_parent, execve, feed, field


class TestLineage:
    """Parents and ancestors resolve through the thread table."""

    def test_fork_exec_gives_name_parent_and_ancestors(self):
        st = State(base_snapshot())
        bash = EventBuilder(tid=200)
        feed(st, [bash.named("PPME_SYSCALL_CLONE_20_E"), clone_parent(bash, 300, "bash")])
        child = EventBuilder(tid=300, ts=bash.ts + 5000)
        v = feed(st, execve(child, "/bin/cat", ["/etc/passwd"], "cat", ptid=200))
        assert field(v, "proc.name") == "cat"
        assert field(v, "proc.cmdline") == "cat /etc/passwd"
        assert field(v, "proc.args") == "/etc/passwd"
        assert field(v, "proc.pname") == "bash"
        assert field(v, "proc.aname", 2) == "sshd"
        assert field(v, "proc.aname", 3) == "systemd"
        assert field(v, "proc.apid", 1) == 200
        assert field(v, "proc.aname") == ("bash", "sshd", "systemd")
        assert field(v, "proc.exepath") == "/bin/cat"
        assert field(v, "proc.cwd") == "/home/u/"
        assert field(v, "proc.duration") > 0

    def test_missing_parent_gives_na(self):
        st = State(base_snapshot())
        orphan = EventBuilder(tid=777)
        v = feed(st, execve(orphan, "/bin/ls", [], "ls", ptid=4242))
        assert field(v, "proc.name") == "ls"
        assert field(v, "proc.ppid") == 4242
        assert field(v, "proc.pname") is None
        assert field(v, "proc.aname", 1) is None

    def test_empty_args_and_env_lookup(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, execve(b, "/bin/true", [], "true", ptid=100, env=["HOME=/root", "X= y "]))
        assert field(v, "proc.args") == ""
        assert field(v, "proc.cmdline") == "true"
        assert field(v, "proc.env", "HOME") == "/root"
        assert field(v, "proc.env", "X") == "y"
        assert field(v, "proc.env", "NOPE") == ""

    def test_non_utf8_exe_path_is_sanitized_like_sysdig(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, execve(b, b"./t\xff\xfe/run\x01x\0", [], "run", ptid=100))
        assert field(v, "proc.exepath") == "/home/u/t../run.x"


class TestExitRemoval:
    """An exited thread leaves the table when the next event arrives, as in sysdig."""

    def test_procexit_then_next_event(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, [b.named("PPME_PROCEXIT_1_E", 0, 0, 0, 0)])
        assert field(v, "proc.name") == "bash"
        assert 200 in st.threads
        feed(st, [EventBuilder(tid=100).named("PPME_SYSCALL_GETUID_E")])
        assert 200 not in st.threads
