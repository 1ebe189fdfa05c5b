"""Build what happened on a host, in memory, as the driver would have reported it.

    host = Host()
    nginx = host.process("nginx", args=["-g", "daemon off;"], user="www-data")
    sh = nginx.spawn("sh", ["-c", "id"])          # clone + execve, as the kernel reports them
    sh.open("/etc/shadow")                         # openat enter/exit with an fd
    sh.connect("203.0.113.9", 443)                 # socket + connect with the tuple
    web = host.container("a1b2c3d4e5f6", image="nginx:1.25", privileged=True)
    web.process("nginx").spawn("bash", tty=34816)  # a shell in a container

``run_rules(rules, host)`` (or the ``falco_run`` fixture) replays it: the
state engine follows, so proc.pname, fd.name, user.name and container.*
are what a rule would see on a real host. Events use the layouts Debian's
sysdig 0.29 reads, so ``host.write("x.scap")`` is a capture sysdig opens.
"""
from __future__ import annotations

import ipaddress
import json
from typing import Iterable

from falcolib.backend.model import (
    ContainerRecord, GroupRecord, ProcessRecord, RawEvent, StateSnapshot, UserRecord,
)
from falcolib.testing.events import EventBuilder, sockaddr_in, socktuple_in

_OPEN_FLAGS = {"O_RDONLY": 1, "O_WRONLY": 2, "O_RDWR": 3, "O_CREAT": 4, "O_APPEND": 8,
               "O_EXCL": 32, "O_NONBLOCK": 64, "O_TRUNC": 256, "O_DIRECTORY": 1024,
               "O_CLOEXEC": 4096}
_USERS = ((0, 0, "root", "/root", "/bin/bash"), (33, 33, "www-data", "/var/www", "/usr/sbin/nologin"),
          (1000, 1000, "alice", "/home/alice", "/bin/bash"), (65534, 65534, "nobody", "/nonexistent",
                                                               "/usr/sbin/nologin"))
CL_CLONE_FILES = 0x400


def open_flags(flags: str | int) -> int:
    """``"O_WRONLY|O_CREAT"`` → the driver's PPM_O_* bits (sysdig's flag encoding)."""
    if isinstance(flags, int):
        return flags
    out = 0
    for name in flags.replace(",", "|").split("|"):
        name = name.strip()
        if name:
            try:
                out |= _OPEN_FLAGS[name]
            except KeyError:
                raise ValueError(f"unknown open flag {name!r}; known: {', '.join(_OPEN_FLAGS)}") from None
    return out


class Host:
    """A host's processes, users and containers, and the events that happen on it."""

    def __init__(self, hostname: str = "falcolib-test"):
        self.hostname = hostname
        self._b = EventBuilder()
        self.events: list[RawEvent] = []
        self._records: list[ProcessRecord] = []
        self._containers: dict[str, ContainerRecord] = {}
        self._next_pid = 2000
        self.users = {name: uid for uid, _g, name, _h, _s in _USERS}
        self.init = self.process("systemd", pid=1, parent=None, args=[], exe="/sbin/init")

    # --- what exists before the first event -------------------------------------
    def process(self, comm: str, args: Iterable[str] = (), *, pid: int | None = None,
                parent: "Proc | None" = None, exe: str | None = None, cwd: str = "/",
                user: str = "root", tty: int = 0, env: Iterable[str] = (),
                container: "Container | None" = None) -> "Proc":
        """A process already running when the capture starts (it is in the snapshot)."""
        pid = self._pid() if pid is None else pid
        ptid = 0 if parent is None else parent.pid
        if parent is None and pid != 1:
            ptid = 1
        exe = exe or f"/usr/bin/{comm}"
        uid = self.users[user]
        cgroups = container.cgroups() if container is not None else ("cpuset=/",)
        self._records.append(ProcessRecord(
            tid=pid, pid=pid, ptid=ptid, comm=comm, exe=exe, exepath=exe, args=tuple(args), cwd=cwd,
            fdlimit=1024, uid=uid, gid=uid, sid=pid, vpgid=pid, vtid=pid, vpid=pid,
            cgroups=cgroups, env=tuple(env), loginuid=uid if user != "root" else 0xFFFFFFFF,
            tty=tty))
        return Proc(self, pid, comm, exe, list(args), cwd, uid, tty, list(env), container)

    def container(self, cid: str, *, name: str = "", image: str = "busybox:latest",
                  privileged: bool = False, labels: dict | None = None) -> "Container":
        """A container (docker) whose metadata the state learns from a container event."""
        if len(cid) < 12 or any(c not in "0123456789abcdef" for c in cid):
            raise ValueError(f"container id must be 12+ lowercase hex digits, got {cid!r}")
        c = Container(self, cid[:12], (cid + "0" * 64)[:64], name or f"c_{cid[:6]}", image,
                      privileged, dict(labels or {}))
        c.announce()
        return c

    # --- replay ------------------------------------------------------------------
    def snapshot(self) -> StateSnapshot:
        users = tuple(UserRecord(uid, gid, n, h, s) for uid, gid, n, h, s in _USERS)
        groups = tuple(GroupRecord(gid, n) for _u, gid, n, _h, _s in _USERS)
        return StateSnapshot(processes=tuple(self._records), users=users, groups=groups,
                             containers=tuple(self._containers.values()))

    def raw_events(self) -> list[RawEvent]:
        return list(self.events)

    def write(self, path) -> None:
        """A scap capture of this host that sysdig and ``falcolib events`` read."""
        from falcolib.scap.writer import ScapWriter
        with ScapWriter(path, self.snapshot()) as w:
            for raw in self.events:
                w.write(raw)

    # --- internals ----------------------------------------------------------------
    def _pid(self) -> int:
        self._next_pid += 1
        return self._next_pid

    def _emit(self, enum: str, tid: int, *params) -> None:
        self.events.append(self._b.named(enum, *params, tid=tid))


class Container:
    """A container on the host; its processes carry its cgroup."""

    def __init__(self, host: Host, cid: str, full_id: str, name: str, image: str,
                 privileged: bool, labels: dict):
        self.host, self.id, self.full_id, self.name, self.image = host, cid, full_id, name, image
        self.privileged, self.labels = privileged, labels

    def cgroups(self) -> tuple[str, ...]:
        return (f"cpuset=/docker/{self.full_id}", f"memory=/docker/{self.full_id}")

    def announce(self) -> None:
        repo, _, tag = self.image.rpartition(":") if ":" in self.image else (self.image, "", "latest")
        doc = {"container": {"id": self.id, "full_id": self.full_id, "type": 0, "name": self.name,
                             "image": self.image, "imagerepo": repo, "imagetag": tag,
                             "privileged": self.privileged, "labels": self.labels, "Mounts": []}}
        self.host._emit("PPME_CONTAINER_JSON_E", 0, json.dumps(doc))

    def process(self, comm: str, args: Iterable[str] = (), **kw) -> "Proc":
        """A process already running in this container."""
        return self.host.process(comm, args, container=self, **kw)


class Proc:
    """A process on the host; each method emits the syscalls' enter and exit events."""

    def __init__(self, host: Host, pid: int, comm: str, exe: str, args: list, cwd: str,
                 uid: int, tty: int, env: list, container: Container | None):
        self.host, self.pid, self.comm, self.exe, self.args = host, pid, comm, exe, args
        self.cwd, self.uid, self.tty, self.env, self.container = cwd, uid, tty, env, container
        self.ptid = 0
        self._next_fd = 3

    def __repr__(self) -> str:
        return f"<Proc {self.comm}({self.pid})>"

    def _cgroups(self) -> list[str]:
        return list(self.container.cgroups() if self.container else ("cpuset=/",))

    def spawn(self, comm: str, args: Iterable[str] = (), *, exe: str | None = None,
              user: str | None = None, tty: int | None = None, cwd: str | None = None) -> "Proc":
        """fork + execve: a child of this process running ``comm``."""
        h = self.host
        child = Proc(h, h._pid(), self.comm, self.exe, list(self.args), cwd or self.cwd,
                     self.uid if user is None else h.users[user],
                     self.tty if tty is None else tty, list(self.env), self.container)
        child.ptid = self.pid
        common = (self.exe, list(self.args))
        h._emit("PPME_SYSCALL_CLONE_20_E", self.pid)
        h._emit("PPME_SYSCALL_CLONE_20_X", self.pid, child.pid, *common, self.pid, self.pid,
                self.ptid, self.cwd, 1024, 0, 0, 0, 0, 0, self.comm, self._cgroups(), 0,
                self.uid, self.uid, self.pid, self.pid)
        h._emit("PPME_SYSCALL_CLONE_20_X", child.pid, 0, *common, child.pid, child.pid,
                self.pid, child.cwd, 1024, 0, 0, 0, 0, 0, self.comm, self._cgroups(), 0,
                child.uid, child.uid, child.pid, child.pid)
        return child.exec(comm, args, exe=exe)

    def exec(self, comm: str, args: Iterable[str] = (), *, exe: str | None = None) -> "Proc":
        """execve in this process: it becomes ``comm``."""
        exe = exe or f"/usr/bin/{comm}"
        self.comm, self.exe, self.args = comm, exe, list(args)
        h = self.host
        h._emit("PPME_SYSCALL_EXECVE_19_E", self.pid, exe)
        h._emit("PPME_SYSCALL_EXECVE_19_X", self.pid, 0, exe, self.args, self.pid, self.pid,
                self.ptid, self.cwd, 1024, 0, 0, 0, 0, 0, comm, self._cgroups(), self.env,
                self.tty, self.pid, self.uid if self.uid else 0xFFFFFFFF, 0, 0, 0, 0, 0, 0, 0,
                self.uid)
        return self

    def open(self, path: str, flags: str | int = "O_RDONLY", mode: int = 0, *,
             res: int | None = None) -> int:
        """openat(AT_FDCWD, path, flags, mode); returns the new fd (or ``res`` if negative)."""
        fl = open_flags(flags)
        fd = self._fd() if res is None else res
        h = self.host
        h._emit("PPME_SYSCALL_OPENAT_2_E", self.pid, -100, path, fl, mode)
        h._emit("PPME_SYSCALL_OPENAT_2_X", self.pid, fd, -100, path, fl, mode, 0, 0)
        return fd

    def write(self, fd: int, data: bytes = b"x") -> None:
        h = self.host
        h._emit("PPME_SYSCALL_WRITE_E", self.pid, fd, len(data))
        h._emit("PPME_SYSCALL_WRITE_X", self.pid, len(data), data)

    def close(self, fd: int) -> None:
        h = self.host
        h._emit("PPME_SYSCALL_CLOSE_E", self.pid, fd)
        h._emit("PPME_SYSCALL_CLOSE_X", self.pid, 0)

    def connect(self, ip: str, port: int, *, sport: int = 40000) -> int:
        """socket + connect to ip:port (IPv4); returns the socket fd."""
        if ipaddress.ip_address(ip).version != 4:
            raise ValueError("connect() builds IPv4 sockets; got {ip!r}")
        fd = self._fd()
        h = self.host
        h._emit("PPME_SOCKET_SOCKET_E", self.pid, 2, 1, 0)
        h._emit("PPME_SOCKET_SOCKET_X", self.pid, fd)
        h._emit("PPME_SOCKET_CONNECT_E", self.pid, fd, sockaddr_in(ip, port))
        h._emit("PPME_SOCKET_CONNECT_X", self.pid, 0, socktuple_in("10.0.0.2", sport, ip, port))
        return fd

    def exit(self, status: int = 0) -> None:
        self.host._emit("PPME_PROCEXIT_1_E", self.pid, status, status, 0, 0)

    def _fd(self) -> int:
        fd = self._next_fd
        self._next_fd += 1
        return fd
