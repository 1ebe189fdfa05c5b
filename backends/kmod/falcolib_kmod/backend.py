"""KmodBackend: events from the Falco kernel module's per-CPU ring buffers.

Opening follows libscap's ``scap_kmod_init``: settle the buffer size
(module parameter ``g_buffer_bytes_dim``, API 10) before opening; open
every ``/dev/<name>N`` (an offline CPU answers ENODEV and is skipped);
check that each reports the same API and schema versions and that falcolib
speaks that API; map the data buffer and the info struct; set the snap
length; then start the capture with the event types wanted.
"""
from __future__ import annotations

import errno
import glob
import os
import re
import struct
import time
from heapq import heapify, heappop, heappush
from typing import Iterator

from falcolib.backend.model import BackendStats, RawEvent, StateSnapshot
from falcolib.errors import BackendUnavailable

from falcolib_kmod import protocol as P
from falcolib_kmod.ioctl import DriverControl, DriverError, KernelDriver
from falcolib_kmod.ring import (BUFFER_EMPTY_THRESHOLD_B, BUFFER_EMPTY_WAIT_MAX,
                                BUFFER_EMPTY_WAIT_START, CorruptBuffer, Ring)

_DEV_NUMBER = re.compile(r"(\d+)$")
_NO_LIMIT = 1 << 64  # above every u64 timestamp


def _numbered(paths: list[str]) -> list[tuple[int, str]]:
    out = []
    for p in paths:
        m = _DEV_NUMBER.search(p)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


class KmodBackend:
    """The Backend protocol over the kernel module (``--backend kmod``).

    ``devices_glob`` picks the device nodes (default: ``/dev/scap*``, else
    the older ``/dev/falco*`` or ``/dev/sysdig*``). ``buffer_bytes_dim`` is
    the per-CPU buffer size to request from a current driver (None: keep
    the module's). ``driver`` opens devices and names module parameters
    (the simulator passes its own).
    """

    name = "kmod"
    live = True  # events happen now, in the kernel's order (State(live=True))

    def __init__(self, types: frozenset[int] | None = None, devices_glob: str | None = None,
                 snaplen: int | None = None, buffer_bytes_dim: int | None = None, *,
                 driver=None, empty_threshold: int = BUFFER_EMPTY_THRESHOLD_B,
                 max_wait: float = BUFFER_EMPTY_WAIT_MAX):
        self._types = frozenset(types) if types is not None else None
        self._glob = devices_glob
        self._snaplen = snaplen
        self._dim_wanted = buffer_bytes_dim
        self._driver = driver if driver is not None else KernelDriver()
        self._threshold = empty_threshold
        self._max_wait = max_wait
        self._devices: list = []
        self._rings: list[Ring] = []
        self._control: DriverControl | None = None
        self.protocol: P.Protocol | None = None
        self._stats = BackendStats()
        self._last_counters: list[tuple[int, dict[str, int]]] = []
        self._stopped = False
        self._started = False
        self._snapshot: StateSnapshot | None = None
        self._module = "scap"

    # -- configuration -------------------------------------------------
    def set_event_types(self, types: frozenset[int] | None) -> None:
        self._types = frozenset(types) if types is not None else None

    def _device_paths(self) -> list[tuple[int, str]]:
        if self._glob:
            found = _numbered(glob.glob(self._glob))
            prefix = os.path.basename(self._glob).rstrip("*?[]0123456789")
            self._module = prefix or "scap"
            if not found:
                raise BackendUnavailable(f"no kernel module device matches {self._glob}",
                                         hint=P.INSTALL_HINT)
            return found
        for prefix in P.DEVICE_PREFIXES:
            found = _numbered(glob.glob(f"/dev/{prefix}[0-9]*"))
            if found:
                self._module = prefix
                return found
        raise BackendUnavailable("the kernel module's devices are missing: no /dev/scap0 "
                                 "(nor the older /dev/falco0 or /dev/sysdig0)",
                                 hint=P.INSTALL_HINT)

    def _buffer_dim(self, legacy: bool) -> int:
        if legacy:
            return P.LEGACY_RING_BUF_SIZE
        path = self._driver.module_param(self._module, "g_buffer_bytes_dim")
        try:
            with open(path) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(f"cannot read the ring buffer size from {path}: {exc}",
                                     hint=P.INSTALL_HINT) from None

    def _settle_buffer_dim(self) -> None:
        """libscap enforce_into_kmod_buffer_bytes_dim: write the module
        parameter before opening, only if it differs."""
        dim = self._dim_wanted
        if dim is None:
            return
        if not P.valid_buffer_bytes_dim(dim, os.sysconf("SC_PAGE_SIZE")):
            raise BackendUnavailable(f"buffer_bytes_dim {dim} is invalid: it must be a power "
                                     "of 2, a multiple of the page size and above 2 pages")
        path = self._driver.module_param(self._module, "g_buffer_bytes_dim")
        try:
            with open(path) as fh:
                if int(fh.read().strip()) == dim:
                    return
            with open(path, "w") as fh:
                fh.write(str(dim))
        except FileNotFoundError:
            return  # an API 1 driver: the size is fixed; the version check speaks next
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(f"cannot set the ring buffer size in {path}: {exc}") from None

    # -- lifecycle -----------------------------------------------------
    def __enter__(self) -> "KmodBackend":
        try:
            self._open()
        except BaseException:
            self._close()
            raise
        return self

    def _open(self) -> None:
        paths = self._device_paths()
        self._settle_buffer_dim()
        api = schema = None
        opened = []
        for cpu, path in paths:
            try:
                dev = self._driver.open_device(path)
            except OSError as exc:
                if exc.errno == errno.ENODEV:
                    continue  # offline CPU
                if exc.errno == errno.EBUSY:
                    raise BackendUnavailable(f"too many consumers attached to {path}",
                                             hint=f"raise /sys/module/{self._module}/parameters/"
                                                  "max_consumers or stop another consumer") from None
                if exc.errno in (errno.EACCES, errno.EPERM):
                    raise BackendUnavailable(f"cannot open {path}: permission denied",
                                             hint="run as root") from None
                raise BackendUnavailable(f"cannot open {path}: {exc.strerror}",
                                         hint=P.INSTALL_HINT) from None
            self._devices.append(dev)
            opened.append((cpu, dev))
        if not opened:
            raise BackendUnavailable("every kernel module device answered ENODEV (no online CPU)",
                                     hint=P.INSTALL_HINT)
        control = DriverControl([d for _, d in opened])
        for _, dev in opened:
            try:
                a, s = control.api_version(dev), control.schema_version(dev)
            except DriverError as exc:
                raise BackendUnavailable(f"{exc}: the module on {dev.path} predates API "
                                         "versioning", hint=P.INSTALL_HINT) from None
            if api is not None and (a, s) != (api, schema):
                raise BackendUnavailable(
                    f"API version mismatch: {dev.path} reports {P.version_text(a)} (schema "
                    f"{P.version_text(s)}), {opened[0][1].path} reported {P.version_text(api)} "
                    f"(schema {P.version_text(schema)})")
            api, schema = a, s
        try:
            self.protocol = P.protocol_for(api, schema)
        except P.IncompatibleDriver as exc:
            raise BackendUnavailable(str(exc), hint="install a matching driver: "
                                     + P.INSTALL_HINT) from None
        control.protocol = self.protocol
        self._control = control
        size = self._buffer_dim(self.protocol.legacy)
        for cpu, dev in opened:
            try:
                self._rings.append(Ring(dev, cpu, size, self.protocol.info))
            except (OSError, ValueError) as exc:
                raise BackendUnavailable(f"cannot map the ring buffer of {dev.path}: {exc}",
                                         hint="if memory is short, ask for a smaller "
                                              "buffer_bytes_dim") from None
        try:
            if self._snaplen is not None:
                control.set_snaplen(self._snaplen)
            control.set_event_types(self._types)
            control.start(self._types)
        except DriverError as exc:
            raise BackendUnavailable(str(exc)) from None
        self._started = True

    def __exit__(self, *exc) -> None:
        self.stop()
        self._close()

    def _close(self) -> None:
        if self._control is not None and self._started:
            self._started = False
            try:
                self._control.stop()
            except DriverError:
                pass  # closing the devices stops the capture anyway
        if self._rings:
            self._last_counters = [(r.cpu, r.counters()) for r in self._rings]
        for r in self._rings:
            r.close()
        self._rings = []
        for d in self._devices:
            d.close()
        self._devices = []

    def stop(self) -> None:
        """End the iteration after what is already in the buffers."""
        self._stopped = True

    # -- events --------------------------------------------------------
    def __iter__(self) -> Iterator[RawEvent | None]:
        """Events lowest timestamp first; ``None`` when a round found nothing
        (the engine's idle tick). Ends once ``stop()`` was called and what
        the buffers held then has been handed out."""
        rings = self._rings
        stats = self._stats
        tuple_new = tuple.__new__
        unpack = P.EVT_HDR.unpack_from
        wait = BUFFER_EMPTY_WAIT_START
        threshold = self._threshold
        num = stats.events_read
        drain_rounds = 0
        while True:
            drain = self._stopped
            if drain:
                drain_rounds += 1
                if drain_rounds > 3:  # a producer still writing does not hold us
                    return
            if not drain:
                if all(r.used() <= threshold for r in rings):
                    time.sleep(wait)
                    wait = min(wait * 2, self._max_wait)
                else:
                    wait = BUFFER_EMPTY_WAIT_START
            firsts = [r.head()[1] for r in rings]        # first look
            blocks = [r.block() for r in rings]            # second look, copied
            live = [(r, t, b, len(b) if drain else f)
                    for r, (t, b), f in zip(rings, blocks, firsts) if b]
            if not live:
                if drain:
                    return
                yield None  # idle tick: the engine polls (--duration, signals)
                continue
            if len(live) == 1:
                # one buffer has data: no merge, frame and hand out in one pass
                r, tail, blk, end = live[0]
                cpu = r.cpu
                pos = 0
                while pos < end:
                    if end - pos < 26:
                        stats.dropped_decode += 1
                        pos = end
                        break
                    ts, tid, elen, etype, np = unpack(blk, pos)
                    if elen < 26 or pos + elen > len(blk):
                        stats.dropped_decode += 1
                        pos = len(blk)
                        break
                    num += 1
                    yield tuple_new(RawEvent, (ts, tid, etype, np, cpu, blk, pos, elen, 26, 0, num))
                    pos += elen
                stats.events_read = num
                r.advance(tail, pos)
                continue
            # several buffers: libscap's greedy merge (lowest timestamp, then
            # lowest device), handed out run by run: a buffer keeps the floor
            # while its next event stays below the other buffers' next ones
            n = len(live)
            blks = [b for _, _, b, _ in live]
            lens = [len(b) for b in blks]
            firsts = [f for *_, f in live]
            cpus = [r.cpu for r, *_ in live]
            poss = [0] * n
            pending = sum(1 for f in firsts if f)
            heap = []
            for j in range(n):
                if lens[j] < 26:
                    stats.dropped_decode += 1
                    poss[j] = lens[j]
                    pending -= firsts[j] > 0
                else:
                    heap.append((unpack(blks[j], 0)[0], j))
            heapify(heap)
            while pending and heap:
                d = heappop(heap)[1]
                if heap:
                    t_ts, t_dev = heap[0]
                    lim = t_ts if d < t_dev else t_ts - 1
                else:
                    lim = _NO_LIMIT
                blk, pos, blen, first, cpu = blks[d], poss[d], lens[d], firsts[d], cpus[d]
                was_pending = pos < first
                stop_at = first if was_pending and pending == 1 else blen
                head = -1
                try:
                    while pos < stop_at:
                        ts, tid, elen, etype, np = unpack(blk, pos)
                        if ts > lim:
                            head = ts
                            break
                        if elen < 26 or pos + elen > blen:
                            raise CorruptBuffer
                        num += 1
                        yield tuple_new(RawEvent, (ts, tid, etype, np, cpu, blk, pos, elen,
                                                   26, 0, num))
                        pos += elen
                except (CorruptBuffer, struct.error):
                    stats.dropped_decode += 1  # the rest of this block is lost
                    pos = blen
                poss[d] = pos
                if was_pending and pos >= first:
                    pending -= 1
                if pos < blen:
                    if head < 0:
                        if blen - pos < 26:
                            stats.dropped_decode += 1
                            poss[d] = blen
                            continue
                        head = unpack(blk, pos)[0]
                    heappush(heap, (head, d))
            stats.events_read = num
            for (r, tail, _, _), consumed in zip(live, poss):
                r.advance(tail, consumed)

    # -- state and counters --------------------------------------------
    def snapshot(self) -> StateSnapshot:
        """Threads, fds, users, groups, interfaces and containers of the host,
        scanned from /proc once, on the first call (after the capture has
        started, as libscap does). The scan is the ebpf backend's
        (``falcolib_ebpf.procscan.scan_host``); without that package
        installed the snapshot is empty."""
        if self._snapshot is None:
            try:
                from falcolib_ebpf.procscan import scan_host
            except ImportError:
                self._snapshot = StateSnapshot()
            else:
                self._snapshot = scan_host()
        return self._snapshot

    def per_cpu(self) -> list[tuple[int, dict[str, int]]]:
        """The driver's counters per CPU: (cpu, {n_evts, n_drops_buffer,
        n_drops_pf, n_preemptions, n_context_switches})."""
        if self._rings:
            return [(r.cpu, r.counters()) for r in self._rings]
        return list(self._last_counters)

    def stats(self) -> BackendStats:
        s = self._stats
        per = self.per_cpu()
        if per:
            totals = {k: sum(c[k] for _, c in per) for k in per[0][1]}
            s.dropped_kernel = totals["n_drops_buffer"] + totals["n_drops_pf"]
            s.per_cpu_drops = {cpu: c["n_drops_buffer"] + c["n_drops_pf"] for cpu, c in per}
            extra = dict(totals)
            for cpu, c in per:
                for k in ("n_evts", "n_drops_buffer", "n_drops_pf", "n_preemptions"):
                    extra[f"cpu{cpu}.{k}"] = c[k]
            s.extra = extra
        return s
