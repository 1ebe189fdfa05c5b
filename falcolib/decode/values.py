"""Decoders from a parameter's bytes to a Python value, one per PT_ type.

``DECODERS[ptype](data: bytes) -> value``. Numbers are ints, strings are
str (UTF-8, surrogateescape: any byte sequence survives a round trip),
byte buffers stay bytes, addresses become small frozen values.
A payload whose length does not fit its type decodes as far as it can
(integers from the bytes present), never raising.
"""
from __future__ import annotations

import ipaddress
import struct

import attrs

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10


@attrs.frozen
class SockAddr:
    """A PT_SOCKADDR: family and, for IP, address text and port; for unix, the path."""

    family: int
    addr: str = ""
    port: int | None = None


@attrs.frozen
class SockTuple:
    """A PT_SOCKTUPLE. IP: source/dest address text and ports. unix: the
    kernel socket pointers (``sptr``/``dptr``) and the path."""

    family: int
    sip: str = ""
    sport: int | None = None
    dip: str = ""
    dport: int | None = None
    sptr: int = 0
    dptr: int = 0
    path: str = ""


def text(data: bytes) -> str:
    """A C string: up to the first NUL, UTF-8 with surrogateescape."""
    nul = data.find(b"\0")
    if nul >= 0:
        data = data[:nul]
    return data.decode("utf-8", "surrogateescape")


def _int(fmt: str, size: int, signed: bool):
    unpack = struct.Struct(fmt).unpack

    def dec(data: bytes) -> int:
        if len(data) == size:
            return unpack(data)[0]
        return int.from_bytes(data[:size], "little", signed=signed)
    return dec


def ipv4_text(data: bytes) -> str:
    return "%d.%d.%d.%d" % (data[0], data[1], data[2], data[3])


def ipv6_text(data: bytes) -> str:
    return str(ipaddress.IPv6Address(bytes(data)))


def _is_v4_mapped(a: bytes) -> bool:
    return a[:10] == b"\0" * 10 and (a[10:12] == b"\xff\xff" or a[10:16] == b"\0" * 6)


def sockaddr(data: bytes) -> SockAddr | None:
    if not data:
        return None
    fam = data[0]
    if fam == AF_INET and len(data) >= 7:
        return SockAddr(fam, ipv4_text(data[1:5]), data[5] | data[6] << 8)
    if fam == AF_INET6 and len(data) >= 19:
        return SockAddr(fam, ipv6_text(data[1:17]), data[17] | data[18] << 8)
    if fam == AF_UNIX:
        return SockAddr(fam, text(data[1:]))
    return SockAddr(fam)


def socktuple(data: bytes) -> SockTuple | None:
    if not data:
        return None
    fam = data[0]
    if fam == AF_INET and len(data) >= 13:
        return SockTuple(fam, ipv4_text(data[1:5]), data[5] | data[6] << 8,
                         ipv4_text(data[7:11]), data[11] | data[12] << 8)
    if fam == AF_INET6 and len(data) >= 37:
        s, d = data[1:17], data[19:35]
        sport, dport = data[17] | data[18] << 8, data[35] | data[36] << 8
        if _is_v4_mapped(s) and _is_v4_mapped(d):
            return SockTuple(AF_INET, ipv4_text(s[12:]), sport, ipv4_text(d[12:]), dport)
        return SockTuple(fam, ipv6_text(s), sport, ipv6_text(d), dport)
    if fam == AF_UNIX and len(data) >= 17:
        sptr, dptr = struct.unpack_from("<QQ", data, 1)
        return SockTuple(fam, sptr=sptr, dptr=dptr, path=text(data[17:]))
    return SockTuple(fam)


def fdlist(data: bytes) -> tuple[tuple[int, int], ...]:
    if len(data) < 2:
        return ()
    n = data[0] | data[1] << 8
    n = min(n, (len(data) - 2) // 10)
    return tuple(struct.unpack_from("<qh", data, 2 + 10 * i) for i in range(n))


def charbuf_array(data: bytes) -> tuple[str, ...]:
    if not data:
        return ()
    if data.endswith(b"\0"):
        data = data[:-1]
    return tuple(p.decode("utf-8", "surrogateescape") for p in data.split(b"\0"))


def charbuf_pairs(data: bytes) -> tuple[tuple[str, str], ...]:
    items = charbuf_array(data)
    return tuple(zip(items[0::2], items[1::2]))


def _bytes(data: bytes) -> bytes:
    return bytes(data)


def _double(data: bytes) -> float:
    return struct.unpack("<d", data)[0] if len(data) == 8 else 0.0


_I8, _I16, _I32, _I64 = (_int("<b", 1, True), _int("<h", 2, True), _int("<i", 4, True),
                         _int("<q", 8, True))
_U8, _U16, _U32, _U64 = (_int("<B", 1, False), _int("<H", 2, False), _int("<I", 4, False),
                         _int("<Q", 8, False))

DECODERS = {
    "PT_NONE": _bytes,
    "PT_INT8": _I8, "PT_INT16": _I16, "PT_INT32": _I32, "PT_INT64": _I64,
    "PT_UINT8": _U8, "PT_UINT16": _U16, "PT_UINT32": _U32, "PT_UINT64": _U64,
    "PT_CHARBUF": text, "PT_BYTEBUF": _bytes,
    "PT_ERRNO": _I64, "PT_SOCKADDR": sockaddr, "PT_SOCKTUPLE": socktuple,
    "PT_FD": _I64, "PT_PID": _I64, "PT_FDLIST": fdlist,
    "PT_FSPATH": text, "PT_SYSCALLID": _U16, "PT_SIGTYPE": _U8,
    "PT_RELTIME": _U64, "PT_ABSTIME": _U64, "PT_PORT": _U16, "PT_L4PROTO": _U8,
    "PT_SOCKFAMILY": _U8, "PT_BOOL": _U32,
    "PT_IPV4ADDR": lambda d: ipv4_text(d) if len(d) >= 4 else "",
    "PT_DYN": _bytes,  # resolved by the event against its dynamic table
    "PT_FLAGS8": _U8, "PT_FLAGS16": _U16, "PT_FLAGS32": _U32,
    "PT_UID": _U32, "PT_GID": _U32, "PT_DOUBLE": _double, "PT_SIGSET": _U32,
    "PT_CHARBUFARRAY": charbuf_array, "PT_CHARBUF_PAIR_ARRAY": charbuf_pairs,
    "PT_IPV4NET": _bytes,
    "PT_IPV6ADDR": lambda d: ipv6_text(d) if len(d) >= 16 else "",
    "PT_IPV6NET": _bytes, "PT_IPADDR": _bytes, "PT_IPNET": _bytes,
    "PT_MODE": _U32, "PT_FSRELPATH": text,
    "PT_ENUMFLAGS8": _U8, "PT_ENUMFLAGS16": _U16, "PT_ENUMFLAGS32": _U32,
    "PT_FD32": _I32, "PT_PID32": _I32,
}
