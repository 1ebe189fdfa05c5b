"""One event argument by name or number: ``%evt.arg.NAME`` / ``%evt.arg[N]`` as sysdig
prints it (``render_arg``) and ``evt.rawarg.NAME``'s raw value (``rawarg_value``,
``render_rawarg``), the parameter found by name in sysdig 0.29's table, then the current one;
with ``current=True`` (a live run) as current libs: by name in the current table only, among
the parameters the event carries. The whole-event rendering they build on is ``render.py``.
"""
from __future__ import annotations

from falcolib.decode.event import Event
from falcolib.decode.flags import FLAG_TABLES, SYSDIG_TABLES, current_flags_text, flags_text
from falcolib.decode.render import _INT_BITS, _s, cstr, param_text
from falcolib.decode.table import EVENTS, SYSDIG_EVENTS, ParamInfo


def _param_index(t: int, key: str, current: bool = False) -> int | None:
    """The index of the parameter called ``key`` in type ``t``: sysdig 0.29's table first
    (``current``: the current table only)."""
    if current:
        return EVENTS[t].index(key)
    info = SYSDIG_EVENTS[t] if t < len(SYSDIG_EVENTS) else EVENTS[t]
    i = info.index(key)
    return EVENTS[t].index(key) if i is None else i


def arg_index(evt: Event, key: int | str, current: bool = False) -> int | None:
    """The index of parameter ``key`` (a number or a name) if the event carries it, else
    None; ``current``: only parameters the current table names."""
    n = min(evt.nparams, EVENTS[evt.type].nparams) if current else evt.nparams
    if isinstance(key, int):
        return key if 0 <= key < n else None
    i = _param_index(evt.type, key, current)
    return i if i is not None and i < n else None


# (type, key) -> (the parameter's index by _param_index's rules, None: no such parameter;
# the flag table when it is a plain PT_FLAGS* parameter, rendered here directly);
# one map for sysdig's rendering, one for current libs'
_ARG_SLOTS: dict[tuple[int, int | str], tuple] = {}
_CURRENT_SLOTS: dict[tuple[int, int | str], tuple] = {}
_ARG_SLOTS_MAX = 8192
_PLAIN_FLAGS = frozenset({"PT_FLAGS8", "PT_FLAGS16", "PT_FLAGS32"})


def _arg_slot(t: int, key: str, current: bool) -> tuple:
    i = _param_index(t, key, current)
    table = None
    if i is not None:
        params = EVENTS[t].params if current or t >= len(SYSDIG_EVENTS) else SYSDIG_EVENTS[t].params
        p = params[i] if i < len(params) else None
        if p is not None and p.type in _PLAIN_FLAGS:
            table = (FLAG_TABLES if current else SYSDIG_TABLES).get(p.info or "") or ()
    return i, table


def render_arg(evt: Event, key: int | str, ctx=None, current: bool = False) -> str | None:
    """What %evt.arg.NAME / %evt.arg[N] prints: the resolved text when there
    is one, else the text; None (<NA>) when the event has no such parameter.
    ``current``: as current libs print it (a live run)."""
    if isinstance(key, int):
        i = arg_index(evt, key, current)
    else:
        slots = _CURRENT_SLOTS if current else _ARG_SLOTS
        slot = slots.get((evt.type, key))
        if slot is None:
            if len(slots) >= _ARG_SLOTS_MAX:
                slots.clear()
            slot = slots[(evt.type, key)] = _arg_slot(evt.type, key, current)
        i, table = slot
        if i is not None and i >= evt.nparams:
            i = None
        elif table is not None:   # _r_flags's answer, without the general path
            data = evt.param_bytes(i)
            if data is None:
                return ""
            if not current:
                v = int.from_bytes(data[:4], "little")
                return flags_text(table, v) or str(v)
            if data:   # an empty one: <NA>, by the general path
                v = int.from_bytes(data[:4], "little")
                return current_flags_text(table, v) or str(v)
    if i is None:
        return None
    text, resolved = param_text(evt, i, ctx, current)
    return resolved or text


# --- evt.rawarg -------------------------------------------------------
def _first_param_types() -> dict[str, ParamInfo]:
    first: dict[str, ParamInfo] = {}
    for info in SYSDIG_EVENTS:
        for p in info.params:
            first.setdefault(p.name, p)
    for info in EVENTS:
        for p in info.params:
            first.setdefault(p.name, p)
    return first


RAWARG_PARAMS: dict[str, ParamInfo] = _first_param_types()


def longest_param_name(suffix: str) -> str | None:
    """sysdig's find_longest_matching_evt_param: the longest known parameter
    name that ``suffix`` starts with."""
    best = None
    for name in RAWARG_PARAMS:
        if suffix.startswith(name) and (best is None or len(name) > len(best)):
            best = name
    return best


_RAW_SIGNED64 = ("PT_INT64", "PT_PID", "PT_ERRNO")
_RAW_STR = ("PT_CHARBUF", "PT_FSPATH", "PT_FSRELPATH")


def rawarg_value(evt: Event, name: str, current: bool = False):
    """The raw value of parameter ``name``, typed as sysdig types evt.rawarg.NAME
    (by the first table parameter of that name): int, str or bytes. ``current``:
    as current libs, the event's own parameter of that name (current table),
    typed by itself, an empty string reading "<NA>"."""
    i = arg_index(evt, name, current)
    if i is None:
        return None
    data = evt.param_bytes(i)
    p = EVENTS[evt.type].params[i] if current else RAWARG_PARAMS.get(name)
    ptype = p.type if p is not None else "PT_BYTEBUF"
    if ptype in _RAW_STR:
        if current and not data:
            return "<NA>"
        return _s(cstr(data))
    if ptype == "PT_BYTEBUF":
        return bytes(data)
    if ptype in _INT_BITS or ptype in _RAW_SIGNED64 or ptype in ("PT_FD", "PT_UID", "PT_GID") \
            or ptype.startswith(("PT_FLAGS", "PT_ENUMFLAGS", "PT_MODE")):
        signed = ptype.startswith("PT_INT") or ptype in _RAW_SIGNED64 or ptype == "PT_FD"
        return int.from_bytes(data[:8], "little", signed=signed)
    return evt.value(i)


def render_rawarg(evt: Event, name: str, current: bool = False) -> str | int | None:
    """What %evt.rawarg.NAME prints: the decimal number or the C string
    (a byte buffer up to its first NUL)."""
    v = rawarg_value(evt, name, current)
    if isinstance(v, bytes):
        return _s(cstr(v))
    return v
