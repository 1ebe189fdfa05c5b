"""evt.* fields about time: numbering, timestamps, relative and delta times, latencies.

Part of the ``evt`` field class (declared in ``falcolib.fields.evt``); split out so each
module stays readable. Times print in local time as sysdig does (tests run with TZ=UTC).
"""
from __future__ import annotations

import math
import time

from falcolib.decode.table import EVENT_CATEGORIES as EC
from falcolib.fields.catalogue import FieldType as T
from falcolib.fields.evt import _NS, _ident, _info, evt

__all__ = ["human_time", "ts_text"]


# --- numbering and time -------------------------------------------------
@evt.field("evt.num", T.UINT64, "event number.")
def evt_num(view):
    return view.evt.num


def ts_text(ts: int, date: bool = False, ns: bool = True) -> str:
    """sinsp_utils::ts_to_string: local time HH:MM:SS[.nnnnnnnnn], optionally dated."""
    sec, nsec = divmod(ts, _NS)
    tm = time.localtime(sec)
    out = f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d} " if date else ""
    out += f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
    return out + f".{nsec:09d}" if ns else out


@evt.field("evt.time", T.CHARBUF, "event timestamp as a time string that includes the nanosecond part.")
def evt_time(view):
    return ts_text(view.evt.ts)


@evt.field("evt.time.s", T.CHARBUF, "event timestamp as a time string with no nanoseconds.")
def evt_time_s(view):
    return ts_text(view.evt.ts, ns=False)


@evt.field("evt.time.iso8601", T.CHARBUF, "event timestamp in ISO 8601 format, including "
           "nanoseconds and time zone offset (in UTC).")
def evt_time_iso8601(view):
    sec, nsec = divmod(view.evt.ts, _NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{nsec:09d}+0000"


@evt.field("evt.datetime", T.CHARBUF, "event timestamp as a time string that includes the date.")
def evt_datetime(view):
    return ts_text(view.evt.ts, date=True)


@evt.field("evt.datetime.s", T.CHARBUF, "event timestamp as a datetime string with no nanoseconds.")
def evt_datetime_s(view):
    return ts_text(view.evt.ts, date=True, ns=False)


@evt.field("evt.rawtime", T.ABSTIME, "absolute event timestamp, i.e. nanoseconds from epoch.")
def evt_rawtime(view):
    return view.evt.ts


@evt.field("evt.rawtime.s", T.ABSTIME, "integer part of the event timestamp (e.g. seconds since epoch).")
def evt_rawtime_s(view):
    return view.evt.ts // _NS


def _pad9(v) -> str:
    return f"{v:09d}"


@evt.field("evt.rawtime.ns", T.ABSTIME, "fractional part of the absolute event timestamp.",
           render=_pad9)
def evt_rawtime_ns(view):
    return view.evt.ts % _NS


_U64 = (1 << 64) - 1


def _reltime_binder(post):
    """evt.reltime*: time since the capture's first event, as an unsigned 64-bit
    difference. The state engine's ``first_ts`` (sysdig's m_firstevent_ts: the
    first event that is not container JSON) when there is a state, else the
    first event this use of the field has seen."""
    def binder(_arg):
        seen = [None]

        def extract(view):
            ts = view.evt.ts
            first = getattr(view.state, "first_ts", None) if view.state is not None else None
            if first is None:
                if seen[0] is None:
                    seen[0] = ts
                first = seen[0]
            return post((ts - first) & _U64)
        return extract
    return binder


@evt.field("evt.reltime", T.RELTIME, "number of nanoseconds from the beginning of the capture.",
           render=_pad9, needs={"event", "state"}, binder=_reltime_binder(_ident))
def evt_reltime(view):
    return None


@evt.field("evt.reltime.s", T.RELTIME, "number of seconds from the beginning of the capture.",
           needs={"event", "state"}, binder=_reltime_binder(lambda d: d // _NS))
def evt_reltime_s(view):
    return None


@evt.field("evt.reltime.ns", T.RELTIME, "fractional part (in ns) of the time from the beginning "
           "of the capture.", render=_pad9, needs={"event", "state"},
           binder=_reltime_binder(lambda d: d % _NS))
def evt_reltime_ns(view):
    return None


def _latency(view):
    """The thread's enter->exit latency; 0 without a thread, None for internal events."""
    if _info(view.evt).category & EC["EC_INTERNAL"]:
        return None
    t = view.thread
    return 0 if t is None else getattr(t, "latency", 0)


@evt.field("evt.latency", T.RELTIME, "delta between an exit event and the correspondent enter "
           "event, in nanoseconds.", needs={"event", "thread"})
def evt_latency(view):
    return _latency(view)


@evt.field("evt.latency.s", T.RELTIME, "integer part of the event latency delta.",
           needs={"event", "thread"})
def evt_latency_s(view):
    lat = _latency(view)
    return None if lat is None else lat // _NS


@evt.field("evt.latency.ns", T.RELTIME, "fractional part of the event latency delta.",
           render=_pad9, needs={"event", "thread"})
def evt_latency_ns(view):
    lat = _latency(view)
    return None if lat is None else lat % _NS


@evt.field("evt.latency.quantized", T.UINT64, "10-base log of the delta between an exit event "
           "and the correspondent enter event.", needs={"event", "thread"})
def evt_latency_quantized(view):
    lat = _latency(view) if view.thread is not None else None
    if not lat:
        return None
    return int(min(math.log10(lat), 11) * 40 / 11) + 1  # g_screen_w = 40 in sysdig


def human_time(ns: int) -> str:
    """sysdig's format_time for a RELTIME: 01:02:03, 2:05, 1.23s, 15ms, 2.50ms, 40us, 1.20us, 12ns."""
    ns &= 0xFFFFFFFFFFFFFFFF
    u = 0xFFFFFFFF  # printed through %u
    if ns >= 3600 * _NS:
        return "%02u:%02u:%02u" % ((ns // (3600 * _NS)) & u, (ns // (60 * _NS)) % 60, (ns // _NS) % 60)
    if ns >= 60 * _NS:
        return "%u:%u" % ((ns // (60 * _NS)) & u, (ns // _NS) % 60)
    if ns >= _NS:
        return "%u.%02us" % (ns // _NS, (ns % _NS) // 10_000_000)
    if ns >= _NS // 100:
        return "%ums" % (ns // 1_000_000)
    if ns >= _NS // 1000:
        return "%u.%02ums" % (ns // 1_000_000, (ns % 1_000_000) // 10_000)
    if ns >= _NS // 100_000:
        return "%uus" % (ns // 1000)
    if ns >= _NS // 1_000_000:
        return "%u.%02uus" % (ns // 1000, (ns % 1000) // 10)
    return "%uns" % ns


def _bind_latency_human(_arg):
    """Without a thread sysdig repeats this field's previous text (its string
    buffer is not reset): kept per use here too."""
    last = [""]

    def extract(view):
        if _info(view.evt).category & EC["EC_INTERNAL"]:
            return None
        if view.thread is not None:
            last[0] = human_time(getattr(view.thread, "latency", 0))
        return last[0]
    return extract


@evt.field("evt.latency.human", T.CHARBUF, "delta between an exit event and the correspondent "
           "enter event, as a human readable string (e.g. 10.3ms).", needs={"event", "thread"},
           binder=_bind_latency_human)
def evt_latency_human(view):
    lat = _latency(view)
    return None if lat is None else human_time(lat)


def _delta_binder(post):
    """Each use of evt.deltatime keeps its own previous timestamp, as sysdig
    keeps it per field instance: the delta to the previous event it saw."""
    def binder(_arg):
        prev = [0]

        def extract(view):
            ts = view.evt.ts
            p, prev[0] = prev[0], ts
            # an unsigned difference: an event older than the previous one (container
            # JSON events carry their own ts) gives sysdig a huge delta
            return post(0 if p == 0 else (ts - p) & _U64)
        return extract
    return binder


@evt.field("evt.deltatime", T.RELTIME, "delta between this event and the previous event, in nanoseconds.",
           binder=_delta_binder(_ident))
def evt_deltatime(view):
    return 0


@evt.field("evt.deltatime.s", T.RELTIME, "integer part of the delta between this event and the previous event.",
           binder=_delta_binder(lambda d: d // _NS))
def evt_deltatime_s(view):
    return 0


@evt.field("evt.deltatime.ns", T.RELTIME, "fractional part of the delta between this event and "
           "the previous event.", render=_pad9, binder=_delta_binder(lambda d: d % _NS))
def evt_deltatime_ns(view):
    return 0


@evt.field("evt.outputtime", T.CHARBUF, "this depends on -t param, default is %evt.time ('h').")
def evt_outputtime(view):
    return ts_text(view.evt.ts)
