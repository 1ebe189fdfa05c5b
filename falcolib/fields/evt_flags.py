"""evt.* fields derived from the event table's flags and from the call's result and
arguments: I/O and wait flags, error counters (chisel helpers), absolute paths and open
modes of file calls; then the host and plugin fields.

Part of the ``evt`` field class (declared in ``falcolib.fields.evt``), loaded right after
it so the catalogue keeps its order.
"""
from __future__ import annotations

from falcolib.decode.flags import FLAG_TABLES
from falcolib.decode.table import EVENT_CATEGORIES as EC, EVENT_FLAGS as EF, EVENTS, types_named
from falcolib.fields.catalogue import ArgKind, FieldType as T
from falcolib.fields.evt import _bool, _info, evt, evt_failed


# --- flags -------------------------------------------------------------------
def _flagtest(view, mask) -> bool:
    return bool(_info(view.evt).flags & mask)


@evt.field("evt.is_io", T.BOOL, "'true' for events that read or write to FDs.", render=_bool)
def evt_is_io(view):
    return _flagtest(view, EF["EF_READS_FROM_FD"] | EF["EF_WRITES_TO_FD"])


@evt.field("evt.is_io_read", T.BOOL, "'true' for events that read from FDs.", render=_bool)
def evt_is_io_read(view):
    return _flagtest(view, EF["EF_READS_FROM_FD"])


@evt.field("evt.is_io_write", T.BOOL, "'true' for events that write to FDs.", render=_bool)
def evt_is_io_write(view):
    return _flagtest(view, EF["EF_WRITES_TO_FD"])


@evt.field("evt.io_dir", T.CHARBUF, "'write' or 'read' for I/O events.")
def evt_io_dir(view):
    f = _info(view.evt).flags
    if f & EF["EF_WRITES_TO_FD"]:
        return "write"
    if f & EF["EF_READS_FROM_FD"]:
        return "read"
    return None


@evt.field("evt.is_wait", T.BOOL, "'true' for events that make the thread wait.", render=_bool)
def evt_is_wait(view):
    return _flagtest(view, EF["EF_WAITS"])


@evt.field("evt.wait_latency", T.RELTIME, "for events that make the thread wait, the time spent waiting.",
           needs={"event", "thread"})
def evt_wait_latency(view):
    if not _flagtest(view, EF["EF_WAITS"]) or view.evt.type % 2 == 0:
        return None
    return getattr(view.thread, "latency", 0) if view.thread is not None else 0


@evt.field("evt.is_syslog", T.BOOL, "'true' for events that are writes to /dev/log.",
           render=_bool, needs={"event", "fd"})
def evt_is_syslog(view):
    return _flagtest(view, EF["EF_WRITES_TO_FD"]) and view.fd is not None \
        and "/dev/log" in (view.fd.name or "")


# --- counters (chisel helpers) -------------------------------------------
@evt.field("evt.count", T.UINT32, "always 1: counts events.")
def evt_count(view):
    return 1


def _error_count(view):
    return 1 if evt_failed(view) else None


@evt.field("evt.count.error", T.UINT32, "1 for events that returned with an error.")
def evt_count_error(view):
    return _error_count(view)


_FILE_OPENS = types_named("open") | types_named("creat") | types_named("openat") | types_named("openat2")
_NET_OPENS = types_named("accept") | types_named("accept4") | types_named("connect")


def _fdkind(view):
    fd = view.fd
    if fd is None:
        return None
    k = getattr(fd, "typechar", None)
    return k() if callable(k) else k


@evt.field("evt.count.error.file", T.UINT32, "1 for failed file events.", needs={"event", "fd"})
def evt_count_error_file(view):
    k = _fdkind(view)
    if k is not None:
        return _error_count(view) if k in ("f", "d") else None
    return _error_count(view) if view.evt.type in _FILE_OPENS and view.evt.type % 2 else None


@evt.field("evt.count.error.net", T.UINT32, "1 for failed network events.", needs={"event", "fd"})
def evt_count_error_net(view):
    k = _fdkind(view)
    if k is not None:
        return _error_count(view) if k in ("4", "6", "u") else None
    return _error_count(view) if view.evt.type in _NET_OPENS and view.evt.type % 2 else None


@evt.field("evt.count.error.memory", T.UINT32, "1 for failed memory events.")
def evt_count_error_memory(view):
    return _error_count(view) if _info(view.evt).category & 0xFF == EC["EC_MEMORY"] else None


@evt.field("evt.count.error.other", T.UINT32, "1 for failed events that are not file, net or memory.",
           needs={"event", "fd"})
def evt_count_error_other(view):
    k = _fdkind(view)
    if k is not None:
        return None if k in ("f", "d", "4", "6", "u") else _error_count(view)
    e = view.evt
    if (e.type % 2 and e.type in (_FILE_OPENS | _NET_OPENS)) or \
            _info(e).category & 0xFF == EC["EC_MEMORY"]:
        return None
    return _error_count(view)


@evt.field("evt.count.exit", T.UINT32, "1 for exit events.")
def evt_count_exit(view):
    return 1 if view.evt.type % 2 else None


# --- paths and open modes ---------------------------------------------------
def _by_enum(*enums: str) -> frozenset[int]:
    return frozenset(e.code for e in EVENTS if e.enum in enums)


# sysdig 0.29's extract_abspath: event codes -> (dirfd, path) parameter names
# for evt.abspath / .src (index 1) / .dst (index 2)
_OLD_NEW = {0: ("olddirfd", "oldpath"), 1: ("olddirfd", "oldpath"), 2: ("newdirfd", "newpath")}
_LINK_OLD_NEW = {0: ("olddir", "oldpath"), 1: ("olddir", "oldpath"), 2: ("newdir", "newpath")}


def _same(dirfd: str, path: str) -> dict:
    return {0: (dirfd, path), 1: (dirfd, path), 2: (dirfd, path)}


_ABSPATH_ARGS: dict[int, dict] = {}
for _codes, _args in (
        (_by_enum("PPME_SYSCALL_RENAMEAT_X", "PPME_SYSCALL_RENAMEAT2_X"), _OLD_NEW),
        (_by_enum("PPME_SYSCALL_SYMLINKAT_X"), _same("linkdirfd", "linkpath")),
        (_by_enum("PPME_SYSCALL_OPENAT_E", "PPME_SYSCALL_OPENAT_2_X", "PPME_SYSCALL_OPENAT2_X"),
         _same("dirfd", "name")),
        (_by_enum("PPME_SYSCALL_LINKAT_E", "PPME_SYSCALL_LINKAT_2_X"), _LINK_OLD_NEW),
        (_by_enum("PPME_SYSCALL_UNLINKAT_E", "PPME_SYSCALL_UNLINKAT_2_X"), _same("dirfd", "name")),
        (_by_enum("PPME_SYSCALL_MKDIRAT_X"), _same("dirfd", "path")),
        (_by_enum("PPME_SYSCALL_FCHMODAT_X"), _same("dirfd", "filename"))):
    for _c in _codes:
        _ABSPATH_ARGS[_c] = _args


def _abspath(view, which: int):
    """The path argument joined to its directory: "." for an absolute path,
    the cwd for AT_FDCWD, else the dirfd's name (or "<UNKNOWN>/")."""
    from falcolib.state.paths import concatenate
    e = view.evt
    t = view.thread
    spec = _ABSPATH_ARGS.get(e.type)
    if t is None or spec is None:
        return None
    di, pi = e.index(spec[which][0]), e.index(spec[which][1])
    if di is None or pi is None:
        return None
    dirfd, raw = e.value(di), e.param_bytes(pi) or b""
    if raw[:1] == b"/":
        base = "."
    elif dirfd == -100:
        cwd = getattr(view.state, "cwd", None)
        base = cwd(t) if cwd is not None else getattr(t, "cwd", "")
    else:
        fi = getattr(t, "fds", {}).get(dirfd)
        name = getattr(fi, "name", None) if fi is not None else None
        base = "<UNKNOWN>/" if name is None else (name if name.endswith("/") else name + "/")
    return concatenate(base, raw)


@evt.field("evt.abspath", T.CHARBUF, "Absolute path calculated from dirfd and name during "
           "syscalls like renameat and symlinkat.", needs={"event", "thread", "state"})
def evt_abspath(view):
    return _abspath(view, 0)


@evt.field("evt.abspath.src", T.CHARBUF, "Source of the absolute path (renameat, linkat...).",
           needs={"event", "thread", "state"})
def evt_abspath_src(view):
    return _abspath(view, 1)


@evt.field("evt.abspath.dst", T.CHARBUF, "Destination of the absolute path (renameat, linkat...).",
           needs={"event", "thread", "state"})
def evt_abspath_dst(view):
    return _abspath(view, 2)


# sysdig 0.29 looks at exactly these codes: open exit, the old openat ENTER
# (its exit had no flags), openat and openat2 exits
_OPEN_CODES = frozenset(
    e.code for e in EVENTS if e.enum in ("PPME_SYSCALL_OPENAT_2_X", "PPME_SYSCALL_OPENAT2_X",
                                         "PPME_SYSCALL_OPEN_X", "PPME_SYSCALL_OPENAT_E"))
_CREAT_X = frozenset(e.code for e in EVENTS if e.enum == "PPME_SYSCALL_CREAT_X")
_FILE_FLAGS = dict(FLAG_TABLES["file_flags"])
_O_RDONLY, _O_WRONLY = _FILE_FLAGS["O_RDONLY"], _FILE_FLAGS["O_WRONLY"]
_O_CREAT_TMPFILE = _FILE_FLAGS["O_CREAT"] | _FILE_FLAGS.get("O_TMPFILE", 0)
_EXEC_BITS = 0o111  # PPM_S_IXUSR | PPM_S_IXGRP | PPM_S_IXOTH


def _open_flags(view):
    e = view.evt
    return e.value("flags") if e.type in _OPEN_CODES else None


@evt.field("evt.is_open_read", T.BOOL, "'true' for open/openat/openat2 events where the path "
           "was opened for reading.", render=_bool)
def evt_is_open_read(view):
    f = _open_flags(view)
    return f is not None and bool(f & _O_RDONLY)


@evt.field("evt.is_open_write", T.BOOL, "'true' for open/openat/openat2 events where the path "
           "was opened for writing.", render=_bool)
def evt_is_open_write(view):
    f = _open_flags(view)
    return f is not None and bool(f & _O_WRONLY)


@evt.field("evt.is_open_exec", T.BOOL, "'true' for open/openat/openat2/creat events where a file "
           "is created with execute permissions.", render=_bool)
def evt_is_open_exec(view):
    e = view.evt
    if e.type in _CREAT_X:
        return bool((e.value("mode") or 0) & _EXEC_BITS)
    f = _open_flags(view)
    if f is None or not f & _O_CREAT_TMPFILE:
        return False
    return bool((e.value("mode") or 0) & _EXEC_BITS)


@evt.field("evt.is_open_create", T.BOOL, "'true' for open/openat/openat2 events where a file is "
           "created (O_CREAT; a newer libs field).", render=_bool)
def evt_is_open_create(view):
    f = _open_flags(view)
    return f is not None and bool(f & _FILE_FLAGS["O_CREAT"])


@evt.field("evt.hostname", T.CHARBUF, "The hostname of the underlying host (from the capture's "
           "machine info, or this machine).", needs={"event", "state"})
def evt_hostname(view):
    h = getattr(view.state, "hostname", None) if view.state is not None else None
    if h:
        return h
    import socket
    return socket.gethostname()


@evt.field("evt.pluginname", T.CHARBUF, "if the event comes from a plugin, the name of the plugin "
           "that generated it (no plugins are loaded: always <NA>).")
def evt_pluginname(view):
    return None


@evt.field("evt.plugininfo", T.CHARBUF, "if the event comes from a plugin, a summary of the event "
           "as formatted by the plugin (no plugins are loaded: always <NA>).")
def evt_plugininfo(view):
    return None


@evt.field("evt.around", T.UINT64, "Accepts the event if it's around the specified time interval "
           "(filter only; evt.around[T]=D in ms).", arg=ArgKind.KEY, filter_only=True)
def evt_around(view, ts):
    return view.evt.ts
