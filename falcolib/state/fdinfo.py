"""FdInfo: what the state engine knows of one file descriptor (sysdig's sinsp_fdinfo).

Socket endpoints are kept as text (``"10.0.0.1"``, ``"::1"``) with ports as
ints, in sysdig's orientation: for a connected socket ``sip:sport`` is the
client and ``dip:dport`` the server; for a listening socket (``*_SERVSOCK``)
``sip:sport`` is the bound address.
"""
from __future__ import annotations

import attrs

# scap_fd_type
FD_UNKNOWN = 0
FD_FILE = 1
FD_DIRECTORY = 2
FD_IPV4_SOCK = 3
FD_IPV6_SOCK = 4
FD_IPV4_SERVSOCK = 5
FD_IPV6_SERVSOCK = 6
FD_FIFO = 7
FD_UNIX_SOCK = 8
FD_EVENT = 9
FD_UNSUPPORTED = 10
FD_SIGNALFD = 11
FD_EVENTPOLL = 12
FD_INOTIFY = 13
FD_TIMERFD = 14
FD_NETLINK = 15
FD_FILE_V2 = 16
# newer libs (not in sysdig 0.29): memfd, pidfd, bpf, userfaultfd, io_uring
FD_BPF = 17
FD_USERFAULTFD = 18
FD_IOURING = 19
FD_MEMFD = 20
FD_PIDFD = 21

TYPECHAR = {
    FD_FILE: "f", FD_FILE_V2: "f", FD_IPV4_SOCK: "4", FD_IPV6_SOCK: "6",
    FD_DIRECTORY: "d", FD_IPV4_SERVSOCK: "4", FD_IPV6_SERVSOCK: "6", FD_FIFO: "p",
    FD_UNIX_SOCK: "u", FD_EVENT: "e", FD_UNKNOWN: "o", FD_UNSUPPORTED: "X",
    FD_SIGNALFD: "s", FD_EVENTPOLL: "l", FD_INOTIFY: "i", FD_TIMERFD: "t",
    FD_NETLINK: "n", FD_BPF: "b", FD_USERFAULTFD: "u", FD_IOURING: "r",
    FD_MEMFD: "m", FD_PIDFD: "P",
}
TYPESTRING = {
    FD_FILE: "file", FD_FILE_V2: "file", FD_DIRECTORY: "directory",
    FD_IPV4_SOCK: "ipv4", FD_IPV4_SERVSOCK: "ipv4", FD_IPV6_SOCK: "ipv6",
    FD_IPV6_SERVSOCK: "ipv6", FD_UNIX_SOCK: "unix", FD_FIFO: "pipe", FD_EVENT: "event",
    FD_SIGNALFD: "signalfd", FD_EVENTPOLL: "eventpoll", FD_INOTIFY: "inotify",
    FD_TIMERFD: "timerfd", FD_NETLINK: "netlink", FD_BPF: "bpf",
    FD_USERFAULTFD: "userfaultfd", FD_IOURING: "io_uring", FD_MEMFD: "memfd",
    FD_PIDFD: "pidfd",
}

# scap_l4_proto
L4_UNKNOWN = 0
L4_NA = 1
L4_TCP = 2
L4_UDP = 3
L4_ICMP = 4
L4_RAW = 5
L4_NAMES = {L4_TCP: "tcp", L4_UDP: "udp", L4_ICMP: "icmp", L4_RAW: "raw"}

# sinsp_fdinfo flags
FLAGS_FROM_PROC = 1 << 0
FLAGS_ROLE_CLIENT = 1 << 2
FLAGS_ROLE_SERVER = 1 << 3
FLAGS_CLOSE_IN_PROGRESS = 1 << 4
FLAGS_CLOSE_CANCELED = 1 << 5
FLAGS_SOCKET_CONNECTED = 1 << 13
FLAGS_IS_CLONED = 1 << 14
FLAGS_CONNECTION_PENDING = 1 << 15
FLAGS_CONNECTION_FAILED = 1 << 16
_ROLES = FLAGS_ROLE_CLIENT | FLAGS_ROLE_SERVER

SOCKET_TYPES = frozenset({FD_IPV4_SOCK, FD_IPV6_SOCK, FD_IPV4_SERVSOCK, FD_IPV6_SERVSOCK})
IP_SOCK = frozenset({FD_IPV4_SOCK, FD_IPV6_SOCK})
SERVSOCK = frozenset({FD_IPV4_SERVSOCK, FD_IPV6_SERVSOCK})


@attrs.define(slots=True, eq=False)
class FdInfo:
    """One open fd of a process (mutable: the parsers update it in place)."""

    type: int = FD_UNKNOWN
    name: str = ""
    openflags: int = 0
    flags: int = 0
    ino: int = 0
    dev: int = 0
    mount_id: int = 0
    sip: str = ""
    sport: int = 0
    dip: str = ""
    dport: int = 0
    l4proto: int = L4_UNKNOWN
    usrc: int = 0    # unix socket: source and destination kernel addresses
    udst: int = 0
    nameraw: str = ""  # the path as the process passed it (newer libs' fd.nameraw)
    oldname: str = ""

    def copy(self) -> "FdInfo":
        return attrs.evolve(self)

    @property
    def typechar(self) -> str:
        return TYPECHAR.get(self.type, "?")

    @property
    def typestring(self) -> str:
        return TYPESTRING.get(self.type, "<NA>")

    @property
    def is_file(self) -> bool:
        return self.type == FD_FILE or self.type == FD_FILE_V2

    @property
    def role_none(self) -> bool:
        return not (self.flags & _ROLES)

    @property
    def is_server_role(self) -> bool:
        return bool(self.flags & FLAGS_ROLE_SERVER)

    @property
    def is_client_role(self) -> bool:
        return bool(self.flags & FLAGS_ROLE_CLIENT)

    @property
    def connected(self) -> bool:
        return bool(self.flags & FLAGS_SOCKET_CONNECTED)

    def set_connected(self) -> None:
        self.flags = (self.flags & ~(FLAGS_CONNECTION_PENDING | FLAGS_CONNECTION_FAILED)) \
            | FLAGS_SOCKET_CONNECTED

    def l4(self) -> int:
        """sysdig's get_l4proto(): NA for an ip socket with no role yet."""
        t = self.type
        if t == FD_IPV4_SOCK or t == FD_IPV6_SOCK:
            if self.l4proto == L4_RAW:
                return L4_RAW
            if self.role_none:
                return L4_NA
            return self.l4proto
        if t == FD_IPV4_SERVSOCK or t == FD_IPV6_SERVSOCK:
            return self.l4proto
        return L4_NA
