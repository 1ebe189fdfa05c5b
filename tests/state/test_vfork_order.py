"""The kernel's vfork order: the child runs (and execs) before the parent's vfork returns.

Seen live (tests/backends/ebpf/test_capture_oracle.py was flaky under load because of it):
sysdig 0.29 rebuilds the child from the parent when the parent's return comes last, so an
exec'd `mv` shows as `sh` again; live runs follow current libs and keep the child."""
from __future__ import annotations

import pytest

from falcolib.decode.event import Event
from falcolib.fields import resolve
from falcolib.state import State
from falcolib.testing import Host

CL_CLONE_VM, CL_CLONE_VFORK = 0x100, 0x40000  # PPM_CL_* bits


def vfork_then_exec(host: Host, parent, comm: str) -> int:
    """Events as the kernel reports a vfork: child return, child execve, then parent return."""
    child = host._pid()
    flags = CL_CLONE_VM | CL_CLONE_VFORK
    common = (parent.exe, list(parent.args))

    def vfork_x(tid, res, ptid):
        host._emit("PPME_SYSCALL_VFORK_20_X", tid, res, *common, tid, tid, ptid, parent.cwd, 1024,
                   0, 0, 0, 0, 0, parent.comm, ["cpuset=/"], flags, 0, 0, tid, tid)
    host._emit("PPME_SYSCALL_VFORK_20_E", child)      # as a live probe writes the child's return:
    vfork_x(child, 0, parent.pid)                    # enter + exit, and it comes first
    host._emit("PPME_SYSCALL_EXECVE_19_E", child, f"/usr/bin/{comm}")
    host._emit("PPME_SYSCALL_EXECVE_19_X", child, 0, f"/usr/bin/{comm}", [], child, child,
               parent.pid, "/", 1024, 0, 0, 0, 0, 0, comm, ["cpuset=/"], [], 0, child,
               0xFFFFFFFF, 0, 0, 0, 0, 0, 0, 0, 0)
    host._emit("PPME_SYSCALL_VFORK_20_E", parent.pid)
    vfork_x(parent.pid, child, parent.ptid or 1)     # the parent resumes after the exec
    host._emit("PPME_SYSCALL_CLOSE_E", child, 0)
    host._emit("PPME_SYSCALL_CLOSE_X", child, 0)
    return child


@pytest.mark.parametrize("live,expected", [(True, "mv"), (False, "sh")])
def test_child_keeps_its_exec_name(live, expected):
    """Live (current libs): the exec'd child stays `mv`. Replaying a capture as sysdig 0.29
    does, the parent's late return rebuilds the child from the parent (`sh`)."""
    host = Host()
    sh = host.process("sh")
    child = vfork_then_exec(host, sh, "mv")
    state = State(host.snapshot(), live=live, host_tables=False)
    views = [state.process(Event(raw)) for raw in host.raw_events()]
    last = views[-1]
    assert last.evt.tid == child and last.evt.name == "close"
    assert resolve("proc.name")(last) == expected
