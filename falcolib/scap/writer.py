"""Write scap files that sysdig reads: section header, state, event blocks.

``ScapWriter(path, snapshot)`` writes the section header and the state
blocks of ``snapshot`` at once, then one EV V2 block per ``write(raw)``
(EVF V2 when the event has dump flags). Each event's header is rebuilt
from the RawEvent's fields, so a 22-byte-header event of a 2016 capture
comes out in the 26-byte layout with its parameter count, and an event
whose ``ts`` or ``tid`` was replaced (``raw._replace(ts=...)``) is written
with the new value. Output is buffered; ``compress=True`` writes gzip.
"""
from __future__ import annotations

import gzip
import os
import struct
from typing import Callable, Iterable

from falcolib.backend.model import RawEvent, StateSnapshot
from falcolib.errors import FalcolibError, Position
from falcolib.scap import encode
from falcolib.scap import format as F

_EV = struct.Struct("<IIHQQIHI")      # block type, length, cpu, 26-byte event header
_EVF = struct.Struct("<IIHIQQIHI")    # ... with the flags word after the cpu
_u32 = struct.Struct("<I").pack
_PAD_BYTES = (b"", b"\0", b"\0\0", b"\0\0\0")
FLUSH_AT = 1 << 20
MAX_SMALL_BLOCK = 8 + (1 << 16)      # sysdig rejects larger non-"large" event blocks


def _large_payload_types() -> frozenset[int]:
    """Types whose parameter lengths are u32 (EF_LARGE_PAYLOAD): libscap
    writes them in the *_LARGE event blocks."""
    from falcolib.decode.table import EVENT_FLAGS, EVENTS
    bit = EVENT_FLAGS["EF_LARGE_PAYLOAD"]
    return frozenset(e.code for e in EVENTS if e.flags & bit)


class CaptureWriteError(FalcolibError, OSError):
    """A capture file cannot be written."""


class ScapWriter:
    """Write a scap capture. Use as a context manager or call ``close()``."""

    def __init__(self, path: str | os.PathLike, snapshot: StateSnapshot | None = None, *,
                 compress: bool = False, compresslevel: int = 6):
        self.path = os.fspath(path)
        try:
            if compress:
                self._fh = gzip.open(self.path, "wb", compresslevel=compresslevel)
            else:
                self._fh = open(self.path, "wb")
        except OSError as exc:
            raise CaptureWriteError(f"cannot create capture: {exc.strerror}",
                                    position=Position(file=self.path)) from None
        self._out = bytearray()
        self._large = _large_payload_types()
        self.events_written = 0
        self._out += encode.section_header()
        self.write_state(snapshot or StateSnapshot())

    def write_state(self, snap: StateSnapshot) -> None:
        """The state blocks; sysdig expects them before the first event."""
        out = self._out
        out += encode.machine_info(snap.machine)
        if snap.interfaces:
            out += encode.iflist(snap.interfaces)
        if snap.users or snap.groups:
            out += encode.userlist(snap.users, snap.groups)
        if snap.processes:
            out += encode.proclist(snap.processes)
            for p in snap.processes:
                if p.fds:
                    out += encode.fdlist(p.tid, p.fds)
        self._maybe_flush()

    def write(self, raw: RawEvent) -> None:
        """Append one event (header rebuilt from ``raw``'s fields)."""
        hdr = raw.hdr
        start = raw.off + hdr
        rest = raw.buf[start:raw.off + raw.size]
        elen = 26 + len(rest)
        flags = raw.flags
        fixed = 10 if not flags else 14
        total = fixed + elen
        pad = -total % 4
        total += pad + 4
        large = total > MAX_SMALL_BLOCK or raw.type in self._large
        if flags:
            btype = F.EVF_BLOCK_TYPE_V2_LARGE if large else F.EVF_BLOCK_TYPE_V2
            head = _EVF.pack(btype, total, raw.cpu, flags, raw.ts, raw.tid, elen, raw.type,
                             raw.nparams)
        else:
            btype = F.EV_BLOCK_TYPE_V2_LARGE if large else F.EV_BLOCK_TYPE_V2
            head = _EV.pack(btype, total, raw.cpu, raw.ts, raw.tid, elen, raw.type, raw.nparams)
        out = self._out
        out += head
        out += rest
        if pad:
            out += _PAD_BYTES[pad]
        out += _u32(total)
        self.events_written += 1
        if len(out) >= FLUSH_AT:
            self._flush()

    def write_all(self, events: Iterable[RawEvent],
                  predicate: Callable[[RawEvent], bool] | None = None) -> int:
        """Write every event (for which ``predicate`` holds); return the count."""
        n = 0
        write = self.write
        for raw in events:
            if predicate is None or predicate(raw):
                write(raw)
                n += 1
        return n

    def _maybe_flush(self) -> None:
        if len(self._out) >= FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        try:
            self._fh.write(self._out)
        except OSError as exc:
            raise CaptureWriteError(f"cannot write capture: {exc.strerror}",
                                    position=Position(file=self.path)) from None
        self._out = bytearray()

    def close(self) -> None:
        if self._fh is None:
            return
        try:
            self._flush()
        finally:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "ScapWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def copy_capture(src, dst, *, predicate: Callable[[RawEvent], bool] | None = None,
                 compress: bool = False, max_type: int | None | str = "sysdig") -> int:
    """Read ``src`` and write its state and (matching) events to ``dst``."""
    from falcolib.scap.reader import ScapReader
    reader = ScapReader(src, max_type=max_type)
    with ScapWriter(dst, reader.snapshot(), compress=compress) as w:
        return w.write_all(reader.events(), predicate)
