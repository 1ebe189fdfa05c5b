"""The driver's event table as frozen values, built once from ``_data``.

``EVENTS[code]`` is the CURRENT libs table (every code up to
PPM_EVENT_MAX, old versions included). ``SYSDIG_EVENTS[code]`` is what
sysdig 0.29.3 believes about the same code: identical except for the
entries listed in ``_data.SYSDIG_EVENTS`` (parameter types that became
ENUMFLAGS, renamed events and parameters, and codes sysdig did not know),
and it is the table text rendering follows.
"""
from __future__ import annotations

import attrs

from falcolib.decode import _data

ENTER = ">"
EXIT = "<"


@attrs.frozen
class ParamInfo:
    """One parameter: name, PT_ type, PF_ print format, and ``info``: the
    name of its flag/enum or dynamic-parameter table, or None.
    ``dirfd`` is, for a PT_FSRELPATH, the index of the parameter holding
    the directory fd it is relative to."""

    name: str
    type: str
    fmt: str
    info: str | None = None
    dirfd: int | None = None


@attrs.frozen
class EventInfo:
    """One event type: ``dir`` is ">" (enter) or "<" (exit); ``category`` and
    ``flags`` are the driver's EC_/EF_ bit sets."""

    name: str
    dir: str
    category: int
    flags: int
    params: tuple[ParamInfo, ...]
    code: int = 0
    enum: str = ""

    @property
    def nparams(self) -> int:
        return len(self.params)

    def index(self, name: str) -> int | None:
        for i, p in enumerate(self.params):
            if p.name == name:
                return i
        return None

    def has_flag(self, flag: str) -> bool:
        return bool(self.flags & EVENT_FLAGS[flag])


EVENT_CATEGORIES: dict[str, int] = dict(_data.EVENT_CATEGORIES)
EVENT_FLAGS: dict[str, int] = dict(_data.EVENT_FLAGS)
PPM_EVENT_MAX: int = _data.PPM_EVENT_MAX
SYSDIG_EVENT_MAX: int = _data.SYSDIG_EVENT_MAX
SYSCALL_NAMES: tuple[str, ...] = _data.SYSCALL_NAMES


_PARAMS: dict[tuple, ParamInfo] = {}   # one frozen value per distinct row (316 for 1345 uses)


def _param(p: tuple) -> ParamInfo:
    info = _PARAMS.get(p)
    if info is None:
        name, ptype, fmt, extra = p
        if isinstance(extra, int):
            info = ParamInfo(name, ptype, fmt, None, extra)
        else:
            info = ParamInfo(name, ptype, fmt, extra)
        _PARAMS[p] = info
    return info


def _event(code: int, row: tuple) -> EventInfo:
    name, enum, cat, flags, params = row
    direction = ENTER if code % 2 == 0 else EXIT  # the driver pairs codes: even enter, odd exit
    return EventInfo(name, direction, cat, flags, tuple(_param(p) for p in params), code, enum)


EVENTS: tuple[EventInfo, ...] = tuple(_event(c, r) for c, r in enumerate(_data.EVENTS))

EVENT_NPARAMS: list[int] = [len(e.params) for e in EVENTS]

SYSDIG_EVENTS: tuple[EventInfo, ...] = tuple(
    _event(c, _data.SYSDIG_EVENTS[c]) if c in _data.SYSDIG_EVENTS else EVENTS[c]
    for c in range(SYSDIG_EVENT_MAX))

_BY_NAME: dict[str, frozenset[int]] = {}
for _info in EVENTS:
    _BY_NAME[_info.name] = _BY_NAME.get(_info.name, frozenset()) | {_info.code}
for _info in SYSDIG_EVENTS:  # names sysdig used for codes since renamed (e.g. container)
    if _info.name not in _BY_NAME or _info.code not in _BY_NAME[_info.name]:
        _BY_NAME[_info.name] = _BY_NAME.get(_info.name, frozenset()) | {_info.code}
del _info


def types_named(name: str) -> frozenset[int]:
    """Every event type code called ``name`` (all versions, both directions)."""
    return _BY_NAME.get(name, frozenset())


def event_names() -> frozenset[str]:
    return frozenset(_BY_NAME)


def category_name(category: int) -> str:
    """sysdig's evt.category text for a category bit set."""
    return _CATEGORY_TEXT.get(category & ~_CATEGORY_KIND_MASK, "unknown")


# EC_SYSCALL/EC_TRACEPOINT/... are the high "kind" bits in the current table;
# the low bits are the category proper.
_CATEGORY_KIND_MASK = sum(v for k, v in EVENT_CATEGORIES.items()
                          if k in ("EC_SYSCALL", "EC_TRACEPOINT", "EC_PLUGIN", "EC_METAEVENT", "EC_ITER"))
_CATEGORY_TEXT = {
    EVENT_CATEGORIES[k]: v for k, v in {
        "EC_UNKNOWN": "unknown", "EC_OTHER": "other", "EC_FILE": "file", "EC_NET": "net",
        "EC_IPC": "IPC", "EC_MEMORY": "memory", "EC_PROCESS": "process", "EC_SLEEP": "sleep",
        "EC_SYSTEM": "system", "EC_SIGNAL": "signal", "EC_USER": "user", "EC_TIME": "time",
        "EC_PROCESSING": "processing", "EC_IO_READ": "I/O", "EC_IO_WRITE": "I/O",
        "EC_IO_OTHER": "I/O", "EC_WAIT": "wait", "EC_SCHEDULER": "scheduler",
        "EC_INTERNAL": "internal",
    }.items() if k in EVENT_CATEGORIES}
