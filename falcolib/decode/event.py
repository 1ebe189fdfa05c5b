"""Event: a RawEvent with lazy, cached access to its decoded parameters.

Construction copies five header fields and nothing else; the parameter
length array is read on the first parameter access (one struct unpack),
and each parameter is decoded on first use (one slice plus its type's
decoder) and cached.
"""
from __future__ import annotations

import struct

from falcolib.backend.model import RawEvent
from falcolib.decode import values
from falcolib.decode.table import (
    EVENTS, SYSCALL_NAMES, SYSDIG_EVENT_MAX, SYSDIG_EVENTS, EventInfo, ParamInfo,
)
from falcolib.decode._data import DYNAMIC_PARAMS

_LARGE = frozenset(e.code for e in EVENTS if e.flags & 2048)  # EF_LARGE_PAYLOAD: u32 lengths
_GENERIC = (0, 1)
_LEN_STRUCTS: dict[tuple[int, bool], struct.Struct] = {}
_DECODERS = values.DECODERS
_NOT_LOADED = object()
# (type, parameter name) -> position in the tables (None: no such parameter); bounded
_INDEX: dict[tuple[int, str], int | None] = {}
_INDEX_MAX = 1 << 16
_U16 = struct.Struct("<H")


def _c_spans():
    from falcolib.speedups import speedups
    mod = speedups()
    return None if mod is None else mod.spans


# the parameter spans computed in C where falcolib._speedups is built (same result)
_C_SPANS = _c_spans()

# first return-value parameter sysdig treats as the result (res, else fd on
# exit events that create an fd), per type; -1 when none
_RES_INDEX: list[int] = []
for _e in EVENTS:
    _i = _e.index("res")
    if _i is None and _e.dir == "<" and _e.flags & 1:  # EF_CREATES_FD
        _i = _e.index("fd")
    _RES_INDEX.append(-1 if _i is None else _i)
del _e, _i


_INT_LAYOUT = {
    "PT_INT8": ("<b", True), "PT_INT16": ("<h", True), "PT_INT32": ("<i", True),
    "PT_INT64": ("<q", True), "PT_UINT8": ("<B", False), "PT_UINT16": ("<H", False),
    "PT_UINT32": ("<I", False), "PT_UINT64": ("<Q", False), "PT_ERRNO": ("<q", True),
    "PT_FD": ("<q", True), "PT_PID": ("<q", True), "PT_FLAGS8": ("<B", False),
    "PT_FLAGS16": ("<H", False), "PT_FLAGS32": ("<I", False), "PT_UID": ("<I", False),
    "PT_GID": ("<I", False), "PT_MODE": ("<I", False), "PT_RELTIME": ("<Q", False),
    "PT_ABSTIME": ("<Q", False), "PT_SIGTYPE": ("<B", False), "PT_SYSCALLID": ("<H", False),
    "PT_ENUMFLAGS8": ("<B", False), "PT_ENUMFLAGS16": ("<H", False),
    "PT_ENUMFLAGS32": ("<I", False), "PT_FD32": ("<i", True), "PT_PID32": ("<i", True),
    "PT_SIGSET": ("<I", False), "PT_PORT": ("<H", False),
}


def _span_decoder(ptype: str):
    """decoder(buf, pos, length): integers unpack in place, others get a slice."""
    layout = _INT_LAYOUT.get(ptype)
    if layout is None:
        dec = values.DECODERS[ptype]
        return lambda buf, pos, ln: dec(buf[pos:pos + ln])
    st = struct.Struct(layout[0])
    size, signed, unpack_from = st.size, layout[1], st.unpack_from

    def dec_int(buf, pos, ln):
        if ln == size:
            return unpack_from(buf, pos)[0]
        return int.from_bytes(buf[pos:pos + min(ln, size)], "little", signed=signed)
    return dec_int


_SPAN_DECODERS = {t: _span_decoder(t) for t in values.DECODERS}
# per type: the decoder of each parameter (None: PT_DYN, resolved per value)
_TYPE_DECODERS: list[tuple] = [
    tuple(None if p.type == "PT_DYN" else _SPAN_DECODERS[p.type] for p in e.params)
    for e in EVENTS]


def _lengths_struct(n: int, large: bool) -> struct.Struct:
    key = (n, large)
    s = _LEN_STRUCTS.get(key)
    if s is None:
        s = _LEN_STRUCTS[key] = struct.Struct(("<%dI" if large else "<%dH") % n)
    return s


class Event:
    """One event, decoded on demand.

    ``type ts tid cpu num nparams`` come from the header (``tid`` signed, as
    sysdig's int64: -1 for events with no thread); ``info`` is the
    current table's EventInfo. ``value(i_or_name)`` is the decoded
    parameter (None when absent), ``param_bytes(i)`` its raw payload.
    """

    __slots__ = ("raw", "type", "ts", "tid", "cpu", "num", "nparams", "_spans", "_vals")

    def __init__(self, raw: RawEvent):
        self.raw = raw
        self.type = raw.type
        self.ts = raw.ts
        tid = raw.tid
        self.tid = tid if tid < 0x8000000000000000 else tid - 0x10000000000000000  # int64 as sysdig
        self.cpu = raw.cpu
        self.num = raw.num
        self.nparams = raw.nparams
        self._spans = None
        self._vals = None

    # --- table facts -------------------------------------------------
    @property
    def info(self) -> EventInfo:
        return EVENTS[self.type]

    @property
    def sysdig_info(self) -> EventInfo:
        """The entry sysdig 0.29 uses for this type (names/formats it prints)."""
        t = self.type
        return SYSDIG_EVENTS[t] if t < SYSDIG_EVENT_MAX else EVENTS[t]

    @property
    def name(self) -> str:
        """evt.type: the syscall's name for generic events."""
        if self.type in _GENERIC:
            raw = self.raw
            if self._vals is None and raw.nparams and raw.hdr == 26:
                # the common case, read in place: a 2-byte syscall id as first parameter
                base = raw.off + 26
                buf = raw.buf
                n = raw.nparams
                if base + 2 * n + 2 <= raw.off + raw.size and _U16.unpack_from(buf, base)[0] == 2:
                    sc = _U16.unpack_from(buf, base + 2 * n)[0]
                    if sc < len(SYSCALL_NAMES):
                        return SYSCALL_NAMES[sc]
                    return EVENTS[self.type].name
            sc = self.value(0)
            if sc is not None and 0 <= sc < len(SYSCALL_NAMES):
                return SYSCALL_NAMES[sc]
        return EVENTS[self.type].name

    @property
    def dir(self) -> str:
        return ">" if self.type % 2 == 0 else "<"

    @property
    def is_enter(self) -> bool:
        return self.type % 2 == 0

    # --- parameters --------------------------------------------------
    def _load(self) -> list[tuple[int, int]]:
        raw = self.raw
        n = raw.nparams
        large = raw.type in _LARGE
        base = raw.off + raw.hdr
        end = raw.off + raw.size
        if _C_SPANS is not None:
            spans = _C_SPANS(raw.buf, base, end, n, large)
            self._spans = spans
            self._vals = [_NOT_LOADED] * len(spans)
            return spans
        st = _LEN_STRUCTS.get((n, large)) or _lengths_struct(n, large)
        spans = []
        if n and base + st.size <= end:
            pos = base + st.size
            append = spans.append
            for ln in st.unpack_from(raw.buf, base):
                nxt = pos + ln
                if nxt > end:  # truncated event: keep what fits
                    append((pos, max(0, end - pos)))
                    pos = end
                    continue
                append((pos, ln))
                pos = nxt
        self._spans = spans
        self._vals = [_NOT_LOADED] * len(spans)
        return spans

    def index(self, name: str) -> int | None:
        """Position of the parameter called ``name`` (current table, then sysdig's)."""
        key = (self.type, name)
        i = _INDEX.get(key, _NOT_LOADED)
        if i is _NOT_LOADED:
            i = EVENTS[self.type].index(name)
            if i is None and self.type < SYSDIG_EVENT_MAX:
                i = SYSDIG_EVENTS[self.type].index(name)
            if len(_INDEX) >= _INDEX_MAX:
                _INDEX.clear()
            _INDEX[key] = i
        if i is not None and i < self.nparams:
            return i
        return None

    def param_bytes(self, i: int) -> bytes | None:
        spans = self._spans if self._spans is not None else self._load()
        if not 0 <= i < len(spans):
            return None
        pos, ln = spans[i]
        return bytes(self.raw.buf[pos:pos + ln])

    def param_info(self, i: int) -> ParamInfo | None:
        params = EVENTS[self.type].params
        return params[i] if 0 <= i < len(params) else None

    def value(self, key: int | str):
        """The decoded parameter ``key`` (index or name); None when absent."""
        if type(key) is not int:
            key = self.index(key)
            if key is None:
                return None
        vals = self._vals
        if vals is None:
            self._load()
            vals = self._vals
        if not 0 <= key < len(vals):
            return None
        v = vals[key]
        if v is _NOT_LOADED:
            decs = _TYPE_DECODERS[self.type]
            dec = decs[key] if key < len(decs) else None
            if dec is not None:
                pos, ln = self._spans[key]
                v = vals[key] = dec(self.raw.buf, pos, ln)
            else:
                v = vals[key] = self._decode(key)
        return v

    def _decode(self, i: int):
        params = EVENTS[self.type].params
        if i >= len(params):
            return self.param_bytes(i)
        p = params[i]
        pos, ln = self._spans[i]
        data = self.raw.buf[pos:pos + ln]
        ptype = p.type
        if ptype == "PT_DYN":
            ptype, data = dynamic_type(p, data)
            if ptype is None:
                return bytes(data)
        return _DECODERS[ptype](data)

    def values(self) -> tuple:
        """Every parameter, decoded (one pass; fills the per-value cache)."""
        spans = self._spans if self._spans is not None else self._load()
        vals = self._vals
        decs = _TYPE_DECODERS[self.type]
        buf = self.raw.buf
        ndec = len(decs)
        for i, (pos, ln) in enumerate(spans):
            if vals[i] is _NOT_LOADED:
                dec = decs[i] if i < ndec else None
                vals[i] = dec(buf, pos, ln) if dec is not None else self._decode(i)
        return tuple(vals)

    @property
    def res(self):
        """The return value (``res``, or ``fd`` of fd-creating exits), else None."""
        i = _RES_INDEX[self.type]
        return self.value(i) if i >= 0 else None

    def __repr__(self) -> str:
        return f"<Event #{self.num} {self.name} {self.dir} tid={self.tid} ts={self.ts}>"


def dynamic_type(p: ParamInfo, data) -> tuple[str | None, bytes]:
    """(PT_ type, payload) of a PT_DYN parameter: its first byte selects the
    variant in the parameter's dynamic table."""
    table = DYNAMIC_PARAMS.get(p.info or "")
    if not data or table is None:
        return None, data
    idx = data[0]
    if idx >= len(table) or table[idx] is None:
        return None, data
    return table[idx][0], data[1:]


def dynamic_fmt(p: ParamInfo, data) -> str | None:
    table = DYNAMIC_PARAMS.get(p.info or "")
    if not data or table is None or data[0] >= len(table) or table[data[0]] is None:
        return None
    return table[data[0]][1]
