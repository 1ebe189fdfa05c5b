"""evt.* fields: sysdig 0.29's sinsp_filter_check_gen_event and _event classes.

Extractors read ``view.evt`` (a ``falcolib.decode.Event``), ``view.thread``
(latency pairing), ``view.fd`` and ``view.state`` (the render context for
fd/thread suffixes, and the capture's first timestamp). This module holds the
type, category, argument and return-value fields; the flag, counter, path and open-mode
fields are in ``falcolib.fields.evt_flags`` and the time fields in
``falcolib.fields.evt_time``.
"""
from __future__ import annotations


from falcolib.decode.flags import errno_name
from falcolib.decode.args import (
    RAWARG_PARAMS, longest_param_name, rawarg_value, render_arg, render_rawarg,
)
from falcolib.decode.render import cstr, dots, render_args
from falcolib.decode._data import SYSCALL_CATEGORIES
from falcolib.decode.table import (
    EVENT_CATEGORIES as EC, EVENT_FLAGS as EF, EVENTS, SYSCALL_NAMES, SYSDIG_EVENT_MAX,
    SYSDIG_EVENTS, category_name, event_names, types_named,
)
from falcolib.errors import FilterCompileError
from falcolib.fields.catalogue import ArgKind, FieldClass, FieldType as T

evt = FieldClass("evt", "Event fields: the event's type, time, arguments and return value.")
_NS = 1_000_000_000


def _ident(v):
    return v


def _info(e):
    t = e.type
    return SYSDIG_EVENTS[t] if t < SYSDIG_EVENT_MAX else EVENTS[t]


# --- type, direction, category --------------------------------------------
@evt.field("evt.dir", T.CHARBUF, "event direction can be either '>' for enter events or '<' for exit events.")
def evt_dir(view):
    return ">" if view.evt.type % 2 == 0 else "<"


_NAMES = tuple(e.name for e in EVENTS)


_KNOWN_TYPE_NAMES: frozenset[str] | None = None


def _check_type_name(text: str) -> None:
    """sysdig refuses an evt.type value that names no event and no syscall
    (validate_filter_value: ``unknown event type X``), whatever the operator."""
    global _KNOWN_TYPE_NAMES
    if _KNOWN_TYPE_NAMES is None:
        _KNOWN_TYPE_NAMES = event_names() | frozenset(SYSCALL_NAMES)
    if text not in _KNOWN_TYPE_NAMES:
        raise FilterCompileError(f"unknown event type {text!r}")


@evt.field("evt.type", T.CHARBUF, "The name of the event (e.g. 'open').",
           check_literal=_check_type_name)
def evt_type(view):
    e = view.evt
    t = e.type
    return _NAMES[t] if t > 1 else e.name  # generic events: the syscall's name


def _type_codes(name) -> frozenset[int]:
    codes = types_named(name) if not str(name).isdigit() else frozenset({int(name)})
    if not codes:
        raise FilterCompileError(f"evt.type.is: unknown event type {name!r}")
    return codes


def _bind_type_is(name):
    codes = _type_codes(name)
    return lambda view: 1 if view.evt.type in codes else 0


@evt.field("evt.type.is", T.UINT32, "returns 1 for events of the given type (evt.type.is.open), 0 otherwise.",
           arg=ArgKind.NAME_SUFFIX, binder=_bind_type_is)
def evt_type_is(view, name):
    return 1 if view.evt.type in _type_codes(name) else 0


@evt.field("syscall.type", T.CHARBUF, "For system call events, the name of the system call "
           "(e.g. 'open'). Unset for other events.", aliases=("evt.syscall.type",))
def syscall_type(view):
    e = view.evt
    info = _info(e)
    if e.type in (152, 153) or info.flags & (EF["EF_SKIPPARSERESET"]) \
            or info.flags & EC["EC_INTERNAL"]:  # sysdig tests the flags word with EC_INTERNAL
        return None
    return e.name


# sysdig's I/O subcategory by scap fd type: file, net, ipc, else unknown
_IO_SUBCATEGORY = {1: "file", 2: "file", 16: "file", 3: "net", 4: "net", 5: "net", 6: "net",
                   7: "ipc", 8: "ipc", 9: "ipc", 11: "ipc", 13: "ipc"}


@evt.field("evt.category", T.CHARBUF, "The event category ('file', 'net', 'memory', ...).",
           needs={"event", "fd"})
def evt_category(view):
    e = view.evt
    if e.type in (0, 1):  # generic: the syscall's own category, no I/O subcategory
        sc = e.value(0)
        if sc is None or sc >= len(SYSCALL_CATEGORIES):
            return "unknown"
        cat = SYSCALL_CATEGORIES[sc]
        return "unknown" if cat & EC["EC_IO_BASE"] else category_name(cat)
    cat = _info(e).category
    if cat & 0xFF & EC["EC_IO_BASE"]:
        fd = view.fd
        return "unknown" if fd is None else _IO_SUBCATEGORY.get(getattr(fd, "type", 0), "unknown")
    return category_name(cat)


@evt.field("evt.cpu", T.INT16, "number of the CPU where this event happened.")
def evt_cpu(view):
    return view.evt.cpu


# --- arguments -----------------------------------------------------------
class _RenderCtx:
    """The state engine as decode.render's context, adding ``resolve_path``
    (sysdig's get_base_dir + concatenate_paths) when the state lacks it."""

    __slots__ = ("state", "fd_label", "thread_comm", "user", "group")

    def __init__(self, state):
        self.state = state
        self.fd_label = state.fd_label
        self.thread_comm = state.thread_comm
        self.user = getattr(state, "user", None)
        self.group = getattr(state, "group", None)

    def resolve_path(self, tid: int, dirfd, path: bytes) -> str | None:
        from falcolib.state.paths import concatenate, erase_invalid
        t = self.state.threads.get(tid)
        if t is None or path[:1] == b"/":
            return None  # absolute: sysdig prints no resolved path
        if dirfd is None:
            base = self.state.cwd(t)
        else:
            fi = t.fds.get(dirfd)
            name = fi.name if fi is not None else ""
            base = erase_invalid(name) + "/" if name else ""  # no /proc lookup on replay
        return concatenate(base, path)


_CTX_CACHE: dict[int, tuple] = {}


def _ctx(view):
    st = view.state
    if st is None or hasattr(st, "resolve_path"):
        return st
    hit = _CTX_CACHE.get(id(st))
    if hit is None or hit[0] is not st:
        if len(_CTX_CACHE) > 16:
            _CTX_CACHE.clear()
        hit = _CTX_CACHE[id(st)] = (st, _RenderCtx(st))
    return hit[1]


def _live(view) -> bool:
    """A live run renders arguments as current libs (today's Falco); a replay as sysdig 0.29."""
    return getattr(view.state, "live", False) is True


@evt.field("evt.args", T.CHARBUF, "all the event arguments, aggregated into a single string.",
           needs={"event", "state"})
def evt_args(view):
    return render_args(view.evt, _ctx(view), _live(view))


def _arg_key(key) -> int | str:
    """evt.arg[N] -> N; evt.arg.NAME -> the longest parameter name NAME starts with."""
    if isinstance(key, int) or (isinstance(key, str) and key.lstrip("-").isdigit()):
        return int(key)
    name = longest_param_name(str(key))
    if name is None:
        raise FilterCompileError(f"unknown event argument {key!r}")
    return name


def _bind_arg(key):
    k = _arg_key(key)
    return lambda view: render_arg(view.evt, k, _ctx(view), _live(view))


def _bind_rawarg(key):
    k = _arg_key(key)
    if isinstance(k, int):
        raise FilterCompileError("evt.rawarg fields must be expressed by name (evt.rawarg.NAME)")
    return lambda view: rawarg_value(view.evt, k, _live(view))


@evt.field("evt.arg", T.CHARBUF, "one of the event arguments specified by name or by number "
           "(e.g. 'evt.arg.fd' or 'evt.arg[0]'), converted to text like in evt.args.",
           arg=ArgKind.NAME_SUFFIX, needs={"event", "state"}, binder=_bind_arg)
def evt_arg(view, key):
    return render_arg(view.evt, _arg_key(key), _ctx(view), _live(view))


# evt.rawarg.NAME compares as its parameter's type (libsinsp sets the field's type
# to the first table parameter of that name and parses literals by it). Types no
# libsinsp value parser takes (buffers, tuples, signal numbers...; sysdig: "wrong
# parameter type") give None: compared by the value's own kind, as before
_RAWARG_TYPES = {
    "PT_INT8": T.INT8, "PT_INT16": T.INT16, "PT_INT32": T.INT32, "PT_INT64": T.INT64,
    "PT_FD": T.FD, "PT_ERRNO": T.ERRNO, "PT_PID": T.PID,
    "PT_UINT8": T.UINT8, "PT_FLAGS8": T.UINT8, "PT_ENUMFLAGS8": T.UINT8, "PT_L4PROTO": T.UINT8,
    "PT_PORT": T.PORT, "PT_UINT16": T.UINT16, "PT_FLAGS16": T.UINT16, "PT_ENUMFLAGS16": T.UINT16,
    "PT_UINT32": T.UINT32, "PT_FLAGS32": T.FLAGS32, "PT_ENUMFLAGS32": T.FLAGS32,
    "PT_MODE": T.MODE, "PT_UID": T.UID, "PT_GID": T.GID, "PT_UINT64": T.UINT64,
    "PT_RELTIME": T.RELTIME, "PT_ABSTIME": T.ABSTIME, "PT_CHARBUF": T.CHARBUF,
    "PT_FSPATH": T.FSPATH, "PT_FSRELPATH": T.FSRELPATH,
}


def _rawarg_type(key):
    name = _arg_key(key)
    return _RAWARG_TYPES.get(RAWARG_PARAMS[name].type) if isinstance(name, str) else None


@evt.field("evt.rawarg", T.CHARBUF, "one of the event arguments specified by name, as a raw "
           "value (e.g. 'evt.rawarg.fd').", arg=ArgKind.NAME_SUFFIX,
           render=lambda v: rawarg_text(v), binder=_bind_rawarg, arg_type=_rawarg_type)
def evt_rawarg(view, name):
    return rawarg_value(view.evt, _arg_key(name), _live(view))


@evt.field("evt.info", T.CHARBUF, "for most events, this field returns the same value as evt.args.",
           needs={"event", "state"})
def evt_info(view):
    return render_args(view.evt, _ctx(view), _live(view))


def _data_index(e):
    return e.index("data")


@evt.field("evt.buffer", T.BYTEBUF, "the binary data buffer for events that have one, like read(), recvfrom(), etc.",
           render=lambda b: dots(b))
def evt_buffer(view):
    e = view.evt
    i = _data_index(e)
    return None if i is None else e.param_bytes(i)


def _buflen(view):
    e = view.evt
    info = _info(e)
    if view.fd is None or not info.category & 32:  # EC_IO_BASE
        return None
    i = e.index("res")
    res = e.value(i) if i is not None else None
    if res is None or res < 0 or e.type % 2 == 0:
        return None
    return res


@evt.field("evt.buflen", T.UINT64, "the length of the binary data buffer for events that have one.",
           needs={"event", "fd"})
def evt_buflen(view):
    return _buflen(view)


def _res(e):
    i = e.index("res")
    if i is None and e.type % 2 == 1 and _info(e).flags & EF["EF_CREATES_FD"]:
        i = e.index("fd")
    return None if i is None else e.value(i)


@evt.field("evt.res", T.CHARBUF, "event return value, as a string: 'SUCCESS' or an error code string (e.g. 'ENOENT').")
def evt_res(view):
    r = _res(view.evt)
    if r is None:
        return None
    if r >= 0:
        return "SUCCESS"
    return errno_name(r) or str(r)


@evt.field("evt.rawres", T.INT64, "event return value, as a number (e.g. -2).")
def evt_rawres(view):
    r = _res(view.evt)
    if r is None:
        return None
    return r - (1 << 64) if r >= 1 << 63 else r


def _bool(v) -> str:
    return "true" if v else "false"


@evt.field("evt.failed", T.BOOL, "'true' for events that returned an error status.", render=_bool)
def evt_failed(view):
    r = _res(view.evt)
    return r is not None and r - (1 << 64 if r >= 1 << 63 else 0) < 0


def rawarg_text(value) -> str:
    """%evt.rawarg.X text: numbers in decimal, strings and buffers up to their first NUL."""
    if isinstance(value, (bytes, bytearray)):
        return cstr(bytes(value)).decode("utf-8", "surrogateescape")
    return str(value)


__all__ = ["evt", "rawarg_text", "render_rawarg"]
