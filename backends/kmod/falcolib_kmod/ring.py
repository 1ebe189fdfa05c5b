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

import mmap
import struct

from falcolib_kmod.protocol import InfoLayout

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
