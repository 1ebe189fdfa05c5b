"""Parameter text exactly as sysdig 0.29 prints it (%evt.args, %evt.arg.X), or with
``current=True`` as current libs do (a live run, compared with today's Falco).

Each parameter renders to ``(text, resolved)``: sysdig prints
``name=text`` in %evt.args, followed by ``(resolved)`` when resolved is
not empty, and %evt.arg.X prints ``resolved or text``. Names, formats and
flag tables are those of sysdig's own event table (``Event.sysdig_info``);
with ``current`` those of the current table, every parameter the event
carries, and the renderers of ``render_current`` where libs changed them.

``ctx`` (the state engine, or None) supplies what the event alone cannot:
  fd_label(tid, fd) -> str|None        "<f>/etc/passwd" after an fd number
  thread_comm(tid) -> str|None         "cat" after a pid
and optionally
  resolve_path(tid, dirfd, path) -> str|None   sysdig's joined path for a
        relative FSPATH (dirfd None) or FSRELPATH (dirfd: the event's dirfd)
  fd_typechar(tid, fd) -> str|None     the type letter in an fd list
  user_name(uid) / group_name(gid) -> str|None
  has_thread(tid) -> bool              whether sysdig would know the thread
With ctx None those suffixes are left out.
"""
from __future__ import annotations

import socket
import struct

from falcolib.decode.event import Event, dynamic_fmt, dynamic_type
from falcolib.decode.flags import (
    PPM_AT_FDCWD, SYSDIG_TABLES, enum_text, errno_name, flags_text, signal_name,
)
from falcolib.decode.table import SYSCALL_NAMES, SYSDIG_EVENTS, EVENTS, ParamInfo
from falcolib.decode.values import AF_INET, AF_INET6, AF_UNIX
from falcolib.decode._data import SYSDIG_NPARAMS

MAX_OUTPUT_LEN = 80  # sysdig -p without -v: set_max_evt_output_len(80)
_PRINTABLE = bytes(range(0x20, 0x7F))
_DOTS = bytes(b if b in _PRINTABLE else 0x2E for b in range(256))
_NONPRINT = bytes(b for b in range(256) if b not in _PRINTABLE)
_U64 = (1 << 64) - 1

_INT_BITS = {"PT_INT8": 8, "PT_INT16": 16, "PT_INT32": 32, "PT_INT64": 64,
             "PT_UINT8": 8, "PT_UINT16": 16, "PT_UINT32": 32, "PT_UINT64": 64}


def _s(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def cstr(data: bytes) -> bytes:
    nul = data.find(b"\0")
    return data if nul < 0 else data[:nul]


def sanitized(data: bytes) -> str:
    """sysdig's sanitize_string: non-printable bytes are dropped."""
    return cstr(data).translate(None, _NONPRINT).decode("ascii")


def dots(data: bytes, limit: int = MAX_OUTPUT_LEN) -> str:
    """A byte buffer: printable ASCII kept, other bytes as '.', cut to
    ``limit`` characters ending in '...' when longer."""
    if limit and len(data) > limit:
        return _s(bytes(data[:limit - 3]).translate(_DOTS)) + "..."
    return _s(bytes(data).translate(_DOTS))


def number(value: int, ptype: str, fmt: str) -> str:
    """printf of a driver integer the way sysdig's SET_NUMERIC_FORMAT does:
    %d reads 32- and 64-bit payloads as signed, %X and %#o as unsigned."""
    bits = _INT_BITS.get(ptype, 64)
    if fmt in ("PF_HEX", "PF_OCT"):
        width = 64 if bits == 64 else 32
        v = value & ((1 << width) - 1)
        if fmt == "PF_HEX":
            return "%X" % v
        return "0%o" % v if v else "0"
    if bits >= 32:
        mask = (1 << bits) - 1
        v = value & mask
        if v >> (bits - 1):
            v -= 1 << bits
    else:
        v = value
    if fmt == "PF_10_PADDED_DEC":
        return "%09d" % v
    return str(v)


def _param(evt: Event, i: int, current: bool = False) -> ParamInfo | None:
    t = evt.type
    if current or t >= len(SYSDIG_EVENTS):
        params = EVENTS[t].params
    else:
        params = SYSDIG_EVENTS[t].params
    return params[i] if i < len(params) else None


def _has_thread(ctx, tid: int) -> bool:
    if ctx is None:
        return False
    fn = getattr(ctx, "has_thread", None)
    return True if fn is None else bool(fn(tid))


def param_text(evt: Event, i: int, ctx=None, current: bool = False) -> tuple[str, str]:
    """(text, resolved) of parameter ``i`` as sysdig (or with ``current``, current libs)
    prints it."""
    p = _param(evt, i, current)
    data = evt.param_bytes(i)
    if p is None or data is None:
        return "", ""
    ptype = p.type
    fmt = p.fmt
    renderers = _RENDER
    if current:
        cur = _current()
        if not data and ptype not in cur.LEGACY_NULL:
            return cur.empty_text(ptype), ""
        renderers = cur.RENDER
    if ptype == "PT_DYN":
        dtype, payload = dynamic_type(p, data)
        if dtype is None:
            return "INVALID DYNAMIC PARAMETER", ""
        ptype, data = dtype, payload
    fn = renderers.get(ptype)
    if fn is None:
        return "(n.a.)", ""
    return fn(evt, i, p, fmt, data, ctx)


def _r_int(evt, i, p, fmt, data, ctx):
    bits = _INT_BITS[p.type if p.type in _INT_BITS else "PT_UINT64"]
    signed = p.type.startswith("PT_INT")
    ptype = p.type if p.type in _INT_BITS else ("PT_UINT64" if len(data) == 8 else "PT_UINT32")
    v = int.from_bytes(data[:bits // 8], "little", signed=signed)
    return number(v, ptype, fmt), ""


def _int64(data) -> int:
    return int.from_bytes(data[:8], "little", signed=True)


def _r_fd(evt, i, p, fmt, data, ctx):
    fd = _int64(data)
    text = str(fd)
    if fd >= 0:
        label = ctx.fd_label(evt.tid, fd) if ctx is not None else None
        return text, label or ""
    if fd == PPM_AT_FDCWD:
        return text, "AT_FDCWD"
    return text, errno_name(fd)


def _r_pid(evt, i, p, fmt, data, ctx):
    pid = _int64(data)
    comm = ctx.thread_comm(pid) if ctx is not None else None
    return str(pid), comm or ""


def _r_errno(evt, i, p, fmt, data, ctx):
    v = _int64(data)
    return str(v), errno_name(v) if v < 0 else ""


def _r_charbuf(evt, i, p, fmt, data, ctx):
    return _s(cstr(data)), ""


def _r_path(evt, i, p, fmt, data, ctx):
    text = sanitized(data)
    if not data or not _has_thread(ctx, evt.tid) or data.startswith(b"<NA>"):
        return text, ""
    resolve = getattr(ctx, "resolve_path", None)
    if resolve is None:
        return text, ""
    resolved = resolve(evt.tid, base_dirfd(evt, p), cstr(data))
    return text, resolved or ""


def base_dirfd(evt: Event, p: ParamInfo) -> int | None:
    """The directory fd a PT_FSRELPATH is relative to; None: the cwd."""
    if p.type != "PT_FSRELPATH" or p.dirfd is None:
        return None
    dirfd = evt.value(p.dirfd)
    return None if dirfd == PPM_AT_FDCWD else dirfd


def _r_bytebuf(evt, i, p, fmt, data, ctx):
    return dots(data), ""


def _port(data, at: int) -> int:
    return data[at] | data[at + 1] << 8


def _v4(data, at: int) -> str:
    return "%d.%d.%d.%d" % (data[at], data[at + 1], data[at + 2], data[at + 3])


def _v6(data, at: int) -> str:
    return socket.inet_ntop(socket.AF_INET6, bytes(data[at:at + 16]))


def _family(data) -> str:
    fam = data[0]
    return "family %d" % (fam - 256 if fam > 127 else fam)


def _r_sockaddr(evt, i, p, fmt, data, ctx):
    if not data:
        return "NULL", ""
    fam = data[0]
    if fam == AF_UNIX:
        return sanitized(data[1:]), ""
    if fam == AF_INET:
        if len(data) == 7:
            return "%s:%d" % (_v4(data, 1), _port(data, 5)), ""
        return "INVALID IPv4", ""
    if fam == AF_INET6:
        if len(data) == 19:
            return "%s:%d" % (_v6(data, 1), _port(data, 17)), ""
        return "INVALID IPv6", ""
    return _family(data), ""


def _mapped(data, at: int) -> bool:
    a = data[at:at + 16]
    return a[:10] == b"\0" * 10 and (a[10:12] == b"\xff\xff" or a[10:16] == b"\0" * 6)


def _r_socktuple(evt, i, p, fmt, data, ctx):
    if not data:
        return "NULL", ""
    fam = data[0]
    if fam == AF_INET:
        if len(data) == 13:
            return "%s:%d->%s:%d" % (_v4(data, 1), _port(data, 5), _v4(data, 7), _port(data, 11)), ""
        return "INVALID IPv4", ""
    if fam == AF_INET6:
        if len(data) == 37:
            if _mapped(data, 1) and _mapped(data, 19):
                return "%s:%d->%s:%d" % (_v4(data, 13), _port(data, 17), _v4(data, 31),
                                         _port(data, 35)), ""
            return "%s:%d->%s:%d" % (_v6(data, 1), _port(data, 17), _v6(data, 19),
                                     _port(data, 35)), ""
        return "INVALID IPv6", ""
    if fam == AF_UNIX and len(data) >= 17:
        sptr, dptr = struct.unpack_from("<QQ", data, 1)
        return "%x->%x %s" % (sptr, dptr, sanitized(data[17:])), ""
    return _family(data), ""


def _r_fdlist(evt, i, p, fmt, data, ctx):
    if not _has_thread(ctx, evt.tid):
        return "", ""
    return fdlist_text(evt, data, ctx), ""


def fdlist_text(evt, data, ctx) -> str:
    """``fd:<type letter><flags hex>`` for each fd of a poll-like list, space separated."""
    if len(data) < 2:
        return ""
    n = min(data[0] | data[1] << 8, (len(data) - 2) // 10)
    typechar = getattr(ctx, "fd_typechar", None) or _typechar_from_label(ctx)
    parts = []
    for j in range(n):
        fd, flags = struct.unpack_from("<qh", data, 2 + 10 * j)
        tch = typechar(evt.tid, fd) or "?"
        parts.append("%d:%s%x" % (fd & _U64, tch, flags & 0xFFFFFFFF))
    return " ".join(parts)


def _typechar_from_label(ctx):
    """fd type letter from ctx.fd_label ("<f>/etc/passwd" -> "f")."""
    def typechar(tid: int, fd: int) -> str | None:
        label = ctx.fd_label(tid, fd)
        return label[1] if label and len(label) > 1 and label[0] == "<" else None
    return typechar


def _r_syscallid(evt, i, p, fmt, data, ctx):
    sc = int.from_bytes(data[:2], "little")
    if sc >= len(SYSCALL_NAMES):
        return "<unknown syscall>", ""
    return str(sc), SYSCALL_NAMES[sc]


def _r_sigtype(evt, i, p, fmt, data, ctx):
    v = data[0] if data else 0
    return str(v), signal_name(v) or ""


def _r_reltime(evt, i, p, fmt, data, ctx):
    v = int.from_bytes(data[:8], "little")
    if v == _U64:
        return "none", ""
    return str(v), "%gs" % (v / 1e9)


def _r_flags(evt, i, p, fmt, data, ctx):
    v = int.from_bytes(data[:4], "little")
    table = SYSDIG_TABLES.get(p.info or "")
    if p.type.startswith("PT_ENUMFLAGS"):
        return str(v), enum_text(table, v)
    return str(v), flags_text(table, v)


def _r_mode(evt, i, p, fmt, data, ctx):
    v = int.from_bytes(data[:4], "little")
    return number(v, "PT_UINT32", fmt), flags_text(SYSDIG_TABLES.get(p.info or ""), v)


def _r_abstime(evt, i, p, fmt, data, ctx):
    return "INVALID DYNAMIC PARAMETER", ""  # sysdig 0.29 falls through to PT_DYN here


def _r_uid(evt, i, p, fmt, data, ctx, _kind="user_name"):
    v = int.from_bytes(data[:4], "little")
    if v == 0xFFFFFFFF:
        return "-1", "<NONE>"
    name = _account_name(ctx, _kind, v)
    return number(v, "PT_UINT32", "PF_DEC"), sanitized(name.encode()) if name else "<NA>"


def _account_name(ctx, kind: str, v: int) -> str | None:
    if ctx is None:
        return None
    fn = getattr(ctx, kind, None)
    if fn is not None:
        return fn(v)
    fn = getattr(ctx, "user" if kind == "user_name" else "group", None)  # State.user(uid) records
    rec = fn(v) if fn is not None else None
    return getattr(rec, "name", None) if rec is not None else None


def _r_gid(evt, i, p, fmt, data, ctx):
    return _r_uid(evt, i, p, fmt, data, ctx, "group_name")


def _r_charbufarray(evt, i, p, fmt, data, ctx):
    return ".".join(evt.value(i) or ()), ""


def _r_pairs(evt, i, p, fmt, data, ctx):
    return ",".join(f"{k}:{v}" for k, v in evt.value(i) or ()), ""


def _r_sigset(evt, i, p, fmt, data, ctx):
    v = int.from_bytes(data[:4], "little")
    names = [signal_name(s + 1) for s in range(32) if v & (1 << s)]
    return " ".join(n for n in names if n), ""


# types sysdig 0.29 does not render print "(n.a.)"; these come only from
# events newer than sysdig, and get a readable rendering
def _r_ipv4(evt, i, p, fmt, data, ctx):
    return (_v4(data, 0) if len(data) >= 4 else ""), ""


def _r_ipv6(evt, i, p, fmt, data, ctx):
    return (_v6(data, 0) if len(data) >= 16 else ""), ""


def _r_small(evt, i, p, fmt, data, ctx):
    return str(int.from_bytes(data, "little")), ""


def _r_int32fd(evt, i, p, fmt, data, ctx):
    return str(int.from_bytes(data[:4], "little", signed=True)), ""


_RENDER = {
    **{t: _r_int for t in _INT_BITS},
    "PT_FD": _r_fd, "PT_PID": _r_pid, "PT_ERRNO": _r_errno,
    "PT_CHARBUF": _r_charbuf, "PT_FSPATH": _r_path, "PT_FSRELPATH": _r_path,
    "PT_BYTEBUF": _r_bytebuf, "PT_SOCKADDR": _r_sockaddr, "PT_SOCKTUPLE": _r_socktuple,
    "PT_FDLIST": _r_fdlist, "PT_SYSCALLID": _r_syscallid, "PT_SIGTYPE": _r_sigtype,
    "PT_RELTIME": _r_reltime, "PT_FLAGS8": _r_flags, "PT_FLAGS16": _r_flags,
    "PT_FLAGS32": _r_flags, "PT_ENUMFLAGS8": _r_flags, "PT_ENUMFLAGS16": _r_flags,
    "PT_ENUMFLAGS32": _r_flags, "PT_MODE": _r_mode, "PT_ABSTIME": _r_abstime,
    "PT_UID": _r_uid, "PT_GID": _r_gid, "PT_CHARBUFARRAY": _r_charbufarray,
    "PT_CHARBUF_PAIR_ARRAY": _r_pairs, "PT_SIGSET": _r_sigset,
    "PT_IPV4ADDR": _r_ipv4, "PT_IPV6ADDR": _r_ipv6, "PT_PORT": _r_small,
    "PT_L4PROTO": _r_small, "PT_FD32": _r_int32fd, "PT_PID32": _r_int32fd,
}


def _nrender(evt: Event) -> int:
    """sysdig renders at most the parameters its own table knows."""
    t = evt.type
    table_n = SYSDIG_NPARAMS[t] if t < len(SYSDIG_NPARAMS) else len(EVENTS[t].params)
    return min(evt.nparams, table_n)


def plan(params: tuple[ParamInfo, ...], renderers: dict) -> tuple:
    """For one event type: (``name=`` prefix, renderer or None for PT_DYN, ParamInfo) per param."""
    return tuple((p.name + "=", None if p.type == "PT_DYN" else renderers.get(p.type, _r_na), p)
                 for p in params)


def _r_na(evt, i, p, fmt, data, ctx):
    return "(n.a.)", ""


_PLANS: list[tuple] = [
    plan(SYSDIG_EVENTS[t].params if t < len(SYSDIG_EVENTS) else EVENTS[t].params, _RENDER)
    for t in range(len(EVENTS))]
_CURRENT = None   # the render_current module, imported on a live run's first event


def _current():
    global _CURRENT
    if _CURRENT is None:
        from falcolib.decode import render_current
        _CURRENT = render_current
    return _CURRENT


def render_args(evt: Event, ctx=None, current: bool = False) -> str:
    """What %evt.args prints: ``name=text[(resolved)] `` for each parameter;
    sysdig 0.29 keeps the trailing space and prints nothing for generic
    events. With ``current``, as current libs: every parameter the event
    carries, named by the current table, no trailing space, and nothing for
    generic exits only."""
    t = evt.type
    if current:
        if t == 1:
            return ""
        cur = _current()
        plan_t = cur.PLANS[t]
        n = min(evt.nparams, len(plan_t))
    else:
        if t < 2:
            return ""
        cur = None
        plan_t = _PLANS[t]
        n = min(evt.nparams, SYSDIG_NPARAMS[t] if t < len(SYSDIG_NPARAMS) else len(plan_t))
    spans = evt._spans if evt._spans is not None else evt._load()
    buf = evt.raw.buf
    out = []
    for i in range(min(n, len(spans))):
        prefix, fn, p = plan_t[i]
        pos, ln = spans[i]
        if fn is None or (cur is not None and not ln):
            text, resolved = param_text(evt, i, ctx, current)
        else:
            text, resolved = fn(evt, i, p, p.fmt, buf[pos:pos + ln], ctx)
        if resolved:
            out.append(f"{prefix}{text}({resolved}) ")
        else:
            out.append(f"{prefix}{text} ")
    text = "".join(out)
    return text[:-1] if cur is not None and text else text
