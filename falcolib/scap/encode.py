"""Encode a StateSnapshot as scap state blocks (the inverse of ``blocks``).

Written in the newest layouts sysdig 0.29 reads: machine info, process
list V9, fd lists V2, user list V2, interface list V2. A V9 process entry
ends with loginuid, exe_writable and the three capability sets (29 bytes):
libscap 0.29 reads the first two and skips the rest by the entry length,
and current libscap recognises that tail as the pre-0.10 layout.
"""
from __future__ import annotations

import socket
import struct

from falcolib.backend.model import (
    FdRecord,
    GroupRecord,
    InterfaceRecord,
    MachineInfo,
    ProcessRecord,
    UserRecord,
)
from falcolib.scap import format as F

_pack16 = struct.Struct("<H").pack
_pack32 = struct.Struct("<I").pack
_pack64 = struct.Struct("<Q").pack
_MI = struct.Struct("<IQQ128sQQQQ")


# values from live sources may be negative or oversized: wrap them as C would
def _u16(v: int) -> bytes:
    return _pack16(v & 0xFFFF)


def _u32(v: int) -> bytes:
    return _pack32(v & 0xFFFFFFFF)


def _u64(v: int) -> bytes:
    return _pack64(v & 0xFFFFFFFFFFFFFFFF)


def block(btype: int, body: bytes) -> bytes:
    """Frame ``body`` as a block: header, body, zero padding to 4 bytes, trailer."""
    pad = -len(body) % 4
    total = 8 + len(body) + pad + 4
    return b"".join((_u32(btype), _u32(total), body, b"\0" * pad, _u32(total)))


def section_header() -> bytes:
    return block(F.SHB_BLOCK_TYPE, F.SHB_BODY.pack(F.SHB_MAGIC, 1, 2, 0xFFFFFFFFFFFFFFFF))


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _lstr(text: str, limit: int) -> bytes:
    data = _b(text)[:limit]
    return _u16(len(data)) + data


def _strings(items: tuple[str, ...], limit: int) -> bytes:
    data = b"".join(_b(s) + b"\0" for s in items)[:limit]
    return _u16(len(data)) + data


_s64 = _u64


def machine_info(mi: MachineInfo) -> bytes:
    host = _b(mi.hostname)[:127]
    m32, m64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
    return block(F.MI_BLOCK_TYPE, _MI.pack(mi.num_cpus & m32, mi.memory_size_bytes & m64,
                                           mi.max_pid & m64, host, mi.boot_time_ns & m64,
                                           mi.flags & m64, 0, 0))


def _proc_entry(p: ProcessRecord) -> bytes:
    body = b"".join((
        _s64(p.tid), _s64(p.pid), _s64(p.ptid), _s64(p.sid), _s64(p.vpgid),
        _lstr(p.comm, 1024), _lstr(p.exe, 1024), _lstr(p.exepath, 1024),
        _strings(p.args, 4096), _lstr(p.cwd, 1024),
        _s64(p.fdlimit), _u32(p.flags), _u32(p.uid), _u32(p.gid),
        _u32(p.vmsize_kb), _u32(p.vmrss_kb), _u32(p.vmswap_kb), _u64(p.pfmajor), _u64(p.pfminor),
        _strings(p.env, 4096), _s64(p.vtid), _s64(p.vpid), _strings(p.cgroups, 4096),
        _lstr(p.root, 1024),
        _u32(p.loginuid), bytes((1 if p.exe_writable else 0,)),
        _u64(p.cap_inheritable), _u64(p.cap_permitted), _u64(p.cap_effective),
    ))
    return _u32(4 + len(body)) + body


def proclist(processes) -> bytes:
    return block(F.PL_BLOCK_TYPE_V9, b"".join(_proc_entry(p) for p in processes))


def _ip4(text: str | None) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET, text or "0.0.0.0")
    except (OSError, ValueError):
        return bytes(4)   # not an address: written as unspecified


def _ip6(text: str | None) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET6, text or "::")
    except (OSError, ValueError):
        return bytes(16)


def _fd_entry(f: FdRecord) -> bytes | None:
    t = f.type
    if t == F.SCAP_FD_UNKNOWN:
        return None  # libscap does not write these either
    if t == F.SCAP_FD_IPV4_SOCK:
        rest = (_ip4(f.sip) + _ip4(f.dip) + _u16(f.sport or 0) + _u16(f.dport or 0)
                + bytes((f.l4proto,)))
    elif t == F.SCAP_FD_IPV4_SERVSOCK:
        rest = _ip4(f.sip) + _u16(f.sport or 0) + bytes((f.l4proto,))
    elif t == F.SCAP_FD_IPV6_SOCK:
        rest = (_ip6(f.sip) + _ip6(f.dip) + _u16(f.sport or 0) + _u16(f.dport or 0)
                + bytes((f.l4proto,)))
    elif t == F.SCAP_FD_IPV6_SERVSOCK:
        rest = _ip6(f.sip) + _u16(f.sport or 0) + bytes((f.l4proto,))
    elif t == F.SCAP_FD_UNIX_SOCK:
        rest = _u64(f.source) + _u64(f.dest) + _lstr(f.name, 1023)
    elif t == F.SCAP_FD_FILE_V2:
        rest = _u32(f.flags) + _lstr(f.name, 1023) + _u32(f.dev)
    else:
        rest = _lstr(f.name, 1023)
    body = _s64(f.fd) + _u64(f.ino) + bytes((t & 0xFF,)) + rest
    return _u32(4 + len(body)) + body


def fdlist(tid: int, fds) -> bytes:
    entries = [e for e in map(_fd_entry, fds) if e is not None]
    return block(F.FDL_BLOCK_TYPE_V2, _s64(tid) + b"".join(entries))


def _user_entry(u: UserRecord) -> bytes:
    body = (bytes((F.USERBLOCK_TYPE_USER,)) + _u32(u.uid) + _u32(u.gid)
            + _lstr(u.name, 255) + _lstr(u.homedir, 255) + _lstr(u.shell, 255))
    return _u32(4 + len(body)) + body


def _group_entry(g: GroupRecord) -> bytes:
    body = bytes((F.USERBLOCK_TYPE_GROUP,)) + _u32(g.gid) + _lstr(g.name, 255)
    return _u32(4 + len(body)) + body


def userlist(users, groups) -> bytes:
    return block(F.UL_BLOCK_TYPE_V2, b"".join([*map(_user_entry, users),
                                               *map(_group_entry, groups)]))


def _if_entry(i: InterfaceRecord) -> bytes:
    name = _b(i.name)[:1023]
    if i.family == socket.AF_INET6:
        iftype, conv = F.SCAP_II_IPV6, _ip6
    else:
        iftype, conv = F.SCAP_II_IPV4, _ip4
    body = (_u16(iftype) + _u16(len(name)) + conv(i.addr) + conv(i.netmask) + conv(i.bcast)
            + _u64(i.linkspeed) + name)
    return _u32(len(body)) + body   # the entry length excludes itself here


def iflist(interfaces) -> bytes:
    return block(F.IL_BLOCK_TYPE_V2, b"".join(map(_if_entry, interfaces)))
