"""Driver-encoded socket addresses and tuples, and sysdig's text for them.

PT_SOCKADDR: family u8, then AF_INET ip[4] port u16 | AF_INET6 ip[16] port u16 |
AF_UNIX path. PT_SOCKTUPLE: family u8, then AF_INET sip[4] sport dip[4] dport |
AF_INET6 sip[16] sport dip[16] dport | AF_UNIX src u64 dst u64 path. Ports are
in host order (the driver converted them).
"""
from __future__ import annotations

import ipaddress
import socket

from falcolib.state.paths import erase_invalid

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16

_V4MAPPED = b"\0" * 10 + b"\xff\xff"


def ip4(b: bytes) -> str:
    return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}"


def ip6(b: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, bytes(b))


def is_v4mapped(b: bytes) -> bool:
    return b[:12] == _V4MAPPED


def unix_path(b: bytes) -> str:
    nul = b.find(b"\0")
    if nul >= 0:
        b = b[:nul]
    return erase_invalid(bytes(b))


def tuple_text(family: int, sip: str, sport: int, dip: str, dport: int) -> str:
    """ipv4tuple_to_string / ipv6tuple_to_string without name resolution."""
    return f"{sip}:{sport}->{dip}:{dport}"


def sockaddr_text(data: bytes | None) -> str:
    """A PT_SOCKADDR as sysdig's PF_SIMPLE text."""
    if not data:
        return "NULL"
    fam = data[0]
    if fam == AF_UNIX:
        return unix_path(data[1:])
    if fam == AF_INET:
        if len(data) != 7:
            return "INVALID IPv4"
        return f"{ip4(data[1:5])}:{int.from_bytes(data[5:7], 'little')}"
    if fam == AF_INET6:
        if len(data) != 19:
            return "INVALID IPv6"
        return f"{ip6(data[1:17])}:{int.from_bytes(data[17:19], 'little')}"
    return f"family {fam}"


def socktuple_text(data: bytes | None) -> str:
    """A PT_SOCKTUPLE as sysdig's PF_SIMPLE text."""
    if not data:
        return "NULL"
    fam = data[0]
    if fam == AF_INET:
        if len(data) != 13:
            return "INVALID IPv4"
        return tuple_text(fam, ip4(data[1:5]), int.from_bytes(data[5:7], "little"),
                          ip4(data[7:11]), int.from_bytes(data[11:13], "little"))
    if fam == AF_INET6:
        if len(data) != 37:
            return "INVALID IPv6"
        sport = int.from_bytes(data[17:19], "little")
        dport = int.from_bytes(data[35:37], "little")
        if is_v4mapped(data[1:17]) and is_v4mapped(data[19:35]):
            return tuple_text(AF_INET, ip4(data[13:17]), sport, ip4(data[31:35]), dport)
        return tuple_text(fam, ip6(data[1:17]), sport, ip6(data[19:35]), dport)
    if fam == AF_UNIX:
        src = int.from_bytes(data[1:9], "little")
        dst = int.from_bytes(data[9:17], "little")
        return f"{src:x}->{dst:x} {unix_path(data[17:])}"
    return f"family {fam}"


def ip_in_net(ip: str, net: str) -> bool:
    """``ip`` inside network ``net`` (CIDR text); False for malformed input."""
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(net, strict=False)
    except ValueError:
        return False
