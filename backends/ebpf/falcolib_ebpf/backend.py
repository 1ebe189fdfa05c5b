"""EbpfBackend: live syscall events from the BPF probe, as RawEvents.

Records flow kernel ring buffer -> drain thread -> bounded queue -> iterator.
The probe submits without waking anyone (BPF_RB_NO_WAKEUP); the drain
thread copies whatever the ring holds every ``drain_ms`` (one slice of the
mmapped ring, see ring.py) into the queue, so a burst is absorbed by the
ring and the queue, and whatever still does not fit is counted: ring
reservation failures per CPU in the kernel, queue overflow here. Nothing
is lost silently. Records are split into events by the iterator, in the
consumer's thread, so the drain thread holds the GIL only for one copy.
"""
from __future__ import annotations

import ctypes
import os
import struct
import threading
from collections import deque
from typing import Iterable, Iterator

from falcolib.backend.model import BackendStats, RawEvent, StateSnapshot, make_raw
from falcolib.errors import BackendUnavailable

from falcolib_ebpf import program as P
from falcolib_ebpf import syscalls as S

# failed calls of these syscalls change no state and no official rule reads them
# (failed connect/sendto/sendmsg stay: rules accept EINPROGRESS; failed opens are a rule)
DEFAULT_DROP_FAILED = frozenset({"read", "write", "recvfrom", "recvmsg", "accept", "accept4", "close"})
SETUP_HINT = "run scripts/setup-host as root"
_HDR = struct.Struct("<QQIHI")


class EbpfBackend:
    """Live capture with eBPF. ``types``: event type codes wanted (None = all)."""

    name = "ebpf"
    live = True  # events happen now, in the kernel's order (State(live=True))
    # exit events carry their call's parameters (fd, open's name/flags...): the state can
    # skip most enter events (falcolib.engine.wanted_types(enterless=True))
    exits_carry_params = True

    def __init__(self, types: Iterable[int] | None = None, *, ring_pages: int = 2048,
                 queue_bytes: int = 64 << 20, drain_ms: float = 5.0, snaplen: int = 80,
                 drop_failed: bool | Iterable[str] = DEFAULT_DROP_FAILED,
                 ignore_self: bool = True, snapshot: bool = True):
        if ring_pages <= 0 or ring_pages & (ring_pages - 1):
            raise ValueError(f"ring_pages must be a power of two (got {ring_pages})")
        self._types = None if types is None else frozenset(types)
        self._opts = P.ProbeOptions(ring_pages=ring_pages, snaplen=min(max(snaplen, 0), 4096),
                                    ignore_self=ignore_self)
        if drop_failed is True:
            drop_failed = {sc.name for sc in S.SYSCALLS}
        elif drop_failed is False:
            drop_failed = ()
        self._drop_failed = frozenset(drop_failed)
        self._want_snapshot = snapshot
        self._queue_max = queue_bytes
        self._drain_s = drain_ms / 1000.0
        self._prog: P.ProbeProgram | None = None
        self._snapshot = StateSnapshot()
        self._batches: deque = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats = BackendStats()
        self._num = 0
        self._ring = None

    # -- configuration ---------------------------------------------------------
    def set_event_types(self, types: Iterable[int] | None) -> None:
        """Change the wanted event types; applied at once when running."""
        self._types = None if types is None else frozenset(types)
        if self._prog is not None:
            self._prog.configure(self._wanted())

    def _wanted(self) -> dict[str, int]:
        names: dict[str, int] = {}
        if self._types is not None:
            from falcolib.decode.table import EVENTS
            for code in self._types:
                if 0 <= code < len(EVENTS):
                    info = EVENTS[code]
                    bit = P.F_ENTER if info.dir == ">" else P.F_EXIT
                    name = S.ALIASES.get(info.name, info.name)
                    names[name] = names.get(name, 0) | bit
        out = {}
        for sc in S.SYSCALLS:
            if self._types is None:
                flags = P.F_ENTER | P.F_EXIT
            else:
                # an exit of the syscall's name (any layout) hooks its exit; its enter is
                # hooked only when the enter the probe writes is wanted: an older enter
                # layout (openat's PPME_SYSCALL_OPENAT_E, kept by the state for its
                # paramless exit) is never written, and hooking for it sent every openat
                # enter to userspace for nothing
                flags = names.get(sc.name, 0) & P.F_EXIT
                if sc.enter[0] in self._types:
                    flags |= P.F_ENTER
                if sc.exit[0] in self._types:
                    flags |= P.F_EXIT
            if flags and sc.name in self._drop_failed:
                flags |= P.F_DROP_FAILED
            out[sc.name] = flags
        if self._types is None or S.PROCEXIT in self._types or "procexit" in names:
            out["procexit"] = P.F_ENTER
        return out

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> "EbpfBackend":
        btf = _check_host()
        from falcolib_ebpf.btf import BtfError
        from falcolib_ebpf.loader import LoadFailed
        try:
            self._prog = P.ProbeProgram(btf, self._opts, os.getpid())
        except BtfError as exc:
            raise BackendUnavailable(f"cannot build the eBPF probe for this kernel: {exc}") from None
        except LoadFailed as exc:
            if exc.kind == "bcc":
                from falcolib_ebpf.bccimport import INSTALL_HINT
                raise BackendUnavailable(str(exc), hint=INSTALL_HINT) from None
            raise BackendUnavailable(f"cannot compile or load the eBPF probe: {exc}",
                                     hint=f"kernel headers and eBPF support are needed; {SETUP_HINT}") from None
        except OSError as exc:  # the loader process could not be started
            raise BackendUnavailable(f"cannot start the eBPF loader process: {exc}") from None
        from falcolib_ebpf.ring import MmapRing
        import mmap
        self._ring = MmapRing(self._prog.map_fd(P.EVENTS_MAP), self._opts.ring_pages * mmap.PAGESIZE)
        try:
            self._prog.configure(self._wanted())
        except OSError as exc:
            self._ring.close()
            self._ring = None
            self._prog.close()
            self._prog = None
            raise BackendUnavailable(f"cannot attach syscall tracepoints: {exc}",
                                     hint=f"tracefs must be mounted; {SETUP_HINT}") from None
        self._stop.clear()
        self._detached = False
        self._thread = threading.Thread(target=self._drain, name="falcolib-ebpf-drain", daemon=True)
        self._thread.start()
        if self._want_snapshot:
            from falcolib_ebpf.procscan import scan_host
            self._snapshot = scan_host()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._prog is not None:
            self._refresh_kernel_stats()
            self._prog.close()
            self._prog = None
        if self._ring is not None:
            self._ring.close()
            self._ring = None

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    # -- the ring -> queue -> iterator path ------------------------------------
    def _drain(self) -> None:
        take = self._ring.take
        wait = self._stop.wait
        while True:
            stopping = self._stop.is_set()
            chunk, n = take()
            if n:
                with self._cond:
                    room = self._queue_max - self._queued
                    if len(chunk) > room:
                        chunk = self._overflow(chunk, max(room, 0))
                    if chunk:
                        self._batches.append(chunk)
                        self._queued += len(chunk)
                        self._cond.notify()
            if stopping:
                if not self._detached:
                    # silence the hooks (detaching ~70 tracepoints one by one takes seconds
                    # under load; close() does it), then one last drain: nothing emitted goes
                    # unaccounted
                    self._prog.mute()
                    self._detached = True
                    continue
                return
            wait(self._drain_s)

    def _overflow(self, chunk: bytes, room: int) -> bytes:
        """The records of a chunk that fit in ``room`` bytes; the events of the rest are counted."""
        from falcolib_ebpf.ring import records
        cut = None
        lost = 0
        for off, ln in records(chunk):
            if cut is None and off + ln > room:
                cut = off - 8
            if cut is not None:
                lost += _events_in(chunk[off:off + ln])
        self._stats.dropped_queue += lost
        return chunk if cut is None else chunk[:cut]

    def __iter__(self) -> Iterator[RawEvent]:
        from falcolib_ebpf.ring import records
        unpack = _HDR.unpack_from
        stats = self._stats
        num = self._num
        while True:
            with self._cond:
                if not self._batches:
                    if self._stop.is_set() and (self._thread is None or not self._thread.is_alive()):
                        self._num = num
                        return
                    self._cond.wait(0.1)
                chunk = self._batches.popleft() if self._batches else None
            if chunk is None:
                # an idle tick: the consumer polls (stop, --duration, reload, drop policy)
                # even when no event arrives
                yield None
                continue
            for off, size in records(chunk):
                rec = chunk[off:off + size]
                end = size - 2
                cpu = rec[end] | (rec[end + 1] << 8)
                pos = 0
                while pos < end:
                    ts, tid, ln, etype, nparams = unpack(rec, pos)
                    if ln < 26 or pos + ln > end:
                        stats.dropped_decode += 1
                        break
                    num += 1
                    stats.events_read += 1
                    yield make_raw(ts, tid, etype, nparams, cpu, rec, pos, ln, 26, 0, num)
                    pos += ln
            self._num = num
            with self._cond:
                self._queued -= len(chunk)

    # -- state and counters ----------------------------------------------------
    def describe_container(self, short_id: str, runtime: str):
        """A container first seen in an event, named by its runtime (the State asks)."""
        from falcolib_ebpf.containers import describe_container
        return describe_container(short_id, runtime)

    def snapshot(self) -> StateSnapshot:
        return self._snapshot

    def _refresh_kernel_stats(self) -> None:
        c = self._prog.counters()
        st = self._stats
        st.per_cpu_drops = {cpu: n for cpu, n in enumerate(c["ring_full"]) if n}
        st.dropped_kernel = sum(c["ring_full"]) + sum(c["too_big"])
        st.filtered_kernel = sum(c["filtered_failed"]) + sum(c["filtered_self"])
        st.extra = {
            "kernel_seen": sum(c["seen"]),
            "kernel_filtered_type": sum(c["filtered_type"]),
            "kernel_filtered_failed": sum(c["filtered_failed"]),
            "kernel_filtered_self": sum(c["filtered_self"]),
            "kernel_records": sum(c["emitted"]),
            "kernel_ring_full": sum(c["ring_full"]),
            "kernel_too_big": sum(c["too_big"]),
            "queue_bytes": self._queued,
            "hooks": len(self._prog.attached),
            "loader_seconds": round(self._prog.loaded.child_seconds, 3),
            "loader_max_rss_kb": self._prog.loaded.child_maxrss_kb,
        }

    def stats(self) -> BackendStats:
        if self._prog is not None:
            self._refresh_kernel_stats()
        return self._stats

    @property
    def hooked(self) -> frozenset[str]:
        """Tracepoints attached now."""
        return self._prog.attached if self._prog is not None else frozenset()


def _events_in(rec: bytes) -> int:
    first = struct.unpack_from("<I", rec, 16)[0]
    return 1 if first + 2 >= len(rec) else 2


def _check_host():
    """Kernel BTF, or BackendUnavailable saying what is missing. bcc is not imported
    here: the loader child imports it (and reports it missing)."""
    if os.geteuid() != 0:
        raise BackendUnavailable("live capture with eBPF needs root (effective uid is "
                                 f"{os.geteuid()})", hint="run it as root, e.g. with sudo")
    from falcolib_ebpf.btf import VMLINUX, Btf, BtfError
    if not os.path.exists(VMLINUX):
        raise BackendUnavailable(f"this kernel has no BTF ({VMLINUX} is missing)",
                                 hint="a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed")
    try:
        btf = Btf.from_file(VMLINUX)
    except (OSError, BtfError) as exc:
        raise BackendUnavailable(f"cannot read kernel BTF: {exc}") from None
    build = f"/lib/modules/{os.uname().release}/build"
    if not os.path.exists(os.path.join(build, "include")):
        raise BackendUnavailable(f"no kernel headers at {build}", hint=SETUP_HINT)
    _ensure_tracefs()
    return btf


def _ensure_tracefs() -> None:
    if os.path.isdir("/sys/kernel/tracing/events") or os.path.isdir("/sys/kernel/debug/tracing/events"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"tracefs", b"/sys/kernel/tracing", b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        raise BackendUnavailable(f"tracefs is not mounted and mounting it failed ({os.strerror(err)})",
                                 hint="mount -t tracefs tracefs /sys/kernel/tracing")

