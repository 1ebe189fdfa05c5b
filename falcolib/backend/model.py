"""What every backend produces: raw events in Falco's driver encoding, state, stats.

RawEvent is a NamedTuple rather than an attrs class: it is created once per
event on the hottest path, and tuple construction is several times cheaper
(measured in benchmarks/replay.py). It is immutable like the attrs values.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple, Protocol

import attrs


class RawEvent(NamedTuple):
    """One event as the driver encodes it, not yet decoded.

    ``buf[off:off + size]`` is the whole event: a header of ``hdr`` bytes
    (26 with a parameter count, 22 in 2016-era captures without one:
    ts u64, tid u64, len u32, type u16[, nparams u32]), the parameter
    length array (u16 each, u32 for large-payload events) and the
    parameters. Decoding is left to ``falcolib.decode``.
    """

    ts: int
    tid: int
    type: int
    nparams: int
    cpu: int
    buf: bytes
    off: int
    size: int
    hdr: int = 26
    flags: int = 0
    num: int = 0  # 1-based position in the backend's stream (evt.num)

    @property
    def data(self) -> bytes:
        """The event's bytes, header included."""
        return bytes(self.buf[self.off:self.off + self.size])


_new_raw = tuple.__new__


def make_raw(ts, tid, etype, nparams, cpu, buf, off, size, hdr=26, flags=0, num=0) -> RawEvent:
    """Build a RawEvent without the generated __new__ (hot-path constructor)."""
    return _new_raw(RawEvent, (ts, tid, etype, nparams, cpu, buf, off, size, hdr, flags, num))


@attrs.frozen
class FdRecord:
    """An fd known before the first event (scap fd list, /proc scan)."""

    fd: int
    type: int  # scap_fd_type value (SCAP_FD_FILE=1 ...)
    name: str = ""
    flags: int = 0
    ino: int = 0
    dev: int = 0
    mount_id: int = 0
    # sockets: (family, sip, sport, dip, dport, l4proto) or None
    sip: str | None = None
    sport: int | None = None
    dip: str | None = None
    dport: int | None = None
    l4proto: int = 0
    source: int = 0  # socket direction or unix source address
    dest: int = 0


@attrs.frozen
class ProcessRecord:
    """A thread known before the first event (scap process list, /proc scan)."""

    tid: int
    pid: int
    ptid: int
    comm: str
    exe: str = ""
    exepath: str = ""
    args: tuple[str, ...] = ()
    cwd: str = ""
    fdlimit: int = 0
    flags: int = 0
    uid: int = 0xFFFFFFFF
    gid: int = 0xFFFFFFFF
    sid: int = 0
    vpgid: int = 0
    vtid: int = 0
    vpid: int = 0
    cgroups: tuple[str, ...] = ()
    root: str = "/"
    env: tuple[str, ...] = ()
    loginuid: int = 0xFFFFFFFF
    exe_writable: bool = False
    exe_upper_layer: bool = False
    exe_from_memfd: bool = False
    exe_lower_layer: bool = False
    cap_inheritable: int = 0
    cap_permitted: int = 0
    cap_effective: int = 0
    tty: int = 0
    pidns_init_start_ts: int = 0
    clone_ts: int = 0
    exe_ino: int = 0
    exe_ino_ctime: int = 0
    exe_ino_mtime: int = 0
    vmsize_kb: int = 0
    vmrss_kb: int = 0
    vmswap_kb: int = 0
    pfmajor: int = 0
    pfminor: int = 0
    fds: tuple[FdRecord, ...] = ()
    pgid: int = -1


@attrs.frozen
class UserRecord:
    uid: int
    gid: int
    name: str
    homedir: str = ""
    shell: str = ""
    container_id: str = ""


@attrs.frozen
class GroupRecord:
    gid: int
    name: str
    container_id: str = ""


@attrs.frozen
class InterfaceRecord:
    name: str
    family: int  # AF_INET=2 / AF_INET6=10
    addr: str
    netmask: str = ""
    bcast: str = ""
    linkspeed: int = 0


@attrs.frozen
class ContainerRecord:
    id: str
    type: str = ""  # docker, podman, containerd, cri-o, ...
    name: str = ""
    image: str = ""
    image_id: str = ""
    image_repo: str = ""
    image_tag: str = ""
    image_digest: str = ""
    privileged: bool | None = None
    labels: tuple[tuple[str, str], ...] = ()
    mounts: tuple[tuple[str, str, str, bool], ...] = ()  # source, dest, mode, rw
    ip: str = ""
    user: str = ""
    host_pid: bool | None = None
    host_network: bool | None = None
    host_ipc: bool | None = None


@attrs.frozen
class MachineInfo:
    hostname: str = ""
    num_cpus: int = 0
    memory_size_bytes: int = 0
    max_pid: int = 0
    boot_time_ns: int = 0
    flags: int = 0


@attrs.frozen
class StateSnapshot:
    """Threads, fds, users, groups, interfaces and containers known at start."""

    processes: tuple[ProcessRecord, ...] = ()
    users: tuple[UserRecord, ...] = ()
    groups: tuple[GroupRecord, ...] = ()
    interfaces: tuple[InterfaceRecord, ...] = ()
    containers: tuple[ContainerRecord, ...] = ()
    machine: MachineInfo = attrs.field(factory=MachineInfo)


@attrs.define
class BackendStats:
    """Counters a backend keeps; drops are never silent."""

    events_read: int = 0
    dropped_kernel: int = 0      # ring buffer full / reservation failed in the kernel
    dropped_queue: int = 0       # userspace queue overflow
    dropped_decode: int = 0      # records that could not be framed
    skipped_blocks: int = 0      # unknown capture blocks skipped by length
    filtered_kernel: int = 0     # removed by in-kernel filtering (not drops)
    per_cpu_drops: dict[int, int] = attrs.field(factory=dict)
    extra: dict[str, int] = attrs.field(factory=dict)

    @property
    def dropped(self) -> int:
        return self.dropped_kernel + self.dropped_queue + self.dropped_decode

    def as_dict(self) -> dict:
        d = attrs.asdict(self)
        d["dropped"] = self.dropped
        return d


class Backend(Protocol):
    """A source of RawEvents. Replay ends at EOF; live ends after stop()."""

    name: str

    def __enter__(self) -> "Backend": ...
    def __iter__(self) -> Iterator[RawEvent]: ...
    def snapshot(self) -> StateSnapshot: ...
    def stats(self) -> BackendStats: ...
    def stop(self) -> None: ...
    def __exit__(self, *exc) -> None: ...

    # Optional: live backends accept the event types wanted (None = all)
    # via ``set_event_types(types: frozenset[int] | None)`` before __enter__.
