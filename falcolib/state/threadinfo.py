"""ThreadInfo: what the state engine knows of one thread (sysdig's sinsp_threadinfo).

Threads created with CLONE_FILES share their main thread's fd table: the
same dict object is referenced by both (sysdig looks the main thread's
table up on every access; sharing the object gives the same answers for
less work). The cwd is always read from the main thread, as sysdig does.
"""
from __future__ import annotations

import functools

import attrs

# ppm clone flags (driver ppm_events_public.h) and libsinsp's own bits
CL_CLONE_FILES = 1 << 0
CL_CLONE_FS = 1 << 1
CL_CLONE_THREAD = 1 << 13
CL_CLONE_INVERTED = 1 << 16
CL_NAME_CHANGED = 1 << 17
CL_CLOSED = 1 << 18
CL_ACTIVE = 1 << 19
CL_PIPE_SRC = 1 << 21
CL_PIPE_DST = 1 << 22
CL_CHILD_IN_PIDNS = 1 << 29
CL_IS_MAIN_THREAD = 1 << 30

NO_UID = 0xFFFFFFFF


@attrs.define(slots=True, eq=False)
class ThreadInfo:
    """One thread. Mutable: the parsers update it as events arrive."""

    tid: int
    pid: int
    ptid: int = -1
    comm: str = "<NA>"
    exe: str = "<NA>"
    exepath: str = ""
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    cwd: str = ""
    root: str = "/"
    cgroups: tuple[tuple[str, str], ...] = ()
    container_id: str = ""
    uid: int = NO_UID
    gid: int = NO_UID
    loginuid: int = 0
    sid: int = -1
    vpgid: int = -1
    vtid: int = -1
    vpid: int = -1
    tty: int = 0
    flags: int = 0
    fdlimit: int = -1
    clone_ts: int = 0
    exe_writable: bool = False
    exe_upper_layer: bool = False
    exe_from_memfd: bool = False
    exe_ino: int = 0
    exe_ino_ctime: int = 0
    exe_ino_mtime: int = 0
    pidns_init_start_ts: int = 0
    cap_inheritable: int = 0
    cap_permitted: int = 0
    cap_effective: int = 0
    pfmajor: int = 0
    pfminor: int = 0
    vmsize_kb: int = 0
    vmrss_kb: int = 0
    vmswap_kb: int = 0
    nchilds: int = 0
    totexectime: int = 0   # sum of thread.exectime over this thread's switch events
    cpu_last: dict | None = None   # thread.cpu*: last procinfo cpu totals
    lastaccess_ts: int = 0         # live mode: last event of this thread
    fds: dict = attrs.field(factory=dict)   # fd number -> FdInfo (shared by CLONE_FILES threads)
    # enter/exit pairing (sysdig's m_lastevent_*)
    lastevent_fd: int = 0   # sysdig initialises it to 0, not -1
    lastevent_type: int = -1
    lastevent: object = None       # the stored enter event (decode.Event) or None
    lastevent_valid: bool = False
    latency: int = 0
    last_enter_ts: int = 0

    @property
    def is_main(self) -> bool:
        return self.tid == self.pid or bool(self.flags & CL_IS_MAIN_THREAD)

    @property
    def is_dummy(self) -> bool:
        """A placeholder made for a tid first seen mid-capture (sysdig's "<NA>" entry)."""
        return self.comm == "<NA>" and self.uid == NO_UID

    def set_args_bytes(self, data: bytes | None) -> None:
        self.args = split_nul(data)

    def set_env_bytes(self, data: bytes | None) -> None:
        self.env = split_env(data)

    def set_cgroups_bytes(self, data: bytes | None) -> None:
        self.cgroups = parse_cgroups(split_nul(data))

    def get_env(self, name: str) -> str:
        """sysdig's get_env(NAME): the value with surrounding spaces stripped, or ''."""
        n = len(name)
        for var in self.env:
            if len(var) > n + 1 and var[n] == "=" and var.startswith(name):
                return var[n + 1:].strip(" ")
        return ""


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def split_nul(data) -> tuple[str, ...]:
    """A NUL-separated charbuf array (args, cgroups) as a tuple of strings."""
    if not data:
        return ()
    if isinstance(data, (tuple, list)):
        return tuple(data)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    parts = bytes(data).split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return tuple(_text(p) for p in parts)


def split_env(data) -> tuple[str, ...]:
    """sysdig's set_env: NUL-separated strings; an empty one ends the list only when
    nothing but NULs follows it (else it is kept, and prints as an extra space)."""
    if not data:
        return ()
    if isinstance(data, (tuple, list)):
        # already split: the same rule is "drop the trailing empty strings"
        items = list(data)
        while items and not items[-1]:
            items.pop()
        return tuple(items)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    data = bytes(data)
    out = []
    pos, n = 0, len(data)
    while pos < n:
        end = data.find(b"\0", pos)
        if end < 0:
            end = n
        if end == pos and not data[pos:].strip(b"\0"):
            break
        out.append(_text(data[pos:end]))
        pos = end + 1
    return tuple(out)


_SUBSYS = {"perf": "perf_event", "mem": "memory", "io": "blkio"}


def parse_cgroups(items) -> tuple[tuple[str, str], ...]:
    """``subsys=path`` strings as (subsys, path) with sysdig's renames (remembered for the
    last 1024 lists: every clone and execve of a process brings the same)."""
    return _parse_cgroups(tuple(items))


@functools.lru_cache(maxsize=1024)
def _parse_cgroups(items: tuple) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        sub, sep, path = item.rpartition("=")
        if not sep:
            break
        sub = sub.replace("_cgroup", "", 1)
        out.append((_SUBSYS.get(sub, sub), path))
    return tuple(out)
