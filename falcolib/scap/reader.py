"""Streaming reader of scap files: section header, state blocks, event blocks.

The file is read in large chunks (gzip transparently), so memory is bounded
by the chunk size plus the largest block. Event blocks become RawEvents that
point into the chunk (no per-event copy, no parameter decoded); state blocks
are kept as (type, body, offset) and parsed by ``falcolib.scap.blocks``.
Any framing problem raises CaptureFormatError naming the file, the byte
offset (in the decompressed stream for .gz files) and what was expected.

Event numbering follows libscap + sinsp: ``RawEvent.num`` is the 1-based
position among the events libscap returns, i.e. every event block except
those whose type is at or beyond ``max_type`` (skipped and not numbered,
as libscap skips types >= PPM_EVENT_MAX). By default ``max_type`` is
sysdig 0.29's PPM_EVENT_MAX (336), so numbers match sysdig's evt.num; pass
``max_type=None`` to get every type the current event table knows (e.g.
the user/group meta-events newer libs write into captures).
"""
from __future__ import annotations

import os
import struct
from typing import Callable, Iterator

from falcolib.backend.model import RawEvent, StateSnapshot, make_raw
from falcolib.errors import CaptureFormatError, Position
from falcolib.scap import format as F
from falcolib.scap.source import SourceError, open_source

CHUNK = 1 << 20
MAX_BLOCK = 64 << 20          # a larger state block is treated as corruption
MAX_EVENT_BLOCK = 8 + (1 << 16)   # libscap's READER_BUF_SIZE for non-large event blocks
MAX_LARGE_EVENT_BLOCK = 64 << 20

# block header + cpu + 26-byte event header, read with one unpack
_FAST = struct.Struct("<IIHQQIHI")
_FAST_SIZE = _FAST.size  # 36
# the same prefix without cpu, ts and tid (for events skipped by type)
_SKIP = struct.Struct("<II18xIH")
_V2 = F.EV_BLOCK_TYPE_V2


def _open_stream(path: str):
    try:
        return open_source(path)
    except OSError as exc:
        raise CaptureFormatError(f"cannot open capture: {exc.strerror or exc}",
                                 position=Position(file=path)) from None


class ScapReader:
    """Read a scap file: ``snapshot()`` gives the state blocks, ``events()``
    yields RawEvents, ``headers()`` yields cheap header tuples.

    With ``types``, events of other types are numbered (evt.num stays right)
    but not yielded: the cheap path for filters on evt.type.

    State blocks are handed to ``on_block(block_type, body, offset)`` when
    given; otherwise those before the first event are collected in
    ``self.state_blocks`` (those found later go to ``self.late_blocks``).
    Unknown blocks are skipped by length and counted in ``unknown_blocks``.
    """

    def __init__(self, path: str | os.PathLike, *, on_block: Callable | None = None,
                 types: frozenset[int] | None = None, max_type: int | None | str = "sysdig"):
        self.path = os.fspath(path)
        self.on_block = on_block
        self.state_blocks: list[tuple[int, bytes, int]] = []
        self.late_blocks: list[tuple[int, bytes, int]] = []
        self.unknown_blocks = 0
        self.skipped_events = 0   # type beyond the event table: skipped, not numbered
        self.events_read = 0      # events numbered so far (the last evt.num)
        self.major = self.minor = 0
        self.gzipped = False
        self._types = types
        from falcolib.decode.table import EVENT_NPARAMS, SYSDIG_EVENT_MAX
        self._nparams_table = EVENT_NPARAMS
        if max_type == "sysdig":
            max_type = SYSDIG_EVENT_MAX
        self.max_type = min(len(EVENT_NPARAMS), len(EVENT_NPARAMS) if max_type is None else max_type)
        self._stream = None
        self._buf = b""
        self._pos = 0
        self._base = 0
        self._eof = False
        self._started = False     # preamble read
        self._consumed = False    # events iterated
        self._snapshot: StateSnapshot | None = None
        self._in_preamble = True
        self._gen = None
        self._stop_requested = False
        self._fast = None         # set_fast(): a falcolib._speedups.Printer and its hook

    # ------------------------------------------------------------ plumbing

    def _error(self, offset: int, what: str) -> CaptureFormatError:
        if self.gzipped:
            what += " (offset in the decompressed stream)"
        return CaptureFormatError(what, position=Position(file=self.path, offset=offset))

    def _fill(self, need: int) -> bool:
        """Make at least ``need`` bytes available at self._pos; False at EOF."""
        buf, pos = self._buf, self._pos
        if self._stream is None and not self._eof and len(buf) - pos < need:
            raise ValueError(f"{self.path}: the ScapReader is closed")
        while len(buf) - pos < need and not self._eof:
            try:
                more = self._stream.read(max(CHUNK, need))
            except SourceError as exc:
                self.close()
                if exc.compressed_offset is None:
                    raise self._error(self._base + len(buf), f"cannot read capture: {exc}") \
                        from None
                raise CaptureFormatError(
                    f"{exc} (decompressed stream good up to byte {self._base + len(buf)})",
                    position=Position(file=self.path, offset=exc.compressed_offset)) from None
            if not more:
                self._eof = True
                break
            buf = buf[pos:] + more if pos < len(buf) else more
            self._base += pos
            pos = 0
        self._buf, self._pos = buf, pos
        return len(buf) - pos >= need

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._buf = b""

    def __enter__(self) -> "ScapReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ preamble

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        self._stream = _open_stream(self.path)
        self.gzipped = self._stream.gzipped
        if not self._fill(8):
            n = len(self._buf)
            self.close()
            raise self._error(0, "not a scap file: expected a section header block "
                                 f"(at least 28 bytes), found {n} bytes")
        btype = int.from_bytes(self._buf[:4], "little")
        if btype != F.SHB_BLOCK_TYPE:
            self.close()
            raise self._error(0, "not a scap file: expected section header block type "
                                 f"0x0a0d0d0a, found 0x{btype:08x}")
        # read blocks until the first event block
        while self._in_preamble:
            if not self._fill(8):
                if len(self._buf) - self._pos:
                    raise self._truncated_header()
                break
            btype = int.from_bytes(self._buf[self._pos:self._pos + 4], "little")
            if btype in F.EVENT_BLOCKS:
                break
            self._other_block()
        self._in_preamble = False

    def _truncated_header(self) -> CaptureFormatError:
        avail = len(self._buf) - self._pos
        return self._error(self._base + self._pos,
                           f"truncated block header: expected 8 bytes, found {avail}")

    def _other_block(self) -> None:
        """Consume one non-event block at self._pos (buffer holds >= 8 bytes)."""
        pos = self._pos
        offset = self._base + pos
        btype, blen = F.BLOCK_HEADER.unpack_from(self._buf, pos)
        if blen < 12 or blen > MAX_BLOCK:
            raise self._error(offset, f"invalid length {blen} for block type 0x{btype:x} "
                                      f"(expected 12..{MAX_BLOCK})")
        if not self._fill(blen):
            raise self._error(offset, f"truncated block of type 0x{btype:x}: its header "
                                      f"says {blen} bytes, the file has "
                                      f"{len(self._buf) - self._pos}")
        buf, pos = self._buf, self._pos
        trailer = int.from_bytes(buf[pos + blen - 4:pos + blen], "little")
        if trailer != blen:
            raise self._error(offset + blen - 4, f"block of type 0x{btype:x}: trailer "
                                                 f"length {trailer} differs from header length {blen}")
        body = bytes(buf[pos + 8:pos + blen - 4])
        self._pos = pos + blen
        if btype == F.SHB_BLOCK_TYPE:
            if len(body) < F.SHB_BODY.size:
                raise self._error(offset, "section header block too short: expected "
                                          f"{F.SHB_BODY.size} body bytes, found {len(body)}")
            magic, major, minor, _ = F.SHB_BODY.unpack_from(body, 0)
            if magic != F.SHB_MAGIC:
                raise self._error(offset + 8, f"bad byte-order magic 0x{magic:08x} "
                                              f"(expected 0x{F.SHB_MAGIC:08x})")
            if major > 1:
                raise self._error(offset + 12, f"unsupported scap major version {major} "
                                               "(expected 1)")
            self.major, self.minor = major, minor
            return
        from falcolib.scap.blocks import STATE_BLOCK_TYPES
        if btype not in STATE_BLOCK_TYPES:
            self.unknown_blocks += 1
            return
        if self.on_block is not None:
            self.on_block(btype, body, offset)
        elif self._in_preamble:
            self.state_blocks.append((btype, body, offset))
        else:
            self.late_blocks.append((btype, body, offset))

    def snapshot(self) -> StateSnapshot:
        """The processes, fds, users, groups, interfaces and machine info
        recorded before the first event."""
        if self._snapshot is None:
            self._start()
            from falcolib.scap.blocks import parse_state_blocks
            self._snapshot = parse_state_blocks(self.state_blocks, self.path)
        return self._snapshot

    # ------------------------------------------------------------ events

    def events(self) -> Iterator[RawEvent]:
        """Yield every event (of ``types`` if given) as a RawEvent."""
        return self._events(False)

    def headers(self) -> Iterator[tuple]:
        """The fastest scan: per event, the tuple ``(block_type, block_len,
        cpu, ts, tid, len, type, nparams)`` of its block and event headers.

        ``types`` is not applied here: every numbered event is yielded, in
        order, so an event's evt.num is its 1-based index. Old 22-byte-header
        events come with their worked-out parameter count.
        """
        return self._events(True)

    def _events(self, headers_only: bool):
        if self._consumed:
            raise ValueError("a ScapReader's events can be iterated only once")
        self._consumed = True
        self._gen = self._iterate(headers_only)
        return self._gen

    def set_types(self, types: frozenset[int] | None) -> None:
        """Change the event types yielded (None = all) before iterating."""
        if self._consumed:
            raise ValueError("set_types() after the events started has no effect")
        self._types = types

    def set_fast(self, printer, before: Callable[[], None] | None = None) -> None:
        """Let ``printer`` (a ``falcolib._speedups.Printer``) consume the events it can
        handle, in C, between the events yielded; ``before()`` runs each time before it
        does (e.g. to apply the state's pending removals). Yielded events are those the
        printer stopped at, filtered by ``types`` as usual."""
        if self._consumed:
            raise ValueError("set_fast() after the events started has no effect")
        self._fast = (printer, before)

    def stop(self) -> None:
        """End the iteration: at once when called between two events (from the
        consuming loop), otherwise (another thread, a signal handler while
        the reader runs) at the end of the current chunk."""
        self._stop_requested = True
        gen = self._gen
        if gen is not None:
            try:
                gen.close()
            except ValueError:   # running right now: the slow path will see the flag
                pass

    def _iterate(self, headers_only: bool):
        try:
            self._start()
            # One specialised loop per case keeps the per-event path to a single
            # unpack, one combined bounds check and one yield. Anything unusual
            # (another block type, a block crossing the chunk end, a type beyond
            # max_type) drops to the slow path for exactly one block.
            unpack = _FAST.unpack_from
            unpack_skip = _SKIP.unpack_from
            tuple_new = tuple.__new__
            raw_event = RawEvent
            types = None if headers_only else self._types
            max_type = self.max_type
            cap = MAX_EVENT_BLOCK - 14
            v2 = _V2
            num = self.events_read
            before = fast_run = None
            if self._fast is not None and not headers_only:
                fast, before = self._fast
                fast_run = fast.run
            elif types is not None and not headers_only:
                fast_run = _c_skipper(types, max_type)
            while True:
                buf = self._buf
                pos = self._pos
                end = len(buf)
                limit = end - _FAST_SIZE
                if headers_only:
                    while pos <= limit:
                        h = bt, bl, cpu, ts, tid, elen, etype, nparams = unpack(buf, pos)
                        nxt = pos + bl
                        if bt != v2 or nxt > end or not 26 <= elen <= bl - 14 <= cap \
                                or etype >= max_type:
                            break
                        yield h
                        num += 1
                        pos = nxt
                elif fast_run is not None:
                    # C takes every event it can (the printer, or skip() stepping over
                    # unwanted types); this loop frames the one it stopped at exactly as
                    # the loops below do
                    while pos <= limit:
                        if before is not None:
                            before()
                        pos, num = fast_run(buf, pos, end, num)
                        if pos > limit:
                            break
                        bt, bl, cpu, ts, tid, elen, etype, nparams = unpack(buf, pos)
                        if bt != v2 or pos + bl > end or not 26 <= elen <= bl - 14 <= cap \
                                or etype >= max_type:
                            break
                        num += 1
                        if types is None or etype in types:
                            yield tuple_new(raw_event, (ts, tid, etype, nparams, cpu, buf, pos + 10,
                                                        elen, 26, 0, num))
                        pos += bl
                elif types is None:
                    while pos <= limit:
                        bt, bl, cpu, ts, tid, elen, etype, nparams = unpack(buf, pos)
                        if bt != v2 or pos + bl > end or not 26 <= elen <= bl - 14 <= cap \
                                or etype >= max_type:
                            break
                        num += 1
                        yield tuple_new(raw_event, (ts, tid, etype, nparams, cpu, buf, pos + 10,
                                                    elen, 26, 0, num))
                        pos += bl
                else:
                    # skipping by type: read only what the checks need (no int objects
                    # for ts and tid of the events skipped), the rest for those yielded
                    while pos <= limit:
                        bt, bl, elen, etype = unpack_skip(buf, pos)
                        if bt != v2 or pos + bl > end or not 26 <= elen <= bl - 14 <= cap \
                                or etype >= max_type:
                            break
                        num += 1
                        if etype in types:
                            _, _, cpu, ts, tid, _, _, nparams = unpack(buf, pos)
                            yield tuple_new(raw_event, (ts, tid, etype, nparams, cpu, buf, pos + 10,
                                                        elen, 26, 0, num))
                        pos += bl
                self._pos = pos
                self.events_read = num
                # slow path: one block of any kind, refilling as needed
                if self._stop_requested:
                    return
                if not self._fill(8):
                    if len(self._buf) - self._pos:
                        raise self._truncated_header()
                    return
                ev = self._slow_event()
                if ev is None:
                    continue
                num = self.events_read
                if headers_only:
                    bt, bl = self._last_block
                    yield (bt, bl, ev.cpu, ev.ts, ev.tid, ev.size, ev.type, ev.nparams)
                elif types is None or ev.type in types:
                    yield ev
        finally:
            self.close()

    def _slow_event(self) -> RawEvent | None:
        """Frame the block at self._pos; return its event (numbered) or None."""
        buf, pos = self._buf, self._pos
        offset = self._base + pos
        btype, blen = F.BLOCK_HEADER.unpack_from(buf, pos)
        spec = F.EVENT_BLOCKS.get(btype)
        if spec is None:
            self._other_block()
            return None
        self._last_block = (btype, blen)
        hdr, has_flags, large = spec
        fixed = 8 + 2 + (4 if has_flags else 0)
        cap = MAX_LARGE_EVENT_BLOCK if large else MAX_EVENT_BLOCK
        if blen < fixed + hdr + 4 or blen > cap:
            raise self._error(offset, f"invalid length {blen} for event block type 0x{btype:x} "
                                      f"(expected {fixed + hdr + 4}..{cap})")
        if not self._fill(blen):
            raise self._error(offset, f"truncated event block: its header says {blen} bytes, "
                                      f"the file has {len(self._buf) - self._pos}")
        buf, pos = self._buf, self._pos
        cpu = int.from_bytes(buf[pos + 8:pos + 10], "little")
        flags = int.from_bytes(buf[pos + 10:pos + 14], "little") if has_flags else 0
        eoff = pos + fixed
        if hdr == 26:
            ts, tid, elen, etype, nparams = F.EVT_HDR_V2.unpack_from(buf, eoff)
        else:
            ts, tid, elen, etype = F.EVT_HDR_V1.unpack_from(buf, eoff)
            nparams = -1
        room = blen - fixed - 4
        if elen < hdr or elen > room:
            raise self._error(self._base + eoff + 16,
                              f"event length {elen} does not fit its block (expected "
                              f"{hdr}..{room})")
        self._pos = pos + blen
        if etype >= self.max_type:
            self.skipped_events += 1
            return None
        if nparams < 0:
            nparams, elen = self._v1_nparams(buf, eoff, elen, etype)
        self.events_read += 1
        return make_raw(ts, tid, etype, nparams, cpu, buf, eoff, elen, hdr, flags,
                        self.events_read)

    def _v1_nparams(self, buf, eoff: int, elen: int, etype: int) -> tuple[int, int]:
        """Old (22-byte header) events carry no parameter count. As libscap
        does: start from the table's count and go down until the length
        array and the values exactly fill the event; a sum falling short
        means corruption. Two types carry a length 3 bytes too long.
        Returns (nparams, corrected length)."""
        if etype in (F.PPME_NOTIFICATION_E, F.PPME_INFRASTRUCTURE_EVENT_E):
            elen -= 3
        end = eoff + elen
        lens_at = eoff + 22
        for n in range(self._nparams_table[etype], -1, -1):
            valptr = lens_at + 2 * n
            if valptr > end:
                continue
            total = valptr + sum(struct.unpack_from(f"<{n}H", buf, lens_at))
            if total == end:
                return n, elen
            if total < end:
                break
        raise self._error(self._base + eoff, "cannot work out the parameter count of an "
                                             f"old-format event of type {etype}: its parameter "
                                             f"lengths do not add up to its length {elen}")


def _c_skipper(types: frozenset[int], max_type: int):
    """``run(buf, pos, end, num) -> (pos, num)`` stepping over the events of other types
    in C (falcolib._speedups.skip), or None without the C extension (or with
    FALCOLIB_PURE set: the pure-Python loops, for comparisons)."""
    from falcolib.speedups import speedups
    mod = speedups()
    if mod is None:
        return None
    skip = mod.skip
    wanted = bytes(1 if t in types else 0 for t in range(max_type))

    def run(buf, pos, end, num):
        pos, skipped = skip(buf, pos, end, wanted, max_type)
        return pos, num + skipped
    return run


def open_capture(path, **kw) -> ScapReader:
    return ScapReader(path, **kw)
