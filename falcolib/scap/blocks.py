"""Parse the state blocks of a scap file into StateSnapshot records.

Layouts are libscap's (scap_savefile.c, scap_fds.c): machine info, process
lists V1..V9 (and the early ``_INT`` numbers), fd lists V1/V2, user and
group lists V1/V2, interface lists V1/V2. Newer per-entry fields are read
only when the entry's own length says they are there, as libscap does.
Containers are not carried by blocks (sysdig captures hold them as
container JSON events); ``ContainerRecord``s come from the state engine.

Every read is bounds-checked: a short or inconsistent block raises
CaptureFormatError naming the file and the byte offset of the problem.
"""
from __future__ import annotations

import socket
import struct
from typing import Iterable

import attrs

from falcolib.backend.model import (
    FdRecord,
    GroupRecord,
    InterfaceRecord,
    MachineInfo,
    ProcessRecord,
    StateSnapshot,
    UserRecord,
)
from falcolib.errors import CaptureFormatError, Position
from falcolib.scap import format as F

# process-list block type -> layout version 1..9
PL_VERSIONS = {
    F.PL_BLOCK_TYPE_V1: 1, F.PL_BLOCK_TYPE_V2: 2, F.PL_BLOCK_TYPE_V3: 3,
    F.PL_BLOCK_TYPE_V4: 4, F.PL_BLOCK_TYPE_V5: 5, F.PL_BLOCK_TYPE_V6: 6,
    F.PL_BLOCK_TYPE_V7: 7, F.PL_BLOCK_TYPE_V8: 8, F.PL_BLOCK_TYPE_V9: 9,
    F.PL_BLOCK_TYPE_V1_INT: 1, F.PL_BLOCK_TYPE_V2_INT: 2, F.PL_BLOCK_TYPE_V3_INT: 3,
}
MI_TYPES = (F.MI_BLOCK_TYPE, F.MI_BLOCK_TYPE_INT)
FDL_TYPES = {F.FDL_BLOCK_TYPE: 1, F.FDL_BLOCK_TYPE_INT: 1, F.FDL_BLOCK_TYPE_V2: 2}
IL_TYPES = {F.IL_BLOCK_TYPE: 1, F.IL_BLOCK_TYPE_INT: 1, F.IL_BLOCK_TYPE_V2: 2}
UL_TYPES = {F.UL_BLOCK_TYPE: 1, F.UL_BLOCK_TYPE_INT: 1, F.UL_BLOCK_TYPE_V2: 2}
STATE_BLOCK_TYPES = frozenset(
    (*MI_TYPES, *PL_VERSIONS, *FDL_TYPES, *IL_TYPES, *UL_TYPES))

MAX_PATH = 1024          # SCAP_MAX_PATH_SIZE
MAX_ARGS = 4096          # SCAP_MAX_ARGS_SIZE, SCAP_MAX_ENV_SIZE, SCAP_MAX_CGROUPS_SIZE
MAX_CRED = 256           # MAX_CREDENTIALS_STR_LEN
MI_BODY = struct.Struct("<IQQ128sQQQQ")   # packed scap_machine_info, 180 bytes


class _Cursor:
    """Bounds-checked little-endian reads over one block body."""

    __slots__ = ("body", "pos", "end", "base", "path", "what")

    def __init__(self, body: bytes, base: int, path: str, what: str):
        self.body = body
        self.pos = 0
        self.end = len(body)
        self.base = base      # file offset of body[0]
        self.path = path
        self.what = what

    def error(self, message: str, at: int | None = None) -> CaptureFormatError:
        offset = self.base + (self.pos if at is None else at)
        return CaptureFormatError(f"{self.what}: {message}",
                                  position=Position(file=self.path, offset=offset))

    def take(self, n: int, what: str) -> int:
        at = self.pos
        if at + n > self.end:
            raise self.error(f"expected {n} bytes of {what}, found {self.end - at}")
        self.pos = at + n
        return at

    def u8(self, what: str) -> int:
        return self.body[self.take(1, what)]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.body[(at := self.take(2, what)):at + 2], "little")

    def u32(self, what: str) -> int:
        return int.from_bytes(self.body[(at := self.take(4, what)):at + 4], "little")

    def u64(self, what: str) -> int:
        return int.from_bytes(self.body[(at := self.take(8, what)):at + 8], "little")

    def i64(self, what: str) -> int:
        return int.from_bytes(self.body[(at := self.take(8, what)):at + 8], "little", signed=True)

    def raw(self, n: int, what: str) -> bytes:
        at = self.take(n, what)
        return bytes(self.body[at:at + n])

    def lstr(self, what: str, limit: int) -> bytes:
        """A u16 length then that many bytes (not NUL-terminated on file)."""
        n = self.u16(f"{what} length")
        if n > limit:
            raise self.error(f"{what} length {n} exceeds the maximum {limit}", self.pos - 2)
        return self.raw(n, what)

    def remaining(self) -> int:
        return self.end - self.pos


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _cstr(b: bytes) -> str:
    """A C string from a fixed-size field: up to the first NUL."""
    return _text(b.split(b"\0", 1)[0])


def _strings(b: bytes) -> tuple[str, ...]:
    """NUL-separated strings (args, env, cgroups), trailing NUL dropped."""
    if not b:
        return ()
    if b.endswith(b"\0"):
        b = b[:-1]
    return tuple(_text(s) for s in b.split(b"\0"))


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


# ---------------------------------------------------------------- machine info

def parse_machine_info(body: bytes, base: int = 0, path: str = "") -> MachineInfo:
    c = _Cursor(body, base, path, "machine info block")
    at = c.take(MI_BODY.size, "machine info")
    ncpus, mem, maxpid, host, boot, flags, _r3, _r4 = MI_BODY.unpack_from(body, at)
    return MachineInfo(hostname=_cstr(host), num_cpus=ncpus, memory_size_bytes=mem,
                       max_pid=maxpid, boot_time_ns=boot, flags=flags)


# ---------------------------------------------------------------- process list

def parse_proclist(body: bytes, btype: int, base: int = 0, path: str = "") -> list[ProcessRecord]:
    version = PL_VERSIONS[btype]
    c = _Cursor(body, base, path, f"process list block (V{version})")
    out = []
    while c.remaining() >= 4:
        out.append(_proc_entry(c, version))
    return out


def _proc_entry(c: _Cursor, v: int) -> ProcessRecord:
    start = c.pos
    sub_len = c.u32("entry length") if v >= 9 else 0
    if v >= 9 and (sub_len < 4 or start + sub_len > c.end):
        raise c.error(f"process entry length {sub_len} does not fit the block "
                      f"({c.end - start} bytes left)", start)
    f: dict = {}
    f["tid"] = _signed64(c.u64("tid"))
    f["pid"] = _signed64(c.u64("pid"))
    f["ptid"] = _signed64(c.u64("ptid"))
    f["sid"] = _signed64(c.u64("sid")) if v >= 6 else -1
    f["vpgid"] = _signed64(c.u64("vpgid")) if v >= 8 else -1
    f["comm"] = _text(c.lstr("comm", MAX_PATH))
    f["exe"] = _text(c.lstr("exe", MAX_PATH))
    if v >= 7:
        f["exepath"] = _text(c.lstr("exepath", MAX_PATH))
    f["args"] = _strings(c.lstr("args", MAX_ARGS))
    f["cwd"] = _text(c.lstr("cwd", MAX_PATH))
    f["fdlimit"] = _signed64(c.u64("fdlimit"))
    f["flags"] = c.u32("flags")
    f["uid"] = c.u32("uid")
    f["gid"] = c.u32("gid")
    vtid = vpid = -1
    if v >= 2:
        f["vmsize_kb"] = c.u32("vmsize_kb")
        f["vmrss_kb"] = c.u32("vmrss_kb")
        f["vmswap_kb"] = c.u32("vmswap_kb")
        f["pfmajor"] = c.u64("pfmajor")
        f["pfminor"] = c.u64("pfminor")
        if v >= 3:
            f["env"] = _strings(c.lstr("env", MAX_ARGS))
        if v >= 4:
            vtid = c.i64("vtid")
            vpid = c.i64("vpid")
            f["cgroups"] = _strings(c.lstr("cgroups", MAX_ARGS))
            if v >= 5:
                f["root"] = _text(c.lstr("root", MAX_PATH))
    f["vtid"] = vtid
    f["vpid"] = vpid
    if sub_len:
        end = start + sub_len
        if c.pos > end:
            raise c.error(f"process entry is {c.pos - start} bytes, longer than its "
                          f"length field {sub_len}", start)

        def has(n: int) -> bool:
            return c.pos + n <= end
        # libs >= 0.10 wrote pidns_init_start_ts and tty before loginuid;
        # older writers put at most 29 bytes here (loginuid, exe_writable, caps)
        if end - c.pos > 29:
            if has(8):
                f["pidns_init_start_ts"] = c.u64("pidns_init_start_ts")
            if has(4):
                f["tty"] = c.u32("tty")
        if has(4):
            f["loginuid"] = c.u32("loginuid")
        if has(1):
            f["exe_writable"] = bool(c.u8("exe_writable"))
        for cap in ("cap_inheritable", "cap_permitted", "cap_effective"):
            if has(8):
                f[cap] = c.u64(cap)
        if has(1):
            f["exe_upper_layer"] = bool(c.u8("exe_upper_layer"))
        for ino in ("exe_ino", "exe_ino_ctime", "exe_ino_mtime"):
            if has(8):
                f[ino] = c.u64(ino)
        if has(1):
            f["exe_from_memfd"] = bool(c.u8("exe_from_memfd"))
        if has(1):
            f["exe_lower_layer"] = bool(c.u8("exe_lower_layer"))
        if has(8):
            f["pgid"] = c.i64("pgid")
        c.pos = end
    return ProcessRecord(**f)


# ---------------------------------------------------------------- fd lists

def parse_fdlist(body: bytes, btype: int, base: int = 0, path: str = "") -> tuple[int, list[FdRecord]]:
    """One fd list block: the thread id it belongs to and its fds."""
    version = FDL_TYPES[btype]
    c = _Cursor(body, base, path, f"fd list block (V{version})")
    tid = _signed64(c.u64("tid"))
    fds = []
    while c.remaining() >= 4:
        fds.append(_fd_entry(c, version))
    return tid, fds


_NAMED_FD_TYPES = frozenset((1, 2, 7, 9, 10, 11, 12, 13, 14, 15))  # fname only


def _fd_entry(c: _Cursor, v: int) -> FdRecord:
    start = c.pos
    sub_len = c.u32("fd entry length") if v >= 2 else 0
    if v >= 2 and (sub_len < 4 or start + sub_len > c.end):
        raise c.error(f"fd entry length {sub_len} does not fit the block "
                      f"({c.end - start} bytes left)", start)
    fd = _signed64(c.u64("fd"))
    ino = c.u64("ino")
    ftype = c.u8("fd type")
    f: dict = {"fd": fd, "type": ftype, "ino": ino}
    if ftype == F.SCAP_FD_IPV4_SOCK:
        f["sip"] = socket.inet_ntoa(c.raw(4, "source ip"))
        f["dip"] = socket.inet_ntoa(c.raw(4, "destination ip"))
        f["sport"] = c.u16("source port")
        f["dport"] = c.u16("destination port")
        f["l4proto"] = c.u8("l4 protocol")
    elif ftype == F.SCAP_FD_IPV4_SERVSOCK:
        f["sip"] = socket.inet_ntoa(c.raw(4, "server ip"))
        f["sport"] = c.u16("server port")
        f["l4proto"] = c.u8("l4 protocol")
    elif ftype == F.SCAP_FD_IPV6_SOCK:
        f["sip"] = socket.inet_ntop(socket.AF_INET6, c.raw(16, "source ip"))
        f["dip"] = socket.inet_ntop(socket.AF_INET6, c.raw(16, "destination ip"))
        f["sport"] = c.u16("source port")
        f["dport"] = c.u16("destination port")
        f["l4proto"] = c.u8("l4 protocol")
    elif ftype == F.SCAP_FD_IPV6_SERVSOCK:
        f["sip"] = socket.inet_ntop(socket.AF_INET6, c.raw(16, "server ip"))
        f["sport"] = c.u16("server port")
        f["l4proto"] = c.u8("l4 protocol")
    elif ftype == F.SCAP_FD_UNIX_SOCK:
        f["source"] = c.u64("unix source")
        f["dest"] = c.u64("unix destination")
        f["name"] = _text(c.lstr("unix socket name", MAX_PATH - 1))
    elif ftype == F.SCAP_FD_FILE_V2:
        f["flags"] = c.u32("open flags")
        f["name"] = _text(c.lstr("file name", MAX_PATH - 1))
        if sub_len and c.pos + 4 <= start + sub_len:
            f["dev"] = c.u32("device")
    elif ftype in _NAMED_FD_TYPES:
        f["name"] = _text(c.lstr("fd name", MAX_PATH - 1))
    elif ftype != F.SCAP_FD_UNKNOWN:
        raise c.error(f"unknown fd type {ftype} (expected 0..16)", c.pos - 1)
    if sub_len:
        if c.pos > start + sub_len:
            raise c.error(f"fd entry is {c.pos - start} bytes, longer than its "
                          f"length field {sub_len}", start)
        c.pos = start + sub_len
    return FdRecord(**f)


# ---------------------------------------------------------------- users, groups

def parse_userlist(body: bytes, btype: int, base: int = 0,
                   path: str = "") -> tuple[list[UserRecord], list[GroupRecord]]:
    version = UL_TYPES[btype]
    c = _Cursor(body, base, path, f"user list block (V{version})")
    users, groups = [], []
    while c.remaining() >= 4:
        start = c.pos
        sub_len = c.u32("entry length") if version >= 2 else 0
        if version >= 2 and (sub_len < 4 or start + sub_len > c.end):
            raise c.error(f"user entry length {sub_len} does not fit the block", start)
        kind = c.u8("entry type")
        if kind == F.USERBLOCK_TYPE_USER:
            uid = c.u32("uid")
            gid = c.u32("gid")
            name = _text(c.lstr("user name", MAX_CRED - 1))
            home = _text(c.lstr("home directory", MAX_CRED - 1))
            shell = _text(c.lstr("shell", MAX_CRED - 1))
            users.append(UserRecord(uid=uid, gid=gid, name=name, homedir=home, shell=shell))
        else:  # libscap treats every other value as a group
            gid = c.u32("gid")
            name = _text(c.lstr("group name", MAX_CRED - 1))
            groups.append(GroupRecord(gid=gid, name=name))
        if sub_len:
            if c.pos > start + sub_len:
                raise c.error(f"user entry is {c.pos - start} bytes, longer than its "
                              f"length field {sub_len}", start)
            c.pos = start + sub_len
    return users, groups


# ---------------------------------------------------------------- interfaces

_IF_FIXED = {  # interface type -> (family, address bytes, has linkspeed)
    F.SCAP_II_IPV4: (socket.AF_INET, 4, True),
    F.SCAP_II_IPV6: (socket.AF_INET6, 16, True),
    F.SCAP_II_IPV4_NOLINKSPEED: (socket.AF_INET, 4, False),
    F.SCAP_II_IPV6_NOLINKSPEED: (socket.AF_INET6, 16, False),
}


def parse_iflist(body: bytes, btype: int, base: int = 0, path: str = "") -> list[InterfaceRecord]:
    version = IL_TYPES[btype]
    c = _Cursor(body, base, path, f"interface list block (V{version})")
    out = []
    while c.remaining() >= 4:
        entry_len = 0
        if version >= 2:
            entry_len = c.u32("entry length")  # excludes the length field itself
            if c.pos + entry_len > c.end:
                raise c.error(f"interface entry length {entry_len} does not fit the block",
                              c.pos - 4)
        start = c.pos
        iftype = c.u16("interface type")
        spec = _IF_FIXED.get(iftype)
        if spec is None:
            raise c.error(f"unknown interface type {iftype} (expected 1..4)", start)
        family, alen, has_speed = spec
        namelen = c.u16("interface name length")
        if namelen >= MAX_PATH:
            raise c.error(f"interface name length {namelen} exceeds {MAX_PATH - 1}", start + 2)
        addr = c.raw(alen, "address")
        mask = c.raw(alen, "netmask")
        bcast = c.raw(alen, "broadcast address")
        speed = c.u64("link speed") if has_speed else 0
        name = _cstr(c.raw(namelen, "interface name"))
        out.append(InterfaceRecord(name=name, family=family,
                                   addr=socket.inet_ntop(family, addr),
                                   netmask=socket.inet_ntop(family, mask),
                                   bcast=socket.inet_ntop(family, bcast),
                                   linkspeed=speed))
        if entry_len:
            if c.pos > start + entry_len:
                raise c.error(f"interface entry is {c.pos - start} bytes, longer than its "
                              f"length field {entry_len}", start)
            c.pos = start + entry_len
    return out


# ---------------------------------------------------------------- all together

def parse_state_blocks(blocks: Iterable[tuple[int, bytes, int]], path: str = "") -> StateSnapshot:
    """Build a StateSnapshot from (block type, body, file offset) tuples.

    Later user/interface lists replace earlier ones (libscap does the
    same); fd lists attach to the thread they name, in file order.
    Unknown block types are ignored here (the reader counts them).
    """
    machine = MachineInfo()
    procs: dict[int, ProcessRecord] = {}
    fds: dict[int, list[FdRecord]] = {}
    users: list[UserRecord] = []
    groups: list[GroupRecord] = []
    ifaces: list[InterfaceRecord] = []
    for btype, body, offset in blocks:
        base = offset + 8
        if btype in MI_TYPES:
            machine = parse_machine_info(body, base, path)
        elif btype in PL_VERSIONS:
            for p in parse_proclist(body, btype, base, path):
                procs[p.tid] = p
        elif btype in FDL_TYPES:
            tid, entries = parse_fdlist(body, btype, base, path)
            fds.setdefault(tid, []).extend(entries)
        elif btype in UL_TYPES:
            users, groups = parse_userlist(body, btype, base, path)
        elif btype in IL_TYPES:
            ifaces = parse_iflist(body, btype, base, path)
    for tid, entries in fds.items():
        proc = procs.get(tid)
        if proc is None:
            # libscap refuses such a file; keep the fds on a bare record instead
            proc = ProcessRecord(tid=tid, pid=tid, ptid=-1, comm="")
        procs[tid] = _with_fds(proc, entries)
    return StateSnapshot(processes=tuple(procs.values()), users=tuple(users),
                         groups=tuple(groups), interfaces=tuple(ifaces), machine=machine)


def _with_fds(proc: ProcessRecord, entries: list[FdRecord]) -> ProcessRecord:
    byfd = {f.fd: f for f in proc.fds}
    for f in entries:
        byfd[f.fd] = f
    return attrs.evolve(proc, fds=tuple(byfd.values()))
