"""Small helpers for field tests: a State fed with events built in memory."""
from __future__ import annotations

from falcolib.backend.model import GroupRecord, ProcessRecord, StateSnapshot, UserRecord
from falcolib.decode.event import Event
from falcolib.fields.catalogue import resolve
from falcolib.state import State
from falcolib.testing.events import EventBuilder

CGROUP_DOCKER = "cpuset=/docker/" + "a1b2c3d4e5f6" + "0" * 52


def snapshot(*procs, users=(), groups=()) -> StateSnapshot:
    return StateSnapshot(processes=tuple(procs), users=tuple(users), groups=tuple(groups))


def proc(tid, ptid, comm, *, pid=None, args=(), cwd="/", uid=0, gid=0, fds=(), env=(), cgroups=()):
    return ProcessRecord(tid=tid, pid=tid if pid is None else pid, ptid=ptid, comm=comm,
                         exe=comm, exepath=f"/usr/bin/{comm}", args=tuple(args), cwd=cwd,
                         uid=uid, gid=gid, fds=tuple(fds), env=tuple(env), cgroups=tuple(cgroups),
                         sid=1, vpgid=tid, vtid=tid, vpid=tid)


def base_snapshot():
    return snapshot(proc(1, 0, "systemd"), proc(100, 1, "sshd"), proc(200, 100, "bash", cwd="/home/u"),
                    users=[UserRecord(0, 0, "root", "/root", "/bin/bash"),
                           UserRecord(1000, 1000, "u", "/home/u", "/bin/sh")],
                    groups=[GroupRecord(0, "root"), GroupRecord(1000, "users")])


def field(view, name, arg=None):
    return resolve(name, arg)(view)


def feed(state: State, raws):
    views = [state.process(Event(r)) for r in raws]
    return views[-1] if views else None


def execve(b: EventBuilder, path, args, comm, *, cwd="/", pid=None, ptid=0, cgroups=(), env=()):
    """enter + exit of execve (version 19) for b.tid."""
    pid = b.tid if pid is None else pid
    return [b.named("PPME_SYSCALL_EXECVE_19_E", path),
            b.named("PPME_SYSCALL_EXECVE_19_X", 0, path, list(args), b.tid, pid, ptid, cwd, 1024,
                    0, 0, 100, 10, 0, comm, list(cgroups), list(env), 0, pid, 1000, 0)]


def clone_parent(b: EventBuilder, child, comm, *, flags=0, cgroups=()):
    return b.named("PPME_SYSCALL_CLONE_20_X", child, comm, [], b.tid, b.tid, 1, "/", 1024,
                   0, 0, 100, 10, 0, comm, list(cgroups), flags, 0, 0, b.tid, b.tid)
