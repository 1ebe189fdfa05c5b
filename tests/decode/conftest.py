"""Helpers for decode tests: build raw events in memory, replay captures."""
from __future__ import annotations

import struct

import pytest

from falcolib.backend.model import make_raw
from falcolib.decode.table import EVENTS


def build_raw(etype: int, params: list[bytes], *, tid: int = 42, ts: int = 1_000_000_000,
              num: int = 1):
    """A RawEvent of type ``etype`` carrying ``params`` (already encoded)."""
    large = bool(EVENTS[etype].flags & 2048)
    lens = struct.pack(("<%dI" if large else "<%dH") % len(params), *map(len, params))
    body = lens + b"".join(params)
    size = 26 + len(body)
    hdr = struct.pack("<QQIHI", ts, tid, size, etype, len(params))
    buf = hdr + body
    return make_raw(ts, tid, etype, len(params), 0, buf, 0, size, 26, 0, num)


@pytest.fixture
def raw_event():
    return build_raw
