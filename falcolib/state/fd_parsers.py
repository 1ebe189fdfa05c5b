"""fd-table parsers: open*, socket/bind/connect/accept, pipes, special fds, dup, fcntl, close.

Each handler is ``handler(state, evt, view)`` and mirrors libsinsp 0.29's
parser of the same name; events that libs added later (dup2/dup3, pipe2,
eventfd2, inotify_init1, signalfd4, memfd_create, userfaultfd, pidfd_open,
epoll_create*) follow the newer libs' parsers.
"""
from __future__ import annotations

from falcolib.state import fdinfo as F
from falcolib.state.fdinfo import FdInfo
from falcolib.state.paths import concatenate
from falcolib.state.proc_parsers import _b, _v, dirfd_path
from falcolib.state.rawparams import first_i64
from falcolib.state.sockaddr import (
    AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, ip4, ip6, is_v4mapped, sockaddr_text,
    socktuple_text, unix_path,
)

PPM_O_DIRECTORY = 1 << 10
PPM_FCNTL_F_DUPFD = 1
PPM_FCNTL_F_DUPFD_CLOEXEC = 26
IPPROTO_IP, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_RAW = 0, 1, 6, 17, 255
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3


def _etype(evt) -> str:
    from falcolib.decode.table import EVENTS
    return EVENTS[evt.type].enum


def _cstr(b: bytes) -> bytes:
    nul = b.find(b"\0")
    return b if nul < 0 else b[:nul]


# ------------------------------------------------------------------- files
def parse_open_exit(state, evt, view) -> None:
    t = view.thread
    if t is None:
        return
    enter = state.enter_event(t, evt)
    name_enter = None
    kind = _etype(evt)
    fd = _v(evt, 0, -1)
    dev = 0
    if kind == "PPME_SYSCALL_OPEN_X" or kind == "PPME_SYSCALL_CREAT_X":
        name = _b(evt, 1)
        flags = _v(evt, 2, 0) if kind == "PPME_SYSCALL_OPEN_X" else 0
        dev_i = 4 if kind == "PPME_SYSCALL_OPEN_X" else 3
        if evt.nparams > dev_i:
            dev = _v(evt, dev_i, 0)
        if enter is not None and enter.nparams >= 1:
            ename = _b(enter, 0)
            if ename and _cstr(ename) != b"(NULL)":
                name = ename
                flags = _v(enter, 1, 0) if kind == "PPME_SYSCALL_OPEN_X" else 0
        sdir = state.cwd(t)
    elif kind == "PPME_SYSCALL_OPENAT_X":
        if enter is None:
            return
        name = _b(enter, 1)
        flags = _v(enter, 2, 0)
        sdir = dirfd_path(state, t, _cstr(name), _v(enter, 0, -100))
    else:  # OPENAT_2_X, OPENAT2_X, OPEN_BY_HANDLE_AT_X (path in param 3)
        if kind == "PPME_SYSCALL_OPEN_BY_HANDLE_AT_X":
            name, flags, dirfd = _b(evt, 3), _v(evt, 2, 0), _v(evt, 1, -100)
            sdir = "" if name[:1] == b"/" else state.cwd(t)
        else:
            name, flags, dirfd = _b(evt, 2), _v(evt, 3, 0), _v(evt, 1, -100)
            if kind == "PPME_SYSCALL_OPENAT_2_X" and evt.nparams > 5:
                dev = _v(evt, 5, 0)
            if enter is not None and enter.nparams >= 3:
                ename = _b(enter, 1)
                if ename and _cstr(ename) != b"(NULL)":
                    name, flags, dirfd = ename, _v(enter, 2, 0), _v(enter, 0, -100)
            sdir = dirfd_path(state, t, _cstr(name), dirfd)
    if fd < 0:
        return
    fullpath = concatenate(sdir, name)
    fi = FdInfo(F.FD_DIRECTORY if flags & PPM_O_DIRECTORY else F.FD_FILE_V2, fullpath, flags)
    fi.dev = dev
    fi.nameraw = _cstr(name).decode("utf-8", "surrogateescape")
    if kind in ("PPME_SYSCALL_OPEN_X", "PPME_SYSCALL_OPENAT_2_X") and evt.nparams > 5:
        fi.ino = _v(evt, 5 if kind == "PPME_SYSCALL_OPEN_X" else 6, 0)
    view.fd = state.add_fd(t, fd, fi)


# ----------------------------------------------------------------- sockets
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
    if fi.type == F.FD_UNKNOWN:
        return
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
    enter = state.enter_event(t, evt)
    if enter is None:
        return
    add_socket(state, view, fd, _v(enter, 0, 0), _v(enter, 1, 0), _v(enter, 2, 0))


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
            if is_v4mapped(data[1:17]):
                fi.type = F.FD_IPV4_SERVSOCK
                fi.sip = ip4(data[13:17])
            else:
                fi.type = F.FD_IPV6_SERVSOCK
                fi.sip = ip6(data[1:17])
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
        if is_v4mapped(data[1:17]):
            fi.type = F.FD_IPV4_SOCK
            fi.dip = ip4(data[13:17])
        else:
            fi.type = F.FD_IPV6_SOCK
            fi.dip = ip6(data[1:17])
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


# ------------------------------------------------------- pipes, special fds
def parse_pipe_exit(state, evt, view) -> None:
    t = view.thread
    if t is None or _v(evt, 0, -1) < 0:
        return
    ino = _v(evt, 3, 0)
    for i in (1, 2):
        view.fd = state.add_fd(t, _v(evt, i, -1), FdInfo(F.FD_FIFO, "", 0, 0, ino))


def parse_socketpair_exit(state, evt, view) -> None:
    t = view.thread
    if t is None or _v(evt, 0, -1) < 0:
        return
    src, dst = _v(evt, 3, 0), _v(evt, 4, 0)
    fi = FdInfo(F.FD_UNIX_SOCK)
    fi.usrc, fi.udst = src, dst
    view.fd = state.add_fd(t, _v(evt, 1, -1), fi)
    state.add_fd(t, _v(evt, 2, -1), fi.copy())


def _simple_fd(fdtype: int, name_param: int | None = None, prefix: str = ""):
    def handler(state, evt, view) -> None:
        t = view.thread
        fd = _v(evt, 0, -1)
        if t is None or fd < 0:
            return
        name = ""
        if name_param is not None and evt.nparams > name_param:
            raw = _cstr(_b(evt, name_param)).decode("utf-8", "surrogateescape")
            name = prefix + raw
        view.fd = state.add_fd(t, fd, FdInfo(fdtype, name))
    return handler


def parse_dup_exit(state, evt, view) -> None:
    t = view.thread
    if t is None:
        return
    res = _v(evt, 0, -1)
    if res < 0:
        return
    if res == 0:
        t.flags |= 1 << 22  # PPM_CL_PIPE_DST
    elif res == 1:
        t.flags |= 1 << 21  # PPM_CL_PIPE_SRC
    fi = view.fd
    if fi is None and evt.nparams >= 2:
        # dup2/dup3/dup_1 exits carry oldfd: the pairing may be missing
        fi = t.fds.get(_v(evt, 1, -1))
    if fi is None:
        return
    if res == t.lastevent_fd and view.fd is not None and t.fds.get(res) is fi:
        return  # dup2(fd, fd)
    view.fd = state.add_fd(t, res, fi.copy())


def parse_fcntl_exit(state, evt, view) -> None:
    t = view.thread
    res = _v(evt, 0, -1)
    enter = state.enter_event(t, evt)
    if enter is None or res < 0 or view.fd is None:
        return
    if _v(enter, 1, 0) not in (PPM_FCNTL_F_DUPFD, PPM_FCNTL_F_DUPFD_CLOEXEC):
        return
    view.fd = state.add_fd(t, res, view.fd.copy())


def parse_close_enter(state, evt, view) -> None:
    if view.fd is not None:
        view.fd.flags |= F.FLAGS_CLOSE_IN_PROGRESS


def parse_close_exit(state, evt, view) -> None:
    t = view.thread
    if _v(evt, 0, -1) >= 0:
        if view.fd is None or t is None:
            return
        if view.fd.flags & F.FLAGS_CLOSE_CANCELED:
            # the fd number was reused meanwhile: drop the parked old entry instead
            from falcolib.state.engine import CANCELED_FD
            view.fd.flags &= ~F.FLAGS_CLOSE_CANCELED
            state.remove_fd_later(t, CANCELED_FD)
            return
        state.remove_fd_later(t, t.lastevent_fd)
    elif view.fd is not None:
        view.fd.flags &= ~F.FLAGS_CLOSE_IN_PROGRESS


def parse_close_range_exit(state, evt, view) -> None:
    t = view.thread
    if t is None or _v(evt, 0, -1) < 0 or evt.nparams < 4:
        return
    lo, hi, flags = _v(evt, 1, 0), _v(evt, 2, 0), _v(evt, 3, 0)
    if flags & 2:  # CLOSE_RANGE_CLOEXEC: nothing closes now
        return
    for fd in [fd for fd in t.fds if lo <= fd <= hi]:
        state.remove_fd_later(t, fd)


HANDLERS = {
    **{k: parse_open_exit for k in (
        "PPME_SYSCALL_OPEN_X", "PPME_SYSCALL_CREAT_X", "PPME_SYSCALL_OPENAT_X",
        "PPME_SYSCALL_OPENAT_2_X", "PPME_SYSCALL_OPENAT2_X", "PPME_SYSCALL_OPEN_BY_HANDLE_AT_X")},
    "PPME_SOCKET_SOCKET_X": parse_socket_exit,
    "PPME_SOCKET_SENDTO_E": parse_sendto_enter,
    "PPME_SOCKET_BIND_X": parse_bind_exit,
    "PPME_SOCKET_CONNECT_E": parse_connect_enter,
    "PPME_SOCKET_CONNECT_X": parse_connect_exit,
    **{k: parse_accept_exit for k in (
        "PPME_SOCKET_ACCEPT_X", "PPME_SOCKET_ACCEPT_5_X", "PPME_SOCKET_ACCEPT4_X",
        "PPME_SOCKET_ACCEPT4_5_X", "PPME_SOCKET_ACCEPT4_6_X")},
    "PPME_SYSCALL_CLOSE_E": parse_close_enter,
    "PPME_SYSCALL_CLOSE_X": parse_close_exit,
    "PPME_SYSCALL_CLOSE_RANGE_X": parse_close_range_exit,
    "PPME_SYSCALL_PIPE_X": parse_pipe_exit,
    "PPME_SYSCALL_PIPE2_X": parse_pipe_exit,
    "PPME_SOCKET_SOCKETPAIR_X": parse_socketpair_exit,
    "PPME_SYSCALL_EVENTFD_X": _simple_fd(F.FD_EVENT),
    "PPME_SYSCALL_EVENTFD2_X": _simple_fd(F.FD_EVENT),
    "PPME_SYSCALL_SIGNALFD_X": _simple_fd(F.FD_SIGNALFD),
    "PPME_SYSCALL_SIGNALFD4_X": _simple_fd(F.FD_SIGNALFD),
    "PPME_SYSCALL_TIMERFD_CREATE_X": _simple_fd(F.FD_TIMERFD),
    "PPME_SYSCALL_INOTIFY_INIT_X": _simple_fd(F.FD_INOTIFY),
    "PPME_SYSCALL_INOTIFY_INIT1_X": _simple_fd(F.FD_INOTIFY),
    "PPME_SYSCALL_EPOLL_CREATE_X": _simple_fd(F.FD_EVENTPOLL),
    "PPME_SYSCALL_EPOLL_CREATE1_X": _simple_fd(F.FD_EVENTPOLL),
    "PPME_SYSCALL_USERFAULTFD_X": _simple_fd(F.FD_USERFAULTFD),
    "PPME_SYSCALL_MEMFD_CREATE_X": _simple_fd(F.FD_MEMFD, 1, "memfd:"),
    "PPME_SYSCALL_PIDFD_OPEN_X": _simple_fd(F.FD_PIDFD),
    "PPME_SYSCALL_DUP_X": parse_dup_exit,
    "PPME_SYSCALL_DUP_1_X": parse_dup_exit,
    "PPME_SYSCALL_DUP2_X": parse_dup_exit,
    "PPME_SYSCALL_DUP3_X": parse_dup_exit,
    "PPME_SYSCALL_FCNTL_X": parse_fcntl_exit,
    # data transfer on sockets: tuples for unconnected sockets, connected state
    **{k: _rw_exit(True, None, False) for k in (
        "PPME_SYSCALL_READ_X", "PPME_SOCKET_RECV_X", "PPME_SYSCALL_READV_X",
        "PPME_SYSCALL_PREAD_X", "PPME_SYSCALL_PREADV_X")},
    **{k: _rw_exit(False, None, False) for k in (
        "PPME_SYSCALL_WRITE_X", "PPME_SOCKET_SEND_X", "PPME_SYSCALL_WRITEV_X",
        "PPME_SYSCALL_PWRITE_X", "PPME_SYSCALL_PWRITEV_X")},
    "PPME_SOCKET_RECVFROM_X": _rw_exit(True, 2, False),
    "PPME_SOCKET_RECVMSG_X": _rw_exit(True, 3, False),
    "PPME_SOCKET_SENDTO_X": _rw_exit(False, 2, True),
    "PPME_SOCKET_SENDMSG_X": _rw_exit(False, 2, True),
}

STORE_ENTER = frozenset({
    "PPME_SYSCALL_OPEN_E", "PPME_SYSCALL_CREAT_E", "PPME_SYSCALL_OPENAT_E",
    "PPME_SYSCALL_OPENAT_2_E", "PPME_SYSCALL_OPENAT2_E", "PPME_SOCKET_SOCKET_E",
    "PPME_SYSCALL_EVENTFD_E", "PPME_SOCKET_SHUTDOWN_E", "PPME_SOCKET_SENDMSG_E",
    "PPME_SYSCALL_SENDFILE_E", "PPME_SOCKET_SENDTO_E", "PPME_SYSCALL_FCNTL_E",
})
