"""Parameters read straight from an event's bytes, for the state engine's hot path.

Decoding through ``Event.value`` builds the parameter table; the few values
the state needs on nearly every event (the fd of an fd-using enter event,
the result of a read/write) are read here with one struct call instead.
"""
from __future__ import annotations

import struct

_I64 = struct.Struct("<q")
_U16 = struct.Struct("<H")


def first_i64(evt) -> int:
    """The first parameter as a signed 64-bit int (-1 when absent)."""
    raw = evt.raw
    n = raw.nparams
    if n > 0:
        lens = raw.off + raw.hdr
        if _U16.unpack_from(raw.buf, lens)[0] == 8:
            return _I64.unpack_from(raw.buf, lens + 2 * n)[0]
    v = evt.value(0)
    return -1 if v is None else v
