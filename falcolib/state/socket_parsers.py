"""Socket parsers: socket/bind/connect/accept, and the tuples of sendto/recvfrom.

Each handler is ``handler(state, evt, view)`` and mirrors libsinsp 0.29's parser of the
same name (add_socket, parse_bind_exit, parse_connect_enter/exit, fill_client_socket_info,
parse_accept_exit, update_fd, parse_rw_exit, infer_sendto_fdinfo).
"""
from __future__ import annotations

from falcolib.state import fdinfo as F
from falcolib.state.fdinfo import FdInfo
from falcolib.state.groups import FD, IO
from falcolib.state.proc_parsers import _b, _v
from falcolib.state.rawparams import first_i64
from falcolib.state.sockaddr import (
    AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, ip4, ip6, is_v4mapped, sockaddr_text,
    socktuple_text, unix_path,
)

IPPROTO_IP, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_RAW = 0, 1, 6, 17, 255
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3


def add_socket(state, view, fd: int, domain: int, stype: int, proto: int) -> None:
    fi = FdInfo(F.FD_UNKNOWN)
    if domain == AF_UNIX:
        fi.type = F.FD_UNIX_SOCK
    elif domain == AF_INET or domain == AF_INET6:
        fi.type = F.FD_IPV4_SOCK if domain == AF_INET else F.FD_IPV6_SOCK
        l4 = F.L4_UNKNOWN
        if proto == IPPROTO_TCP:
            l4 = F.L4_RAW if stype == SOCK_RAW else F.L4_TCP
        elif proto == IPPROTO_UDP:
            l4 = F.L4_RAW if stype == SOCK_RAW else F.L4_UDP
        elif proto == IPPROTO_IP:
            if stype & 0xFF == SOCK_STREAM:
                l4 = F.L4_TCP
            elif stype & 0xFF == SOCK_DGRAM:
                l4 = F.L4_UDP
        elif proto == IPPROTO_ICMP:
            l4 = F.L4_RAW if stype == SOCK_RAW else F.L4_ICMP
        elif proto == IPPROTO_RAW:
            l4 = F.L4_RAW
        fi.l4proto = l4
        fi.sip = fi.dip = "0.0.0.0" if domain == AF_INET else "::"
    elif domain == AF_NETLINK:
        fi.type = F.FD_NETLINK
    if fi.type == F.FD_UNKNOWN and not state.live:
        return   # sysdig 0.29 keeps no unknown socket (AF_PACKET...); current libs do
    view.fd = state.add_fd(view.thread, fd, fi)


def parse_sendto_enter(state, evt, view) -> None:
    """A sendto on an fd never seen created: assume a UDP socket (sysdig's infer_sendto_fdinfo)."""
    t = view.thread
    if view.fd is not None or t is None:
        return
    fd = first_i64(evt)
    data = _b(evt, 2)
    if fd < 0 or not data or data[0] not in (AF_INET, AF_INET6):
        return
    add_socket(state, view, fd, data[0], SOCK_DGRAM, IPPROTO_UDP)


def parse_socket_exit(state, evt, view) -> None:
    fd = _v(evt, 0, -1)
    t = view.thread
    if fd < 0 or t is None:
        return
    if state.live and evt.nparams >= 4:
        # live, as current libs: the exit carries domain, type and protocol itself
        add_socket(state, view, fd, _v(evt, 1, 0), _v(evt, 2, 0), _v(evt, 3, 0))
        return
    enter = state.enter_event(t, evt)
    if enter is None:
        return
    add_socket(state, view, fd, _v(enter, 0, 0), _v(enter, 1, 0), _v(enter, 2, 0))


def _inet6_address(data: bytes) -> tuple[bool, str]:
    """(is it an ipv4-mapped address, its text) of an AF_INET6 sockaddr's address."""
    if is_v4mapped(data[1:17]):
        return True, ip4(data[13:17])
    return False, ip6(data[1:17])


def parse_bind_exit(state, evt, view) -> None:
    fi = view.fd
    if fi is None or _v(evt, 0, -1) < 0:
        return
    data = _b(evt, 1)
    if not data:
        return
    fam = data[0]
    if fam == AF_INET and len(data) >= 7:
        port = int.from_bytes(data[5:7], "little")
        if port > 0:
            fi.type = F.FD_IPV4_SERVSOCK
            fi.sip, fi.sport = ip4(data[1:5]), port
            fi.flags |= F.FLAGS_ROLE_SERVER
    elif fam == AF_INET6 and len(data) >= 19:
        port = int.from_bytes(data[17:19], "little")
        if port > 0:
            v4, fi.sip = _inet6_address(data)
            fi.type = F.FD_IPV4_SERVSOCK if v4 else F.FD_IPV6_SERVSOCK
            fi.sport = port
            fi.flags |= F.FLAGS_ROLE_SERVER
    fi.name = sockaddr_text(data)


def parse_connect_enter(state, evt, view) -> None:
    fi = view.fd
    if fi is None or evt.nparams < 2:
        return
    data = _b(evt, 1)
    if not data:
        return
    fam = data[0]
    if fam == AF_INET and len(data) >= 7:
        fi.type = F.FD_IPV4_SOCK
        fi.dip, fi.dport = ip4(data[1:5]), int.from_bytes(data[5:7], "little")
    elif fam == AF_INET6 and len(data) >= 19:
        port = int.from_bytes(data[17:19], "little")
        v4, fi.dip = _inet6_address(data)
        fi.type = F.FD_IPV4_SOCK if v4 else F.FD_IPV6_SOCK
        fi.dport = port
    else:
        fi.name = sockaddr_text(data)
        if len(data) >= 17:
            fi.usrc = int.from_bytes(data[1:9], "little")
            fi.udst = int.from_bytes(data[9:17], "little")


def _set_tuple(fi: FdInfo, data: bytes) -> bool:
    """sysdig's set_ipv4/ipv6/ipv4-mapped_addresses_and_ports: True if changed."""
    fam = data[0]
    if fam == AF_INET:
        sip, sport = ip4(data[1:5]), int.from_bytes(data[5:7], "little")
        dip, dport = ip4(data[7:11]), int.from_bytes(data[11:13], "little")
        empty = "0.0.0.0"
        same_type = fi.type == F.FD_IPV4_SOCK
    else:
        sport = int.from_bytes(data[17:19], "little")
        dport = int.from_bytes(data[35:37], "little")
        if is_v4mapped(data[1:17]) and is_v4mapped(data[19:35]):
            sip, dip, empty = ip4(data[13:17]), ip4(data[31:35]), "0.0.0.0"
            same_type = fi.type == F.FD_IPV4_SOCK
        else:
            sip, dip, empty = ip6(data[1:17]), ip6(data[19:35]), "::"
            same_type = fi.type == F.FD_IPV6_SOCK
    if same_type and ((sip, sport, dip, dport) == (fi.sip, fi.sport, fi.dip, fi.dport)
                      or (dip, dport, sip, sport) == (fi.sip, fi.sport, fi.dip, fi.dport)):
        return False
    changed = False
    if fi.sip != sip:
        fi.sip, changed = sip, True
    if fi.sport != sport:
        fi.sport, changed = sport, True
    if fi.dip in ("", empty, "0.0.0.0", "::"):
        fi.dip, changed = dip, True
    if fi.dport == 0:
        fi.dport, changed = dport, True
    return changed


def _swap(fi: FdInfo) -> None:
    fi.sip, fi.sport, fi.dip, fi.dport = fi.dip, fi.dport, fi.sip, fi.sport


def _tuple_name(fi: FdInfo) -> str:
    """sockinfo_to_str for a connected ip socket."""
    if fi.type == F.FD_IPV4_SOCK and fi.l4proto in (F.L4_ICMP, F.L4_RAW):
        return f"{fi.sip}->{fi.dip}"
    return f"{fi.sip}:{fi.sport}->{fi.dip}:{fi.dport}"


def _is_v6_tuple(data: bytes) -> bool:
    return not (is_v4mapped(data[1:17]) and is_v4mapped(data[19:35]))


def fill_client_socket(fi: FdInfo, data: bytes) -> None:
    fam = data[0]
    if fam == AF_INET or fam == AF_INET6:
        if fam == AF_INET6 and len(data) >= 37:
            fi.type = F.FD_IPV6_SOCK if _is_v6_tuple(data) else F.FD_IPV4_SOCK
        elif fam == AF_INET and len(data) >= 13:
            fi.type = F.FD_IPV4_SOCK
        else:
            return
        changed = _set_tuple(fi, data)
        if changed and fi.is_server_role and fi.type == F.FD_IPV4_SOCK and fi.l4proto == F.L4_UDP:
            _swap(fi)
        fi.name = _tuple_name(fi)
    else:
        fi.name = socktuple_text(data)
        if len(data) >= 17:
            fi.usrc = int.from_bytes(data[1:9], "little")
            fi.udst = int.from_bytes(data[9:17], "little")
    if fi.role_none:
        fi.flags |= F.FLAGS_ROLE_CLIENT


def parse_connect_exit(state, evt, view) -> None:
    fi = view.fd
    if fi is None:
        return
    res = _v(evt, 0, -1)
    if res < 0 and res != -115:  # -EINPROGRESS
        return
    fi.set_connected()
    data = _b(evt, 1)
    if data:
        fill_client_socket(fi, data)


def parse_accept_exit(state, evt, view) -> None:
    t = view.thread
    if t is None:
        return
    fd = _v(evt, 0, -1)
    if fd < 0:
        return
    t.lastevent_fd = fd
    data = _b(evt, 1)
    if not data:
        return
    fi = FdInfo()
    fam = data[0]
    if fam == AF_INET and len(data) >= 13:
        _set_tuple(fi, data)
        fi.type, fi.l4proto = F.FD_IPV4_SOCK, F.L4_TCP
    elif fam == AF_INET6 and len(data) >= 37:
        fi.type = F.FD_IPV6_SOCK if _is_v6_tuple(data) else F.FD_IPV4_SOCK
        _set_tuple(fi, data)
        fi.l4proto = F.L4_TCP
    elif fam == AF_UNIX:
        fi.type = F.FD_UNIX_SOCK
        if len(data) >= 17:
            fi.usrc = int.from_bytes(data[1:9], "little")
            fi.udst = int.from_bytes(data[9:17], "little")
    else:
        return
    fi.name = socktuple_text(data)
    fi.flags = F.FLAGS_ROLE_SERVER
    fi.set_connected()
    view.fd = state.add_fd(t, fd, fi)


def update_fd(fi: FdInfo, data: bytes, ifaces=None) -> bool:
    """sysdig's update_fd for an unconnected socket's sendto/recvfrom tuple."""
    if not data:
        return False
    fam = data[0]
    if fam == AF_INET and len(data) >= 13:
        if fi.type == F.FD_IPV4_SERVSOCK:
            pass  # l4proto already shared
        fi.type = F.FD_IPV4_SOCK
        if not _set_tuple(fi, data):
            return False
    elif fam == AF_INET6 and len(data) >= 37:
        if not _is_v6_tuple(data):
            fi.type = F.FD_IPV4_SOCK
        if not _set_tuple(fi, data):
            return False
    elif fam == AF_UNIX:
        fi.type = F.FD_UNIX_SOCK
        if len(data) >= 17:
            fi.usrc = int.from_bytes(data[1:9], "little")
            fi.udst = int.from_bytes(data[9:17], "little")
        fi.name = unix_path(data[17:])
        return True
    else:
        return False
    if fi.type in (F.FD_IPV4_SOCK, F.FD_IPV6_SOCK) and fi.l4proto == F.L4_UNKNOWN:
        fi.l4proto = F.L4_UDP
    if ifaces is not None:
        ifaces.update_fd(fi)
    return True


def _rw_exit(reads: bool, tuple_param: int | None, from_enter: bool):
    def handler(state, evt, view) -> None:
        fi = view.fd
        if fi is None or first_i64(evt) < 0:
            return
        if fi.type in (F.FD_IPV4_SOCK, F.FD_IPV6_SOCK):
            fi.set_connected()
        if tuple_param is None:
            return
        if fi.name and fi.type == F.FD_IPV4_SOCK and fi.l4proto == F.L4_TCP:
            return
        src = evt
        if from_enter:
            src = state.enter_event(view.thread, evt)
            if src is None:
                return
        data = _b(src, tuple_param)
        if update_fd(fi, data, state.ifaces) and fi.type in (F.FD_IPV4_SOCK, F.FD_IPV6_SOCK):
            if fi.role_none:
                fi.flags |= F.FLAGS_ROLE_SERVER if reads else F.FLAGS_ROLE_CLIENT
            if (reads and fi.is_client_role) or (not reads and fi.is_server_role):
                _swap(fi)
            fi.name = _tuple_name(fi)
        elif data and data[0] not in (AF_INET, AF_INET6, AF_UNIX):
            pass
    return handler


# reads and writes without an address: they only mark an ip socket connected
_READS_NO_ADDR = ("PPME_SYSCALL_READ_X", "PPME_SOCKET_RECV_X", "PPME_SYSCALL_READV_X",
                  "PPME_SYSCALL_PREAD_X", "PPME_SYSCALL_PREADV_X")
_WRITES_NO_ADDR = ("PPME_SYSCALL_WRITE_X", "PPME_SOCKET_SEND_X", "PPME_SYSCALL_WRITEV_X",
                   "PPME_SYSCALL_PWRITE_X", "PPME_SYSCALL_PWRITEV_X")

HANDLERS = {
    "PPME_SOCKET_SOCKET_X": parse_socket_exit,
    "PPME_SOCKET_SENDTO_E": parse_sendto_enter,
    "PPME_SOCKET_BIND_X": parse_bind_exit,
    "PPME_SOCKET_CONNECT_E": parse_connect_enter,
    "PPME_SOCKET_CONNECT_X": parse_connect_exit,
    **{k: parse_accept_exit for k in (
        "PPME_SOCKET_ACCEPT_X", "PPME_SOCKET_ACCEPT_5_X", "PPME_SOCKET_ACCEPT4_X",
        "PPME_SOCKET_ACCEPT4_5_X", "PPME_SOCKET_ACCEPT4_6_X")},
    # data transfer on sockets: tuples for unconnected sockets, connected state
    **{k: _rw_exit(True, None, False) for k in _READS_NO_ADDR},
    **{k: _rw_exit(False, None, False) for k in _WRITES_NO_ADDR},
    "PPME_SOCKET_RECVFROM_X": _rw_exit(True, 2, False),
    "PPME_SOCKET_RECVMSG_X": _rw_exit(True, 3, False),
    "PPME_SOCKET_SENDTO_X": _rw_exit(False, 2, True),
    "PPME_SOCKET_SENDMSG_X": _rw_exit(False, 2, True),
}

STORE_ENTER = frozenset({
    "PPME_SOCKET_SOCKET_E", "PPME_SOCKET_SHUTDOWN_E", "PPME_SOCKET_SENDMSG_E",
    "PPME_SOCKET_SENDTO_E",
})

# lean state (falcolib.state.groups): sockets are fd-table state; the address-less
# reads and writes only set the connected flag (fd.connected)
GROUP = FD
GROUP_OF = {name: IO for name in (*_READS_NO_ADDR, *_WRITES_NO_ADDR)}
