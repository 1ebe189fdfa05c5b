"""Network interfaces: which addresses are this machine's (sysdig's sinsp_network_interfaces)."""
from __future__ import annotations

import ipaddress

from falcolib.state import fdinfo as F


class Interfaces:
    """IPv4 (addr, netmask) and IPv6 addresses from the snapshot's interface list."""

    def __init__(self, records=()):
        self.v4: list[tuple[int, int]] = []
        self.v6: list[bytes] = []
        for r in records:
            try:
                if int(r.family) == 2:
                    self.v4.append((int(ipaddress.IPv4Address(r.addr)),
                                    int(ipaddress.IPv4Address(r.netmask or "255.255.255.255"))))
                elif int(r.family) == 10:
                    self.v6.append(ipaddress.IPv6Address(r.addr).packed)
            except ValueError:
                continue

    def is_local_v4(self, ip: str) -> bool:
        try:
            a = int(ipaddress.IPv4Address(ip))
        except ValueError:
            return False
        return any(addr == a for addr, _ in self.v4)

    def is_local_v6(self, ip: str) -> bool:
        """Same /64 as an interface address (ipv6addr::in_subnet)."""
        try:
            a = ipaddress.IPv6Address(ip).packed
        except ValueError:
            return False
        return any(a[:8] == b[:8] for b in self.v6)

    def infer_v4(self, dest: str) -> str:
        d = int(ipaddress.IPv4Address(dest))
        for addr, _ in self.v4:
            if addr == d:
                return str(ipaddress.IPv4Address(addr))
        for addr, mask in self.v4:
            if addr & mask == d & mask:
                return str(ipaddress.IPv4Address(addr))
        for addr, _ in self.v4:
            if addr != 0x7F000001:
                return str(ipaddress.IPv4Address(addr))
        return "0.0.0.0"

    def infer_v6(self, dest: str) -> str:
        d = ipaddress.IPv6Address(dest).packed
        for b in self.v6:
            if b == d:
                return str(ipaddress.IPv6Address(b))
        for b in self.v6:
            if b[:8] == d[:8]:
                return str(ipaddress.IPv6Address(b))
        return "::"

    def update_fd(self, fi) -> None:
        """Fill a missing local address of a socket tuple (sinsp_network_interfaces::update_fd)."""
        if fi.type == F.FD_IPV4_SOCK:
            empty, infer = "0.0.0.0", self.infer_v4
        elif fi.type == F.FD_IPV6_SOCK:
            empty, infer = "::", self.infer_v6
        else:
            return
        if fi.sip != empty and fi.dip != empty:
            return
        try:
            if fi.sip == empty:
                new = infer(fi.dip)
                if new == fi.dip and fi.sport == fi.dport:
                    return
                fi.sip = new
            else:
                new = infer(fi.sip)
                if new == fi.sip and fi.sport == fi.dport:
                    return
                fi.dip = new
        except ValueError:
            return
