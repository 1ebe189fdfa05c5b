"""syslog.* fields: the message a successful write to /dev/log carries.

sysdig 0.29's syslog decoder runs on the exit of a write-family event
(EF_WRITES_TO_FD, result >= 0) whose fd name contains ``/dev/log``: the data
must start with ``<PRI>`` (one leading byte, then up to 15 characters before
``>``, all digits); severity is PRI & 7, facility PRI >> 3 and the message is
what follows the ``>``. The values belong to that event only (the decoder is
reset before the next one), so they are read from the event itself here.
"""
from __future__ import annotations

from falcolib.decode.table import EVENT_FLAGS, EVENTS, SYSDIG_EVENT_MAX, SYSDIG_EVENTS
from falcolib.fields.catalogue import FieldClass, FieldType as T

syslog = FieldClass("syslog", "Content of Syslog messages.")
_NEEDS = frozenset({"event", "fd"})
_WRITES = EVENT_FLAGS["EF_WRITES_TO_FD"]
_WRITE_EXITS = frozenset(
    code for code, info in enumerate(EVENTS)
    if code % 2 == 1 and (SYSDIG_EVENTS[code] if code < SYSDIG_EVENT_MAX else info).flags & _WRITES)
SEVERITIES = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
              "clock", "authpriv", "ftp", "ntp", "logaudit", "logalert", "cron",
              "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7")
_PRI_MAX = 15   # PRI_BUF_SIZE - 1


def parse_message(data: bytes) -> tuple[int, int, bytes] | None:
    """(severity, facility, message) of a syslog datagram, as sysdig's decoder reads it."""
    pri = bytearray()
    for b in data[1:1 + _PRI_MAX]:
        if b in (0x3E, 0):   # '>' or NUL
            break
        pri.append(b)
    if not pri or len(data) < len(pri) + 2 or not all(0x30 <= b <= 0x39 for b in pri):
        return None
    value = 0
    for b in pri:   # int32 arithmetic, as tryparsed32_fast
        value = (value * 10 + b - 0x30) & 0xFFFFFFFF
    if value >= 1 << 31:
        value -= 1 << 32
    if value == -1:   # the decoder's "no data" mark
        return None
    return value & 7, (value >> 3) & 0xFFFFFFFF, bytes(data[len(pri) + 2:])


def decoded(view) -> tuple[int, int, bytes] | None:
    e = view.evt
    if e.type not in _WRITE_EXITS or view.fd is None or "/dev/log" not in (view.fd.name or ""):
        return None
    res = e.res
    if res is None or res < 0:
        return None
    data = e.param_bytes(1)
    return None if data is None else parse_message(bytes(data))


@syslog.field("syslog.facility.str", T.CHARBUF, "facility as a string.", needs=_NEEDS)
def syslog_facility_str(view):
    d = decoded(view)
    return None if d is None else (FACILITIES[d[1]] if d[1] < len(FACILITIES) else "<NA>")


@syslog.field("syslog.facility", T.UINT32, "facility as a number (0-23).", needs=_NEEDS)
def syslog_facility(view):
    d = decoded(view)
    return None if d is None else d[1]


@syslog.field("syslog.severity.str", T.CHARBUF, "severity as a string. Can have one of these "
              "values: emerg, alert, crit, err, warn, notice, info, debug", needs=_NEEDS)
def syslog_severity_str(view):
    d = decoded(view)
    return None if d is None else SEVERITIES[d[0]]


@syslog.field("syslog.severity", T.UINT32, "severity as a number (0-7).", needs=_NEEDS)
def syslog_severity(view):
    d = decoded(view)
    return None if d is None else d[0]


@syslog.field("syslog.message", T.CHARBUF, "message sent to syslog.", needs=_NEEDS)
def syslog_message(view):
    d = decoded(view)
    return None if d is None else d[2].decode("utf-8", "surrogateescape")
