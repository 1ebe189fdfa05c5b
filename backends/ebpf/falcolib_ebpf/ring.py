"""Read a BPF ring buffer directly through mmap, a whole batch per copy.

bcc's ring-buffer API calls a Python callback per record; with a second
thread also holding the GIL each callback waits for the interpreter's
switch interval, which caps throughput and inflates latency (measured in
benchmarks/live.py). The kernel's ring is a plain memory layout instead:
a consumer page (consumer position, ours to write), a producer page
(producer position) and the data pages mapped twice in a row, so any
record, even one wrapping the end, is contiguous. ``take()`` copies every
committed byte since the last call in one slice and advances the consumer
position; records are split later, outside any lock.
"""
from __future__ import annotations

import mmap
import struct

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HDR_SZ = 8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


class MmapRing:
    """Consumer side of one BPF_MAP_TYPE_RINGBUF (``size`` bytes, a power of two)."""

    def __init__(self, map_fd: int, size: int):
        page = mmap.PAGESIZE
        self.size = size
        self.mask = size - 1
        self._cons = mmap.mmap(map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._prod = mmap.mmap(map_fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self._data = page  # data starts one page into the producer mapping

    def take(self) -> tuple[bytes, int]:
        """(bytes of the committed records since the last call, record count)."""
        cons = _U64.unpack_from(self._cons, 0)[0]
        prod = _U64.unpack_from(self._prod, 0)[0]
        if prod == cons:
            return b"", 0
        start = self._data + (cons & self.mask)
        chunk = self._prod[start:start + (prod - cons)]
        # stop at the first record still being written (reserved, not committed)
        pos, n, end = 0, 0, len(chunk)
        unpack = _U32.unpack_from
        while pos < end:
            hdr = unpack(chunk, pos)[0]
            if hdr & BUSY_BIT:
                break
            pos += (((hdr & ~(BUSY_BIT | DISCARD_BIT)) + HDR_SZ) + 7) & ~7
            n += 1
        _U64.pack_into(self._cons, 0, cons + pos)
        return (chunk if pos == end else chunk[:pos]), n

    def close(self) -> None:
        self._cons.close()
        self._prod.close()


def records(chunk: bytes):
    """(offset, length) of each committed, non-discarded record payload in a chunk."""
    pos, end = 0, len(chunk)
    unpack = _U32.unpack_from
    while pos < end:
        hdr = unpack(chunk, pos)[0]
        length = hdr & ~(BUSY_BIT | DISCARD_BIT)
        if not hdr & DISCARD_BIT:
            yield pos + HDR_SZ, length
        pos += (length + HDR_SZ + 7) & ~7
