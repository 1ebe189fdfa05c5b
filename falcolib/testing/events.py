"""Build RawEvents in the driver encoding, for tests and examples (no kernel needed).

    b = EventBuilder(tid=100)
    raws = [b.enter("openat", -100, "/etc/passwd", 0, 0),
            b.exit("openat", 3, -100, "/etc/passwd", 0, 0, 0, 0)]

Parameters are given in the current event table's order and encoded by
their PT_ type: ints, str/bytes for paths and buffers, sequences of str for
NUL-separated arrays (args, env, cgroups), and ready-made ``bytes`` for
sockaddr/socktuple payloads (see ``sockaddr_in``/``socktuple_in``...).
"""
from __future__ import annotations

import ipaddress
import struct

from falcolib.backend.model import RawEvent, make_raw

_HDR = struct.Struct("<QQIHI")
_INT = {
    "PT_INT8": "<b", "PT_INT16": "<h", "PT_INT32": "<i", "PT_INT64": "<q", "PT_ERRNO": "<q",
    "PT_FD": "<q", "PT_PID": "<q", "PT_UINT8": "<B", "PT_UINT16": "<H", "PT_UINT32": "<I",
    "PT_UINT64": "<Q", "PT_FLAGS8": "<B", "PT_FLAGS16": "<H", "PT_FLAGS32": "<I",
    "PT_ENUMFLAGS8": "<B", "PT_ENUMFLAGS16": "<H", "PT_ENUMFLAGS32": "<I", "PT_UID": "<I",
    "PT_GID": "<I", "PT_MODE": "<I", "PT_SIGTYPE": "<B", "PT_SYSCALLID": "<H",
    "PT_RELTIME": "<Q", "PT_ABSTIME": "<Q", "PT_PORT": "<H", "PT_L4PROTO": "<B",
    "PT_SOCKFAMILY": "<B", "PT_BOOL": "<I", "PT_IPV4ADDR": "<I", "PT_DOUBLE": "<d",
    "PT_SIGSET": "<I",
}


def _encode(ptype: str, value) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    fmt = _INT.get(ptype)
    if fmt is not None:
        if fmt == "<d":
            return struct.pack(fmt, float(value))
        size = struct.calcsize(fmt)
        return (int(value) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape") + b"\0"
    if isinstance(value, (list, tuple)):
        return b"".join(s.encode("utf-8", "surrogateescape") + b"\0" for s in value)
    raise TypeError(f"cannot encode {value!r} as {ptype}")


def sockaddr_in(ip: str, port: int) -> bytes:
    """A PT_SOCKADDR for an IPv4 or IPv6 address."""
    a = ipaddress.ip_address(ip)
    fam = 2 if a.version == 4 else 10
    return bytes([fam]) + a.packed + port.to_bytes(2, "little")


def sockaddr_un(path: str) -> bytes:
    return b"\x01" + path.encode() + b"\0"


def socktuple_in(sip: str, sport: int, dip: str, dport: int) -> bytes:
    """A PT_SOCKTUPLE for an IPv4 or IPv6 connection (source first)."""
    s, d = ipaddress.ip_address(sip), ipaddress.ip_address(dip)
    fam = 2 if s.version == 4 else 10
    return (bytes([fam]) + s.packed + sport.to_bytes(2, "little")
            + d.packed + dport.to_bytes(2, "little"))


def socktuple_un(src: int, dst: int, path: str = "") -> bytes:
    return b"\x01" + src.to_bytes(8, "little") + dst.to_bytes(8, "little") + path.encode() + b"\0"


class EventBuilder:
    """Makes numbered RawEvents for one thread (``tid``), timestamps increasing."""

    def __init__(self, tid: int = 1000, ts: int = 1_700_000_000_000_000_000, cpu: int = 0):
        self.tid = tid
        self.ts = ts
        self.cpu = cpu
        self.num = 0

    def event(self, code: int, *params, tid: int | None = None) -> RawEvent:
        from falcolib.decode.table import EVENTS
        info = EVENTS[code]
        if len(params) > len(info.params):
            raise ValueError(f"{info.enum} takes {len(info.params)} parameters, got {len(params)}")
        payloads = [_encode(p.type, v) for p, v in zip(info.params, params)]
        large = bool(info.flags & 2048)
        lens = b"".join(len(p).to_bytes(4 if large else 2, "little") for p in payloads)
        body = lens + b"".join(payloads)
        size = _HDR.size + len(body)
        self.ts += 1000
        self.num += 1
        buf = _HDR.pack(self.ts, self.tid if tid is None else tid, size, code, len(payloads)) + body
        return make_raw(self.ts, self.tid if tid is None else tid, code, len(payloads), self.cpu,
                        buf, 0, size, 26, 0, self.num)

    def _code(self, enum: str) -> int:
        from falcolib.decode.table import EVENTS
        for info in EVENTS:
            if info.enum == enum:
                return info.code
        raise KeyError(enum)

    def named(self, enum: str, *params, tid: int | None = None) -> RawEvent:
        """An event by its driver enum name, e.g. ``named("PPME_SYSCALL_OPENAT_2_X", ...)``."""
        return self.event(self._code(enum), *params, tid=tid)
