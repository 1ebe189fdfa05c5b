"""Parameter text as current libs print it (sinsp_evt::get_param_as_str at libs HEAD):
what a live run shows, for users who compare it with today's Falco.

``render.render_args`` / ``render.param_text`` with ``current=True`` use this
module's renderers, one per parameter type, in place of sysdig 0.29's where
libs changed them:
- the current flag tables (EXE_UPPER_LAYER, EXE_FROM_MEMFD...) and flag
  algorithm; an enum shows every name of its value (AF_LOCAL|AF_UNIX);
- an empty parameter prints ``<NA>`` (``NULL`` for buffers, tuples and lists);
- an fd or a path resolves only for a known thread (a path with no thread
  "resolves" to itself, as libs' storage aliasing prints it);
- buffers are not cut to 80 characters (Falco sets no output length);
- paths and unix socket names are not sanitized (the output layer escapes);
- a user or group id is named only for a known thread;
- a date (PT_ABSTIME) prints as local time with nanoseconds;
- types libs' switch does not know print ``(n.a.)``.
"""
from __future__ import annotations

import struct
import time

from falcolib.decode import render as _r
from falcolib.decode.flags import FLAG_TABLES, PPM_AT_FDCWD, current_flags_text, errno_name
from falcolib.decode.table import EVENTS
from falcolib.decode.values import AF_INET, AF_INET6, AF_UNIX

# types whose empty payload libs reads as the string "<NA>" (legacy null encoding)
LEGACY_NULL = frozenset({"PT_CHARBUF", "PT_FSPATH", "PT_FSRELPATH"})
_EMPTY_NULL = frozenset({"PT_BYTEBUF", "PT_SOCKTUPLE", "PT_FDLIST", "PT_CHARBUFARRAY",
                         "PT_CHARBUF_PAIR_ARRAY", "PT_DYN"})
_NA = b"<NA>"


def empty_text(ptype: str) -> str:
    """The text of an empty (zero-length) parameter of a type not in LEGACY_NULL."""
    return "NULL" if ptype in _EMPTY_NULL else "<NA>"


def _string(data) -> bytes:
    """A C string parameter: up to its NUL; empty or "(NULL)" reads "<NA>"."""
    if not data or (len(data) == 7 and bytes(data) == b"(NULL)\0"):
        return _NA
    return _r.cstr(bytes(data))


def known_thread(ctx, tid: int) -> bool:
    """Whether the event's thread is known (libs' get_thread_info())."""
    if ctx is None:
        return False
    fn = getattr(ctx, "has_thread", None)
    if fn is not None:
        return bool(fn(tid))
    return ctx.thread_comm(tid) is not None


def _c_charbuf(evt, i, p, fmt, data, ctx):
    return _r._s(_string(data)), ""


def _c_path(evt, i, p, fmt, data, ctx):
    raw = _string(data)
    text = _r._s(raw)
    if not known_thread(ctx, evt.tid):
        return text, text
    resolve = getattr(ctx, "resolve_path", None)
    if raw == _NA or raw[:1] == b"/" or resolve is None:
        return text, ""
    return text, resolve(evt.tid, _r.base_dirfd(evt, p), raw) or ""


def _c_fd(evt, i, p, fmt, data, ctx):
    fd = int.from_bytes(data[:8], "little", signed=True)
    text = str(fd)
    if not known_thread(ctx, evt.tid):
        return text, ""
    if fd >= 0:
        return text, ctx.fd_label(evt.tid, fd) or ""
    if fd == PPM_AT_FDCWD:
        return text, "AT_FDCWD"
    return text, errno_name(fd)


def _c_bytebuf(evt, i, p, fmt, data, ctx):
    return _r.dots(data, 0), ""


# family -> (least length, text when shorter or, for unix, not NUL-terminated)
_ADDR_MIN = {AF_INET: (7, "INVALID IPv4"), AF_INET6: (19, "INVALID IPv6"),
             AF_UNIX: (2, "INVALID PATH")}
_TUPLE_MIN = {AF_INET: (13, "INVALID IPv4"), AF_INET6: (37, "INVALID IPv6"),
              AF_UNIX: (18, "INVALID PATH")}


def _invalid(data, least: dict) -> str | None:
    fam = data[0]
    rule = least.get(fam)
    if rule is None:
        return None
    if len(data) < rule[0] or (fam == AF_UNIX and data[-1] != 0):
        return rule[1]
    return None


def _unix_addr(data) -> str:
    return _r._s(_r.cstr(bytes(data[1:])))


def _unix_tuple(data) -> str:
    src, dst = struct.unpack_from("<QQ", data, 1)
    return "%x->%x %s" % (src, dst, _r._s(_r.cstr(bytes(data[17:]))))


def _address(evt, i, p, fmt, data, ctx, kind):
    """A PT_SOCKADDR or PT_SOCKTUPLE: ``kind`` is (least lengths, empty text, unix text,
    sysdig's renderer: its formatting, on exactly the address's bytes)."""
    least, empty, unix_text, sysdig_render = kind
    if not data:
        return empty, ""
    bad = _invalid(data, least)
    if bad is not None:
        return bad, ""
    fam = data[0]
    if fam == AF_UNIX:
        return unix_text(data), ""
    if fam in least:
        return sysdig_render(evt, i, p, fmt, data[:least[fam][0]], ctx)
    return "family %d" % fam, ""


_SOCKADDR = (_ADDR_MIN, "<NA>", _unix_addr, _r._r_sockaddr)
_SOCKTUPLE = (_TUPLE_MIN, "NULL", _unix_tuple, _r._r_socktuple)


def _c_sockaddr(evt, i, p, fmt, data, ctx):
    return _address(evt, i, p, fmt, data, ctx, _SOCKADDR)


def _c_socktuple(evt, i, p, fmt, data, ctx):
    return _address(evt, i, p, fmt, data, ctx, _SOCKTUPLE)


def _c_fdlist(evt, i, p, fmt, data, ctx):
    if not known_thread(ctx, evt.tid):
        return "", ""
    return _r.fdlist_text(evt, data, ctx), ""


def _c_flags(evt, i, p, fmt, data, ctx):
    v = int.from_bytes(data[:4], "little")
    exact = p.type.startswith("PT_ENUMFLAGS")
    return str(v), current_flags_text(FLAG_TABLES.get(p.info or ""), v, exact)


def _c_uid(evt, i, p, fmt, data, ctx):
    """A user id's name is looked up only for a known thread (else <NA>)."""
    return _r._r_uid(evt, i, p, fmt, data, ctx if known_thread(ctx, evt.tid) else None)


def _c_gid(evt, i, p, fmt, data, ctx):
    return _r._r_gid(evt, i, p, fmt, data, ctx if known_thread(ctx, evt.tid) else None)


def _c_abstime(evt, i, p, fmt, data, ctx):
    sec, ns = divmod(int.from_bytes(data[:8], "little"), 1_000_000_000)
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec)) + ".%09d" % ns, ""
    except (OverflowError, OSError, ValueError):
        return "", ""


RENDER: dict = {
    **_r._RENDER,
    "PT_FD": _c_fd, "PT_CHARBUF": _c_charbuf, "PT_FSPATH": _c_path, "PT_FSRELPATH": _c_path,
    "PT_BYTEBUF": _c_bytebuf, "PT_SOCKADDR": _c_sockaddr, "PT_SOCKTUPLE": _c_socktuple,
    "PT_FDLIST": _c_fdlist, "PT_ABSTIME": _c_abstime, "PT_UID": _c_uid, "PT_GID": _c_gid,
    **{t: _c_flags for t in ("PT_FLAGS8", "PT_FLAGS16", "PT_FLAGS32", "PT_ENUMFLAGS8",
                             "PT_ENUMFLAGS16", "PT_ENUMFLAGS32")},
    # not in libs' switch: "(n.a.)"
    **{t: _r._r_na for t in ("PT_IPV4ADDR", "PT_IPV6ADDR", "PT_PORT", "PT_L4PROTO",
                             "PT_FD32", "PT_PID32")},
}

PLANS: list[tuple] = [_r.plan(e.params, RENDER) for e in EVENTS]
