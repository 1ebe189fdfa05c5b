"""Streaming reader of scap files: section header, state blocks, event blocks.

The file is read in chunks (gzip transparently), so memory is bounded by
the chunk size plus the largest block. Event blocks become RawEvents
without decoding any parameter; state blocks are parsed by
``falcolib.scap.blocks``. Any framing problem raises CaptureFormatError
naming the file and byte offset (in the decompressed stream).
"""
from __future__ import annotations

import gzip
import io
import os
from typing import Callable, Iterator

from falcolib.backend.model import RawEvent, make_raw
from falcolib.errors import CaptureFormatError
from falcolib.scap import format as F

CHUNK = 4 << 20
MAX_BLOCK = 64 << 20  # a larger block is treated as corruption


def _open_stream(path: str):
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise CaptureFormatError(f"cannot open capture: {exc.strerror}", position=None, hint="") from None
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb"), True
    return fh, False


class ScapReader:
    """Iterate a scap file's blocks. ``events()`` yields RawEvents.

    With ``types``, events of other types are counted (evt.num stays
    right) but not yielded: the cheap path for filters on evt.type.

    State blocks seen before (and between) event blocks are handed to
    ``on_block(block_type, body_bytes, offset)`` when given, and otherwise
    collected in ``self.state_blocks`` as (type, body, offset) tuples.
    """

    def __init__(self, path: str | os.PathLike, *, on_block: Callable | None = None,
                 types: frozenset[int] | None = None):
        self.path = os.fspath(path)
        self.on_block = on_block
        self.state_blocks: list[tuple[int, bytes, int]] = []
        self.unknown_blocks = 0
        self.skipped_events = 0   # type beyond the table (sysdig skips them too)
        self.events_read = 0
        self.major = self.minor = 0
        self.gzipped = False
        self._types = types
        from falcolib.decode.table import EVENT_NPARAMS
        self._nparams_table = EVENT_NPARAMS

    def _error(self, offset: int, what: str) -> CaptureFormatError:
        return CaptureFormatError(what, position=_pos(self.path, offset))

    def _state(self, btype: int, body: bytes, offset: int) -> None:
        if self.on_block is not None:
            self.on_block(btype, body, offset)
        else:
            self.state_blocks.append((btype, body, offset))

    def events(self) -> Iterator[RawEvent]:
        stream, self.gzipped = _open_stream(self.path)
        with stream:
            yield from self._iterate(stream)

    def _iterate(self, stream) -> Iterator[RawEvent]:
        read = stream.read
        try:
            buf = read(CHUNK)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise self._error(0, f"cannot read capture: {exc}") from None
        base = 0          # stream offset of buf[0]
        pos = 0
        eof = False
        if len(buf) < 8:
            raise self._error(0, "not a scap file: expected a section header block, "
                                 f"found {len(buf)} bytes")
        btype, blen = F.BLOCK_HEADER.unpack_from(buf, 0)
        if btype != F.SHB_BLOCK_TYPE:
            raise self._error(0, f"not a scap file: expected section header block type "
                                 f"0x0a0d0d0a, found 0x{btype:08x}")
        unpack_bh = F.BLOCK_HEADER.unpack_from
        unpack_v2 = F.EVT_HDR_V2.unpack_from
        unpack_v1 = F.EVT_HDR_V1.unpack_from
        uint16 = int.from_bytes
        ev_blocks = F.EVENT_BLOCKS
        types = self._types
        max_type = len(self._nparams_table)
        new = make_raw
        while True:
            avail = len(buf) - pos
            if avail < 8 or (avail >= 8 and unpack_bh(buf, pos)[1] > avail):
                if not eof:
                    try:
                        more = read(max(CHUNK, (unpack_bh(buf, pos)[1] if avail >= 8 else 0)))
                    except (OSError, EOFError, gzip.BadGzipFile, Exception) as exc:
                        raise self._error(base + len(buf), f"cannot read capture: {exc}") from None
                    if more:
                        buf = buf[pos:] + more
                        base += pos
                        pos = 0
                        continue
                    eof = True
                if avail == 0:
                    return
                if avail < 8:
                    raise self._error(base + pos, f"truncated block header: expected 8 bytes, found {avail}")
                blen = unpack_bh(buf, pos)[1]
                raise self._error(base + pos, f"truncated block: header says {blen} bytes, "
                                              f"file has {avail}")
            btype, blen = unpack_bh(buf, pos)
            if blen < 12 or blen > MAX_BLOCK or blen % 4:
                raise self._error(base + pos, f"invalid block length {blen} for block type 0x{btype:x}")
            spec = ev_blocks.get(btype)
            if spec is not None:
                hdr, has_flags, large = spec
                body = pos + 8
                cpu = uint16(buf[body:body + 2], "little")
                flags = 0
                eoff = body + 2
                if has_flags:
                    flags = int.from_bytes(buf[eoff:eoff + 4], "little")
                    eoff += 4
                end = pos + blen - 4
                if eoff + hdr > end:
                    raise self._error(base + pos, f"event block too short for its {hdr}-byte event header")
                if hdr == 26:
                    ts, tid, elen, etype, nparams = unpack_v2(buf, eoff)
                else:
                    ts, tid, elen, etype = unpack_v1(buf, eoff)
                    nparams = -1
                if elen < hdr or eoff + elen > end:
                    raise self._error(base + eoff, f"event length {elen} does not fit its block "
                                                   f"({end - eoff} bytes available)")
                pos += blen
                self.events_read += 1
                if etype >= max_type:
                    self.skipped_events += 1
                    continue
                if types is not None and etype not in types:
                    continue  # still numbered: evt.num counts every event read
                if nparams < 0:
                    nparams = self._v1_nparams(buf, eoff, elen, etype, base)
                yield new(ts, tid, etype, nparams, cpu, buf, eoff, elen, hdr, flags, self.events_read)
                continue
            body = bytes(buf[pos + 8:pos + blen - 4])
            offset = base + pos
            pos += blen
            if btype == F.SHB_BLOCK_TYPE:
                if len(body) < F.SHB_BODY.size:
                    raise self._error(offset, "section header block too short")
                magic, self.major, self.minor, _ = F.SHB_BODY.unpack_from(body, 0)
                if magic != F.SHB_MAGIC:
                    raise self._error(offset + 8, f"bad byte-order magic 0x{magic:08x} "
                                                  f"(expected 0x{F.SHB_MAGIC:08x})")
                continue
            self._state(btype, body, offset)

    def _v1_nparams(self, buf, eoff: int, elen: int, etype: int, base: int) -> int:
        """Old (22-byte header) events carry no parameter count: find the one
        for which the length array and the values exactly fill the event,
        starting from the table's count, as libscap does."""
        if etype in (F.PPME_NOTIFICATION_E, F.PPME_INFRASTRUCTURE_EVENT_E):
            elen -= 3
        end = eoff + elen
        lens_at = eoff + 22
        for n in range(self._nparams_table[etype], -1, -1):
            valptr = lens_at + 2 * n
            if valptr > end:
                continue
            total = valptr
            for i in range(n):
                total += int.from_bytes(buf[lens_at + 2 * i:lens_at + 2 * i + 2], "little")
            if total == end:
                return n
            if total < end:
                break
        raise self._error(base + eoff, "cannot work out the parameter count of an old-format "
                                       f"event of type {etype} (corrupt event)")


def _pos(path: str, offset: int):
    from falcolib.errors import Position
    return Position(file=path, offset=offset)


def open_capture(path, **kw) -> ScapReader:
    return ScapReader(path, **kw)
