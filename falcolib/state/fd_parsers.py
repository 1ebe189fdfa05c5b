"""fd-table parsers: open*, pipes, special fds, dup, fcntl, close (sockets: socket_parsers).

Each handler is ``handler(state, evt, view)`` and mirrors libsinsp 0.29's
parser of the same name; events that libs added later (dup2/dup3, pipe2,
eventfd2, inotify_init1, signalfd4, memfd_create, userfaultfd, pidfd_open,
epoll_create*) follow the newer libs' parsers.
"""
from __future__ import annotations

from falcolib.state import fdinfo as F
from falcolib.state.fdinfo import FdInfo
from falcolib.state.groups import FD
from falcolib.state.paths import concatenate
from falcolib.state.proc_parsers import _b, _v, dirfd_path

PPM_O_DIRECTORY = 1 << 10
PPM_FCNTL_F_DUPFD = 1
PPM_FCNTL_F_DUPFD_CLOEXEC = 26


def _etype(evt) -> str:
    return _ENUMS[evt.type]


def _enums() -> list[str]:
    from falcolib.decode.table import EVENTS
    return [e.enum for e in EVENTS]


_ENUMS = _enums()


def _cstr(b: bytes) -> bytes:
    nul = b.find(b"\0")
    return b if nul < 0 else b[:nul]


# ------------------------------------------------------------------- files
def parse_open_exit(state, evt, view) -> None:
    t = view.thread
    if t is None:
        return
    enter = state.enter_event(t, evt)
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
}

STORE_ENTER = frozenset({
    "PPME_SYSCALL_OPEN_E", "PPME_SYSCALL_CREAT_E", "PPME_SYSCALL_OPENAT_E",
    "PPME_SYSCALL_OPENAT_2_E", "PPME_SYSCALL_OPENAT2_E",
    "PPME_SYSCALL_EVENTFD_E", "PPME_SYSCALL_SENDFILE_E", "PPME_SYSCALL_FCNTL_E",
})

# lean state (falcolib.state.groups): these parsers keep the fd tables
GROUP = FD
