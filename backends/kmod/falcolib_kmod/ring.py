"""One per-CPU ring buffer as the consumer sees it, and the merge of several.

The driver (main.c ``ppm_mmap``) maps the data buffer twice back to back,
so the bytes from ``tail`` for ``used`` bytes are contiguous even across
the wrap-around; the info struct carries ``head`` (written by the kernel
after each complete event) and ``tail`` (written by us after consuming).
The consumer algorithm is libscap's ``ringbuffer_next``: read every
buffer's pending block, hand out events lowest timestamp first, advance
each tail once its block is consumed, and sleep with a doubling back-off
(``BUFFER_EMPTY_WAIT_TIME_US_START`` 500 µs to ``..._MAX`` 30 ms) while
every buffer holds less than ``BUFFER_EMPTY_THRESHOLD_B`` (20000) bytes.

One refinement keeps the merged stream in timestamp order when a CPU is
late: in a round, an event is handed out only if its timestamp is at most
the watermark, the smallest "latest timestamp" among buffers that have
data; later events stay in their buffer for the next round. A buffer that
was empty is read again after the others, so an event written before any
event already seen is never missed.
"""
from __future__ import annotations

import heapq
import mmap
import struct
from bisect import bisect_right
from operator import itemgetter

from falcolib_kmod.protocol import EVT_HDR, EVT_HDR_LEN, InfoLayout

BUFFER_EMPTY_WAIT_START = 0.0005
BUFFER_EMPTY_WAIT_MAX = 0.030
BUFFER_EMPTY_THRESHOLD_B = 20000

_HEAD_TAIL = struct.Struct("<II")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class CorruptBuffer(Exception):
    """An event header in a ring buffer is impossible (length beyond the block)."""


class Ring:
    """The two mappings of one device: data (twice the size) and info."""

    __slots__ = ("cpu", "path", "size", "layout", "data", "info", "tail_seen")

    def __init__(self, dev, cpu: int, size: int, layout: InfoLayout):
        self.cpu = cpu
        self.path = dev.path
        self.size = size
        self.layout = layout
        fd = dev.fileno()
        self.data = mmap.mmap(fd, 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=0)
        try:
            self.info = mmap.mmap(fd, layout.size, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE, offset=dev.info_offset)
        except BaseException:
            self.data.close()
            raise
        self.tail_seen = 0

    def head(self) -> tuple[int, int]:
        """(head, bytes pending) now."""
        head, tail = _HEAD_TAIL.unpack_from(self.info, 0)
        return head, (head - tail if head >= tail else self.size - tail + head)

    def used(self) -> int:
        head, tail = _HEAD_TAIL.unpack_from(self.info, 0)
        return head - tail if head >= tail else self.size - tail + head

    def block(self) -> tuple[int, bytes]:
        """(tail, a copy of the pending bytes from tail to head)."""
        head, tail = _HEAD_TAIL.unpack_from(self.info, 0)
        n = head - tail if head >= tail else self.size - tail + head
        if n == 0:
            return tail, b""
        return tail, self.data[tail:tail + n]

    def advance(self, tail: int, consumed: int) -> None:
        """Move the tail past ``consumed`` bytes (libscap ADVANCE_TAIL)."""
        if consumed:
            t = tail + consumed
            if t >= self.size:
                t -= self.size
            _U32.pack_into(self.info, self.layout.TAIL, t)

    def counters(self) -> dict[str, int]:
        info, lay = self.info, self.layout
        return {
            "n_evts": _U64.unpack_from(info, lay.N_EVTS)[0],
            "n_drops_buffer": _U64.unpack_from(info, lay.N_DROPS_BUFFER)[0],
            "n_drops_pf": _U64.unpack_from(info, lay.n_drops_pf)[0],
            "n_preemptions": _U64.unpack_from(info, lay.n_preemptions)[0],
            "n_context_switches": _U64.unpack_from(info, lay.n_context_switches)[0],
        }

    def close(self) -> None:
        for m in (self.data, self.info):
            try:
                m.close()
            except (BufferError, ValueError):
                pass


def parse_block(blk: bytes, dev_index: int) -> tuple[list[tuple], bool]:
    """Headers of the events in ``blk``: (ts, off, len, tid, type, nparams,
    dev_index) each, and whether their timestamps never decrease."""
    out = []
    append = out.append
    unpack = EVT_HDR.unpack_from
    pos = 0
    end = len(blk)
    last = 0
    ordered = True
    while pos < end:
        if end - pos < EVT_HDR_LEN:
            raise CorruptBuffer(f"{end - pos} stray bytes after the last event")
        ts, tid, elen, etype, np = unpack(blk, pos)
        if elen < EVT_HDR_LEN or pos + elen > end:
            raise CorruptBuffer(f"event length {elen} at block offset {pos} does not fit "
                                f"the {end - pos} bytes left")
        if ts < last:
            ordered = False
        last = ts
        append((ts, pos, elen, tid, etype, np, dev_index))
        pos += elen
    return out, ordered


_TS_LEN = struct.Struct("<Q8xI")  # ts and len of an event header
DEV_SHIFT = 32
TS_SHIFT = 44   # key = ts << 44 | device << 32 | offset: up to 4096 devices, 4 GiB buffers
OFF_MASK = (1 << DEV_SHIFT) - 1
DEV_MASK = (1 << (TS_SHIFT - DEV_SHIFT)) - 1


def merge_keys(blocks: list[bytes], firsts: list[int]) -> tuple[list[int], list[int]] | None:
    """The fast merge: one integer key per event, ``ts << 44 | device << 32
    | offset``, sorted in C. Ordering by key is libscap's order (lowest
    timestamp, then lowest device, then buffer order) when every block's
    timestamps never decrease; returns None otherwise (use merge_round).
    Returns (keys up to the last event of the first look, bytes consumed
    per block). Raises CorruptBuffer on an impossible event length."""
    keys: list[int] = []
    append = keys.append
    unpack = _TS_LEN.unpack_from
    per_dev: list[tuple[int, int]] = []   # (index of the device's first key, count)
    cut = -1
    for i, blk in enumerate(blocks):
        base = i << DEV_SHIFT
        pos = 0
        last = 0
        start = len(keys)
        # first the part the first look saw, then the rest: the last key of
        # the first part bounds what this round may hand out
        for end in (firsts[i], len(blk)):
            while pos < end:
                try:
                    ts, elen = unpack(blk, pos)
                except struct.error:
                    raise CorruptBuffer(f"{len(blk) - pos} stray bytes after the last event") from None
                if elen < 26 or pos + elen > len(blk):
                    raise CorruptBuffer(f"event length {elen} at block offset {pos} does not "
                                        f"fit the {len(blk) - pos} bytes left")
                if ts < last:
                    return None
                last = ts
                append((ts << TS_SHIFT) | base | pos)
                pos += elen
            if end == firsts[i] and len(keys) > start and keys[-1] > cut:
                cut = keys[-1]
        per_dev.append((start, len(keys) - start))
    consumed = []
    for i, (start, count) in enumerate(per_dev):
        j = bisect_right(keys, cut, start, start + count)   # still in buffer order here
        consumed.append(keys[j] & OFF_MASK if j < start + count else len(blocks[i]))
    keys.sort()
    return keys[:bisect_right(keys, cut)], consumed


_ts = itemgetter(0)
_off = itemgetter(1)


def merge_round(parsed: list[tuple[list[tuple], bool]], firsts: list[int]) -> tuple[list[tuple], list[int]]:
    """Merge the parsed blocks of one round lowest timestamp first (ties:
    lower device first, as libscap), up to the last event that the first
    look (``firsts[i]`` bytes of block i) had seen. Returns (events, bytes
    consumed per block)."""
    if all(ordered for _, ordered in parsed):
        merged = [e for evs, _ in parsed for e in evs]
        merged.sort(key=_ts)  # stable: equal timestamps keep device order
    else:
        merged = list(heapq.merge(*[evs for evs, _ in parsed], key=_ts))
    last = -1
    for (evs, _), first in zip(parsed, firsts):
        if first and evs:
            # the last event that starts before ``first`` (events end on it)
            i = bisect_right(evs, first - 1, key=_off) - 1
            if i >= 0:
                last = max(last, merged.index(evs[i]))
    merged = merged[:last + 1]
    consumed = [0] * len(parsed)
    for e in merged:
        consumed[e[6]] = e[1] + e[2]
    return merged, consumed
