"""fd.* fields: the file descriptor an event uses or creates (files, sockets, pipes...).

As in sysdig 0.29, fd fields answer only on events that use, create or
destroy an fd; the fd is the one the parsers attached to the event, else
the thread's last-event fd looked up in its table. An event whose fd was
never seen opened has fd.num but no fd.name (except for the calls that
name it themselves: open*, connect, accept, creat). The socket endpoint fields
(fd.cip, fd.sport, fd.lproto, ...) are in ``falcolib.fields.fd_socket``.
"""
from __future__ import annotations

from falcolib.decode.table import EVENTS
from falcolib.fields.catalogue import ArgKind, FieldClass, FieldType as T
from falcolib.fields.proc import render_bool
from falcolib.state import fdinfo as F
from falcolib.state.paths import concatenate, erase_invalid
from falcolib.state.sockaddr import sockaddr_text, socktuple_text

fd = FieldClass("fd", "Every syscall that has a file descriptor in its arguments has these fields set with information related to the file.")
_FD = frozenset({"event", "thread", "fd"})

_OPEN_X = frozenset({"PPME_SYSCALL_OPEN_X", "PPME_SYSCALL_CREAT_X"})
_ACCEPT_X = frozenset({"PPME_SOCKET_ACCEPT_X", "PPME_SOCKET_ACCEPT_5_X", "PPME_SOCKET_ACCEPT4_X",
                       "PPME_SOCKET_ACCEPT4_5_X", "PPME_SOCKET_ACCEPT4_6_X"})
_OPENAT_X = frozenset({"PPME_SYSCALL_OPENAT_X", "PPME_SYSCALL_OPENAT_2_X", "PPME_SYSCALL_OPENAT2_X"})
_OPEN_E = frozenset({"PPME_SYSCALL_OPEN_E", "PPME_SYSCALL_OPENAT_E", "PPME_SYSCALL_OPENAT_2_E",
                     "PPME_SYSCALL_OPENAT2_E", "PPME_SYSCALL_CREAT_E"})
_TYPECHAR_BY_ENTER = {
    "PPME_SYSCALL_OPEN_E": "f", "PPME_SYSCALL_OPENAT_E": "f", "PPME_SYSCALL_OPENAT_2_E": "f",
    "PPME_SYSCALL_OPENAT2_E": "f", "PPME_SYSCALL_CREAT_E": "f",
    "PPME_SOCKET_SOCKET_E": "4", "PPME_SOCKET_ACCEPT_E": "4", "PPME_SOCKET_ACCEPT_5_E": "4",
    "PPME_SOCKET_ACCEPT4_E": "4", "PPME_SOCKET_ACCEPT4_5_E": "4",
    "PPME_SYSCALL_PIPE_E": "p", "PPME_SYSCALL_EVENTFD_E": "e", "PPME_SYSCALL_SIGNALFD_E": "s",
    "PPME_SYSCALL_TIMERFD_CREATE_E": "t", "PPME_SYSCALL_INOTIFY_INIT_E": "i",
}


_ENUMS = tuple(info.enum for info in EVENTS)
_CONNECT_X = frozenset(i for i, e in enumerate(_ENUMS) if e == "PPME_SOCKET_CONNECT_X")


def _enum(view) -> str:
    return _ENUMS[view.evt.type]


def get_fd(view):
    """(ok, FdInfo | None): ok is False when the event has nothing to do with fds."""
    t = view.thread
    if t is None or not view.state.fd_event[view.evt.type]:
        return False, None
    fi = view.fd
    if fi is None and t.lastevent_fd != -1:
        fi = t.fds.get(t.lastevent_fd)
    return True, fi


def _sock(view):
    """The event's fd (None when it has none, or no fd fields)."""
    ok, fi = get_fd(view)
    return fi if ok else None


def name_from_creator(view) -> str | None:
    """fd.name of an event whose fd is not in the table (sysdig's extract_fdname_from_creator)."""
    evt = view.evt
    if evt.type % 2 == 0:
        return None
    kind = _enum(view)
    if kind in _OPEN_X or kind in _ACCEPT_X or kind == "PPME_SOCKET_CONNECT_X":
        data = evt.param_bytes(1)
        info = evt.info.params[1].type if evt.info.nparams > 1 else ""
        if info == "PT_SOCKTUPLE":
            return socktuple_text(data)
        if info == "PT_SOCKADDR":
            return sockaddr_text(data)
        return (data or b"").split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    if kind in _OPENAT_X:
        from falcolib.state.proc_parsers import dirfd_path
        t = view.thread
        if kind == "PPME_SYSCALL_OPENAT_X":
            enter = view.state.enter_event(t, evt) if t is not None else None
            if enter is None:
                return None
            name, dirfd = enter.param_bytes(1) or b"", enter.value(0)
        else:
            name, dirfd = evt.param_bytes(2) or b"", evt.value(1)
        name = name.split(b"\0", 1)[0]
        return concatenate(dirfd_path(view.state, t, name, dirfd), name)
    return ""


def _field(name, ftype, desc, **kw):
    kw.setdefault("needs", _FD)
    if ftype is T.BOOL:
        kw.setdefault("render", render_bool)
    return fd.field(name, ftype, desc, **kw)


@_field("fd.num", T.INT64, "the unique number identifying the file descriptor.")
def fd_num(view):
    ok, _ = get_fd(view)
    return view.thread.lastevent_fd if ok else None


@_field("fd.type", T.CHARBUF, "type of FD. Can be 'file', 'directory', 'ipv4', 'ipv6', 'unix', 'pipe', 'event', 'signalfd', 'eventpoll', 'inotify' or 'signalfd'.")
def fd_type(view):
    ok, fi = get_fd(view)
    return fi.typestring if fi is not None else None


@_field("fd.typechar", T.CHARBUF, "type of FD as a single character: 'f' file, 4 IPv4 socket, 6 IPv6 socket, 'u' unix socket, p pipe, 'e' eventfd, 's' signalfd, 'l' eventpoll, 'i' inotify, 'o' unknown.")
def fd_typechar(view):
    ok, fi = get_fd(view)
    if not ok:
        return None
    if fi is not None:
        return fi.typechar
    enter = _ENUMS[view.evt.type & ~1]
    return _TYPECHAR_BY_ENTER.get(enter, "o")


def _name(view, fi):
    """fd.name as sysdig extracts it (non-printable bytes erased: sanitize_string)."""
    if fi is None or (view.evt.type in _CONNECT_X and (view.evt.value(0) or 0) < 0):
        name = name_from_creator(view)
        return None if name is None else erase_invalid(name)
    return erase_invalid(fi.name)


@_field("fd.name", T.CHARBUF, "FD full name. If the fd is a file, this field contains the full path. If the FD is a socket, this field contain the connection tuple.")
def fd_name(view):
    ok, fi = get_fd(view)
    return _name(view, fi) if ok else None


@_field("fd.nameraw", T.CHARBUF, "FD name as passed by the process (the path before it is made absolute); the same as fd.name when unknown.")
def fd_nameraw(view):
    ok, fi = get_fd(view)
    if not ok:
        return None
    if fi is not None and fi.nameraw:
        return fi.nameraw
    return _name(view, fi)


def _dirname(name: str) -> str:
    pos = name.rfind("/")
    if pos > 0:
        return name[:pos] if pos < len(name) - 1 else name
    return "/"


@_field("fd.directory", T.CHARBUF, "If the fd is a file, the directory that contains it.")
def fd_directory(view):
    ok, fi = get_fd(view)
    if not ok:
        return None
    if fi is None:
        name = name_from_creator(view)
        return None if name is None else _dirname(name)
    if not (fi.is_file or fi.type == F.FD_DIRECTORY):
        return None
    name = erase_invalid(fi.name)
    return _dirname(name) if fi.is_file else name


@_field("fd.filename", T.CHARBUF, "If the fd is a file, the filename without the path.")
def fd_filename(view):
    ok, fi = get_fd(view)
    if not ok:
        return None
    if fi is None:
        # sysdig 0.29 only tries open enter events here, whose creator name is unknown
        return None
    if not fi.is_file:
        return None
    name = erase_invalid(fi.name)
    pos = name.rfind("/")
    if pos < 0:
        return "/"
    return name[pos + 1:] if pos < len(name) - 1 else name


# --------------------------------------------------------------- sockets
# fd.cip ... fd.is_server (endpoints, ports, protocols) live in fields/fd_socket.py, which
# imports _field and _sock from above; importing it here declares them at this point of
# the catalogue
from falcolib.fields import fd_socket  # noqa: E402,F401


@_field("fd.uid", T.CHARBUF, "a unique identifier for the FD, created by chaining the FD number and the thread ID.")
def fd_uid(view):
    ok, _ = get_fd(view)
    if not ok or _enum(view).startswith("PPME_CONTAINER_JSON"):
        return None
    return f"{view.thread.tid}{view.thread.lastevent_fd}"


@_field("fd.containername", T.CHARBUF, "chaining of the container ID and the FD name.")
def fd_containername(view):
    name = fd_name(view)
    return None if name is None else f"{view.thread.container_id}:{name}"


@_field("fd.containerdirectory", T.CHARBUF, "chaining of the container ID and the directory name.")
def fd_containerdirectory(view):
    d = fd_directory(view)
    return None if d is None else f"{view.thread.container_id}:{d}"


@_field("fd.connected", T.BOOL, "for TCP/UDP FDs, 'true' if the socket is connected.")
def fd_connected(view):
    fi = _sock(view)
    return None if fi is None else fi.connected


@_field("fd.name_changed", T.BOOL, "True when an event changes the name of an fd used by this event (e.g. a udp socket whose tuple changes).")
def fd_name_changed(view):
    fi = _sock(view)
    if fi is None:
        return None
    # sysdig compares only for the fd its parsers attached to the event, and sets the
    # flag after its filters ran: a sysdig-order filter always sees false
    if view.state.filtering:
        return False
    return view.fd is fi and fi.name != fi.oldname


def _dns_fields() -> None:
    from falcolib.fields import dns
    descs = {"client": "client", "server": "server", "local": "local", "remote": "remote"}
    for name, side in dns.FIELDS.items():
        _field(name, T.CHARBUF, f"Domain name associated with the {descs[side]} IP address: "
               "the name a condition compares it with, resolved as libsinsp's DNS manager "
               "(falcolib.fields.dns).")(dns.name_extractor(side))


_dns_fields()


@_field("fd.dev", T.INT32, "device number (major/minor) containing the referenced file", render=lambda v: f"{v:X}")
def fd_dev(view):
    fi = _sock(view)
    return None if fi is None else fi.dev


@_field("fd.dev.major", T.INT32, "major device number containing the referenced file")
def fd_dev_major(view):
    fi = _sock(view)
    return None if fi is None else (fi.dev & 0xFFF00) >> 8


@_field("fd.dev.minor", T.INT32, "minor device number containing the referenced file")
def fd_dev_minor(view):
    fi = _sock(view)
    return None if fi is None else (fi.dev & 0xFF) | ((fi.dev >> 12) & 0xFFF00)


@_field("fd.ino", T.INT64, "inode number of the referenced file")
def fd_ino(view):
    fi = _sock(view)
    return None if fi is None else fi.ino


@_field("fd.types", T.CHARBUF, "the types of the fds of the event (poll/select fd lists and the event's fd); fd.types[N] the N-th.", arg=ArgKind.OPT_INDEX, is_list=True)
def fd_types(view, n=None):
    ok, fi = get_fd(view)
    t = view.thread
    types = []
    if fi is not None:
        types.append(fi.typestring)
    else:
        evt = view.evt
        params = evt.info.params
        for i, p in enumerate(params):
            if p.type == "PT_FDLIST" and t is not None:
                for fdn, _flags in evt.value(i) or ():
                    other = t.fds.get(fdn)
                    if other is not None:
                        types.append(other.typestring)
    if n is None:
        return tuple(types) or None
    return (types[n],) if 0 <= n < len(types) else None


# --------------------------------------------------------------- fdlist.*
fdlist = FieldClass("fdlist", "Poll event related fields: the fds a poll/ppoll call waits on.")
_POLL_PARAM = {"PPME_SYSCALL_POLL_E": 0, "PPME_SYSCALL_PPOLL_E": 0,
               "PPME_SYSCALL_POLL_X": 1, "PPME_SYSCALL_PPOLL_X": 1}


def _fdlist(view, item):
    """sysdig's fdlist extraction: one entry per polled fd, comma separated."""
    idx = _POLL_PARAM.get(_enum(view))
    t = view.thread
    if idx is None or t is None:
        return None
    data = view.evt.param_bytes(idx)
    if not data or len(data) < 2:
        return None
    nfds = int.from_bytes(data[:2], "little")
    out = []
    pos = 2
    for _ in range(nfds):
        if pos + 10 > len(data):
            break
        fdn = int.from_bytes(data[pos:pos + 8], "little", signed=True)
        pos += 10
        val = item(fdn, t.fds.get(fdn))
        if val is not None:
            out.append(val)
    text = ",".join(out)
    return text or None


def _fdlist_field(name, desc, item):
    fdlist.field(name, T.CHARBUF, desc, needs=_FD)(lambda view, _i=item: _fdlist(view, _i))


def _fl_name(fdn, fi):
    return fi.name if fi is not None and fi.name else "<NA>"


def _fl_ip(which):
    def _get(fdn, fi):
        if fi is None:
            return None
        if fi.type in F.IP_SOCK:
            return fi.sip if which == "c" else fi.dip
        if which == "s" and fi.type == F.FD_IPV4_SERVSOCK:
            return fi.sip
        if which == "s" and fi.type == F.FD_IPV6_SERVSOCK:
            # sysdig 0.29 prints an ipv6 server address with inet_ntop(AF_INET...)
            try:
                import ipaddress
                return ".".join(str(b) for b in ipaddress.IPv6Address(fi.sip).packed[:4])
            except ValueError:
                return None
        return None
    return _get


def _fl_port(which):
    def _get(fdn, fi):
        if fi is None or fi.type not in F.IP_SOCK:
            return None
        return str(fi.sport if which == "c" else fi.dport)
    return _get


_fdlist_field("fdlist.nums", "for poll events, this is a comma-separated list of the FD numbers in the 'fds' argument, returned as a string.", lambda fdn, fi: str(fdn))
_fdlist_field("fdlist.names", "for poll events, this is a comma-separated list of the FD names in the 'fds' argument, returned as a string.", _fl_name)
_fdlist_field("fdlist.cips", "for poll events, this is a comma-separated list of the client IP addresses in the 'fds' argument, returned as a string.", _fl_ip("c"))
_fdlist_field("fdlist.sips", "for poll events, this is a comma-separated list of the server IP addresses in the 'fds' argument, returned as a string.", _fl_ip("s"))
_fdlist_field("fdlist.cports", "for TCP/UDP FDs, for poll events, this is a comma-separated list of the client TCP/UDP ports in the 'fds' argument, returned as a string.", _fl_port("c"))
_fdlist_field("fdlist.sports", "for poll events, this is a comma-separated list of the server TCP/UDP ports in the 'fds' argument, returned as a string.", _fl_port("s"))
